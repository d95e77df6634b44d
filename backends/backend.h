/* The transport interface. A backend moves bytes between sockets and the
 * core engine (core/conn.h) and knows no HTTP. Adding one means one more
 * file with one of these tables and a line in the registry (select.c);
 * docs/DESIGN.md says what such a file contains. */
#ifndef BERTH_BACKEND_H
#define BERTH_BACKEND_H

#include <stdatomic.h>

#include "../core/budget.h"
#include "../core/engine.h"
#include "../core/log.h"
#include "../core/pipe.h"
#include "../core/stats.h"
#include "platform.h"
#include "server_timer.h"

/* A listening socket and what is stacked on the connections it accepts. */
typedef struct berth_listener {
    int fd;
    const berth_layer *layer; /* NULL: plaintext */
    unsigned protos;          /* BERTH_CONN_H1 | BERTH_CONN_H2: what it serves */
} berth_listener;

typedef struct berth_backend_ops {
    const char *name;
    /* Starts the workers serving srv->listeners; returns 0 or -1. */
    int (*start)(berth_server *srv);
    /* Waits for every worker to finish after a stop. */
    void (*join)(berth_server *srv);
} berth_backend_ops;

struct berth_server {
    berth_config config;
    berth_log log;          /* every message of the server (engine.log points here) */
    berth_engine engine;
    berth_budget bodies;    /* engine.bodies: buffered request bodies */
    const berth_backend_ops *ops;
    char backend_name[16];
    int threads;            /* workers (reactor, libuv) or acceptors (fast) */
    /* Per thread, `kinds` listeners, one for each entry of specs. A
     * backend owns the fds it is given (closes them, sets them to -1) and
     * passes each listener's layer to berth_io_init for the connections it
     * accepts. */
    berth_listener *listeners; /* [thread * kinds + kind] */
    int nlisten;            /* threads * kinds */
    int kinds;
    struct berth_listen_spec *specs; /* what each kind is (listen.h) */
    berth_layer *layers;    /* per kind: PROXY over TLS, as the entry asks (wrap NULL: none) */
    struct berth_proxy_ctx *proxies; /* per kind: what a PROXY layer wraps */
    struct berth_tls_ctx *tls;
    berth_tls_config tls_config; /* config.tls points here */
    berth_layer tls_layer;
    uint16_t tls_port;      /* the first TLS listener's, or 0 */
    uint16_t port;          /* the first plaintext TCP listener's, or 0 */
    berth_wake stop;        /* readable (stop.rfd) once a stop is asked */
    atomic_int stopping;
    /* config.on_stop's thread (server.c): berth_server_stop asks it (ask,
     * stop_asked) while stopper_on; it runs the hook, then the stop. */
    berth_wake ask;
    atomic_int stop_asked;
    atomic_int stopper_on;
    pthread_t stopper;
    atomic_uint connections;
    atomic_uint refusing;   /* connections being answered 503 */
    int started;
    void *backend_data;
    berth_stats_reg stats;  /* engine.stats: the threads' counters (core/stats.h) */
    berth_stimers stimers;  /* its timers (server_timer.h) */
};

extern const berth_backend_ops berth_backend_reactor;
extern const berth_backend_ops berth_backend_fast;
extern const berth_backend_ops berth_backend_libuv;
/* io_uring (uring.c), or where the build has none the reactor, said so
 * (uring_none.c). */
extern const berth_backend_ops berth_backend_uring;

/* Counts a new connection: BERTH_ADMIT under max_connections, else
 * BERTH_REFUSE (serve it a 503: berth_io_init with refuse) or, when too
 * many are being refused already, BERTH_DROP (close it). */
enum { BERTH_ADMIT, BERTH_REFUSE, BERTH_DROP };
int berth_backend_admit(berth_server *srv);
/* The connection is gone; refused: it was admitted as BERTH_REFUSE. */
void berth_backend_release(berth_server *srv, int refused);
/* A thread that served connections from these n listeners ends: each
 * layer's thread_exit, once. */
void berth_listeners_thread_exit(const berth_listener *ls, int n);

#endif
