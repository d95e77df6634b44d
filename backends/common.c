/* Admission against the connection cap, shared by every backend. */
#include "backend.h"

/* Connections over the cap get a 503 from the engine; this many at once at
 * most, beyond which a flood is closed unanswered. */
#define REFUSING_MAX 1024

int berth_backend_admit(berth_server *srv)
{
    unsigned n = atomic_fetch_add_explicit(&srv->connections, 1, memory_order_relaxed);
    if (n < srv->config.max_connections)
        return BERTH_ADMIT;
    atomic_fetch_sub_explicit(&srv->connections, 1, memory_order_relaxed);
    n = atomic_fetch_add_explicit(&srv->refusing, 1, memory_order_relaxed);
    if (n < REFUSING_MAX)
        return BERTH_REFUSE;
    atomic_fetch_sub_explicit(&srv->refusing, 1, memory_order_relaxed);
    return BERTH_DROP;
}

void berth_backend_release(berth_server *srv, int refused)
{
    atomic_fetch_sub_explicit(refused ? &srv->refusing : &srv->connections, 1,
                              memory_order_relaxed);
}

void berth_listeners_thread_exit(const berth_listener *ls, int n)
{
    for (int k = 0; k < n; k++) {
        const berth_layer *l = ls[k].layer;
        int seen = 0;
        for (int j = 0; j < k; j++)
            seen |= ls[j].layer && l && ls[j].layer->ctx == l->ctx;
        if (l && !seen && l->thread_exit)
            l->thread_exit(l->ctx);
    }
}
