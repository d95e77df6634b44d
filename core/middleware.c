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

int berth_mw_chain(const berth_router *router, struct berth_req *req)
{
    berth_exch *x = req->exch;
    for (size_t i = 0; i < router->nmw; i++) {
        const berth_mw *m = &router->mw[i];
        if (!under(m, req->path))
            continue;
        if (m->after) {
            x->mw = router->mw;
            x->mw_ran |= (uint32_t)1 << i;
        }
        if (m->before && m->before(req, &req->res, m->user) != 0)
            return 1;
    }
    return 0;
}

int berth_mw_route_own(const berth_mw *own, struct berth_req *req)
{
    if (own->after)
        req->exch->route_mw = own;
    return own->before && own->before(req, &req->res, own->user) != 0;
}

void berth_mw_after(const berth_exch *x, const berth_done *d)
{
    if (x->route_mw)
        x->route_mw->after(d, x->route_mw->user);
    for (int i = BERTH_MW_MAX - 1; i >= 0; i--)
        if (x->mw_ran & ((uint32_t)1 << i))
            x->mw[i].after(d, x->mw[i].user);
}
