/* Method + path pattern routing with {name} parameters. */
#ifndef BERTH_ROUTER_H
#define BERTH_ROUTER_H

#include "request.h"

/* Resolves req's method and path. On a match, fills req->handler, user,
 * on_body, streaming and the path parameters and returns 0. Otherwise
 * returns 404 or 405; for 405, allow (cap bytes) receives the methods
 * that would match, comma-separated. */
int berth_router_match(const berth_router *router, struct berth_req *req, char *allow,
                       size_t cap);

#endif
