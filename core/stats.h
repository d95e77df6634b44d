/* A server's counters (berth_server_stats, metrics.c), kept per thread.
 *
 * Each thread that serves connections (a loop's worker, a fast connection
 * thread) owns a block and is its only writer: a count is a relaxed load
 * and a relaxed store of the same word (no read-modify-write, no lock
 * prefix, no line shared with another writer). A scrape sums every block
 * with relaxed loads, from any thread: each word only grows, so a sum only
 * grows too. The atomics make those concurrent reads defined (and clean
 * under ThreadSanitizer); on x86-64 and arm64 they compile to plain moves.
 *
 * Blocks come from the server's registry (one mutex, taken when a thread
 * starts and ends, never per request) and stay until the server is freed:
 * a thread that ends gives its block back with its totals in it, and the
 * next thread to start takes it and counts on from there (fast's pooled
 * threads come and go; the registry holds at most as many blocks as
 * threads ever ran at once). */
#ifndef BERTH_STATS_H
#define BERTH_STATS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "berth.h"

typedef _Atomic uint64_t berth_ctr;

/* Connections by protocol (berth_proto.metric; berth_stats.connections_open). */
enum { BERTH_CP_H1, BERTH_CP_H2, BERTH_CP_WS };

/* Cache-line aligned (and allocated so): no line is shared between two
 * threads' blocks. */
typedef struct berth_stats_block {
    _Alignas(64) berth_ctr requests[BERTH_STATS_PROTOCOLS][BERTH_STATS_METHODS][BERTH_STATS_CLASSES];
    berth_ctr duration[BERTH_STATS_BUCKETS]; /* per bucket, not cumulative */
    berth_ctr duration_sum_us;
    berth_ctr opened[BERTH_STATS_CONNS], closed[BERTH_STATS_CONNS];
    berth_ctr accepted, refused;
    berth_ctr tls_full, tls_resumed, tls_failed, ktls;
    berth_ctr bytes_in, bytes_out;
    berth_ctr ws_in, ws_out;
    struct berth_stats_block *next; /* the registry's list (under its lock) */
    int taken;                      /* a thread owns it (under the lock) */
} berth_stats_block;

typedef struct berth_stats_reg {
    pthread_mutex_t lock;
    berth_stats_block *blocks;
    atomic_int running; /* between start and the end of wait */
} berth_stats_reg;

/* One count by the block's owner. */
static inline void berth_stat_add(berth_ctr *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

int berth_stats_reg_init(berth_stats_reg *reg);
void berth_stats_reg_destroy(berth_stats_reg *reg);
/* A block for the calling thread: a given-back one, else a new one. With
 * no registry (the engine's unit tests) or out of memory, a shared sink
 * whose counts are lost (atomics: still defined). */
berth_stats_block *berth_stats_take(berth_stats_reg *reg);
/* The thread is done with b; its totals stay in the registry. */
void berth_stats_give(berth_stats_reg *reg, berth_stats_block *b);
/* Sums every block into *out (berth's full struct; state and backend are
 * the server's to fill). */
void berth_stats_sum(berth_stats_reg *reg, berth_stats *out);

/* A method's class: its index in berth_stats.requests[p] (5: other). */
int berth_stats_method(berth_str method);
/* A request is over: its protocol (10, 11, 20; 0: unknown, counted as
 * HTTP/1.1), method class, status and how long it took. */
void berth_stats_request(berth_stats_block *b, int version, int method_class, int status,
                         uint64_t us);

#endif
