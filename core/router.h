/* Method + path pattern routing with {name} parameters. */
#ifndef BERTH_ROUTER_H
#define BERTH_ROUTER_H

#include "request.h"

/* A piece of middleware (berth_router_use): the router's, under a
 * prefix, or a route's own (prefix NULL). */
typedef struct berth_mw {
    char *prefix;
    size_t prefix_len;
    berth_before_fn before;
    berth_done_fn after;
    void *user;
} berth_mw;
#define BERTH_MW_MAX 32 /* a router's: one bit each in the exchange (exch.h) */

/* The router's middleware, in the order added (n of them). */
const berth_mw *berth_router_mw(const berth_router *router, size_t *n);

/* Resolves req's method and path. On a match, fills req->handler, user,
 * on_body, streaming, route_mw and the path parameters and returns 0. Otherwise
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
