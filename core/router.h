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

/* A server using the router started (hold) or has stopped (release):
 * while any runs, routes are fixed and the router may not be freed. A
 * call that breaks that rule says so on log, the last holder's. */
struct berth_log;
void berth_router_hold(berth_router *router, struct berth_log *log);
void berth_router_release(berth_router *router);

#endif
