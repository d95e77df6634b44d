/* The fast backend's shared state: N acceptor threads, each waiting on its
 * own SO_REUSEPORT listener (fast_accept.c), and one pooled thread per
 * connection doing blocking reads and writes through the drive loop
 * (fast_conn.c); fast.c starts, stops and joins them.
 *
 * At most max_threads connection threads serve admitted connections; a
 * connection accepted beyond them waits in a queue (its socket only, no
 * thread) for one to finish, up to FAST_QUEUE_WAIT_MS; then it is answered
 * 503 by a short-lived thread, never closed unanswered. */
#ifndef BERTH_FAST_H
#define BERTH_FAST_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "backend.h"
#include "drive.h"

#define FAST_STACK_SIZE (256 * 1024)
#define FAST_IDLE_THREADS_MAX 64      /* parked threads kept for reuse */
#define FAST_IDLE_THREAD_SECONDS 30   /* a parked thread exits after this */
#define FAST_QUEUE_WAIT_MS 1000       /* a queued connection waits this long for a thread */
#define FAST_REFUSERS_MAX 256         /* threads answering queued connections 503 at once */
#define FAST_THREADS_DEFAULT 10000    /* max_threads when berth_config leaves it 0 */
#define FAST_ACCEPT_PAUSE_MS 500      /* out of descriptors: retry after this at the latest */

/* A connection handed to a thread, or waiting for one. */
typedef struct fast_job {
    int fd;
    int refuse;                 /* answer 503 (berth_io_init's refuse) */
    int admit;                  /* BERTH_ADMIT or BERTH_REFUSE: what to release */
    int busy;                   /* counted in fast.busy */
    int expired;                /* waited too long in the queue: counted in fast.refusers */
    const berth_layer *layer;   /* stacked on the connection (TLS), or NULL */
    unsigned protos;            /* the listener's BERTH_CONN_H1 | BERTH_CONN_H2 */
    struct sockaddr_storage peer; /* as accept reported it */
    socklen_t peer_len;
    uint64_t since;             /* when it was queued (monotonic ms) */
    struct fast_job *next;      /* in the queue */
} fast_job;

/* A connection being served, findable by the monitor to interrupt it. */
typedef struct fconn_slot {
    int fd;
    pthread_t tid;
    atomic_int noticed;         /* its thread has seen the stop */
    pthread_mutex_t io_lock;
    int in_io;                  /* the thread is in one of its blocking calls */
    struct fconn_slot *next, *prev;
} fconn_slot;

typedef struct fthread {
    struct fast *f;
    pthread_t tid;
    pthread_cond_t wake;        /* a parked thread is handed a job */
    int has_job;                /* job is set, 0 while parked */
    struct fthread *next_parked;
    fast_job job;               /* the connection to serve */
    const berth_layer *last_layer; /* the last non-NULL layer this thread used */
    berth_wake wake_fds;        /* for stream work (rfd -1: woken by SIGURG) */
    pthread_mutex_t poll_lock;  /* orders polling against a waker's signal */
    int polling;                /* in wait_stream's ppoll window (SIGURG wakes it) */
    sigset_t wait_mask;         /* the thread's signal mask (SIGURG open), for ppoll */
    berth_io io;                /* the connection being served */
    berth_io_guard guard;       /* brackets its blocking calls (io_begin) */
    unsigned rcvtimeo;          /* the receive timeout set on its socket, ms */
    int drained;                /* the connection was told of the stop */
    fconn_slot *slot;           /* the connection's entry in f->open */
    berth_worker w;             /* per-thread pools, reused across connections */
} fthread;

typedef struct fast {
    berth_server *srv;
    pthread_t *acceptors;
    int nacceptors;             /* of them, started */
    pthread_t monitor;
    int monitor_running;        /* started (fast_join joins it) */
    pthread_mutex_t lock;
    pthread_cond_t all_done;
    pthread_cond_t fd_freed;    /* a connection closed: paused acceptors retry */
    fthread *parked;
    int nparked;
    int running;                /* connection threads alive */
    int busy;                   /* of them, serving admitted connections */
    int refusers;               /* of them, answering queued connections 503 */
    unsigned max_threads;       /* busy at most this many */
    size_t stack_size;          /* connection threads' stacks: FAST_STACK_SIZE, more
                                   when the loaded libraries' static TLS needs it */
    fast_job *queue, *queue_tail; /* accepted, waiting for a thread (FIFO) */
    int nqueued;
    int accept_paused;          /* acceptors waiting for descriptors */
    int stopping;
    int signal_handler;         /* SIGURG has berth's handler (a stop interrupts I/O) */
    int signal_wake;            /* ... and ppoll exists: wakes need no descriptor */
    atomic_ullong cut_at;       /* the drain deadline (monotonic ms), once stopping */
    unsigned send_tick_ms;      /* send timeout: how often a blocked write re-checks */
    fconn_slot open;            /* fds being served, to unblock them at the end */
} fast;

static inline int fast_stopping(fast *f)
{
    return atomic_load_explicit(&f->srv->stopping, memory_order_relaxed);
}

/* fast_queue.c: connections waiting for a thread, under f->lock. */
uint64_t fast_now_ms(void);              /* the worker clock's time, monotonic ms */
int fast_queue_push(fast *f, const fast_job *j); /* a copy at the tail; -1 out of memory */
void fast_queue_requeue(fast *f, fast_job *q);   /* a node just popped, back at the head */
fast_job *fast_queue_pop(fast *f);               /* the head (the queue is not empty) */
int fast_queue_servable(const fast *f);  /* the head may be served now */
/* On a connection thread, its connection done: the next job for it from
 * the queue, 1, or 0 (park or exit). */
int fast_next_job(fast *f, fthread *t);
/* Closes what is still queued (at the end, once no thread is left). */
void fast_queue_close(fast *f);

/* fast_accept.c */
typedef struct fast_acceptor_arg {
    fast *f;
    int fd;
    berth_listener *li;   /* its layer and protocols, for the connections; its fd is
                           * set to -1 as the acceptor closes it */
} fast_acceptor_arg;
void *fast_acceptor_main(void *arg); /* arg: a malloc'd fast_acceptor_arg */

/* fast_conn.c */
void *fast_conn_thread(void *arg);

#endif
