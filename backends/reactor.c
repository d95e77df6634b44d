/* The reactor backend: N threads, each with its own poller (epoll) and its
 * own SO_REUSEPORT listener, serving non-blocking sockets edge-triggered
 * through the drive loop. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "drive.h"
#include "listen.h"
#include "poller.h"
#include "../core/log.h"

#define SWEEP_MS 100 /* the longest gap between sweeps (drive.h berth_sweep_next) */

typedef struct rworker {
    berth_server *srv;
    berth_worker w;
    berth_poller *poller;
    pthread_t thread;
    berth_listener *listeners;  /* the server's, one per kind; their addresses tag events */
    int nlisteners;
    int wake_fd;                /* eventfd: stream work posted by other threads */
    char stop_tag, wake_tag;    /* their addresses tag poller events */
    berth_ioset conns;
    int accept_paused;          /* out of fds: retry on the next sweep */
    int set_up;                 /* w is initialized (reactor_join destroys it) */
    int running;                /* its thread was started (reactor_join joins it) */
    int poll_failed;            /* the poller failed: said once */
} rworker;

static void conn_close(rworker *rw, berth_io *io)
{
    berth_poller_del(rw->poller, io->s.fd);
    berth_ioset_remove(&rw->conns, io);
    berth_backend_release(rw->srv, io->refused);
    berth_io_destroy(io);
    free(io);
}

/* After every drive: a finished connection is closed; the others wait for
 * their next edge, which the poller reports in both directions, or, if
 * they used up their turn with input left (no edge will come for it), for
 * the next round of the ready list. */
static void driven(berth_io *io, int result, void *ctx)
{
    rworker *rw = ctx;
    if (result & BERTH_IO_CLOSED)
        conn_close(rw, io);
    else if (result & BERTH_IO_MORE)
        berth_ioset_ready(&rw->conns, io);
}

static void accept_all(rworker *rw, berth_listener *l)
{
    while (l->fd >= 0) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                rw->accept_paused = 1;
            return;
        }
        int admit = berth_backend_admit(rw->srv);
        berth_io *io = admit == BERTH_DROP ? NULL : malloc(sizeof *io);
        if (!io || berth_io_init(io, &rw->w, fd, admit == BERTH_REFUSE, l->layer,
                                 (struct sockaddr *)&peer, plen) != 0) {
            free(io);
            close(fd);
            if (admit != BERTH_DROP)
                berth_backend_release(rw->srv, admit == BERTH_REFUSE);
            continue;
        }
        berth_socket_tune(fd);
        if (berth_ioset_add(&rw->conns, io) != 0) {
            berth_backend_release(rw->srv, io->refused);
            berth_io_destroy(io);
            free(io);
            continue;
        }
        if (berth_poller_add(rw->poller, fd, io) != 0) {
            berth_ioset_remove(&rw->conns, io);
            berth_backend_release(rw->srv, io->refused);
            berth_io_destroy(io);
            free(io);
            continue;
        }
        berth_clock_update(&rw->w.clock); /* its first bytes may be read now (see below) */
        berth_ioset_driven(&rw->conns, io, berth_io_drive(io));
    }
}

static void stop_listening(rworker *rw)
{
    for (int k = 0; k < rw->nlisteners; k++) {
        berth_listener *l = &rw->listeners[k];
        if (l->fd >= 0) {
            berth_poller_del(rw->poller, l->fd);
            close(l->fd);
            l->fd = -1;
        }
    }
}

static void wake(berth_worker *w)
{
    rworker *rw = w->backend;
    uint64_t one = 1;
    ssize_t n = write(rw->wake_fd, &one, sizeof one);
    (void)n;
}

/* The poller failed (epoll_wait: EBADF, EFAULT or EINVAL, none expected
 * of a working one). Said once; the worker then waits as long as it would
 * have, so that a poller that keeps failing does not spin, and goes on
 * with its timers and sweeps: every connection still meets its deadline,
 * and the stop is seen through the server's flag (its eventfd's event
 * cannot be). */
static void poller_failed(rworker *rw, int timeout_ms)
{
    if (!rw->poll_failed) {
        rw->poll_failed = 1;
        berth_logf(rw->w.engine->log, "berth: reactor: waiting for events failed: %s (the worker goes on with its "
                   "timers and deadlines)", strerror(errno));
    }
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void *worker_main(void *arg)
{
    rworker *rw = arg;
    berth_server *srv = rw->srv;
    berth_poll_event ev[256];
    int stopping = 0;
    rw->w.owner = pthread_self();
    berth_clock_update(&rw->w.clock);
    uint64_t drain_deadline = 0, next_sweep = rw->w.clock.now_ms + SWEEP_MS;
    uint64_t next_timer = UINT64_MAX;
    berth_sock_thread_init(); /* SIGPIPE blocked: sendfile (sock.c) */

    for (;;) {
        uint64_t now = rw->w.clock.now_ms;
        uint64_t wake = next_timer < next_sweep ? next_timer : next_sweep; /* <= now + SWEEP_MS */
        int timeout = wake <= now || berth_ioset_has_ready(&rw->conns) ? 0 : (int)(wake - now);
        int n = berth_poller_wait(rw->poller, ev, 256, timeout);
        int stop_asked = 0;
        if (n < 0) {
            poller_failed(rw, timeout);
            n = 0;
            stop_asked = atomic_load(&srv->stopping);
        }
        berth_clock_update(&rw->w.clock);
        for (int i = 0; i < n; i++) {
            void *ptr = ev[i].ptr;
            if ((berth_listener *)ptr >= rw->listeners &&
                (berth_listener *)ptr < rw->listeners + rw->nlisteners) {
                accept_all(rw, ptr);
            } else if (ptr == &rw->stop_tag) {
                /* An eventfd is always writable: only IN means a stop. */
                if (ev[i].events & BERTH_POLL_IN)
                    stop_asked = 1;
            } else if (ptr == &rw->wake_tag) {
                uint64_t v;
                ssize_t r = read(rw->wake_fd, &v, sizeof v);
                (void)r;
            } else {
                berth_io *io = ptr;
                if (ev[i].events & (BERTH_POLL_IN | BERTH_POLL_ERR))
                    io->readable = 1; /* an error shows on the next read */
                if (ev[i].events & BERTH_POLL_HUP)
                    io->hup = 1;
                /* The clock as this connection's bytes are read: a batch
                 * can take milliseconds, and a head's timeout counts from
                 * its first byte (with the batch's start, a 408 came up to
                 * 20 ms early under load). A vDSO read, no system call. */
                berth_clock_update(&rw->w.clock);
                berth_ioset_driven(&rw->conns, io, berth_io_drive(io));
            }
        }
        /* After the batch: draining may close connections whose events
         * come later in the same batch. */
        if (stop_asked && !stopping) {
            stopping = 1;
            drain_deadline = rw->w.clock.now_ms + srv->config.drain_timeout_ms;
            stop_listening(rw);
            berth_ioset_drain(&rw->conns);
        }
        next_timer = berth_worker_run_timers(&rw->w);
        berth_ioset_run_woken(&rw->conns, &rw->w);
        berth_ioset_run_ready(&rw->conns); /* after everyone else's events */
        if (rw->w.clock.now_ms >= next_sweep) {
            uint64_t due = berth_ioset_sweep(&rw->conns, rw->w.clock.now_ms);
            next_sweep = berth_sweep_next(due, rw->w.clock.now_ms, SWEEP_MS);
            if (rw->accept_paused) {
                rw->accept_paused = 0;
                for (int k = 0; k < rw->nlisteners; k++)
                    accept_all(rw, &rw->listeners[k]);
            }
        }
        if (stopping && (rw->conns.count == 0 || rw->w.clock.now_ms >= drain_deadline))
            break;
    }
    while (rw->conns.count) {
        berth_io *io = rw->conns.head.next;
        io->pipe->ops->abort(io->pipe); /* cut: a stream learns the client is gone */
        conn_close(rw, io);
    }
    stop_listening(rw);
    berth_listeners_thread_exit(rw->listeners, rw->nlisteners);
    return NULL;
}

/* Sets up every worker, then starts their threads. On a failure part-way
 * it returns -1 at once: the server stops and joins what started
 * (reactor_join copes with any prefix of this). */
static int reactor_start(berth_server *srv)
{
    rworker *rws = calloc((size_t)srv->threads, sizeof *rws);
    if (!rws) {
        berth_logf(&srv->log, "berth: reactor: out of memory for %d workers", srv->threads);
        return -1;
    }
    srv->backend_data = rws;
    for (int i = 0; i < srv->threads; i++)
        rws[i].wake_fd = -1;
    for (int i = 0; i < srv->threads; i++) {
        rworker *rw = &rws[i];
        rw->srv = srv;
        rw->nlisteners = srv->kinds;
        rw->listeners = &srv->listeners[i * srv->kinds]; /* the worker closes them */
        berth_ioset_init(&rw->conns, driven, rw);
        berth_worker_init(&rw->w, &srv->engine);
        rw->set_up = 1;
        rw->w.backend = rw;
        rw->w.wake = wake;
        rw->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        rw->poller = berth_poller_new();
        int ok = rw->poller != NULL;
        for (int k = 0; ok && k < rw->nlisteners; k++)
            ok = berth_poller_add(rw->poller, rw->listeners[k].fd, &rw->listeners[k]) == 0;
        if (!ok || rw->wake_fd < 0 ||
            berth_poller_add(rw->poller, srv->stop_fd, &rw->stop_tag) != 0 ||
            berth_poller_add(rw->poller, rw->wake_fd, &rw->wake_tag) != 0) {
            berth_logf(&srv->log, "berth: reactor: cannot create a poller: %s", strerror(errno));
            return -1;
        }
    }
    for (int i = 0; i < srv->threads; i++) {
        int rc = pthread_create(&rws[i].thread, NULL, worker_main, &rws[i]);
        if (rc != 0) {
            berth_logf(&srv->log, "berth: reactor: cannot start thread %d: %s", i, strerror(rc));
            return -1;
        }
        rws[i].running = 1;
    }
    return 0;
}

/* After a stop, or a start that failed part-way: joins the threads that
 * run and frees what each worker got. */
static void reactor_join(berth_server *srv)
{
    rworker *rws = srv->backend_data;
    if (!rws)
        return;
    for (int i = 0; i < srv->threads; i++) {
        if (rws[i].running)
            pthread_join(rws[i].thread, NULL);
        berth_poller_free(rws[i].poller);
        if (rws[i].wake_fd >= 0)
            close(rws[i].wake_fd);
        if (rws[i].set_up)
            berth_worker_destroy(&rws[i].w);
        berth_ioset_free(&rws[i].conns);
    }
    free(rws);
    srv->backend_data = NULL;
}

const berth_backend_ops berth_backend_reactor = {"reactor", reactor_start, reactor_join};
