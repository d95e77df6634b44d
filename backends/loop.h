/* What the event-loop backends (reactor, libuv) share: a worker's start and
 * join, the accept loop into its set of connections, and the stop's drain.
 * A backend's worker begins with a berth_loop; the backend keeps what is
 * its own: how it waits, how it watches a socket and how it is woken. */
#ifndef BERTH_LOOP_H
#define BERTH_LOOP_H

#include <pthread.h>

#include "backend.h"
#include "drive.h"

/* The longest gap between sweeps (drive.h berth_sweep_next). */
#define BERTH_SWEEP_MAX_MS 100

typedef struct berth_loop {
    berth_server *srv;
    const struct berth_loop_ops *ops;
    berth_worker w;
    pthread_t thread;
    berth_listener *listeners; /* the server's, one per kind: the worker closes them */
    int nlisteners;
    berth_ioset conns;
    int stopping;
    uint64_t drain_deadline;
    int set_up;                /* w is initialized (berth_loop_join destroys it) */
    int running;               /* its thread was started (berth_loop_join joins it) */
} berth_loop;

typedef struct berth_loop_ops {
    const char *name;          /* in messages */
    size_t worker_size;        /* the backend's worker, a berth_loop first */
    void *(*main)(void *worker);
    void (*wake)(berth_worker *w);
    void (*driven)(berth_io *io, int result, void *worker); /* the set's (drive.h) */
    /* Sets up the backend's part of a worker: 0, or -1 having said why;
     * cleanup frees any prefix of it (called once setup was). */
    int (*setup)(berth_loop *l);
    void (*cleanup)(berth_loop *l);
    size_t conn_size;          /* the backend's connection, its berth_io at io_offset */
    size_t io_offset;
    /* Watches a new connection's socket, accepted from li: 0, or -1
     * having said why (the connection is then closed unanswered). */
    int (*watch)(berth_loop *l, berth_io *io, const berth_listener *li);
    /* Out of descriptors or memory: accept again later. */
    void (*accept_pause)(berth_loop *l);
} berth_loop_ops;

/* Sets up every worker, then starts their threads. On a failure part-way
 * it returns -1 at once: the server stops and calls berth_loop_join, which
 * copes with any prefix of this. */
int berth_loop_start(berth_server *srv, const berth_loop_ops *ops);
/* After a stop, or a start that failed part-way: joins the threads that
 * run and frees what each worker got. */
void berth_loop_join(berth_server *srv, const berth_loop_ops *ops);
/* Accepts every connection waiting on li into l's set and drives each. */
void berth_loop_accept(berth_loop *l, const berth_loop_ops *ops, berth_listener *li);
/* Serves fd, accepted from li (a backend that accepts by itself: uring's
 * completions): counts it against the cap, sets it up, watches it and
 * drives it; a connection that cannot be set up is closed. */
void berth_loop_adopt(berth_loop *l, const berth_loop_ops *ops, berth_listener *li, int fd,
                      const struct sockaddr *peer, socklen_t plen);
/* Frees a connection that has left its set (berth_ioset_remove) and closes
 * its socket. */
void berth_loop_conn_free(berth_loop *l, const berth_loop_ops *ops, berth_io *io);
/* The stop was asked and the worker no longer listens: every connection
 * drains, for the server's drain_timeout_ms at most. */
void berth_loop_stop(berth_loop *l);
/* The drain is over: no connection left, or its time is up. */
static inline int berth_loop_drained(const berth_loop *l)
{
    return l->stopping && (l->conns.count == 0 || l->w.clock.now_ms >= l->drain_deadline);
}

#endif
