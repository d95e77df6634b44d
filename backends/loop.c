/* The event-loop backends' shared worker (loop.h). */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"
#include "platform.h"
#include "transport_ops.h"

static berth_loop *worker_at(void *workers, const berth_loop_ops *ops, int i)
{
    return (berth_loop *)((char *)workers + (size_t)i * ops->worker_size);
}

/* A worker's thread: the application's thread_init before the backend's
 * loop serves anything, its thread_exit after the loop has closed every
 * connection (their last callbacks ran), on this same thread. */
static void *loop_thread(void *arg)
{
    berth_loop *l = arg;
    l->w.owner = pthread_self();
    berth_worker_thread_begin(&l->w);
    void *rv = l->ops->main(l);
    berth_worker_thread_end(&l->w);
    return rv;
}

int berth_loop_start(berth_server *srv, const berth_loop_ops *ops)
{
    void *ws = calloc((size_t)srv->threads, ops->worker_size);
    if (!ws) {
        berth_logf(&srv->log, "berth: %s: out of memory for %d workers", ops->name, srv->threads);
        return -1;
    }
    srv->backend_data = ws;
    for (int i = 0; i < srv->threads; i++) {
        berth_loop *l = worker_at(ws, ops, i);
        l->srv = srv;
        l->ops = ops;
        l->nlisteners = srv->kinds;
        l->listeners = &srv->listeners[i * srv->kinds];
        berth_ioset_init(&l->conns, ops->driven, l);
        berth_worker_init(&l->w, &srv->engine);
        l->set_up = 1;
        l->w.backend = l;
        l->w.wake = ops->wake;
        l->w.transport = &berth_loop_transport;
        if (ops->setup(l) != 0)
            return -1;
    }
    /* Server timers go to the workers in turn (server_timer.h). */
    berth_worker **tw = malloc((size_t)srv->threads * sizeof *tw);
    for (int i = 0; tw && i < srv->threads; i++)
        tw[i] = &worker_at(ws, ops, i)->w;
    int opened = tw ? berth_stimers_open(srv, tw, srv->threads) : -1;
    free(tw);
    if (opened != 0) {
        berth_logf(&srv->log, "berth: %s: out of memory for %d workers", ops->name, srv->threads);
        return -1;
    }
    for (int i = 0; i < srv->threads; i++) {
        berth_loop *l = worker_at(ws, ops, i);
        int rc = pthread_create(&l->thread, NULL, loop_thread, l);
        if (rc != 0) {
            berth_logf(&srv->log, "berth: %s: cannot start thread %d: %s", ops->name, i, strerror(rc));
            return -1;
        }
        l->running = 1;
    }
    return 0;
}

void berth_loop_join(berth_server *srv, const berth_loop_ops *ops)
{
    void *ws = srv->backend_data;
    if (!ws)
        return;
    for (int i = 0; i < srv->threads; i++) {
        berth_loop *l = worker_at(ws, ops, i);
        if (l->running)
            pthread_join(l->thread, NULL);
    }
    /* No timer is posted to a worker (nor its wake-up called) from now on:
     * they are about to be freed. */
    berth_stimers_detach(srv);
    for (int i = 0; i < srv->threads; i++) {
        berth_loop *l = worker_at(ws, ops, i);
        if (l->set_up)
            ops->cleanup(l);
        for (int k = 0; k < l->nlisteners; k++) {
            if (l->listeners[k].fd >= 0)
                close(l->listeners[k].fd);
            l->listeners[k].fd = -1;
        }
        if (l->set_up)
            berth_worker_destroy(&l->w);
        berth_ioset_free(&l->conns);
    }
    free(ws);
    srv->backend_data = NULL;
}

void berth_loop_conn_free(berth_loop *l, const berth_loop_ops *ops, berth_io *io)
{
    berth_backend_release(l->srv, io->refused);
    berth_io_destroy(io);
    free((char *)io - ops->io_offset);
}

void berth_loop_adopt(berth_loop *l, const berth_loop_ops *ops, berth_listener *li, int fd,
                      const struct sockaddr *peer, socklen_t plen)
{
    int admit = berth_backend_admit(l->srv);
    char *mem = admit == BERTH_DROP ? NULL : calloc(1, ops->conn_size);
    berth_io *io = mem ? (berth_io *)(mem + ops->io_offset) : NULL;
    if (!io || berth_io_init(io, &l->w, fd, (admit == BERTH_REFUSE ? BERTH_CONN_REFUSE : 0u) | li->protos,
                             li->layer, peer, plen) != 0) {
        free(mem);
        close(fd);
        if (admit != BERTH_DROP)
            berth_backend_release(l->srv, admit == BERTH_REFUSE);
        return;
    }
    berth_socket_tune(fd);
    if (berth_ioset_add(&l->conns, io) != 0) {
        berth_loop_conn_free(l, ops, io);
        return;
    }
    if (ops->watch(l, io, li) != 0) {
        berth_ioset_remove(&l->conns, io);
        berth_loop_conn_free(l, ops, io);
        return;
    }
    /* The clock as its first bytes may be read: a head's timeout counts
     * from them. A vDSO read, no system call. */
    berth_clock_update(&l->w.clock);
    /* Accepted during a stop (uring's accept completing after it): this
     * connection is drained as the others were. */
    berth_ioset_driven(&l->conns, io, l->stopping ? berth_io_drain(io) : berth_io_drive(io));
}

void berth_loop_accept(berth_loop *l, const berth_loop_ops *ops, berth_listener *li)
{
    while (li->fd >= 0) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = berth_accept(li->fd, (struct sockaddr *)&peer, &plen, 1);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                ops->accept_pause(l);
            return; /* EAGAIN: the backlog is empty */
        }
        berth_loop_adopt(l, ops, li, fd, (struct sockaddr *)&peer, plen);
    }
}

void berth_loop_stop(berth_loop *l)
{
    l->stopping = 1;
    l->drain_deadline = l->w.clock.now_ms + l->srv->config.drain_timeout_ms;
    berth_ioset_drain(&l->conns);
}
