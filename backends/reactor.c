/* The reactor backend: N threads, each with its own poller and its own
 * SO_REUSEPORT listener, serving non-blocking sockets edge-triggered. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../core/conn.h"
#include "backend.h"
#include "listen.h"
#include "poller.h"

#define SWEEP_MS 100 /* deadlines (timeouts, the stop's grace) hold to this */

enum { K_LISTEN, K_STOP, K_CONN };

typedef struct rconn {
    int kind;
    int fd;
    int readable;
    int hup;        /* the peer's FIN was seen: read until EOF */
    int shut;
    berth_conn *engine;
    struct rconn *prev, *next;
} rconn;

typedef struct rworker {
    berth_server *srv;
    berth_worker w;
    berth_poller *poller;
    pthread_t thread;
    int listen_fd;
    int listen_kind, stop_kind, wake_kind; /* addresses used as poller tags */
    int wake_fd;                /* eventfd: stream work posted by other threads */
    rconn head;                 /* list sentinel */
    size_t nconns;
    int accept_paused;          /* out of fds: retry on the next sweep */
} rworker;

static void conn_close(rworker *rw, rconn *rc)
{
    berth_poller_del(rw->poller, rc->fd);
    close(rc->fd);
    berth_conn_free(rc->engine);
    rc->prev->next = rc->next;
    rc->next->prev = rc->prev;
    rw->nconns--;
    berth_backend_release(rw->srv);
    free(rc);
}

/* Reads, runs the engine and writes until the socket or engine blocks. */
static void conn_service(rworker *rw, rconn *rc)
{
    berth_conn *c = rc->engine;
    for (;;) {
        if (berth_conn_out_pending(c)) {
            long n = berth_backend_write(rc->fd, c);
            if (n < 0) {
                conn_close(rw, rc);
                return;
            }
            if (berth_conn_out_pending(c) && n == 0)
                ; /* socket full: wait for the next writable edge */
            else if (berth_conn_out_pending(c))
                continue;
        }
        int st = berth_conn_state(c);
        if (st == BERTH_CONN_CLOSED) {
            conn_close(rw, rc);
            return;
        }
        if (st == BERTH_CONN_SHUTDOWN && !rc->shut) {
            shutdown(rc->fd, SHUT_WR);
            rc->shut = 1;
        }
        if (!rc->readable)
            return;
        size_t cap;
        char *buf = berth_conn_read_buf(c, &cap);
        if (!buf)
            return; /* the engine holds input back; readable stays set */
        ssize_t n = read(rc->fd, buf, cap);
        if (n > 0) {
            if ((size_t)n < cap && !rc->hup)
                rc->readable = 0; /* drained: edge-triggered wakes us again */
            berth_conn_read_done(c, (size_t)n);
        } else if (n == 0) {
            rc->readable = 0;
            berth_conn_read_done(c, 0);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            rc->readable = 0;
            berth_conn_read_idle(c);
        } else if (errno != EINTR) {
            conn_close(rw, rc);
            return;
        }
    }
}

static void accept_all(rworker *rw)
{
    for (;;) {
        int fd = accept4(rw->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                rw->accept_paused = 1;
            return;
        }
        if (!berth_backend_admit(rw->srv)) {
            berth_backend_refuse(fd);
            continue;
        }
        rconn *rc = calloc(1, sizeof *rc);
        berth_conn *c = rc ? berth_conn_new(&rw->w) : NULL;
        if (!c) {
            free(rc);
            close(fd);
            berth_backend_release(rw->srv);
            continue;
        }
        berth_socket_tune(fd);
        rc->kind = K_CONN;
        rc->fd = fd;
        rc->engine = c;
        berth_conn_set_backend_data(c, rc);
        rc->readable = 1; /* data often arrives with the connection */
        if (berth_poller_add(rw->poller, fd, rc) != 0) {
            berth_conn_free(c);
            free(rc);
            close(fd);
            berth_backend_release(rw->srv);
            continue;
        }
        rc->next = rw->head.next;
        rc->prev = &rw->head;
        rw->head.next->prev = rc;
        rw->head.next = rc;
        rw->nconns++;
        conn_service(rw, rc);
    }
}

static void sweep(rworker *rw)
{
    uint64_t now = rw->w.clock.now_ms;
    rconn *rc = rw->head.next;
    while (rc != &rw->head) {
        rconn *next = rc->next;
        if (berth_conn_deadline(rc->engine) <= now) {
            berth_conn_on_timeout(rc->engine);
            conn_service(rw, rc);
        }
        rc = next;
    }
    if (rw->accept_paused && rw->listen_fd >= 0) {
        rw->accept_paused = 0;
        accept_all(rw);
    }
}

static void drain_all(rworker *rw)
{
    if (rw->listen_fd >= 0) {
        berth_poller_del(rw->poller, rw->listen_fd);
        close(rw->listen_fd);
        rw->listen_fd = -1;
    }
    rconn *rc = rw->head.next;
    while (rc != &rw->head) {
        rconn *next = rc->next;
        berth_conn_drain(rc->engine);
        conn_service(rw, rc);
        rc = next;
    }
}

static void wake(berth_worker *w)
{
    rworker *rw = w->backend;
    uint64_t one = 1;
    ssize_t n = write(rw->wake_fd, &one, sizeof one);
    (void)n;
}

/* Applies stream work queued for connections, then flushes them. */
static void run_woken(rworker *rw)
{
    berth_conn *c;
    while ((c = berth_worker_next_woken(&rw->w))) {
        berth_conn_pump(c);
        conn_service(rw, berth_conn_backend_data(c));
    }
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

    for (;;) {
        uint64_t now = rw->w.clock.now_ms;
        int timeout = SWEEP_MS;
        if (next_timer != UINT64_MAX)
            timeout = next_timer <= now ? 0 : next_timer - now < SWEEP_MS ? (int)(next_timer - now) : SWEEP_MS;
        int n = berth_poller_wait(rw->poller, ev, 256, timeout);
        berth_clock_update(&rw->w.clock);
        int stop_asked = 0;
        for (int i = 0; i < n; i++) {
            void *ptr = ev[i].ptr;
            if (ptr == &rw->listen_kind) {
                accept_all(rw);
            } else if (ptr == &rw->stop_kind) {
                /* An eventfd is always writable: only IN means a stop. */
                if (ev[i].events & BERTH_POLL_IN)
                    stop_asked = 1;
            } else if (ptr == &rw->wake_kind) {
                uint64_t v;
                ssize_t r = read(rw->wake_fd, &v, sizeof v);
                (void)r;
            } else {
                rconn *rc = ptr;
                if (ev[i].events & BERTH_POLL_IN)
                    rc->readable = 1;
                if (ev[i].events & BERTH_POLL_HUP)
                    rc->hup = 1;
                conn_service(rw, rc);
            }
        }
        /* After the batch: draining may close connections whose events
         * come later in the same batch. */
        if (stop_asked && !stopping) {
            stopping = 1;
            drain_deadline = rw->w.clock.now_ms + srv->config.drain_timeout_ms;
            drain_all(rw);
        }
        next_timer = berth_worker_run_timers(&rw->w);
        run_woken(rw);
        if (rw->w.clock.now_ms >= next_sweep) {
            sweep(rw);
            next_sweep = rw->w.clock.now_ms + SWEEP_MS;
        }
        if (stopping && (rw->nconns == 0 || rw->w.clock.now_ms >= drain_deadline))
            break;
    }
    while (rw->head.next != &rw->head)
        conn_close(rw, rw->head.next);
    return NULL;
}

static int reactor_start(berth_server *srv)
{
    rworker *rws = calloc((size_t)srv->threads, sizeof *rws);
    if (!rws)
        return -1;
    srv->backend_data = rws;
    for (int i = 0; i < srv->threads; i++) {
        rworker *rw = &rws[i];
        rw->srv = srv;
        rw->listen_fd = srv->listen_fds[i];
        srv->listen_fds[i] = -1; /* the worker owns it now */
        rw->head.next = rw->head.prev = &rw->head;
        berth_worker_init(&rw->w, &srv->engine);
        rw->w.backend = rw;
        rw->w.wake = wake;
        rw->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        rw->poller = berth_poller_new();
        if (!rw->poller || rw->wake_fd < 0 ||
            berth_poller_add(rw->poller, rw->listen_fd, &rw->listen_kind) != 0 ||
            berth_poller_add(rw->poller, srv->stop_fd, &rw->stop_kind) != 0 ||
            berth_poller_add(rw->poller, rw->wake_fd, &rw->wake_kind) != 0) {
            fprintf(stderr, "berth: reactor: cannot create a poller\n");
            return -1;
        }
    }
    for (int i = 0; i < srv->threads; i++) {
        if (pthread_create(&rws[i].thread, NULL, worker_main, &rws[i]) != 0) {
            fprintf(stderr, "berth: reactor: cannot start thread %d\n", i);
            return -1;
        }
    }
    return 0;
}

static void reactor_join(berth_server *srv)
{
    rworker *rws = srv->backend_data;
    if (!rws)
        return;
    for (int i = 0; i < srv->threads; i++) {
        pthread_join(rws[i].thread, NULL);
        berth_poller_free(rws[i].poller);
        close(rws[i].wake_fd);
        berth_worker_destroy(&rws[i].w);
    }
    free(rws);
    srv->backend_data = NULL;
}

const berth_backend_ops berth_backend_reactor = {"reactor", reactor_start, reactor_join};
