/* A fast connection thread: serves one connection at a time with blocking
 * reads and writes through the drive loop, then takes the next queued
 * connection or parks for reuse.
 *
 * A blocked read ends when data arrives, at the connection's next
 * deadline (the socket's receive timeout is set from it), or when a stop
 * interrupts it (SIGURG from the monitor, fast.c). While a deferred
 * response or a WebSocket is open the thread waits in ppoll on its socket
 * instead, with SIGURG opened only inside that call: another thread's
 * stream work wakes it with SIGURG, so a connection costs one descriptor.
 * Where the application owns SIGURG, or there is no ppoll (macOS), a wake
 * descriptor per thread does it (an eventfd, or a pipe: platform.h). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "fast.h"
#include "listen.h"
#include "transport_ops.h"
#include "../core/log.h"

#ifndef POLLRDHUP /* Linux's; elsewhere POLLHUP says the peer is gone */
#define POLLRDHUP 0
#endif


#define READ_TIMEOUT_MAX 1000 /* ms; a blocked read wakes at least this often */

static int set_timeout(int fd, int opt, unsigned ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

/* A failure that leaves the thread unable to serve a connection as it
 * must (a read or write without a deadline, a wait nobody can wake): said
 * once per server and kind, as the accept errors are. */
static void say_once(fthread *t, unsigned once, const char *what)
{
    berth_log_once(&t->f->srv->log, once, "berth: fast: %s: %s (such connections are closed or refused)",
                   what, strerror(errno));
}

static uint64_t cut_at(const fthread *t)
{
    return atomic_load_explicit(&t->f->cut_at, memory_order_relaxed);
}

/* The connection's deadline, or the stop's, whichever is first. */
static uint64_t deadline(fthread *t)
{
    uint64_t due = t->io.pipe->ops->deadline(t->io.pipe);
    uint64_t cut = cut_at(t);
    return cut && cut < due ? cut : due;
}

/* Makes the next blocking read end by the connection's deadline (to
 * within a few ms), without a setsockopt per read on the hot path: the
 * timeout only changes when it would overshoot or is far too short. -1:
 * it could not be set, and the read would wait past the deadline (for
 * ever, the first time). */
static int read_timeout(fthread *t)
{
    uint64_t now = t->w.clock.now_ms, due = deadline(t);
    unsigned want = due <= now ? 1 : due - now > READ_TIMEOUT_MAX ? READ_TIMEOUT_MAX
                                                                   : (unsigned)(due - now);
    if (t->rcvtimeo > want + 5 || t->rcvtimeo + 200 < want) {
        if (set_timeout(t->io.s.fd, SO_RCVTIMEO, want) != 0)
            return -1;
        t->rcvtimeo = want;
    }
    return 0;
}

/* Called on the connection's thread between events: drains the
 * connection once the server stops, and tells the monitor so. 1: the
 * drain time is over and the connection was cut (aborted: a stream learns
 * the client is gone), as reactor and libuv cut theirs; its own deadline
 * must not fire then (a request being read would be answered 408). */
static int check_stop(fthread *t)
{
    if (!fast_stopping(t->f))
        return 0;
    if (!t->drained) {
        t->drained = 1;
        atomic_store(&t->slot->noticed, 1);
        t->io.pipe->ops->drain(t->io.pipe);
    }
    uint64_t cut = cut_at(t);
    if (!cut || t->w.clock.now_ms < cut)
        return 0;
    t->io.pipe->ops->abort(t->io.pipe);
    return 1;
}

/* The connection's own deadline passed: act on it. */
static void check_deadline(fthread *t)
{
    if (t->io.pipe->ops->deadline(t->io.pipe) <= t->w.clock.now_ms)
        t->io.pipe->ops->on_timeout(t->io.pipe);
}

static void io_end(void *ctx)
{
    fthread *t = ctx;
    pthread_mutex_lock(&t->slot->io_lock);
    t->slot->in_io = 0;
    pthread_mutex_unlock(&t->slot->io_lock);
    /* The call may have blocked for long: what it read happened now, not
     * when it began (a head's first byte starts the header timeout; with
     * the time of the wait, the 408 came up to a read timeout early). */
    berth_clock_update(&t->w.clock);
}

/* Brackets the thread's own blocking calls: the monitor signals only
 * inside them, never in handler code. 0: a stop the thread has not seen
 * is pending, do not block (this check after in_io is set is what makes a
 * signal sent before the call starts harmless: the monitor repeats it). */
static int io_begin(void *ctx)
{
    fthread *t = ctx;
    pthread_mutex_lock(&t->slot->io_lock);
    t->slot->in_io = 1;
    pthread_mutex_unlock(&t->slot->io_lock);
    if (fast_stopping(t->f) && !atomic_load(&t->slot->noticed)) {
        io_end(t);
        return 0;
    }
    return 1;
}

/* Another thread queued stream work for this thread's connection. With
 * SIGURG: signalled only inside wait_stream's ppoll window, where SIGURG is
 * blocked but for the ppoll itself, so the signal is never lost (it stays
 * pending until the ppoll) and never lands in handler code (it is sent
 * under poll_lock, which the thread takes to leave the window, before it
 * opens SIGURG again). Either the waker sees polling, or the waiting thread
 * sees the work the waker queued before taking poll_lock. */
static void wake(berth_worker *w)
{
    fthread *t = w->backend;
    if (t->wake_fds.rfd >= 0) {
        berth_wake_signal(&t->wake_fds);
        return;
    }
    pthread_mutex_lock(&t->poll_lock);
    if (t->polling)
        pthread_kill(t->tid, SIGURG);
    pthread_mutex_unlock(&t->poll_lock);
}

static void set_polling(fthread *t, int on)
{
    pthread_mutex_lock(&t->poll_lock);
    t->polling = on;
    pthread_mutex_unlock(&t->poll_lock);
}

static int has_woken(berth_worker *w)
{
    pthread_mutex_lock(&w->wake_lock);
    int any = w->woken != NULL;
    pthread_mutex_unlock(&w->wake_lock);
    return any;
}

/* A stream call on the connection's own thread (in a blocking handler, a
 * timer or on_close) writes its output before returning, bounded by the
 * write timeout; it never reads or runs a handler. Once the server stops
 * it gives way: what is left is written by serve()'s drain, which also
 * reads, so a client blocked sending its own data (an echo's sender that
 * reads only later) is released and gets the 1001; and a stop that came
 * while it wrote is seen at once (io_begin refused to block for it, which
 * made this loop spin until the cut). */
static void flush(void *transport)
{
    berth_io *io = transport;
    fthread *t = (fthread *)((char *)io - offsetof(fthread, io));
    for (;;) {
        if (fast_stopping(t->f)) {
            atomic_store(&t->slot->noticed, 1); /* serve() drains on return */
            return;
        }
        if (berth_io_write(io) != 0)
            return;
        berth_clock_update(&t->w.clock);
        uint64_t cut = cut_at(t);
        if (cut && t->w.clock.now_ms >= cut)
            io->pipe->ops->abort(io->pipe); /* the stop's cut */
        else
            check_deadline(t);
    }
}

/* What this backend's transport does for the engine (core/transport.h). */
static const berth_transport_ops fast_transport = {
    .local_addr = berth_io_local_addr,
    .flush = flush,
};

/* 1 while the connection waits on its application as well as on its
 * client (a deferred response, a WebSocket): asked of the top of the pipe
 * stack, which the layers (TLS, PROXY) forward down to the engine. */
static int awaits_app(const fthread *t)
{
    return berth_pipe_awaits_app(t->io.pipe);
}

/* Runs what is due on the connection's thread without blocking: stream
 * work queued by other threads, timers, then a drive that writes what they
 * queued (and reads what the poll found). */
static void run_due(fthread *t)
{
    while (berth_worker_apply_woken(&t->w))
        continue; /* its one connection, driven below */
    berth_worker_run_timers(&t->w);
    t->io.blocking = 0;
    berth_io_drive(&t->io);
    t->io.blocking = 1;
}

/* Waits for the socket, stream work or the timeout; the socket's revents. */
static short wait_for(fthread *t, int timeout)
{
    struct pollfd p[2] = {{t->io.s.fd, POLLIN | POLLRDHUP, 0}, {t->wake_fds.rfd, POLLIN, 0}};
    int n = 0;
    if (t->wake_fds.rfd >= 0) {
        if (io_begin(t)) {
            n = poll(p, 2, timeout);
            io_end(t);
        }
        if (n > 0 && (p[1].revents & POLLIN))
            berth_wake_drain(&t->wake_fds);
        return n > 0 ? p[0].revents : 0;
    }
#if BERTH_HAVE_PPOLL
    sigset_t urg;
    sigemptyset(&urg);
    sigaddset(&urg, SIGURG);
    pthread_sigmask(SIG_BLOCK, &urg, NULL);
    set_polling(t, 1);
    if (!has_woken(&t->w) && io_begin(t)) {
        struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000};
        n = ppoll(p, 1, &ts, &t->wait_mask);
        io_end(t);
    }
    set_polling(t, 0);
    pthread_sigmask(SIG_UNBLOCK, &urg, NULL); /* a late wake's signal lands here, harmless */
#else
    (void)set_polling;
    (void)has_woken; /* never signal_wake here (fast.c): wake_ready made the descriptor */
#endif
    return n > 0 ? p[0].revents : 0;
}

/* While a deferred response or a WebSocket is open: wait for stream work,
 * timers, the connection's deadline or the client (input, or going away).
 * What is due runs, and its output leaves, before the wait: a ping queued
 * by on_timeout waited for the poll to end before (up to a second), and
 * its pong deadline, counted from the queueing, passed with it. */
static void wait_stream(fthread *t)
{
    t->io.readable = 0;
    run_due(t);
    if (!awaits_app(t) ||
        t->io.pipe->ops->state(t->io.pipe) == BERTH_PIPE_CLOSED)
        return;
    uint64_t next = berth_worker_next_timer(&t->w);
    uint64_t due = deadline(t);
    if (due < next)
        next = due;
    uint64_t now = t->w.clock.now_ms;
    int timeout = READ_TIMEOUT_MAX;
    if (next != UINT64_MAX)
        timeout = next <= now ? 0 : next - now < (uint64_t)timeout ? (int)(next - now) : timeout;
    short ev = wait_for(t, timeout);
    berth_clock_update(&t->w.clock);
    if (check_stop(t)) /* before the response is applied: it says close */
        return;
    t->io.readable = (ev & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) != 0;
    run_due(t);
}

/* Stream work can wake this thread: by SIGURG (berth's handler), or by its
 * eventfd, made again for each connection until one is had. */
static int wake_ready(fthread *t)
{
    if (t->f->signal_wake || t->wake_fds.rfd >= 0)
        return 1;
    if (berth_wake_open(&t->wake_fds) == 0)
        return 1;
    say_once(t, BERTH_SAID_FAST_WAKE, "cannot make a wake descriptor (eventfd or pipe)");
    return 0;
}

/* Serves the thread's job, one connection, to its end. */
static void serve(fthread *t)
{
    fast *f = t->f;
    fast_job *j = &t->job;
    /* A parked thread's clock is as old as its last connection: read it
     * before the new connection takes its start time from it. */
    berth_clock_update(&t->w.clock);
    fconn_slot slot = {.fd = j->fd, .tid = t->tid};
    pthread_mutex_init(&slot.io_lock, NULL);
    t->slot = &slot;
    t->drained = 0;
    pthread_mutex_lock(&f->lock);
    slot.next = f->open.next;
    slot.prev = &f->open;
    f->open.next->prev = &slot;
    f->open.next = &slot;
    pthread_mutex_unlock(&f->lock);

    berth_socket_tune(j->fd);
    t->rcvtimeo = UINT_MAX; /* none set yet: reads would block forever */
    if (j->layer)
        t->last_layer = j->layer;
    /* Without a send timeout a write could block for ever: such a socket
     * is not served. Without its wake descriptor the thread cannot wait for
     * stream work (a deferred response, a WebSocket): it answers 503. */
    int refuse = j->refuse || !wake_ready(t);
    if (set_timeout(j->fd, SO_SNDTIMEO, f->send_tick_ms) != 0) {
        say_once(t, BERTH_SAID_FAST_SNDTIMEO, "cannot set a send timeout (SO_SNDTIMEO)");
        close(j->fd);
    } else if (berth_io_init(&t->io, &t->w, j->fd, (refuse ? BERTH_CONN_REFUSE : 0u) | j->protos,
                             j->layer, (struct sockaddr *)&j->peer, j->peer_len) == 0) {
        t->io.blocking = 1;
        t->io.guard = &t->guard;
        for (;;) {
            berth_clock_update(&t->w.clock);
            if (check_stop(t))
                break;
            check_deadline(t);
            if (awaits_app(t)) {
                wait_stream(t);
            } else {
                if (read_timeout(t) != 0) {
                    say_once(t, BERTH_SAID_FAST_RCVTIMEO,
                             "cannot set a receive timeout (SO_RCVTIMEO)");
                    t->io.pipe->ops->abort(t->io.pipe);
                    break;
                }
                t->io.readable = 1; /* a blocking read waits for input */
                int r = berth_io_drive(&t->io);
                if (r & BERTH_IO_CLOSED)
                    break;
                if (r == 0 && !awaits_app(t))
                    break; /* nothing to write, read or wait for: done */
            }
            if (t->io.pipe->ops->state(t->io.pipe) == BERTH_PIPE_CLOSED)
                break;
        }
        berth_io_destroy(&t->io);
    } else {
        close(j->fd);
    }
    pthread_mutex_lock(&f->lock);
    slot.prev->next = slot.next;
    slot.next->prev = slot.prev;
    pthread_mutex_unlock(&f->lock);
    pthread_mutex_destroy(&slot.io_lock);
    berth_backend_release(f->srv, j->admit == BERTH_REFUSE);
}

/* Parks t until it is handed a job (1) or should exit (0). Under f->lock. */
static int park(fast *f, fthread *t)
{
    if (f->stopping || f->nparked >= FAST_IDLE_THREADS_MAX)
        return 0;
    t->next_parked = f->parked;
    f->parked = t;
    f->nparked++;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += FAST_IDLE_THREAD_SECONDS;
    while (!t->has_job && !f->stopping) {
        if (pthread_cond_timedwait(&t->wake, &f->lock, &until) == ETIMEDOUT)
            break;
    }
    if (t->has_job)
        return 1;
    for (fthread **pp = &f->parked; *pp; pp = &(*pp)->next_parked) { /* timed out or stopping */
        if (*pp == t) {
            *pp = t->next_parked;
            f->nparked--;
            break;
        }
    }
    return 0;
}

void *fast_conn_thread(void *arg)
{
    fthread *t = arg;
    fast *f = t->f;
    t->tid = pthread_self();
    pthread_mutex_init(&t->poll_lock, NULL);
    berth_worker_init(&t->w, &f->srv->engine);
    t->w.backend = t;
    t->w.wake = wake;
    t->w.transport = &fast_transport;
    t->guard.begin = io_begin;
    t->guard.end = io_end;
    t->guard.ctx = t;
    t->wake_fds = (berth_wake)BERTH_WAKE_NONE; /* made by the first connection's wake_ready */
    sigset_t urg;
    sigemptyset(&urg);
    sigaddset(&urg, SIGURG);
    pthread_sigmask(SIG_UNBLOCK, &urg, NULL);
    berth_sock_thread_init(); /* SIGPIPE blocked: sendfile (sock.c) */
    pthread_sigmask(SIG_SETMASK, NULL, &t->wait_mask);
    /* Once per thread, not per connection: a pooled thread keeps its data
     * across the connections it serves. */
    berth_worker_thread_begin(&t->w);
    for (;;) {
        serve(t);
        pthread_mutex_lock(&f->lock);
        f->busy -= t->job.busy;
        f->refusers -= t->job.expired;
        if (f->accept_paused)
            pthread_cond_broadcast(&f->fd_freed); /* a descriptor is free again */
        t->has_job = 0;
        if (!fast_next_job(f, t) && !park(f, t))
            break;
        pthread_mutex_unlock(&f->lock);
    }
    /* Before the count drops: the server (and the layer, and the counters'
     * registry) may go right after. The application's thread_exit without
     * the lock (it may take its time); this thread is still counted
     * running, so the join waits for it, and it takes no more jobs. */
    if (t->w.thread_began) {
        pthread_mutex_unlock(&f->lock);
        berth_worker_thread_end(&t->w);
        pthread_mutex_lock(&f->lock);
    }
    berth_worker_stats_release(&t->w);
    const berth_layer *layers[1] = {t->last_layer};
    berth_layers_thread_exit(layers, 1);
    f->running--;
    pthread_cond_broadcast(&f->all_done);
    pthread_mutex_unlock(&f->lock);
    berth_worker_destroy(&t->w);
    berth_wake_close(&t->wake_fds);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->poll_lock);
    free(t);
    return NULL;
}
