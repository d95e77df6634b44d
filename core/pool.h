/* Per-thread free lists of fixed-size blocks, so the keep-alive hot path
 * reuses buffers instead of calling malloc. Not thread-safe by design: each
 * worker thread owns its pools. */
#ifndef BERTH_POOL_H
#define BERTH_POOL_H

#include <stddef.h>

typedef struct berth_pool {
    void *free_list;
    size_t block_size;
    unsigned cached;     /* blocks on the free list */
    unsigned max_cached; /* beyond this, blocks go back to the allocator */
} berth_pool;

void berth_pool_init(berth_pool *pool, size_t block_size, unsigned max_cached);
void *berth_pool_get(berth_pool *pool); /* NULL when out of memory */
void berth_pool_put(berth_pool *pool, void *block);
void berth_pool_destroy(berth_pool *pool);

#endif
