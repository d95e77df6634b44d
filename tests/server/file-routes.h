/* GET /file and GET /mapped: files answered with berth_res_file and lent
 * with berth_res_body_external (file-routes.c). A test server's only: any
 * path the query names. */
#ifndef FILE_ROUTES_H
#define FILE_ROUTES_H

#include <berth.h>

void file_routes_add(berth_router *r);
/* /mapped bodies released so far (test-server.c's /stats). */
int file_routes_releases(void);

#endif
