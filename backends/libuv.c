/* The libuv backend: one uv loop per worker thread, each listening on its
 * own SO_REUSEPORT socket (libuv 1.44 has no UV_TCP_REUSEPORT, so the
 * socket is made by listen.c and handed over with uv_tcp_open). Reads go
 * into the engine's pooled buffers; writes try uv_try_write first and
 * queue a uv_write only for what the socket did not take. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "../core/conn.h"
#include "backend.h"

#define SWEEP_MS 100 /* deadlines (timeouts, the stop's grace) hold to this */
#define MAX_IOV 16

typedef struct uconn {
    uv_tcp_t tcp; /* first: handle pointers convert to the connection */
    struct uworker *uw;
    berth_conn *engine;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    size_t write_len; /* bytes of the uv_write in flight, 0 if none */
    int reading;
    int shut;
    int closing;
    struct uconn *prev, *next;
} uconn;

typedef struct uworker {
    berth_server *srv;
    berth_worker w;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_poll_t stop_poll;
    uv_async_t wake_async;
    uv_timer_t sweep_timer;
    uv_timer_t user_timer; /* the next berth_stream_timer due */
    pthread_t thread;
    int listen_fd;
    int listening;
    int stopping;
    int finished;
    uint64_t drain_deadline;
    uconn head;
    size_t nconns;
} uworker;

static void service(uconn *uc);

static void tick(uworker *uw) { berth_clock_update(&uw->w.clock); }

static void finish(uworker *uw);

static void on_closed(uv_handle_t *h)
{
    uconn *uc = (uconn *)h;
    uworker *uw = uc->uw;
    berth_conn_free(uc->engine);
    uc->prev->next = uc->next;
    uc->next->prev = uc->prev;
    uw->nconns--;
    berth_backend_release(uw->srv);
    free(uc);
    if (uw->stopping && uw->nconns == 0)
        finish(uw); /* the last connection of a stop: exit now, not at the sweep */
}

static void on_refused_closed(uv_handle_t *h) { free(h); }

static void conn_close(uconn *uc)
{
    if (uc->closing)
        return;
    uc->closing = 1;
    berth_conn_abort(uc->engine); /* a stream learns the client is gone */
    uv_close((uv_handle_t *)&uc->tcp, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    uconn *uc = (uconn *)h;
    size_t cap = 0;
    char *p = berth_conn_read_buf(uc->engine, &cap);
    *buf = uv_buf_init(p, p ? (unsigned)cap : 0);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    uconn *uc = (uconn *)s;
    tick(uc->uw);
    if (nread > 0) {
        berth_conn_read_done(uc->engine, (size_t)nread);
    } else if (nread == UV_EOF) {
        berth_conn_read_done(uc->engine, 0);
        uv_read_stop(s);
        uc->reading = 0;
    } else if (nread == UV_ENOBUFS) {
        uv_read_stop(s); /* the engine holds input back */
        uc->reading = 0;
    } else if (nread == 0) {
        berth_conn_read_idle(uc->engine);
    } else {
        conn_close(uc);
        return;
    }
    service(uc);
}

static void on_write(uv_write_t *req, int status)
{
    uconn *uc = req->data;
    size_t n = uc->write_len;
    uc->write_len = 0;
    if (uc->closing)
        return;
    tick(uc->uw);
    if (status < 0) {
        conn_close(uc);
        return;
    }
    berth_conn_out_done(uc->engine, n);
    service(uc);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req, (void)status;
}

/* Writes what the engine has, adjusts reading, and closes when done. */
static void service(uconn *uc)
{
    berth_conn *c = uc->engine;
    if (uc->closing)
        return;
    while (!uc->write_len && berth_conn_out_pending(c)) {
        struct iovec iov[MAX_IOV];
        uv_buf_t bufs[MAX_IOV];
        int n = berth_conn_out_iov(c, iov, MAX_IOV);
        size_t total = 0;
        for (int i = 0; i < n; i++) {
            bufs[i] = uv_buf_init(iov[i].iov_base, (unsigned)iov[i].iov_len);
            total += iov[i].iov_len;
        }
        int w = uv_try_write((uv_stream_t *)&uc->tcp, bufs, (unsigned)n);
        if (w == UV_EAGAIN || w == UV_ENOSYS)
            w = 0;
        if (w < 0) {
            conn_close(uc);
            return;
        }
        if ((size_t)w == total) {
            berth_conn_out_done(c, total);
            continue; /* the engine may have produced more */
        }
        /* Queue the rest; the engine keeps these bytes in place until
         * on_write reports them done. */
        int first = 0;
        size_t skip = (size_t)w;
        while (skip >= bufs[first].len) {
            skip -= bufs[first].len;
            first++;
        }
        bufs[first].base += skip;
        bufs[first].len -= (unsigned)skip;
        uc->write_len = total - (size_t)w;
        uc->wreq.data = uc;
        if (w > 0)
            berth_conn_out_done(c, (size_t)w);
        if (uv_write(&uc->wreq, (uv_stream_t *)&uc->tcp, bufs + first, (unsigned)(n - first),
                     on_write) != 0) {
            uc->write_len = 0;
            conn_close(uc);
            return;
        }
    }
    int st = berth_conn_state(c);
    if (st == BERTH_CONN_CLOSED) {
        conn_close(uc);
        return;
    }
    if (st == BERTH_CONN_SHUTDOWN && !uc->shut && !uc->write_len) {
        uc->shut = 1;
        uv_shutdown(&uc->sreq, (uv_stream_t *)&uc->tcp, on_shutdown);
    }
    int want = berth_conn_wants_input(c);
    if (want && !uc->reading) {
        if (uv_read_start((uv_stream_t *)&uc->tcp, on_alloc, on_read) == 0)
            uc->reading = 1;
    } else if (!want && uc->reading) {
        uv_read_stop((uv_stream_t *)&uc->tcp);
        uc->reading = 0;
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    uworker *uw = server->data;
    if (status < 0)
        return;
    tick(uw);
    uconn *uc = calloc(1, sizeof *uc);
    if (!uc)
        return;
    uv_tcp_init(&uw->loop, &uc->tcp);
    uc->tcp.data = uc;
    if (uv_accept(server, (uv_stream_t *)&uc->tcp) != 0) {
        uv_close((uv_handle_t *)&uc->tcp, on_refused_closed);
        return;
    }
    if (!berth_backend_admit(uw->srv)) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&uc->tcp, &fd) == 0)
            berth_backend_refuse(dup(fd)); /* the 503, on a copy of the socket */
        uv_close((uv_handle_t *)&uc->tcp, on_refused_closed);
        return;
    }
    uc->uw = uw;
    uc->next = uw->head.next;
    uc->prev = &uw->head;
    uw->head.next->prev = uc;
    uw->head.next = uc;
    uw->nconns++;
    uv_tcp_nodelay(&uc->tcp, 1);
    uc->engine = berth_conn_new(&uw->w);
    if (!uc->engine) {
        uc->closing = 1;
        uv_close((uv_handle_t *)&uc->tcp, on_closed);
        return;
    }
    berth_conn_set_backend_data(uc->engine, uc);
    service(uc);
}

static void on_wake(uv_async_t *a)
{
    uworker *uw = a->data;
    tick(uw);
    berth_conn *c;
    while ((c = berth_worker_next_woken(&uw->w))) {
        berth_conn_pump(c);
        service(berth_conn_backend_data(c));
    }
}

static void on_user_timer(uv_timer_t *t)
{
    uworker *uw = t->data;
    tick(uw);
    uint64_t next = berth_worker_run_timers(&uw->w);
    on_wake(&uw->wake_async); /* flush what the timers wrote */
    if (next != UINT64_MAX) {
        uint64_t now = uw->w.clock.now_ms;
        uv_timer_start(&uw->user_timer, on_user_timer, next > now ? next - now : 0, 0);
    }
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        if (h->type == UV_TCP && h->data == h)
            conn_close((uconn *)h);
        else
            uv_close(h, NULL);
    }
}

static void finish(uworker *uw)
{
    if (uw->finished)
        return;
    uw->finished = 1;
    uv_walk(&uw->loop, close_handle, NULL);
}

static void on_sweep(uv_timer_t *t)
{
    uworker *uw = t->data;
    tick(uw);
    uint64_t now = uw->w.clock.now_ms;
    uconn *uc = uw->head.next;
    while (uc != &uw->head) {
        uconn *next = uc->next;
        if (!uc->closing && berth_conn_deadline(uc->engine) <= now) {
            berth_conn_on_timeout(uc->engine);
            service(uc);
        }
        uc = next;
    }
    /* A stream timer may have been added by a handler since the last arm. */
    uint64_t due = berth_worker_run_timers(&uw->w);
    on_wake(&uw->wake_async);
    if (due != UINT64_MAX && (!uv_is_active((uv_handle_t *)&uw->user_timer) ||
                              uv_timer_get_due_in(&uw->user_timer) > due - now))
        uv_timer_start(&uw->user_timer, on_user_timer, due > now ? due - now : 0, 0);
    if (uw->stopping && (uw->nconns == 0 || now >= uw->drain_deadline))
        finish(uw);
}

static void on_stop(uv_poll_t *p, int status, int events)
{
    (void)status, (void)events;
    uworker *uw = p->data;
    if (uw->stopping)
        return;
    tick(uw);
    uw->stopping = 1;
    uw->drain_deadline = uw->w.clock.now_ms + uw->srv->config.drain_timeout_ms;
    uv_poll_stop(p);
    if (uw->listening) {
        uw->listening = 0;
        uv_close((uv_handle_t *)&uw->listener, NULL);
    }
    uconn *uc = uw->head.next;
    while (uc != &uw->head) {
        uconn *next = uc->next;
        if (!uc->closing) {
            berth_conn_drain(uc->engine);
            service(uc);
        }
        uc = next;
    }
    if (uw->nconns == 0)
        finish(uw);
}

/* After a handler adds a stream timer, the loop must wake for it: each
 * loop iteration re-arms the user timer before blocking. */
static void on_prepare(uv_prepare_t *p)
{
    uworker *uw = p->data;
    uint64_t due = berth_worker_next_timer(&uw->w), now = uw->w.clock.now_ms;
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
    uw->w.owner = pthread_self();
    tick(uw);
    prepare.data = uw;
    uv_prepare_init(&uw->loop, &prepare);
    uv_prepare_start(&prepare, on_prepare);
    uv_unref((uv_handle_t *)&prepare);
    uv_run(&uw->loop, UV_RUN_DEFAULT); /* until finish() closed every handle */
    if (!uv_is_closing((uv_handle_t *)&prepare))
        uv_close((uv_handle_t *)&prepare, NULL);
    uv_run(&uw->loop, UV_RUN_DEFAULT); /* let the closes finish */
    return NULL;
}

static int worker_setup(uworker *uw, berth_server *srv, int fd)
{
    uw->srv = srv;
    uw->listen_fd = fd;
    uw->head.next = uw->head.prev = &uw->head;
    berth_worker_init(&uw->w, &srv->engine);
    uw->w.backend = uw;
    if (uv_loop_init(&uw->loop) != 0)
        return -1;
    uv_tcp_init(&uw->loop, &uw->listener);
    uw->listener.data = uw;
    if (uv_tcp_open(&uw->listener, fd) != 0 ||
        uv_listen((uv_stream_t *)&uw->listener, 4096, on_connection) != 0)
        return -1;
    uw->listening = 1;
    uv_poll_init(&uw->loop, &uw->stop_poll, srv->stop_fd);
    uw->stop_poll.data = uw;
    uv_poll_start(&uw->stop_poll, UV_READABLE, on_stop);
    uv_async_init(&uw->loop, &uw->wake_async, on_wake);
    uw->wake_async.data = uw;
    uv_timer_init(&uw->loop, &uw->sweep_timer);
    uw->sweep_timer.data = uw;
    uv_timer_start(&uw->sweep_timer, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_timer_init(&uw->loop, &uw->user_timer);
    uw->user_timer.data = uw;
    return 0;
}

static void wake(berth_worker *w)
{
    uworker *uw = w->backend;
    uv_async_send(&uw->wake_async);
}

static int libuv_start(berth_server *srv)
{
    uworker *uws = calloc((size_t)srv->threads, sizeof *uws);
    if (!uws)
        return -1;
    srv->backend_data = uws;
    for (int i = 0; i < srv->threads; i++) {
        uws[i].w.wake = NULL;
        if (worker_setup(&uws[i], srv, srv->listen_fds[i]) != 0) {
            fprintf(stderr, "berth: libuv: cannot set up worker %d\n", i);
            return -1;
        }
        srv->listen_fds[i] = -1; /* the uv handle owns it now */
        uws[i].w.wake = wake;
    }
    for (int i = 0; i < srv->threads; i++) {
        if (pthread_create(&uws[i].thread, NULL, worker_main, &uws[i]) != 0) {
            fprintf(stderr, "berth: libuv: cannot start thread %d\n", i);
            return -1;
        }
    }
    return 0;
}

static void libuv_join(berth_server *srv)
{
    uworker *uws = srv->backend_data;
    if (!uws)
        return;
    for (int i = 0; i < srv->threads; i++) {
        pthread_join(uws[i].thread, NULL);
        uv_loop_close(&uws[i].loop);
        berth_worker_destroy(&uws[i].w);
    }
    free(uws);
    srv->backend_data = NULL;
}

const berth_backend_ops berth_backend_libuv = {"libuv", libuv_start, libuv_join};
