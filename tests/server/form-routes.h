/* Forms, multipart uploads, cookies and URL encoding over the public API
 * (form-routes.c): POST /form, POST /upload-form, GET /cookies,
 * GET /set-cookie, GET /encode. */
#ifndef FORM_ROUTES_H
#define FORM_ROUTES_H

#include <berth.h>

/* Also upload-routes.c's routes (upload_routes_add, given cfg). */
void form_routes_add(berth_router *r, berth_config *cfg);

#endif
