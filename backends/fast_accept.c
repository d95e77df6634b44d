/* fast's acceptors and how connections get threads.
 *
 * Each acceptor waits in poll() on its own non-blocking SO_REUSEPORT
 * listener and the server's stop eventfd, then accepts what is there. Not
 * in a blocking accept4: Linux reserves the new descriptor's slot before
 * accept4 blocks, so each waiting acceptor held one descriptor of the
 * process's limit (fast:16 with plain and TLS listeners: 32), which broke
 * TLS at small limits.
 *
 * Out of descriptors (EMFILE, ENFILE) or memory, an acceptor stops
 * accepting, as nginx does, until a connection closes or
 * FAST_ACCEPT_PAUSE_MS pass, so it spins on nothing; clients wait in the
 * listen backlog and are served once descriptors free. The network errors
 * accept(2) says to retry are retried.
 *
 * Admitted connections get a thread each, up to max_threads; beyond, they
 * wait in a FIFO queue (fast_queue.c) that finishing threads take from; one that
 * waited FAST_QUEUE_WAIT_MS with no thread free is answered 503 by a
 * short-lived thread (at most FAST_REFUSERS_MAX at once; the rest wait on). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fast.h"
#include "platform.h"
#include "../core/log.h"

/* Starts t's detached thread on a stack of *stack bytes. glibc puts the
 * static TLS of every loaded library inside a thread's stack and refuses
 * (EINVAL) a stack it does not fit: wolfSSL built with its assembly
 * (scripts/build-wolfssl.sh) has 1.4 MB of it (its ECC cache), more than
 * FAST_STACK_SIZE. Then the stack doubles until it fits (up to 64 MiB),
 * *stack says the size that worked, and the log says so once. 0 or an
 * errno. */
static int spawn(fast *f, fthread *t, size_t *stack)
{
    for (;;) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, *stack);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_t tid;
        int rc = pthread_create(&tid, &attr, fast_conn_thread, t);
        pthread_attr_destroy(&attr);
        if (rc == 0 && *stack > FAST_STACK_SIZE)
            berth_log_once(&f->srv->log, BERTH_SAID_FAST_STACK,
                           "berth: fast: connection threads get stacks of %zu KiB, not %u: "
                           "the loaded libraries' thread-local storage needs it",
                           *stack >> 10, (unsigned)(FAST_STACK_SIZE >> 10));
        if (rc != EINVAL || *stack >= (64u << 20))
            return rc;
        *stack *= 2;
    }
}

/* Hands j to a parked thread or a new one. Called and returns with
 * f->lock held (dropped while a thread is created). 0, or -1: no thread. */
static int dispatch(fast *f, const fast_job *j)
{
    fthread *t = f->parked;
    if (t) {
        f->parked = t->next_parked;
        f->nparked--;
        t->job = *j;
        t->has_job = 1;
        pthread_cond_signal(&t->wake);
        return 0;
    }
    t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->f = f;
    t->job = *j;
    t->has_job = 1;
    pthread_cond_init(&t->wake, NULL);
    f->running++;
    size_t stack = f->stack_size;
    pthread_mutex_unlock(&f->lock);
    int rc = spawn(f, t, &stack);
    pthread_mutex_lock(&f->lock);
    if (stack > f->stack_size)
        f->stack_size = stack;
    if (rc == 0)
        return 0;
    berth_log_once(&f->srv->log, BERTH_SAID_FAST_THREAD,
                   "berth: fast: cannot start a connection thread: %s (such connections wait "
                   "for one, then get 503)", strerror(rc));
    f->running--;
    pthread_cond_broadcast(&f->all_done);
    pthread_cond_destroy(&t->wake);
    free(t);
    return -1;
}

/* Serves what the queue's head allows, and answers 503 to connections that
 * waited too long for a thread. Under f->lock. The time until the head
 * expires (ms), or -1 (nothing queued). */
static int run_queue(fast *f)
{
    int failed = 0;
    while (fast_queue_servable(f)) { /* places freed while a dispatch failed */
        fast_job *q = fast_queue_pop(f);
        q->busy = !q->refuse;
        f->busy += q->busy;
        if (dispatch(f, q) != 0) {
            f->busy -= q->busy;
            q->busy = 0;
            fast_queue_requeue(f, q);
            failed = 1;
            break;
        }
        free(q);
    }
    uint64_t now = fast_now_ms();
    while (!failed && f->queue && !f->queue->refuse &&
           f->queue->since + FAST_QUEUE_WAIT_MS <= now && f->refusers < FAST_REFUSERS_MAX) {
        fast_job *q = fast_queue_pop(f);
        q->refuse = 1;
        q->expired = 1;
        f->refusers++;
        if (dispatch(f, q) != 0) {
            f->refusers--;
            q->refuse = q->expired = 0;
            fast_queue_requeue(f, q);
            break;
        }
        free(q);
    }
    if (!f->queue)
        return -1;
    uint64_t due = f->queue->since + FAST_QUEUE_WAIT_MS;
    /* Refusers all busy: look again soon rather than at once. */
    return due > now ? (int)(due - now) : 10;
}

/* A new connection: a thread now, or a place in the queue. */
static void admit(fast *f, int fd, const berth_listener *li, const struct sockaddr_storage *peer,
                  socklen_t plen)
{
    int a = berth_backend_admit(f->srv);
    if (a == BERTH_DROP) {
        close(fd);
        return;
    }
    fast_job j;
    memset(&j, 0, sizeof j);
    j.fd = fd;
    j.admit = a;
    j.refuse = a == BERTH_REFUSE;
    j.layer = li->layer;
    j.protos = li->protos;
    j.peer = *peer;
    j.peer_len = plen;
    j.since = fast_now_ms();
    pthread_mutex_lock(&f->lock);
    int queued = f->queue != NULL;
    if (!queued && (j.refuse || (unsigned)f->busy < f->max_threads)) {
        j.busy = !j.refuse;
        f->busy += j.busy;
        if (dispatch(f, &j) == 0) {
            pthread_mutex_unlock(&f->lock);
            return;
        }
        f->busy -= j.busy;
        j.busy = 0;
    }
    int rc = fast_queue_push(f, &j); /* it waits for a thread */
    pthread_mutex_unlock(&f->lock);
    if (rc != 0) {
        close(fd); /* out of memory for its place: nothing can answer it */
        berth_backend_release(f->srv, j.refuse);
    }
}

/* Stops accepting until a connection frees its descriptor, the pause is
 * over, or the server stops. */
static void pause_accepting(fast *f)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)FAST_ACCEPT_PAUSE_MS * 1000000;
    until.tv_sec += until.tv_nsec / 1000000000;
    until.tv_nsec %= 1000000000;
    pthread_mutex_lock(&f->lock);
    f->accept_paused++;
    if (!f->stopping)
        pthread_cond_timedwait(&f->fd_freed, &f->lock, &until);
    f->accept_paused--;
    pthread_mutex_unlock(&f->lock);
}

/* accept(2): "Linux accept() passes already-pending network errors on the
 * new socket as an error code from accept()... For reliable operation the
 * application should detect the network errors defined for the protocol
 * after accept() and treat them like EAGAIN by retrying." */
static int retry_at_once(int err)
{
    switch (err) {
    case EINTR: case ECONNABORTED: case EPROTO: case EPERM: /* EPERM: a firewall rule */
    case ENETDOWN: case ENOPROTOOPT: case EHOSTDOWN: case EHOSTUNREACH:
#ifdef ENONET /* Linux's */
    case ENONET:
#endif
    case EOPNOTSUPP: case ENETUNREACH:
        return 1;
    default:
        return 0;
    }
}

/* Accepts what the listener has (a bounded batch: the queue's expiry and
 * the stop are looked at between batches). */
static void accept_ready(fast *f, int lfd, const berth_listener *li)
{
    for (int i = 0; i < 64 && !fast_stopping(f); i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = berth_accept(lfd, (struct sockaddr *)&peer, &plen, 0);
        if (fd >= 0) {
            admit(f, fd, li, &peer, plen);
            continue;
        }
        int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK)
            return;
        if (retry_at_once(err))
            continue;
        if (fast_stopping(f))
            return; /* stopping: the loop ends and closes the listener */
        if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
            berth_log_once(&f->srv->log, BERTH_SAID_ACCEPT, "berth: fast: accept: %s (retrying)",
                           strerror(err));
        pause_accepting(f);
        return;
    }
}

void *fast_acceptor_main(void *arg)
{
    fast_acceptor_arg *a = arg;
    fast *f = a->f;
    int lfd = a->fd;
    berth_listener *own = a->li;
    const berth_listener *li = own;
    free(a);
    int timeout = -1;
    while (!fast_stopping(f)) {
        struct pollfd p[2] = {{lfd, POLLIN, 0}, {f->srv->stop.rfd, POLLIN, 0}};
        int n = poll(p, 2, timeout);
        if (fast_stopping(f))
            break;
        if (n > 0 && p[0].revents)
            accept_ready(f, lfd, li);
        pthread_mutex_lock(&f->lock);
        timeout = run_queue(f);
        pthread_mutex_unlock(&f->lock);
    }
    /* Closed at once: the connections still queued are then refused (as
     * the socket's last descriptor closes), or left to another process
     * that holds it too (an upgrade's). fast_join closes the rest. */
    close(lfd);
    own->fd = -1; /* read by fast_join after joining this thread */
    return NULL;
}
