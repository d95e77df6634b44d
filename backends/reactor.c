/* The reactor backend: N threads, each with its own poller (epoll or
 * kqueue, poller.h) and its own SO_REUSEPORT listener (or a shared one), serving non-blocking sockets edge-triggered
 * through the drive loop. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "drive.h"
#include "loop.h"
#include "platform.h"
#include "poller.h"
#include "../core/log.h"

typedef struct rworker {
    berth_loop base;            /* first: what reactor and libuv share (loop.h) */
    berth_poller *poller;
    berth_wake wake;            /* stream work posted by other threads */
    char stop_tag, wake_tag;    /* their addresses tag poller events */
    int accept_paused;          /* out of fds: retry on the next sweep */
    int poll_failed;            /* the poller failed: said once */
} rworker;

static const berth_loop_ops reactor_loop;

static void conn_close(rworker *rw, berth_io *io)
{
    berth_poller_del(rw->poller, io->s.fd);
    berth_ioset_remove(&rw->base.conns, io);
    berth_loop_conn_free(&rw->base, &reactor_loop, io);
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
        berth_ioset_ready(&rw->base.conns, io);
}

static int watch(berth_loop *l, berth_io *io, const berth_listener *li)
{
    (void)li;
    rworker *rw = (rworker *)l;
    return berth_poller_add(rw->poller, io->s.fd, BERTH_POLL_IN | BERTH_POLL_OUT, io);
}

static void accept_pause(berth_loop *l) { ((rworker *)l)->accept_paused = 1; }

static void stop_listening(rworker *rw)
{
    for (int k = 0; k < rw->base.nlisteners; k++) {
        berth_listener *l = &rw->base.listeners[k];
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
    berth_wake_signal(&rw->wake);
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
        berth_logf(rw->base.w.engine->log, "berth: reactor: waiting for events failed: %s (the worker goes on with its "
                   "timers and deadlines)", strerror(errno));
    }
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void *worker_main(void *arg)
{
    rworker *rw = arg;
    berth_server *srv = rw->base.srv;
    berth_poll_event ev[256];
    rw->base.w.owner = pthread_self();
    berth_clock_update(&rw->base.w.clock);
    uint64_t next_sweep = rw->base.w.clock.now_ms + BERTH_SWEEP_MAX_MS;
    uint64_t next_timer = UINT64_MAX;
    berth_sock_thread_init(); /* SIGPIPE blocked: sendfile (sock.c) */

    for (;;) {
        uint64_t now = rw->base.w.clock.now_ms;
        uint64_t wake = next_timer < next_sweep ? next_timer : next_sweep; /* <= now + BERTH_SWEEP_MAX_MS */
        int timeout = wake <= now || berth_ioset_has_ready(&rw->base.conns) ? 0 : (int)(wake - now);
        int n = berth_poller_wait(rw->poller, ev, 256, timeout);
        int stop_asked = 0;
        if (n < 0) {
            poller_failed(rw, timeout);
            n = 0;
            stop_asked = atomic_load(&srv->stopping);
        }
        berth_clock_update(&rw->base.w.clock);
        for (int i = 0; i < n; i++) {
            void *ptr = ev[i].ptr;
            if ((berth_listener *)ptr >= rw->base.listeners &&
                (berth_listener *)ptr < rw->base.listeners + rw->base.nlisteners) {
                berth_loop_accept(&rw->base, &reactor_loop, ptr);
            } else if (ptr == &rw->stop_tag) {
                /* Only IN means a stop (an eventfd is always writable). */
                if (ev[i].events & BERTH_POLL_IN)
                    stop_asked = 1;
            } else if (ptr == &rw->wake_tag) {
                berth_wake_drain(&rw->wake);
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
                berth_clock_update(&rw->base.w.clock);
                berth_ioset_driven(&rw->base.conns, io, berth_io_drive(io));
            }
        }
        /* After the batch: draining may close connections whose events
         * come later in the same batch. */
        if (stop_asked && !rw->base.stopping) {
            stop_listening(rw);
            berth_loop_stop(&rw->base);
        }
        next_timer = berth_worker_run_timers(&rw->base.w);
        berth_ioset_run_woken(&rw->base.conns, &rw->base.w);
        berth_ioset_run_ready(&rw->base.conns); /* after everyone else's events */
        if (rw->base.w.clock.now_ms >= next_sweep) {
            uint64_t due = berth_ioset_sweep(&rw->base.conns, rw->base.w.clock.now_ms);
            next_sweep = berth_sweep_next(due, rw->base.w.clock.now_ms, BERTH_SWEEP_MAX_MS);
            if (rw->accept_paused) {
                rw->accept_paused = 0;
                for (int k = 0; k < rw->base.nlisteners; k++)
                    berth_loop_accept(&rw->base, &reactor_loop, &rw->base.listeners[k]);
            }
        }
        if (berth_loop_drained(&rw->base))
            break;
    }
    while (rw->base.conns.count) {
        berth_io *io = rw->base.conns.head.next;
        io->pipe->ops->abort(io->pipe); /* cut: a stream learns the client is gone */
        conn_close(rw, io);
    }
    stop_listening(rw);
    berth_listeners_thread_exit(rw->base.listeners, rw->base.nlisteners);
    return NULL;
}

static int setup(berth_loop *l)
{
    rworker *rw = (rworker *)l;
    berth_server *srv = l->srv;
    int woke = berth_wake_open(&rw->wake) == 0;
    rw->poller = berth_poller_new();
    int ok = rw->poller != NULL;
    for (int k = 0; ok && k < l->nlisteners; k++)
        ok = berth_poller_add(rw->poller, l->listeners[k].fd, BERTH_POLL_IN, &l->listeners[k]) == 0;
    if (!ok || !woke || berth_poller_add(rw->poller, srv->stop.rfd, BERTH_POLL_IN, &rw->stop_tag) != 0 ||
        berth_poller_add(rw->poller, rw->wake.rfd, BERTH_POLL_IN, &rw->wake_tag) != 0) {
        berth_logf(&srv->log, "berth: reactor: cannot create a poller: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void cleanup(berth_loop *l)
{
    rworker *rw = (rworker *)l;
    berth_poller_free(rw->poller);
    berth_wake_close(&rw->wake);
}

static const berth_loop_ops reactor_loop = {
    .name = "reactor", .worker_size = sizeof(rworker), .main = worker_main, .wake = wake,
    .driven = driven, .setup = setup, .cleanup = cleanup, .conn_size = sizeof(berth_io),
    .io_offset = 0, .watch = watch, .accept_pause = accept_pause,
};

static int reactor_start(berth_server *srv) { return berth_loop_start(srv, &reactor_loop); }
static void reactor_join(berth_server *srv) { berth_loop_join(srv, &reactor_loop); }

const berth_backend_ops berth_backend_reactor = {"reactor", reactor_start, reactor_join};
