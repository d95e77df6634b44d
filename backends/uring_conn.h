/* The io_uring backend's parts (uring.c: the worker; uring_conn.c: its
 * connections). A worker owns one ring; every operation's user_data is the
 * address of what it concerns (a connection, a listener, the worker) with
 * the kind of operation in its low bits.
 *
 * A connection is served one of two ways:
 * - by completion (plaintext, PROXY, TLS kept in userspace): a multishot
 *   receive fills buffers from the worker's provided-buffer ring, which the
 *   connection queues until the drive loop takes the bytes (its socket
 *   operations' recv copies them into the pipe's buffer and gives the
 *   buffers back at once, so an idle connection holds none); a send is
 *   queued as an operation on the pipe's listed bytes (they stay in place
 *   until out_done, pipe.h), submitted with every other operation of the
 *   loop turn in one io_uring_enter, and its completion advances the pipe;
 * - by readiness (a TLS listener whose records may go to kernel TLS, which
 *   must read no byte ahead of the pipe: berth_layer.exact_reads): one-shot
 *   polls, and the same socket calls as the reactor. */
#ifndef BERTH_URING_CONN_H
#define BERTH_URING_CONN_H

#include <liburing.h>
#include <stdint.h>

#include "loop.h"

/* Features a bench build may switch off or on, one at a time, to measure
 * what each buys (bench/README.md, docs/BENCHMARKS.md: a build made with
 * -Dc_args=-DBERTH_URING_BENCH=N). Every real build has 0: the features
 * the table found worth having are on. */
#ifndef BERTH_URING_BENCH
#define BERTH_URING_BENCH 0
#endif
#define URING_BENCH_ONESHOT_RECV 1 /* a one-shot receive, armed again after each */
#define URING_BENCH_NO_BATCH 2     /* what a completion queued is submitted at once */
#define URING_BENCH_COOP 4         /* IORING_SETUP_COOP_TASKRUN at most */
#define URING_BENCH_NO_FLAGS 8     /* no setup flag */
#define URING_BENCH_RING_FD 16     /* the ring's descriptor registered (io_uring_enter by index) */
#define URING_BENCH(f) ((BERTH_URING_BENCH & (f)) != 0)

/* The kind of operation, in the low bits of its user_data (what it
 * concerns is at least 8-byte aligned). */
enum {
    /* With a connection: its hangup poll (uring_conn.c). Without (NULL):
     * cancellations, whose own results matter not. */
    URING_HANGUP = 0,
    URING_IGNORE = 0,
    URING_RECV,
    URING_SEND,
    URING_POLL_IN,    /* one-shot polls, one per direction: never updated, */
    URING_POLL_OUT,   /* so each has one completion */
    URING_ACCEPT,
    URING_WAKE,
    URING_STOP,
};
#define URING_TAG_MASK 7u

static inline uint64_t uring_ud(const void *p, unsigned tag) { return (uint64_t)(uintptr_t)p | tag; }

/* Each worker's provided buffers: URING_BUFS of URING_BUF_SIZE (2 MiB),
 * shared by its connections for the bytes received and not yet taken. A
 * connection holding more than URING_QUEUE_MAX of them (a client sending
 * while its handler is busy) stops receiving until the pipe took them: the
 * rest waits in the kernel's socket buffer, as it does for the reactor. */
#define URING_BUFS 256
#define URING_BUF_SIZE 8192
#define URING_QUEUE_MAX (64u * 1024)
/* sendmsg headers of one loop turn (the kernel copies them at submission). */
#define URING_MSGS 64
#define URING_IOV_MAX 16

typedef struct uring_conn {
    berth_io io;                 /* first: the drive loop's connection */
    struct uring_worker *uw;
    struct uring_conn *next;     /* on the worker's starved or zombie list */
    struct uring_conn *next_flush; /* on the worker's list of sends to queue */
    uint32_t queued;             /* bytes received and not yet taken */
    uint32_t q_off;              /* taken from the first queued buffer */
    uint16_t q_head, q_tail;     /* queued buffer ids (uring_worker.buf_next) */
    uint16_t inflight;           /* operations whose last completion is due */
    unsigned completion : 1;     /* served by completion (see above) */
    unsigned recv_armed : 1;     /* a multishot receive is in the kernel */
    unsigned recv_cancelling : 1;
    unsigned recv_eof : 1;       /* the peer's FIN came after the queued bytes */
    unsigned send_busy : 1;      /* a send is in the kernel */
    unsigned flush_queued : 1;   /* output waits for the turn's end (uring_flush) */
    unsigned poll_in : 1;        /* a poll for input is armed */
    unsigned poll_out : 1;       /* a poll for room to write is armed */
    unsigned closing : 1;        /* closed: freed once inflight is 0 */
    unsigned starved : 1;        /* its receive ended for want of buffers */
    unsigned hangup_armed : 1;   /* its hangup poll is armed (uring_conn.c) */
    int recv_err, send_err;      /* errno of a failed receive or send, for the drive */
    const berth_sock_ops *sock_open; /* while closing: its socket operations */
    unsigned cancel_turn;        /* uring_worker.submits when its cancellation was queued */
} uring_conn;

typedef struct uring_msg {
    struct msghdr h;
    struct iovec iov[URING_IOV_MAX];
} uring_msg;

typedef struct uring_worker {
    berth_loop base;             /* first: what the loop backends share (loop.h) */
    const berth_loop_ops *ops;   /* uring.c's */
    struct io_uring ring;
    int ring_ok;
    int enable;                  /* created disabled: the worker's thread enables it
                                    (IORING_SETUP_SINGLE_ISSUER's issuer) */
    struct io_uring_buf_ring *br;
    char *bufs;                  /* URING_BUFS * URING_BUF_SIZE */
    uint32_t buf_len[URING_BUFS];
    uint16_t buf_next[URING_BUFS];
    unsigned bufs_out;           /* held in connections' queues */
    int br_ok;
    berth_wake wake;
    uint64_t wake_val;
    int wake_ok;
    unsigned char *accept_armed; /* per listener */
    int accept_paused;
    uint64_t nofile;             /* RLIMIT_NOFILE when the accepts were armed */
    int stop_asked;
    int wait_failed;             /* said once */
    uring_conn *starved, *zombies;
    uring_conn *flushing;        /* connections with output for this turn's sends */
    unsigned nmsgs;
    unsigned submits;            /* submissions so far (uring_submit) */
    uring_msg msgs[URING_MSGS];
} uring_worker;

extern const berth_sock_ops berth_sock_uring;

/* Submits what is queued (the kernel copies the sendmsg headers: they are
 * free again), and counts it. */
static inline void uring_submit(uring_worker *uw)
{
    io_uring_submit(&uw->ring);
    uw->nmsgs = 0;
    uw->submits++;
}

/* An SQE, submitting what is queued when the ring is full. */
static inline struct io_uring_sqe *uring_sqe(uring_worker *uw)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&uw->ring);
    while (!sqe) {
        uring_submit(uw);
        sqe = io_uring_get_sqe(&uw->ring);
    }
    return sqe;
}
/* The worker's side of a connection's completions (uring_conn.c). */
void uring_conn_complete(uring_worker *uw, uring_conn *uc, unsigned tag, const struct io_uring_cqe *cqe);
/* After every drive (berth_loop_ops.driven). */
void uring_conn_driven(berth_io *io, int result, void *worker);
/* Takes it off its set and frees it, once the kernel has let go of it. */
void uring_conn_close(uring_worker *uw, uring_conn *uc);
/* Queues a send for each connection that produced output this turn. */
void uring_flush(uring_worker *uw);
/* Starts receiving again on connections whose receive ran out of buffers. */
void uring_conns_unstarve(uring_worker *uw);
int uring_conn_watch(berth_loop *l, berth_io *io, const berth_listener *li);

#endif
