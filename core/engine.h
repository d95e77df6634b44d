/* Settings shared read-only by every worker, and the per-thread worker
 * state (clock, buffer pools) that connections of that thread use. */
#ifndef BERTH_ENGINE_H
#define BERTH_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>

#include "berth.h"
#include "clock.h"
#include "pool.h"
#include "transport.h"

struct berth_conn;

typedef struct berth_engine {
    size_t max_request_line;
    size_t max_header_bytes;
    size_t max_header_fields;
    uint64_t max_body;
    unsigned header_timeout_ms;
    unsigned body_timeout_ms;
    unsigned idle_timeout_ms;
    unsigned write_timeout_ms;
    unsigned linger_ms;       /* a closing connection drains input until this
                                 long passes without any (conn.c: lingering) */
    unsigned linger_time_ms;  /* ... and for at most this long in all */
    unsigned stop_grace_ms;   /* on stop: time for a busy connection's next request */
    size_t out_high_water;    /* stop parsing new requests above this output */
    size_t max_stream_buffer; /* per streamed response */
    berth_router *router;
    berth_handler_fn handler;
    void *user;
    /* Hooks (berth.h); NULL when unset. */
    berth_before_fn before;
    berth_done_fn after;
    berth_error_fn on_error;
    void *hook_user;
    void *(*thread_init)(void *hook_user);
    void (*thread_exit)(void *thread_data, void *hook_user);
    const char *request_id_header; /* berth_req_id's source, or NULL */
    /* On-the-fly compression (compress.c). */
    int compress;
    int gzip_level;
    size_t compress_min;
    const char *compress_types;
    /* The server's messages (log.h), from any thread (set by the server;
     * NULL: stderr). */
    struct berth_log *log;
    /* What buffered request bodies hold, all workers together (set by the
     * server; NULL: no limit). */
    struct berth_budget *bodies;
    /* The server (berth_req_server) and its counters' registry (stats.h);
     * NULL in the engine's tests: counts go nowhere. */
    berth_server *server;
    struct berth_stats_reg *stats;
    size_t buf_size;          /* input/output buffer block size */
    size_t req_size;          /* request block size (request + header slots) */
} berth_engine;

/* Per-thread state. A worker belongs to the thread that runs its
 * connections (the owner); only the wake list is touched by other threads. */
typedef struct berth_worker {
    const berth_engine *engine;
    berth_clock clock;
    berth_pool buf_pool;
    berth_pool req_pool;
    pthread_t owner;
    /* Connections with stream work to apply, pushed by any thread. */
    pthread_mutex_t wake_lock;
    struct berth_conn *woken;
    /* Set by the backend: makes the owner's loop call berth_worker_next_woken
     * soon. Called from any thread; must be thread-safe. */
    void (*wake)(struct berth_worker *w);
    void *backend;            /* the backend's per-thread data */
    /* This thread's counters (stats.h): taken at init, given back at
     * destroy, written by the owner only. */
    struct berth_stats_block *stats;
    /* The latest precise time (us) this thread read: at each read and at
     * each exchange's end; an exchange begins from it (exch.h). */
    uint64_t last_us;
    /* Set by the backend: what its transport does for a connection of this
     * thread when the engine asks (transport.h: the local address, a flush
     * where handlers may block); each connection's handle for it is
     * berth_conn_transport. NULL: neither (the engine's tests). */
    const berth_transport_ops *transport;
    /* The gzip compressor, made at the first compressed response. */
    struct libdeflate_compressor *gzip;
    /* The last Content-Type checked against the compressible types, and the
     * answer (compress.c): a server answers with few types, and walking the
     * list took ~500 instructions a JSON response. */
    const char *ct_seen_list;
    unsigned char ct_seen_len, ct_seen_match;
    char ct_seen[46];
    /* Request IDs this thread makes (exch.c): a random base and a count,
     * mixed into 64 bits by a bijection, so none repeats in the thread. */
    uint64_t id_base, id_count;
    /* Timers: a binary min-heap by due time. */
    struct berth_timer **timers;
    size_t ntimers, timers_cap;
    /* Timers posted by any thread (berth_timer_post), a stack the owner
     * takes whole as it next runs or reads its timers: one atomic load
     * a loop turn when there is none. */
    _Atomic(struct berth_timer *) timers_in;
    /* What the engine's thread_init returned on the owner thread
     * (berth_req_thread_data); thread_began: it ran, thread_exit is due. */
    void *thread_data;
    int thread_began;
} berth_worker;

void berth_engine_init(berth_engine *engine, const berth_config *config);
/* Initializes a worker owned by the calling thread. A backend that sets
 * workers up before it starts their threads makes each thread take
 * ownership (w->owner = pthread_self()) before it serves a connection. */
void berth_worker_init(berth_worker *worker, const berth_engine *engine);
void berth_worker_destroy(berth_worker *worker);
/* On the worker's own thread: the application's thread_init, before it
 * serves anything, and thread_exit after the last callback there (once,
 * and only if thread_init ran). */
void berth_worker_thread_begin(berth_worker *worker);
void berth_worker_thread_end(berth_worker *worker);
/* Gives the worker's counters back to the server's registry now (a thread
 * that outlives its server's hold on it: fast's, before the server may be
 * freed); berth_worker_destroy then leaves them. */
void berth_worker_stats_release(berth_worker *worker);
/* Queues c for its owner's loop (any thread); calls w->wake unless the
 * caller is the owner, whose loop checks the list after every event. */
void berth_worker_notify(berth_worker *w, struct berth_conn *c);
/* Pops a connection queued by berth_worker_notify (owner thread). */
struct berth_conn *berth_worker_next_woken(berth_worker *w);
/* Takes c off the wake list for good (it is being freed). */
void berth_worker_forget(berth_worker *w, struct berth_conn *c);
/* Runs the timers that are due; returns the next due time or UINT64_MAX.
 * Both take in the timers other threads posted first (owner thread). */
uint64_t berth_worker_run_timers(berth_worker *w);
uint64_t berth_worker_next_timer(berth_worker *w);

#endif
