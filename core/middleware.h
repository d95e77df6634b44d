/* The chain a request passes before its handler (middleware.c). */
#ifndef BERTH_MIDDLEWARE_H
#define BERTH_MIDDLEWARE_H

#include "engine.h"

struct berth_req;
struct berth_exch;

/* Runs berth_config.before, the router's middleware under the request's
 * path, the route's match and the route's before. 0: routed (or, without
 * a router, the server's handler set); 1: a before hook answered with
 * req->res; 404 or 405 (allow, cap bytes, lists the methods for 405): no
 * route. The afters owed are marked on the request's exchange. */
int berth_mw_route(const berth_engine *e, struct berth_req *req, char *allow, size_t cap);
/* The exchange is over: the afters it owes, the route's first, then the
 * router's in the reverse order of their befores. */
void berth_mw_after(const struct berth_exch *x, const berth_done *d);

#endif
