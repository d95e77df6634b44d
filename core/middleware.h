/* The chain a request passes before its handler (middleware.c). */
#ifndef BERTH_MIDDLEWARE_H
#define BERTH_MIDDLEWARE_H

#include "engine.h"
#include "request.h"
#include "router.h"

struct berth_req;
struct berth_exch;

/* Runs berth_config.before, the router's middleware under the request's
 * path, the route's match and the route's before. 0: routed (or, without
 * a router, the server's handler set); 1: a before hook answered with
 * req->res; 404 or 405 (allow, cap bytes, lists the methods for 405): no
 * route. The afters owed are marked on the request's exchange. */
static inline int berth_mw_route(const berth_engine *e, struct berth_req *req, char *allow,
                                 size_t cap);
/* What berth_mw_route calls only when there is middleware to run (1: a
 * before answered). */
int berth_mw_chain(const berth_router *router, struct berth_req *req);
int berth_mw_route_own(const struct berth_mw *own, struct berth_req *req);
/* The exchange is over: the afters it owes, the route's first, then the
 * router's in the reverse order of their befores. */
void berth_mw_after(const struct berth_exch *x, const berth_done *d);

static inline int berth_mw_route(const berth_engine *e, struct berth_req *req, char *allow,
                                 size_t cap)
{
    if (e->before && e->before(req, &req->res, e->hook_user) != 0)
        return 1;
    if (!e->router) {
        req->handler = e->handler;
        req->user = e->user;
        return 0;
    }
    if (e->router->nmw && berth_mw_chain(e->router, req))
        return 1;
    int rc = berth_router_match(e->router, req, allow, cap);
    if (rc)
        return rc;
    return req->route_mw ? berth_mw_route_own(req->route_mw, req) : 0;
}

#endif
