/* The drive loop, shared by every backend: moves bytes between a socket
 * (through its socket operations) and the connection's pipe (core/pipe.h)
 * until one of them has to wait. A backend keeps only what is its own: how
 * it waits (epoll, a blocking thread, libuv callbacks), how it accepts and
 * how it is woken. */
#ifndef BERTH_DRIVE_H
#define BERTH_DRIVE_H

#include "../core/conn.h"
#include "deadlines.h"
#include "sock.h"

/* Brackets a blocking socket call (fast): begin answers 0 when the call
 * must not block now (a stop is pending), and the drive returns instead. */
typedef struct berth_io_guard {
    int (*begin)(void *ctx);
    void (*end)(void *ctx);
    void *ctx;
} berth_io_guard;

typedef struct berth_io {
    berth_sock s;              /* the socket (s.fd) and its state */
    const berth_sock_ops *sock; /* plaintext, or kernel TLS after a hand-off */
    berth_pipe *pipe;          /* the top of the connection's pipe stack */
    berth_conn *engine;        /* its bottom: streams, the wake list */
    berth_worker *w;           /* its worker: the server's settings and log */
    const berth_io_guard *guard; /* blocking sockets only */
    unsigned readable : 1;     /* input may wait on the socket (until EAGAIN) */
    unsigned hup : 1;          /* the peer's FIN was seen: read on to EOF */
    unsigned shut : 1;         /* our write side is shut */
    unsigned blocking : 1;     /* calls block; one read per drive, so the
                                  caller checks deadlines between them */
    unsigned refused : 1;      /* over the connection cap (answers 503) */
    unsigned ready : 1;        /* on its set's ready list (BERTH_IO_MORE) */
    unsigned heap_slot;        /* in its set's deadline heap (deadlines.h) */
    struct berth_io *prev, *next; /* in its berth_ioset */
    struct berth_io *ready_next;
} berth_io;

/* What a drive leaves the connection waiting for. */
enum {
    BERTH_IO_CLOSED = 1,     /* done: destroy it */
    BERTH_IO_WANT_READ = 2,  /* the socket to become readable */
    BERTH_IO_WANT_WRITE = 4, /* the socket to become writable */
    /* 0: neither; only a stream operation or a timer will move it */
    BERTH_IO_MORE = 8,       /* it used its turn with input maybe left: drive it
                                again after the others, without waiting for an
                                event (berth_ioset_ready) */
};

/* One connection's turn: a drive reads at most this many bytes before it
 * yields (BERTH_IO_MORE), so that a client sending faster than the engine
 * consumes cannot keep its thread from the poller, the timers and the
 * other connections (issue 30). libuv reads 32 times per callback at most
 * for the same reason (uv__read). Eight reads of the usual 32 KiB buffer:
 * far more than a keep-alive request or a pipelined batch, which are one
 * read each. Blocking sockets (fast) read once per drive anyway. */
#define BERTH_IO_TURN_BYTES (256u * 1024)

/* Sets io up for an accepted socket, with a new engine of worker w and,
 * if layer is not NULL, that layer stacked on it; peer is the address
 * accept reported (or NULL). 0, or -1 (fd is left open). */
/* The memory segments before the first file range, as an iovec (at most
 * n): their count, 0 when a file range comes first. The drive's gathered
 * write and uring's queued send take the same. */
static inline int berth_segs_iov(const berth_seg *segs, int n, struct iovec *iov)
{
    int k = 0;
    for (; k < n && segs[k].ptr; k++) {
        iov[k].iov_base = (void *)segs[k].ptr;
        iov[k].iov_len = segs[k].len;
    }
    return k;
}

int berth_io_init(berth_io *io, berth_worker *w, int fd, unsigned flags, const berth_layer *layer,
                  const struct sockaddr *peer, socklen_t peer_len);
/* A thread that served connections from these listeners' layers ends. */
void berth_layers_thread_exit(const berth_layer *const *layers, int n);
/* Frees the pipe stack and closes the socket. */
void berth_io_destroy(berth_io *io);
int berth_io_drive(berth_io *io);
/* Writes pending output until done (1), the socket is full or its timeout
 * passed (0), or the write failed or the pipe is closed (-1: give up; a
 * failed write aborts the pipe). Never reads. */
int berth_io_write(berth_io *io);
/* The pipe's deadline passed: acts on it and drives. */
int berth_io_timeout(berth_io *io);
/* The server is stopping: drains the pipe and drives. */
int berth_io_drain(berth_io *io);

/* The connections of one event-loop thread, and what its backend does
 * after driving one (close it on BERTH_IO_CLOSED, re-arm its poll...). */
typedef struct berth_ioset {
    berth_io head;
    size_t count;
    /* Connections that yielded (BERTH_IO_MORE): ready holds them for the
     * next round, running the round being driven. */
    berth_io *ready, *running;
    berth_deadlines deadlines; /* every connection's, earliest first */
    uint64_t floor;            /* during a sweep: no key below this (its now + 1) */
    void (*driven)(berth_io *io, int result, void *ctx);
    void *ctx;
} berth_ioset;

void berth_ioset_init(berth_ioset *set, void (*driven)(berth_io *, int, void *), void *ctx);
/* Adds io (its deadline into the heap): 0, or -1 out of memory (io is not
 * in the set: the caller closes it). */
int berth_ioset_add(berth_ioset *set, berth_io *io);
void berth_ioset_remove(berth_ioset *set, berth_io *io);
/* Frees what the set holds beside its connections (after the last left). */
void berth_ioset_free(berth_ioset *set);
/* Every drive of a connection of the set ends here, with the drive's
 * result: the set notes a deadline the drive moved earlier (O(log n), no
 * allocation, no system call), then calls its driven(). */
void berth_ioset_driven(berth_ioset *set, berth_io *io, int result);
/* Drives every connection whose deadline has passed, each once; returns a
 * time at or before the earliest deadline of the others (UINT64_MAX: none).
 * It looks only at connections due by their key: O(expired + changed). */
uint64_t berth_ioset_sweep(berth_ioset *set, uint64_t now);
/* When the next sweep is due: at the earliest deadline, so that timeouts
 * fire on time rather than up to a sweep period late (a 408 at the header
 * timeout +-100 ms under load, issue 16), but at most every
 * BERTH_SWEEP_MIN_MS (many close deadlines cost one sweep, not one each)
 * and at least every max_ms (deadlines set after this sweep). */
#define BERTH_SWEEP_MIN_MS 10
static inline uint64_t berth_sweep_next(uint64_t earliest, uint64_t now, uint64_t max_ms)
{
    if (earliest < now + BERTH_SWEEP_MIN_MS)
        return now + BERTH_SWEEP_MIN_MS;
    return earliest < now + max_ms ? earliest : now + max_ms;
}
/* io yielded its turn (BERTH_IO_MORE): it is driven again by the next
 * berth_ioset_run_ready. An edge-triggered poller reports no new edge for
 * input already waiting, and a level-triggered one none for input a pipe
 * layer holds: the backend polls with timeout 0 while this list is not
 * empty, then runs it, so every other connection gets its turn first. */
void berth_ioset_ready(berth_ioset *set, berth_io *io);
static inline int berth_ioset_has_ready(const berth_ioset *set) { return set->ready != NULL; }
/* Drives once each connection that was ready; those that yield again wait
 * for the next round. */
void berth_ioset_run_ready(berth_ioset *set);
/* Takes io off the ready list (it is closing). berth_ioset_remove does it too. */
void berth_ioset_unready(berth_ioset *set, berth_io *io);
/* Drains every connection (a stop). */
void berth_ioset_drain(berth_ioset *set);
/* Takes the next connection off w's wake list and applies the stream work
 * other threads queued for it; NULL once the list is empty. */
berth_conn *berth_worker_apply_woken(berth_worker *w);
/* Applies the stream work other threads queued for w's connections, and
 * drives them. */
void berth_ioset_run_woken(berth_ioset *set, berth_worker *w);

#endif
