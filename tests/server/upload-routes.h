/* Multipart routes berth parses itself (berth_route_opts.multipart) and
 * the JSON error hook (upload-routes.c): POST /mp-route, POST
 * /mp-route-2, GET /mp-none. */
#ifndef UPLOAD_ROUTES_H
#define UPLOAD_ROUTES_H

#include <berth.h>

/* Adds the routes; with BERTH_TEST_ON_ERROR=json in the environment,
 * also sets cfg->on_error to berth_on_error_json. */
void upload_routes_add(berth_router *r, berth_config *cfg);

#endif
