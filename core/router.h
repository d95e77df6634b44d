/* Method + path pattern routing with {name} parameters. */
#ifndef BERTH_ROUTER_H
#define BERTH_ROUTER_H

#include <stdatomic.h>

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

/* A route whose multipart body berth parses (berth_route_opts.multipart):
 * its parser's configuration and the application's handler, which runs
 * after berth's (multipart_route.c). */
typedef struct berth_route_mp {
    berth_multipart_config cfg;
    berth_handler_fn handler;
} berth_route_mp;

typedef struct berth_route berth_route; /* router.c's */
struct berth_log;

/* Defined here for the middleware's inline check (middleware.h); the
 * routes are router.c's. */
struct berth_router {
    berth_route **routes;
    size_t count, cap;
    size_t nmw;
    berth_mw mw[BERTH_MW_MAX]; /* berth_router_use's, in the order added */
    char error[256];
    atomic_int running; /* servers using it between their start and wait */
    _Atomic(struct berth_log *) log; /* the log of the last server that held it */
};

/* Resolves req's method and path. On a match, fills req->handler, user,
 * on_body, streaming, route_mw, mp_route and the path parameters and returns 0. Otherwise
 * returns 404 or 405; for 405, allow (cap bytes) receives the methods
 * that would match, comma-separated. */
int berth_router_match(const berth_router *router, struct berth_req *req, char *allow,
                       size_t cap);

/* A server using the router started (hold) or has stopped (release):
 * while any runs, routes are fixed and the router may not be freed. A
 * call that breaks that rule says so on log, the last holder's. */
void berth_router_hold(berth_router *router, struct berth_log *log);
void berth_router_release(berth_router *router);

#endif
