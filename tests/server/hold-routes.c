/* GET /hold: a blocking handler that streams. It writes "first\n", then
 * blocks in the handler until GET /release on another connection (5 s at
 * most), then writes "second\n" and ends. Where handlers may block (fast),
 * berth writes each stream call's output before it returns (the
 * transport's flush, core/transport.h): the client reads "first" while
 * the handler still blocks, and only then releases it. Without the flush,
 * "first" would leave when the handler returns, 5 s later. */
#include "hold-routes.h"

#include <stdatomic.h>
#include <unistd.h>

static atomic_int released;

static void hold_route(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    atomic_store(&released, 0); /* the client releases only after "first" */
    berth_stream *s = berth_res_defer(res);
    berth_stream_start(s, 200, "text/plain");
    berth_stream_write(s, "first\n", 6);
    for (int i = 0; i < 500 && !atomic_load(&released); i++)
        usleep(10 * 1000);
    berth_stream_write(s, "second\n", 7);
    berth_stream_end(s);
}

static void release_route(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    atomic_store(&released, 1);
    berth_res_send(res, 200, "text/plain", "released", 8);
}

void hold_routes_add(berth_router *r)
{
    berth_router_add(r, "GET", "/hold", hold_route, NULL);
    berth_router_add(r, "GET", "/release", release_route, NULL);
}
