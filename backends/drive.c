/* The drive loop (drive.h): write what the pipe has, act on its state,
 * process input it holds, then read; until the socket or the pipe waits. */
#include "drive.h"

#include "../core/ktls.h"
#include "../core/log.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define MAX_SEGS 16

int berth_io_init(berth_io *io, berth_worker *w, int fd, unsigned flags, const berth_layer *layer,
                  const struct sockaddr *peer, socklen_t peer_len)
{
    berth_conn *c = berth_conn_new(w, flags);
    if (!c)
        return -1;
    berth_conn_set_peer(c, peer, peer_len);
    io->pipe = layer ? layer->wrap(layer->ctx, c, w) : berth_conn_pipe(c);
    if (!io->pipe) {
        berth_conn_free(c);
        return -1;
    }
    io->w = w;
    io->s.fd = fd;
    io->s.dead = io->s.notified = 0;
    io->sock = &berth_sock_plain;
    io->engine = c;
    io->guard = NULL;
    io->readable = 1; /* data often arrives with the connection */
    io->hup = io->shut = io->blocking = 0;
    io->refused = (flags & BERTH_CONN_REFUSE) != 0;
    io->ready = 0;
    io->heap_slot = BERTH_DEADLINE_NONE;
    io->prev = io->next = io->ready_next = NULL;
    berth_conn_set_transport(c, io);
    return 0;
}

void berth_layers_thread_exit(const berth_layer *const *layers, int n)
{
    for (int i = 0; i < n; i++)
        if (layers[i] && layers[i]->thread_exit)
            layers[i]->thread_exit(layers[i]->ctx);
}

void berth_io_destroy(berth_io *io)
{
    io->sock->finish(&io->s);
    io->pipe->ops->free(io->pipe);
    io->pipe = NULL;
    io->engine = NULL;
    close(io->s.fd);
    io->s.fd = -1;
}

/* Says once per server, on its log, which path TLS records take. */
static void handoff_log(berth_io *io, enum berth_ktls_start result)
{
    static const char *const what[] = {
        "kernel TLS engaged: records and sendfile go through the kernel (TLS 1.3)",
        "kernel TLS unavailable (no tls module for TCP_ULP): TLS records stay in userspace",
        "kernel TLS refused the keys after TCP_ULP: that connection was closed",
    };
    static const unsigned once[] = {BERTH_SAID_KTLS_ON, BERTH_SAID_KTLS_NONE,
                                    BERTH_SAID_KTLS_REFUSED};
    berth_log_once(io->w->engine->log, once[result], "berth: %s", what[result]);
}

/* A layer steps out of the pipe, or offers its records to the kernel
 * (pipe.h, handoff). */
static void handoff(berth_io *io)
{
    berth_pipe *p = io->pipe;
    berth_ktls k;
    enum berth_handoff_offer offer = p->ops->handoff ? p->ops->handoff(p, &k) : BERTH_HANDOFF_NONE;
    if (offer == BERTH_HANDOFF_TRANSPARENT) {
        io->pipe = p->ops->handoff_done(p, BERTH_HANDOFF_DONE); /* nothing left to do */
        return;
    }
    if (offer != BERTH_HANDOFF_KTLS)
        return;
    enum berth_ktls_start r = berth_sock_ktls_start(&io->s, &k);
    memset(&k, 0, sizeof k); /* keys do not linger */
    handoff_log(io, r);
    enum berth_handoff_result how = r == BERTH_KTLS_OK            ? BERTH_HANDOFF_DONE
                                    : r == BERTH_KTLS_UNAVAILABLE ? BERTH_HANDOFF_DECLINED
                                                                  : BERTH_HANDOFF_FAILED;
    io->pipe = p->ops->handoff_done(p, how);
    if (r == BERTH_KTLS_OK)
        io->sock = &berth_sock_ktls;
}

static int guard_begin(berth_io *io) { return !io->guard || io->guard->begin(io->guard->ctx); }
static void guard_end(berth_io *io)
{
    if (io->guard)
        io->guard->end(io->guard->ctx);
}

/* One write call: a file segment with sendfile, else the memory segments
 * up to the next file in one gathered write. */
static ssize_t write_once(berth_io *io, const berth_seg *segs, int n)
{
    if (!segs[0].ptr) {
        uint64_t off = segs[0].off;
        return io->sock->sendfile(&io->s, segs[0].fd, &off, segs[0].len);
    }
    struct iovec iov[MAX_SEGS];
    int k = berth_segs_iov(segs, n, iov);
    return io->sock->sendv(&io->s, iov, k, k < n, !io->blocking);
}

/* Inlined into the drive loop; berth_io_write is its exported form. */
static inline int write_pending(berth_io *io)
{
    berth_pipe *p = io->pipe;
    berth_seg segs[MAX_SEGS];
    for (;;) {
        int n = p->ops->out_segs(p, segs, MAX_SEGS);
        if (n == 0)
            return 1;
        if (!guard_begin(io))
            return 0;
        ssize_t w = write_once(io, segs, n);
        int err = w < 0 ? errno : 0;
        guard_end(io);
        if (w > 0) {
            p->ops->out_done(p, (size_t)w);
            if (p->handoff_ready)
                return 1; /* hand the rest to the kernel first (berth_io_drive) */
            continue;
        }
        if (w < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR))
            return 0;
        p->ops->abort(p);
        return -1;
    }
}

int berth_io_write(berth_io *io)
{
    int r = write_pending(io);
    /* A pipe that closed meanwhile (its write timeout or the stop's cut)
     * waits for nothing more: a caller that loops until its output is
     * written must not loop on a peer that never reads (fast's flush
     * did, for ever: the server never exited). */
    if (r == 0 && io->pipe->ops->state(io->pipe) == BERTH_PIPE_CLOSED)
        return -1;
    return r;
}

int berth_io_drive(berth_io *io)
{
    berth_pipe *p = io->pipe;
    int reads = 0;
    size_t got = 0; /* bytes read in this turn */
    int full = 0;   /* a write found the socket full: nothing in this drive empties it */
    for (;;) {
        if (io->pipe->handoff_ready) {
            handoff(io);
            p = io->pipe;
        }
        int w = full ? 0 : write_pending(io);
        if (w < 0)
            return BERTH_IO_CLOSED;
        full = w == 0;
        if (io->pipe->handoff_ready)
            continue; /* before any read: the kernel takes over at this point */
        int blocked = w == 0 ? BERTH_IO_WANT_WRITE : 0;
        int st = p->ops->state(p);
        if (st == BERTH_PIPE_CLOSED)
            return BERTH_IO_CLOSED;
        if (blocked && io->blocking)
            return blocked; /* a send timeout: the caller checks deadlines */
        if (st == BERTH_PIPE_SHUTDOWN && !blocked && !io->shut) {
            io->sock->shutdown(&io->s);
            io->shut = 1;
        }
        /* Input the pipe holds goes first; write completions never run
         * handlers, this does. */
        if (p->ops->has_pending(p)) {
            p->ops->pump(p);
            continue;
        }
        if (!p->ops->wants_input(p))
            return blocked;
        if (!io->readable || (io->blocking && reads))
            return blocked | BERTH_IO_WANT_READ;
        if (got >= BERTH_IO_TURN_BYTES)
            return blocked | BERTH_IO_WANT_READ | BERTH_IO_MORE; /* its output went first */
        size_t cap;
        char *buf = p->ops->read_buf(p, &cap);
        if (!buf)
            return blocked; /* out of memory: the sweep's timeouts end it */
        ssize_t n = -1;
        int err = EAGAIN;
        if (guard_begin(io)) {
            n = io->sock->recv(&io->s, buf, cap, !io->blocking);
            if (n < 0)
                err = errno;
            guard_end(io);
        }
        reads++;
        if (n > 0) {
            got += (size_t)n;
            if (st == BERTH_PIPE_SHUTDOWN)
                berth_conn_linger_input(io->engine); /* a layer may drop it unseen */
            /* A short read drained the socket (edge-triggered pollers wake
             * again for new data), unless a FIN is still to be read. */
            if ((size_t)n < cap && !io->hup && !io->blocking)
                io->readable = 0;
            p->ops->read_done(p, (size_t)n);
        } else if (n == 0) {
            io->readable = 0;
            p->ops->read_done(p, 0);
        } else if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR) {
            if (!io->blocking)
                io->readable = 0;
            p->ops->read_idle(p);
            if (io->blocking)
                return blocked | BERTH_IO_WANT_READ;
        } else {
            p->ops->abort(p);
            return BERTH_IO_CLOSED;
        }
    }
}

int berth_io_timeout(berth_io *io)
{
    io->pipe->ops->on_timeout(io->pipe);
    return berth_io_drive(io);
}

int berth_io_drain(berth_io *io)
{
    io->pipe->ops->drain(io->pipe);
    return berth_io_drive(io);
}

void berth_ioset_init(berth_ioset *set, void (*driven)(berth_io *, int, void *), void *ctx)
{
    set->head.next = set->head.prev = &set->head;
    set->count = 0;
    set->ready = set->running = NULL;
    set->deadlines = (berth_deadlines){NULL, 0, 0};
    set->floor = 0;
    set->driven = driven;
    set->ctx = ctx;
}

static uint64_t deadline_of(const berth_ioset *set, berth_io *io)
{
    uint64_t d = io->pipe->ops->deadline(io->pipe);
    return d < set->floor ? set->floor : d;
}

int berth_ioset_add(berth_ioset *set, berth_io *io)
{
    if (berth_deadlines_add(&set->deadlines, io, deadline_of(set, io)) != 0)
        return -1;
    io->next = set->head.next;
    io->prev = &set->head;
    set->head.next->prev = io;
    set->head.next = io;
    set->count++;
    return 0;
}

void berth_ioset_remove(berth_ioset *set, berth_io *io)
{
    berth_ioset_unready(set, io);
    berth_deadlines_remove(&set->deadlines, io);
    io->prev->next = io->next;
    io->next->prev = io->prev;
    io->prev = io->next = NULL;
    set->count--;
}

void berth_ioset_free(berth_ioset *set) { berth_deadlines_free(&set->deadlines); }

void berth_ioset_driven(berth_ioset *set, berth_io *io, int result)
{
    /* A closed connection leaves the set in driven(); a later deadline
     * waits in the heap under its old key until the sweep meets it. */
    if (!(result & BERTH_IO_CLOSED) && io->heap_slot != BERTH_DEADLINE_NONE) {
        uint64_t d = deadline_of(set, io), key = set->deadlines.slots[io->heap_slot].key;
        /* (the sweep keyed a connection it drives with its floor: its
         * deadline after the timeout replaces that) */
        if (d < key || (set->floor && key == set->floor))
            berth_deadlines_set(&set->deadlines, io, d);
    }
    set->driven(io, result, set->ctx);
}

void berth_ioset_ready(berth_ioset *set, berth_io *io)
{
    if (io->ready)
        return;
    io->ready = 1;
    io->ready_next = set->ready;
    set->ready = io;
}

static int unlink_from(berth_io **list, berth_io *io)
{
    for (berth_io **pp = list; *pp; pp = &(*pp)->ready_next) {
        if (*pp == io) {
            *pp = io->ready_next;
            return 1;
        }
    }
    return 0;
}

void berth_ioset_unready(berth_ioset *set, berth_io *io)
{
    if (!io->ready)
        return;
    if (!unlink_from(&set->ready, io))
        unlink_from(&set->running, io);
    io->ready = 0;
    io->ready_next = NULL;
}

void berth_ioset_run_ready(berth_ioset *set)
{
    /* The round is taken whole: a connection that yields again joins the
     * next one. It stays in the set (running) while it waits, so that a
     * connection closed meanwhile is taken off it (berth_ioset_remove). */
    set->running = set->ready;
    set->ready = NULL;
    berth_io *io;
    while ((io = set->running)) {
        set->running = io->ready_next;
        io->ready = 0;
        io->ready_next = NULL;
        berth_ioset_driven(set, io, berth_io_drive(io));
    }
}

uint64_t berth_ioset_sweep(berth_ioset *set, uint64_t now)
{
    berth_deadlines *h = &set->deadlines;
    const berth_deadline_slot *top;
    /* A connection driven here is not due again before the next sweep:
     * one timeout each per sweep, as when every connection was asked. */
    set->floor = now + 1;
    while ((top = berth_deadlines_top(h)) && top->key <= now) {
        berth_io *io = top->io;
        uint64_t d = io->pipe->ops->deadline(io->pipe);
        if (d > now) {
            berth_deadlines_set(h, io, d); /* it moved later since its key was set */
            continue;
        }
        berth_deadlines_set(h, io, set->floor);
        berth_ioset_driven(set, io, berth_io_timeout(io)); /* may free io */
    }
    set->floor = 0;
    top = berth_deadlines_top(h);
    return top ? top->key : UINT64_MAX;
}

void berth_ioset_drain(berth_ioset *set)
{
    berth_io *io = set->head.next;
    while (io != &set->head) {
        berth_io *next = io->next;
        berth_ioset_driven(set, io, berth_io_drain(io));
        io = next;
    }
}

berth_conn *berth_worker_apply_woken(berth_worker *w)
{
    berth_conn *c = berth_worker_next_woken(w);
    if (c)
        berth_conn_apply_streams(c);
    return c;
}

void berth_ioset_run_woken(berth_ioset *set, berth_worker *w)
{
    berth_conn *c;
    while ((c = berth_worker_apply_woken(w))) {
        berth_io *io = berth_conn_transport(c);
        berth_ioset_driven(set, io, berth_io_drive(io));
    }
}
