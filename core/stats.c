/* The server's counters (stats.h): the registry of per-thread blocks, a
 * request's count, and the sum a scrape reads. */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

/* Each bucket's upper bound in microseconds (berth_stats.duration_le_us):
 * Prometheus' default buckets (5 ms to 10 s) with finer ones below, where
 * a server's own answers fall. */
static const uint64_t bounds_us[BERTH_STATS_BUCKETS] = {
    100,    250,    500,     1000,    2500,    5000,    10000,   25000,      50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, UINT64_MAX,
};

/* Where counts go when no block can be had: shared, so lost, but defined. */
static berth_stats_block sink;

int berth_stats_reg_init(berth_stats_reg *reg)
{
    memset(reg, 0, sizeof *reg);
    atomic_init(&reg->running, 0);
    return pthread_mutex_init(&reg->lock, NULL) == 0 ? 0 : -1;
}

void berth_stats_reg_destroy(berth_stats_reg *reg)
{
    berth_stats_block *b = reg->blocks;
    while (b) {
        berth_stats_block *next = b->next;
        free(b);
        b = next;
    }
    reg->blocks = NULL;
    pthread_mutex_destroy(&reg->lock);
}

berth_stats_block *berth_stats_take(berth_stats_reg *reg)
{
    if (!reg)
        return &sink;
    pthread_mutex_lock(&reg->lock);
    berth_stats_block *b = reg->blocks;
    while (b && b->taken)
        b = b->next;
    if (!b && (b = aligned_alloc(64, sizeof *b)) != NULL) { /* sizeof: a multiple of 64 */
        memset(b, 0, sizeof *b);
        b->next = reg->blocks;
        reg->blocks = b;
    }
    if (b)
        b->taken = 1;
    pthread_mutex_unlock(&reg->lock);
    return b ? b : &sink;
}

void berth_stats_give(berth_stats_reg *reg, berth_stats_block *b)
{
    if (!reg || b == &sink)
        return;
    pthread_mutex_lock(&reg->lock);
    b->taken = 0;
    pthread_mutex_unlock(&reg->lock);
}

static uint64_t get(const berth_ctr *c) { return atomic_load_explicit(c, memory_order_relaxed); }

static void sum_into(uint64_t *dst, const berth_ctr *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += get(&src[i]);
}

void berth_stats_sum(berth_stats_reg *reg, berth_stats *out)
{
    uint64_t buckets[BERTH_STATS_BUCKETS] = {0};
    uint64_t opened[BERTH_STATS_CONNS] = {0}, closed[BERTH_STATS_CONNS] = {0};
    pthread_mutex_lock(&reg->lock);
    for (const berth_stats_block *b = reg->blocks; b; b = b->next) {
        sum_into(&out->requests[0][0][0], &b->requests[0][0][0],
                 sizeof b->requests / sizeof b->requests[0][0][0]);
        sum_into(buckets, b->duration, BERTH_STATS_BUCKETS);
        /* closed before opened: a connection's close follows its open in
         * the one thread that counts both */
        sum_into(closed, b->closed, BERTH_STATS_CONNS);
        sum_into(opened, b->opened, BERTH_STATS_CONNS);
        out->duration_sum_us += get(&b->duration_sum_us);
        out->connections_accepted += get(&b->accepted);
        out->connections_refused += get(&b->refused);
        out->tls_handshakes_full += get(&b->tls_full);
        out->tls_handshakes_resumed += get(&b->tls_resumed);
        out->tls_handshakes_failed += get(&b->tls_failed);
        out->ktls_handoffs += get(&b->ktls);
        out->bytes_received += get(&b->bytes_in);
        out->bytes_sent += get(&b->bytes_out);
        out->ws_messages_received += get(&b->ws_in);
        out->ws_messages_sent += get(&b->ws_out);
    }
    pthread_mutex_unlock(&reg->lock);
    uint64_t below = 0;
    for (int i = 0; i < BERTH_STATS_BUCKETS; i++) {
        below += buckets[i];
        out->duration_le_us[i] = bounds_us[i];
        out->duration_count[i] = below;
    }
    for (int i = 0; i < BERTH_STATS_CONNS; i++)
        out->connections_open[i] = opened[i] > closed[i] ? opened[i] - closed[i] : 0;
    out->ws_connections = opened[BERTH_CP_WS];
}

/* GET, HEAD, POST, PUT, DELETE, other (berth_stats.requests' order). */
int berth_stats_method(berth_str m)
{
    switch (m.len) {
    case 3:
        return m.ptr[0] == 'G' && m.ptr[1] == 'E' && m.ptr[2] == 'T'   ? 0
               : m.ptr[0] == 'P' && m.ptr[1] == 'U' && m.ptr[2] == 'T' ? 3
                                                                       : 5;
    case 4:
        return memcmp(m.ptr, "HEAD", 4) == 0 ? 1 : memcmp(m.ptr, "POST", 4) == 0 ? 2 : 5;
    case 6:
        return memcmp(m.ptr, "DELETE", 6) == 0 ? 4 : 5;
    default:
        return 5;
    }
}

void berth_stats_request(berth_stats_block *b, int version, int method_class, int status,
                         uint64_t us)
{
    int proto = version == 20 ? 2 : version == 10 ? 0 : 1;
    int cls = status >= 100 && status < 600 ? status / 100 : 0;
    berth_stat_add(&b->requests[proto][method_class][cls], 1);
    int i = 0;
    while (us > bounds_us[i])
        i++;
    berth_stat_add(&b->duration[i], 1);
    berth_stat_add(&b->duration_sum_us, us);
}
