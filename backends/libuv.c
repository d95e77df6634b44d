/* The libuv backend: one uv loop per worker thread, each accepting on its
 * own SO_REUSEPORT socket. Sockets are driven through uv_poll_t readiness
 * and the shared drive loop, not uv_tcp_t streams: a uv stream reads into
 * its own buffers and queues its own writes, with no sendfile and no
 * recvmsg, so TLS, kernel TLS and file bodies would each need a second
 * path here. libuv still runs the loop: timers, cross-thread wake-ups
 * (uv_async) and the stop. */
#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "backend.h"
#include "drive.h"
#include "loop.h"
#include "../core/log.h"

#define ACCEPT_PAUSE_MS 100 /* out of descriptors: the next accept after this */

typedef struct uconn {
    berth_io io;
    uv_poll_t poll;
    struct uworker *uw;
    int events;       /* what poll is started for */
    int closing;
} uconn;

typedef struct uworker {
    berth_loop base;       /* first: what reactor and libuv share (loop.h) */
    uv_loop_t loop;
    uv_poll_t stop_poll;
    uv_async_t wake_async;
    uv_timer_t sweep_timer;
    uv_timer_t user_timer; /* the next berth_stream_timer due */
    uv_timer_t accept_timer; /* out of descriptors: accepting resumes then */
    uv_idle_t ready_idle;  /* active while connections yielded their turn:
                              the loop then polls without blocking */
    uv_poll_t *listen_polls; /* one per listener (base.listeners) */
    int finished;
    int loop_ok;           /* loop is initialized (cleanup closes it) */
} uworker;

static const berth_loop_ops libuv_loop;

static void tick(uworker *uw) { berth_clock_update(&uw->base.w.clock); }

static void finish(uworker *uw);

static void on_closed(uv_handle_t *h)
{
    uconn *uc = h->data;
    uworker *uw = uc->uw;
    berth_ioset_remove(&uw->base.conns, &uc->io);
    berth_loop_conn_free(&uw->base, &libuv_loop, &uc->io); /* the fd closes after libuv let go of it */
    if (uw->base.stopping && uw->base.conns.count == 0)
        finish(uw); /* the last connection of a stop: exit now, not at the sweep */
}

static void conn_close(uconn *uc)
{
    if (uc->closing)
        return;
    uc->closing = 1;
    berth_ioset_unready(&uc->uw->base.conns, &uc->io);
    uv_close((uv_handle_t *)&uc->poll, on_closed);
}

static void on_poll(uv_poll_t *p, int status, int events);

/* Connections that used up their turn with input left (a layer's input in
 * memory wakes no poll) are driven again once per loop iteration. */
static void on_ready(uv_idle_t *h)
{
    uworker *uw = h->data;
    tick(uw);
    berth_ioset_run_ready(&uw->base.conns);
    if (!berth_ioset_has_ready(&uw->base.conns))
        uv_idle_stop(h);
}

/* After every drive: close a finished connection, or poll for what it
 * waits on (level-triggered: readable only while input is wanted). */
static void driven(berth_io *io, int result, void *ctx)
{
    (void)ctx;
    uconn *uc = (uconn *)io;
    if (uc->closing)
        return;
    if (result & BERTH_IO_CLOSED) {
        conn_close(uc);
        return;
    }
    if (result & BERTH_IO_MORE) {
        berth_ioset_ready(&uc->uw->base.conns, io);
        if (!uc->uw->finished)
            uv_idle_start(&uc->uw->ready_idle, on_ready);
    }
    int events = (result & BERTH_IO_WANT_READ ? UV_READABLE | UV_DISCONNECT : 0) |
                 (result & BERTH_IO_WANT_WRITE ? UV_WRITABLE : 0);
    if (events == uc->events)
        return;
    uc->events = events;
    if (!events) {
        uv_poll_stop(&uc->poll);
    } else if (uv_poll_start(&uc->poll, events, on_poll) != 0) {
        /* Never polled again, it would wait for ever (a deferred response
         * has no deadline): it ends now. */
        berth_logf(uc->uw->base.w.engine->log, "berth: libuv: cannot poll a connection: closed");
        uc->io.pipe->ops->abort(uc->io.pipe);
        conn_close(uc);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    uconn *uc = p->data;
    tick(uc->uw);
    if (status < 0) {
        /* POLLERR (a reset, say): libuv has stopped this poll. Read on
         * until the error shows, and poll afresh if it does not. */
        uc->events = 0;
        uc->io.readable = uc->io.hup = 1;
    }
    if (events & UV_READABLE)
        uc->io.readable = 1;
    if (events & UV_DISCONNECT)
        uc->io.hup = 1;
    berth_ioset_driven(&uc->uw->base.conns, &uc->io, berth_io_drive(&uc->io));
}

static void on_listen(uv_poll_t *p, int status, int events);

static void on_accept_resume(uv_timer_t *t)
{
    uworker *uw = t->data;
    for (int k = 0; k < uw->base.nlisteners; k++)
        if (uw->base.listeners[k].fd >= 0)
            uv_poll_start(&uw->listen_polls[k], UV_READABLE, on_listen);
}

/* Out of descriptors (or memory): the listeners' polls are level-triggered
 * and would fire again at once, a busy loop of failing accepts. Accepting
 * stops for ACCEPT_PAUSE_MS instead; the clients wait in the kernel's
 * backlog and are served once descriptors free (as nginx disables its
 * accept events). */
static void accept_pause(berth_loop *l)
{
    uworker *uw = (uworker *)l;
    for (int k = 0; k < uw->base.nlisteners; k++)
        if (uw->base.listeners[k].fd >= 0)
            uv_poll_stop(&uw->listen_polls[k]);
    uv_timer_start(&uw->accept_timer, on_accept_resume, ACCEPT_PAUSE_MS, 0);
}

static void on_listen(uv_poll_t *p, int status, int events)
{
    (void)status, (void)events;
    uworker *uw = p->data;
    tick(uw);
    berth_loop_accept(&uw->base, &libuv_loop, &uw->base.listeners[p - uw->listen_polls]);
}

static int watch(berth_loop *l, berth_io *io, const berth_listener *li)
{
    (void)li;
    uworker *uw = (uworker *)l;
    uconn *uc = (uconn *)io;
    uc->uw = uw;
    int rc = uv_poll_init(&uw->loop, &uc->poll, io->s.fd);
    if (rc != 0) {
        /* Unwatched, the connection would never be served: it is closed
         * unanswered, and the failure said. */
        berth_logf(uw->base.w.engine->log, "berth: libuv: cannot watch a connection: %s", uv_strerror(rc));
        return -1;
    }
    uc->poll.data = uc;
    return 0;
}

static void on_wake(uv_async_t *a)
{
    uworker *uw = a->data;
    tick(uw);
    berth_ioset_run_woken(&uw->base.conns, &uw->base.w);
}

static void on_user_timer(uv_timer_t *t)
{
    uworker *uw = t->data;
    tick(uw);
    uint64_t next = berth_worker_run_timers(&uw->base.w);
    berth_ioset_run_woken(&uw->base.conns, &uw->base.w); /* write what the timers wrote */
    if (next != UINT64_MAX) {
        uint64_t now = uw->base.w.clock.now_ms;
        uv_timer_start(&uw->user_timer, on_user_timer, next > now ? next - now : 0, 0);
    }
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (uv_is_closing(h))
        return;
    if (h->type == UV_POLL && h->data != h->loop->data) {
        uconn *uc = h->data;
        uc->io.pipe->ops->abort(uc->io.pipe); /* cut: a stream learns the client is gone */
        conn_close(uc);
    } else {
        uv_close(h, NULL);
    }
}

/* Ends the loop: every handle closes, connections still open are cut. */
static void finish(uworker *uw)
{
    if (uw->finished)
        return;
    uw->finished = 1;
    uv_walk(&uw->loop, close_handle, NULL);
}

static void stop_listening(uworker *uw)
{
    uv_timer_stop(&uw->accept_timer);
    for (int k = 0; k < uw->base.nlisteners; k++) {
        if (uw->base.listeners[k].fd >= 0) {
            uv_close((uv_handle_t *)&uw->listen_polls[k], NULL);
            close(uw->base.listeners[k].fd); /* uv_close stopped the poll first */
            uw->base.listeners[k].fd = -1;
        }
    }
}

static void on_sweep(uv_timer_t *t)
{
    uworker *uw = t->data;
    tick(uw);
    uint64_t now = uw->base.w.clock.now_ms;
    uint64_t next = berth_sweep_next(berth_ioset_sweep(&uw->base.conns, now), now, BERTH_SWEEP_MAX_MS);
    if (!uw->finished) /* a sweep that closed a stop's last connection */
        uv_timer_start(&uw->sweep_timer, on_sweep, next - now, 0);
    /* A stream timer may have been added by a handler since the last arm. */
    uint64_t due = berth_worker_run_timers(&uw->base.w);
    berth_ioset_run_woken(&uw->base.conns, &uw->base.w);
    if (due != UINT64_MAX && (!uv_is_active((uv_handle_t *)&uw->user_timer) ||
                              uv_timer_get_due_in(&uw->user_timer) > due - now))
        uv_timer_start(&uw->user_timer, on_user_timer, due > now ? due - now : 0, 0);
    if (berth_loop_drained(&uw->base))
        finish(uw);
}

static void on_stop(uv_poll_t *p, int status, int events)
{
    (void)status, (void)events;
    uworker *uw = p->data;
    if (uw->base.stopping)
        return;
    tick(uw);
    uv_poll_stop(p);
    stop_listening(uw);
    berth_loop_stop(&uw->base);
    if (uw->base.conns.count == 0)
        finish(uw);
}

/* After a handler adds a stream timer, the loop must wake for it: each
 * loop iteration re-arms the user timer before blocking. */
static void on_prepare(uv_prepare_t *p)
{
    uworker *uw = p->data;
    uint64_t due = berth_worker_next_timer(&uw->base.w), now = uw->base.w.clock.now_ms;
    if (due == UINT64_MAX)
        return;
    uint64_t in = due > now ? due - now : 0;
    if (!uv_is_active((uv_handle_t *)&uw->user_timer) ||
        uv_timer_get_due_in(&uw->user_timer) > in)
        uv_timer_start(&uw->user_timer, on_user_timer, in, 0);
}

static void *worker_main(void *arg)
{
    uworker *uw = arg;
    uv_prepare_t prepare;
    uw->base.w.owner = pthread_self();
    berth_sock_thread_init(); /* SIGPIPE blocked: sendfile (sock.c) */
    tick(uw);
    prepare.data = uw;
    uv_prepare_init(&uw->loop, &prepare);
    uv_prepare_start(&prepare, on_prepare);
    uv_unref((uv_handle_t *)&prepare);
    uv_run(&uw->loop, UV_RUN_DEFAULT); /* until finish() closed every handle */
    if (!uv_is_closing((uv_handle_t *)&prepare))
        uv_close((uv_handle_t *)&prepare, NULL);
    uv_run(&uw->loop, UV_RUN_DEFAULT); /* let the closes finish */
    berth_listeners_thread_exit(uw->base.listeners, uw->base.nlisteners);
    return NULL;
}

static void wake(berth_worker *w)
{
    uworker *uw = w->backend;
    uv_async_send(&uw->wake_async);
}

/* Sets up a worker's loop and handles; -1 at the first failure, with the
 * worker as far as it got (cleanup frees any prefix of this). */
static int setup(berth_loop *l)
{
    uworker *uw = (uworker *)l;
    berth_server *srv = l->srv;
    berth_listener *ls = l->listeners;
    int n = l->nlisteners;
    if (uv_loop_init(&uw->loop) != 0)
        return -1;
    uw->loop_ok = 1;
    uw->loop.data = uw; /* tells the worker's own handles from connections */
    uw->listen_polls = calloc((size_t)n, sizeof *uw->listen_polls);
    if (!uw->listen_polls)
        return -1;
    for (int k = 0; k < n; k++) {
        if (uv_poll_init(&uw->loop, &uw->listen_polls[k], ls[k].fd) != 0)
            return -1;
        uw->listen_polls[k].data = uw;
        if (uv_poll_start(&uw->listen_polls[k], UV_READABLE, on_listen) != 0)
            return -1;
    }
    if (uv_poll_init(&uw->loop, &uw->stop_poll, srv->stop.rfd) != 0)
        return -1;
    uw->stop_poll.data = uw;
    if (uv_poll_start(&uw->stop_poll, UV_READABLE, on_stop) != 0 ||
        uv_async_init(&uw->loop, &uw->wake_async, on_wake) != 0)
        return -1;
    uw->wake_async.data = uw;
    uv_timer_t *timers[] = {&uw->sweep_timer, &uw->user_timer, &uw->accept_timer};
    for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++) {
        if (uv_timer_init(&uw->loop, timers[i]) != 0)
            return -1;
        timers[i]->data = uw;
    }
    if (uv_timer_start(&uw->sweep_timer, on_sweep, BERTH_SWEEP_MAX_MS, 0) != 0 || /* on_sweep sets the next */
        uv_idle_init(&uw->loop, &uw->ready_idle) != 0)
        return -1;
    uw->ready_idle.data = uw;
    return 0;
}

static int setup_said(berth_loop *l)
{
    if (setup(l) == 0)
        return 0;
    berth_logf(&l->srv->log, "berth: libuv: cannot set up worker %d",
               (int)((uworker *)l - (uworker *)l->srv->backend_data));
    return -1;
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* After the join: the loop of a worker that never ran closes its handles
 * here. */
static void cleanup(berth_loop *l)
{
    uworker *uw = (uworker *)l;
    if (!l->running && uw->loop_ok) {
        uv_walk(&uw->loop, close_any, NULL);
        uv_run(&uw->loop, UV_RUN_DEFAULT); /* the closes complete */
    }
    free(uw->listen_polls);
    if (uw->loop_ok)
        uv_loop_close(&uw->loop); /* before berth_loop_join closes the listeners */
}

static const berth_loop_ops libuv_loop = {
    .name = "libuv", .worker_size = sizeof(uworker), .main = worker_main, .wake = wake,
    .driven = driven, .setup = setup_said, .cleanup = cleanup, .conn_size = sizeof(uconn),
    .io_offset = offsetof(uconn, io), .watch = watch, .accept_pause = accept_pause,
};

static int libuv_start(berth_server *srv) { return berth_loop_start(srv, &libuv_loop); }
static void libuv_join(berth_server *srv) { berth_loop_join(srv, &libuv_loop); }

const berth_backend_ops berth_backend_libuv = {"libuv", libuv_start, libuv_join};
