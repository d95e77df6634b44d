/* The fast backend: N acceptor threads, each blocking in accept() on its
 * own SO_REUSEPORT listener, and one pooled thread per connection doing
 * blocking reads and writes. Handlers may block here without stalling
 * other connections; the price is a thread per open connection.
 *
 * A blocked read ends when data arrives, at the connection's next
 * deadline (the socket's receive timeout is set from it), or when a stop
 * interrupts it: the monitor sends SIGURG (default action: ignore; Go's
 * runtime uses it for the same reason) to each connection thread until
 * that thread has seen the stop, so a stop takes effect in milliseconds. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "backend.h"
#include "drive.h"
#include "listen.h"

#define STACK_SIZE (256 * 1024)
#define IDLE_THREADS_MAX 64     /* parked threads kept for reuse */
#define IDLE_THREAD_SECONDS 30  /* a parked thread exits after this */
#define READ_TIMEOUT_MAX 1000   /* ms; a blocked read wakes at least this often */
#define SIGNAL_RETRY_US 2000    /* a stop is signalled again until seen */

typedef struct fthread {
    struct fast *f;
    pthread_cond_t wake;
    int fd;                     /* connection to serve, -1 while parked */
    struct fthread *next;       /* on the parked list */
    int refused;                /* fd is over the connection cap: answer 503 */
    const berth_layer *layer;   /* stacked on fd's connection (TLS), or NULL */
    struct sockaddr_storage peer; /* fd's peer, as accept reported it */
    socklen_t peer_len;
    const berth_layer *last_layer; /* the last non-NULL layer this thread used */
    int wake_fd;                /* eventfd: stream work from other threads */
    berth_io io;                /* the connection being served */
    berth_io_guard guard;       /* brackets its blocking calls (io_begin) */
    unsigned rcvtimeo;          /* the receive timeout set on its socket, ms */
    int drained;                /* the connection was told of the stop */
    struct fconn_slot *slot;    /* the connection's entry in f->open */
    berth_worker w;             /* per-thread pools, reused across connections */
} fthread;

typedef struct fconn_slot {
    int fd;
    pthread_t tid;
    atomic_int noticed;         /* its thread has seen the stop */
    pthread_mutex_t io_lock;
    int in_io;                  /* the thread is in one of its blocking calls */
    struct fconn_slot *next, *prev;
} fconn_slot;

typedef struct fast {
    berth_server *srv;
    pthread_t *acceptors;
    pthread_t monitor;
    pthread_mutex_t lock;
    pthread_cond_t all_done;
    fthread *parked;
    int nparked;
    int running;                /* connection threads alive */
    int stopping;
    atomic_ullong cut_at;       /* the drain deadline (monotonic ms), once stopping */
    unsigned send_tick_ms;      /* send timeout: how often a blocked write re-checks */
    fconn_slot open;            /* fds being served, to unblock them at the end */
} fast;

static void set_timeout(int fd, int opt, unsigned ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

/* The connection's deadline, or the stop's, whichever is first. */
static uint64_t deadline(fthread *t)
{
    uint64_t due = t->io.pipe->ops->deadline(t->io.pipe);
    uint64_t cut = atomic_load_explicit(&t->f->cut_at, memory_order_relaxed);
    return cut && cut < due ? cut : due;
}

/* Makes the next blocking read end by the connection's deadline (to
 * within a few ms), without a setsockopt per read on the hot path: the
 * timeout only changes when it would overshoot or is far too short. */
static void read_timeout(fthread *t)
{
    uint64_t now = t->w.clock.now_ms, due = deadline(t);
    unsigned want = due <= now ? 1 : due - now > READ_TIMEOUT_MAX ? READ_TIMEOUT_MAX
                                                                   : (unsigned)(due - now);
    if (t->rcvtimeo > want + 5 || t->rcvtimeo + 200 < want) {
        set_timeout(t->io.s.fd, SO_RCVTIMEO, want);
        t->rcvtimeo = want;
    }
}

static int stopping(fast *f)
{
    return atomic_load_explicit(&f->srv->stopping, memory_order_relaxed);
}

/* Called on the connection's thread between events: drains the
 * connection once the server stops, and tells the monitor so. 1: the
 * drain time is over and the connection was cut (aborted: a stream learns
 * the client is gone), as reactor and libuv cut theirs; its own deadline
 * must not fire then (a request being read would be answered 408). */
static int check_stop(fthread *t)
{
    if (!stopping(t->f))
        return 0;
    if (!t->drained) {
        t->drained = 1;
        atomic_store(&t->slot->noticed, 1);
        t->io.pipe->ops->drain(t->io.pipe);
    }
    uint64_t cut = atomic_load(&t->f->cut_at);
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
    if (stopping(t->f) && !atomic_load(&t->slot->noticed)) {
        io_end(t);
        return 0;
    }
    return 1;
}

static void on_wakeup_signal(int sig) { (void)sig; }

static void wake(berth_worker *w)
{
    fthread *t = w->backend;
    uint64_t one = 1;
    ssize_t n = write(t->wake_fd, &one, sizeof one);
    (void)n;
}

/* A stream call on the connection's own thread (in a blocking handler, a
 * timer or on_close) writes its output before returning, bounded by the
 * write timeout; it never reads or runs a handler. */
static void write_now(berth_conn *c)
{
    berth_io *io = berth_conn_backend_data(c);
    fthread *t = (fthread *)((char *)io - offsetof(fthread, io));
    if (stopping(t->f))
        atomic_store(&t->slot->noticed, 1); /* serve() drains on return */
    while (berth_io_write(io) == 0) {
        berth_clock_update(&t->w.clock);
        uint64_t cut = atomic_load(&t->f->cut_at);
        if (cut && t->w.clock.now_ms >= cut)
            io->pipe->ops->abort(io->pipe); /* the stop's cut */
        else
            check_deadline(t);
    }
}

/* Runs what is due on the connection's thread without blocking: stream
 * work queued by other threads, timers, then a drive that writes what they
 * queued (and reads what the poll found). */
static void run_due(fthread *t)
{
    berth_conn *w;
    while ((w = berth_worker_next_woken(&t->w)))
        berth_conn_apply_streams(w);
    berth_worker_run_timers(&t->w);
    t->io.blocking = 0;
    berth_io_drive(&t->io);
    t->io.blocking = 1;
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
    if (!berth_conn_waiting(t->io.engine) ||
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
    struct pollfd p[2] = {{t->io.s.fd, POLLIN | POLLRDHUP, 0}, {t->wake_fd, POLLIN, 0}};
    int n = 0;
    if (io_begin(t)) {
        n = poll(p, 2, timeout);
        io_end(t);
    }
    berth_clock_update(&t->w.clock);
    if (check_stop(t)) /* before the response is applied: it says close */
        return;
    if (n > 0 && (p[1].revents & POLLIN)) {
        uint64_t v;
        ssize_t r = read(t->wake_fd, &v, sizeof v);
        (void)r;
    }
    t->io.readable = n > 0 && (p[0].revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR));
    run_due(t);
}

/* Serves one connection to its end on the calling thread. */
static void serve(fthread *t, int fd)
{
    fast *f = t->f;
    /* A parked thread's clock is as old as its last connection: read it
     * before the new connection takes its start time from it. */
    berth_clock_update(&t->w.clock);
    int admit = t->refused ? BERTH_REFUSE : BERTH_ADMIT;
    fconn_slot slot = {.fd = fd, .tid = pthread_self()};
    pthread_mutex_init(&slot.io_lock, NULL);
    t->slot = &slot;
    t->drained = 0;
    pthread_mutex_lock(&f->lock);
    slot.next = f->open.next;
    slot.prev = &f->open;
    f->open.next->prev = &slot;
    f->open.next = &slot;
    pthread_mutex_unlock(&f->lock);

    berth_socket_tune(fd);
    set_timeout(fd, SO_SNDTIMEO, f->send_tick_ms);
    t->rcvtimeo = UINT_MAX; /* none set yet: reads would block forever */
    if (t->layer)
        t->last_layer = t->layer;
    if (berth_io_init(&t->io, &t->w, fd, admit == BERTH_REFUSE, t->layer,
                      (struct sockaddr *)&t->peer, t->peer_len) == 0) {
        t->io.blocking = 1;
        t->io.guard = &t->guard;
        for (;;) {
            berth_clock_update(&t->w.clock);
            if (check_stop(t))
                break;
            check_deadline(t);
            if (berth_conn_waiting(t->io.engine)) {
                wait_stream(t);
            } else {
                read_timeout(t);
                t->io.readable = 1; /* a blocking read waits for input */
                int r = berth_io_drive(&t->io);
                if (r & BERTH_IO_CLOSED)
                    break;
                if (r == 0 && !berth_conn_waiting(t->io.engine))
                    break; /* nothing to write, read or wait for: done */
            }
            if (t->io.pipe->ops->state(t->io.pipe) == BERTH_PIPE_CLOSED)
                break;
        }
        berth_io_destroy(&t->io);
    } else {
        close(fd);
    }
    pthread_mutex_lock(&f->lock);
    slot.prev->next = slot.next;
    slot.next->prev = slot.prev;
    pthread_mutex_unlock(&f->lock);
    pthread_mutex_destroy(&slot.io_lock);
    berth_backend_release(f->srv, admit == BERTH_REFUSE);
}

static void *conn_thread(void *arg)
{
    fthread *t = arg;
    fast *f = t->f;
    berth_worker_init(&t->w, &f->srv->engine);
    t->w.backend = t;
    t->w.wake = wake;
    t->w.write_now = write_now;
    t->guard.begin = io_begin;
    t->guard.end = io_end;
    t->guard.ctx = t;
    t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    sigset_t urg;
    sigemptyset(&urg);
    sigaddset(&urg, SIGURG);
    pthread_sigmask(SIG_UNBLOCK, &urg, NULL);
    int fd = t->fd;
    for (;;) {
        serve(t, fd);
        pthread_mutex_lock(&f->lock);
        t->fd = -1;
        if (f->stopping || f->nparked >= IDLE_THREADS_MAX)
            break;
        t->next = f->parked;
        f->parked = t;
        f->nparked++;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += IDLE_THREAD_SECONDS;
        while (t->fd < 0 && !f->stopping) {
            if (pthread_cond_timedwait(&t->wake, &f->lock, &until) == ETIMEDOUT)
                break;
        }
        if (t->fd < 0) { /* timed out or stopping: leave the parked list */
            for (fthread **pp = &f->parked; *pp; pp = &(*pp)->next) {
                if (*pp == t) {
                    *pp = t->next;
                    f->nparked--;
                    break;
                }
            }
            break;
        }
        fd = t->fd;
        pthread_mutex_unlock(&f->lock);
    }
    /* Before the count drops: the server (and the layer) may go right after. */
    const berth_layer *layers[1] = {t->last_layer};
    berth_layers_thread_exit(layers, 1);
    f->running--;
    pthread_cond_broadcast(&f->all_done);
    pthread_mutex_unlock(&f->lock);
    berth_worker_destroy(&t->w);
    if (t->wake_fd >= 0)
        close(t->wake_fd);
    pthread_cond_destroy(&t->wake);
    free(t);
    return NULL;
}

/* Hands fd to a parked thread, or starts a new one. */
static int dispatch(fast *f, int fd, int refused, const berth_layer *layer,
                    const struct sockaddr_storage *peer, socklen_t peer_len)
{
    pthread_mutex_lock(&f->lock);
    fthread *t = f->parked;
    if (t) {
        f->parked = t->next;
        f->nparked--;
        t->fd = fd;
        t->refused = refused;
        t->layer = layer;
        t->peer = *peer;
        t->peer_len = peer_len;
        pthread_cond_signal(&t->wake);
        pthread_mutex_unlock(&f->lock);
        return 0;
    }
    f->running++;
    pthread_mutex_unlock(&f->lock);
    t = calloc(1, sizeof *t);
    if (t) {
        t->f = f;
        t->fd = fd;
        t->refused = refused;
        t->layer = layer;
        t->peer = *peer;
        t->peer_len = peer_len;
        pthread_cond_init(&t->wake, NULL);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, STACK_SIZE);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t tid;
        int rc = pthread_create(&tid, &attr, conn_thread, t);
        pthread_attr_destroy(&attr);
        if (rc == 0)
            return 0;
        pthread_cond_destroy(&t->wake);
        free(t);
    }
    pthread_mutex_lock(&f->lock);
    f->running--;
    pthread_cond_broadcast(&f->all_done);
    pthread_mutex_unlock(&f->lock);
    return -1;
}

typedef struct acceptor_arg {
    fast *f;
    int fd;
    const berth_layer *layer;
} acceptor_arg;

static void *acceptor_main(void *arg)
{
    acceptor_arg *a = arg;
    fast *f = a->f;
    int lfd = a->fd;
    const berth_layer *layer = a->layer;
    free(a);
    while (!stopping(f)) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                usleep(10000); /* out of resources: back off */
                continue;
            }
            break; /* the listener was shut down: stopping */
        }
        int admit = berth_backend_admit(f->srv);
        if (admit == BERTH_DROP) {
            close(fd);
        } else if (dispatch(f, fd, admit == BERTH_REFUSE, layer, &peer, plen) != 0) {
            close(fd); /* no thread for it */
            berth_backend_release(f->srv, admit == BERTH_REFUSE);
        }
    }
    return NULL; /* lfd is closed by fast_join, after the monitor is done with it */
}

/* Waits for the stop request, then unblocks the acceptors and every
 * connection thread. */
static void *monitor_main(void *arg)
{
    fast *f = arg;
    berth_server *srv = f->srv;
    struct pollfd p = {srv->stop_fd, POLLIN, 0};
    while (!stopping(f))
        poll(&p, 1, -1);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now); /* the worker clock's */
    atomic_store(&f->cut_at, (unsigned long long)now.tv_sec * 1000 + (unsigned long long)now.tv_nsec / 1000000 +
                                 srv->config.drain_timeout_ms);
    for (int i = 0; i < srv->nlisten; i++)
        shutdown(srv->listeners[i].fd, SHUT_RDWR);
    /* Wake parked threads so they exit. */
    pthread_mutex_lock(&f->lock);
    f->stopping = 1;
    for (fthread *t = f->parked; t; t = t->next)
        pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&f->lock);
    /* Interrupt blocked reads, writes and polls. A signal that lands just
     * before a thread blocks is lost, so repeat until each has seen it;
     * a thread checks the stop after every interruption. */
    for (;;) {
        int waiting = 0;
        pthread_mutex_lock(&f->lock);
        for (fconn_slot *s = f->open.next; s != &f->open; s = s->next) {
            if (!atomic_load(&s->noticed)) {
                pthread_mutex_lock(&s->io_lock);
                if (s->in_io)
                    pthread_kill(s->tid, SIGURG);
                pthread_mutex_unlock(&s->io_lock);
                waiting++;
            }
        }
        pthread_mutex_unlock(&f->lock);
        if (!waiting)
            break;
        usleep(SIGNAL_RETRY_US);
    }
    return NULL;
}

static unsigned send_tick_for(const berth_engine *e)
{
    unsigned t = e->write_timeout_ms / 4;
    return t > 250 ? 250 : t < 20 ? 20 : t;
}

/* SIGURG interrupts blocked calls (SO_RCVTIMEO sockets are never
 * restarted). Installed only where nobody has claimed it; with the signal
 * ignored, a stop is seen within READ_TIMEOUT_MAX instead. */
static void wakeup_signal_install(void)
{
    struct sigaction old;
    if (sigaction(SIGURG, NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) ||
        old.sa_handler != SIG_DFL)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_wakeup_signal;
    sa.sa_flags = SA_RESTART; /* what it interrupts besides our calls resumes */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGURG, &sa, NULL);
}

static int fast_start(berth_server *srv)
{
    fast *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    srv->backend_data = f;
    f->srv = srv;
    f->send_tick_ms = send_tick_for(&srv->engine);
    wakeup_signal_install();
    f->open.next = f->open.prev = &f->open;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->all_done, NULL);
    /* Accept blocks: the listeners must be blocking sockets. */
    for (int i = 0; i < srv->nlisten; i++) {
        int fl = fcntl(srv->listeners[i].fd, F_GETFL);
        fcntl(srv->listeners[i].fd, F_SETFL, fl & ~O_NONBLOCK);
    }
    f->acceptors = calloc((size_t)srv->nlisten, sizeof(pthread_t));
    if (!f->acceptors || pthread_create(&f->monitor, NULL, monitor_main, f) != 0)
        return -1;
    for (int i = 0; i < srv->nlisten; i++) {
        acceptor_arg *a = malloc(sizeof *a);
        if (!a)
            return -1;
        a->f = f;
        a->fd = srv->listeners[i].fd;
        a->layer = srv->listeners[i].layer;
        if (pthread_create(&f->acceptors[i], NULL, acceptor_main, a) != 0) {
            free(a);
            return -1;
        }
    }
    return 0;
}

static void fast_join(berth_server *srv)
{
    fast *f = srv->backend_data;
    if (!f)
        return;
    pthread_join(f->monitor, NULL);
    for (int i = 0; i < srv->nlisten; i++) {
        pthread_join(f->acceptors[i], NULL);
        close(srv->listeners[i].fd);
        srv->listeners[i].fd = -1;
    }
    /* Connections finish their request in flight; each thread cuts its own
     * at the drain deadline (check_stop). */
    pthread_mutex_lock(&f->lock);
    while (f->running > 0)
        pthread_cond_wait(&f->all_done, &f->lock);
    pthread_mutex_unlock(&f->lock);
    free(f->acceptors);
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->all_done);
    free(f);
    srv->backend_data = NULL;
}

const berth_backend_ops berth_backend_fast = {"fast", fast_start, fast_join};
