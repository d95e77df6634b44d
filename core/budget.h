/* A server-wide budget of bytes shared by every worker thread: what all
 * requests' buffered bodies may hold together (berth_config.
 * max_buffered_bodies). Taken only for bodies that outgrow a pool block,
 * so keep-alive requests with small bodies never touch it. */
#ifndef BERTH_BUDGET_H
#define BERTH_BUDGET_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct berth_budget {
    atomic_uint_least64_t used;
    uint64_t limit;
} berth_budget;

/* Takes n bytes: 0, or -1 (nothing taken) when that would pass the limit.
 * A NULL budget has no limit. */
static inline int berth_budget_take(berth_budget *b, uint64_t n)
{
    if (!b || !n)
        return 0;
    uint64_t was = atomic_fetch_add(&b->used, n);
    if (was + n > b->limit) {
        atomic_fetch_sub(&b->used, n);
        return -1;
    }
    return 0;
}

static inline void berth_budget_give(berth_budget *b, uint64_t n)
{
    if (b && n)
        atomic_fetch_sub(&b->used, n);
}

#endif
