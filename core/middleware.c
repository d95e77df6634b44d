/* Middleware: the before hooks a request passes on its way to the handler
 * (the server's, the router's under a prefix, the route's) and the after
 * callbacks they leave owed on its exchange, run when it is over. The
 * order is an onion's: what ran first before the handler runs last after
 * it. No allocation: the owed afters are bits on the exchange. */
#include "middleware.h"

#include <string.h>

#include "exch.h"
#include "request.h"
#include "router.h"

/* Whether path is under m's prefix: "/" holds all; a prefix ending in '/'
 * what starts with it; another, itself and what is below it ("/api": /api,
 * /api/x; not /apis). */
static int under(const berth_mw *m, berth_str path)
{
    size_t n = m->prefix_len;
    if (path.len < n || memcmp(path.ptr, m->prefix, n) != 0)
        return 0;
    return path.len == n || m->prefix[n - 1] == '/' || path.ptr[n] == '/';
}

int berth_mw_route(const berth_engine *e, struct berth_req *req, char *allow, size_t cap)
{
    berth_exch *x = req->exch;
    if (e->before && e->before(req, &req->res, e->hook_user) != 0)
        return 1;
    if (!e->router) {
        req->handler = e->handler;
        req->user = e->user;
        return 0;
    }
    size_t n;
    const berth_mw *mw = berth_router_mw(e->router, &n);
    for (size_t i = 0; i < n; i++) {
        if (!under(&mw[i], req->path))
            continue;
        if (mw[i].after) {
            x->mw = mw;
            x->mw_ran |= (uint32_t)1 << i;
        }
        if (mw[i].before && mw[i].before(req, &req->res, mw[i].user) != 0)
            return 1;
    }
    int rc = berth_router_match(e->router, req, allow, cap);
    if (rc)
        return rc;
    const berth_mw *own = req->route_mw;
    if (own) {
        if (own->after)
            x->route_mw = own;
        if (own->before && own->before(req, &req->res, own->user) != 0)
            return 1;
    }
    return 0;
}

void berth_mw_after(const berth_exch *x, const berth_done *d)
{
    if (x->route_mw)
        x->route_mw->after(d, x->route_mw->user);
    for (int i = BERTH_MW_MAX - 1; i >= 0; i--)
        if (x->mw_ran & ((uint32_t)1 << i))
            x->mw[i].after(d, x->mw[i].user);
}
