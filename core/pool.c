#include "pool.h"

#include <stdlib.h>

void berth_pool_init(berth_pool *pool, size_t block_size, unsigned max_cached)
{
    pool->free_list = NULL;
    pool->block_size = block_size < sizeof(void *) ? sizeof(void *) : block_size;
    pool->cached = 0;
    pool->max_cached = max_cached;
}

void *berth_pool_get(berth_pool *pool)
{
    void *block = pool->free_list;
    if (block) {
        pool->free_list = *(void **)block;
        pool->cached--;
        return block;
    }
    return malloc(pool->block_size);
}

void berth_pool_put(berth_pool *pool, void *block)
{
    if (!block)
        return;
    if (pool->cached >= pool->max_cached) {
        free(block);
        return;
    }
    *(void **)block = pool->free_list;
    pool->free_list = block;
    pool->cached++;
}

void berth_pool_destroy(berth_pool *pool)
{
    while (pool->free_list) {
        void *next = *(void **)pool->free_list;
        free(pool->free_list);
        pool->free_list = next;
    }
    pool->cached = 0;
}
