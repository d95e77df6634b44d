/* The fast backend: N acceptor threads, each on its own SO_REUSEPORT
 * listener (fast_accept.c), and one pooled thread per connection doing
 * blocking reads and writes (fast_conn.c). Handlers may block here without
 * stalling other connections; the price is a thread per open connection,
 * at most max_threads of them (fast.h says what happens beyond).
 *
 * This file starts and joins them, and stops them: the monitor sends
 * SIGURG (default action: ignore; Go's runtime uses it for the same
 * reason) to each connection thread inside its blocking calls until that
 * thread has seen the stop, so a stop takes effect in milliseconds. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fast.h"
#include "listen.h"
#include "platform.h"
#include "../core/log.h"

#define SIGNAL_RETRY_US 2000 /* a stop is signalled again until seen */


/* Waits for the stop request, then unblocks the acceptors and every
 * connection thread. */
static void *monitor_main(void *arg)
{
    fast *f = arg;
    berth_server *srv = f->srv;
    struct pollfd p = {srv->stop.rfd, POLLIN, 0};
    while (!fast_stopping(f))
        poll(&p, 1, -1);
    atomic_store(&f->cut_at, (unsigned long long)(fast_now_ms() + srv->config.drain_timeout_ms));
    /* The acceptors see the stop (they poll its eventfd) and close their
     * listeners, refusing new connections. Not shutdown(): a socket handed
     * to another process (berth_server_listen_fds, an upgrade) would stop
     * listening there too, and what its queue holds would be reset. */
    /* Wake parked threads so they exit, and paused acceptors. */
    pthread_mutex_lock(&f->lock);
    f->stopping = 1;
    for (fthread *t = f->parked; t; t = t->next_parked)
        pthread_cond_signal(&t->wake);
    pthread_cond_broadcast(&f->fd_freed);
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

static void on_wakeup_signal(int sig) { (void)sig; }

/* SIGURG's empty handler: the one change berth makes to the process's
 * signal dispositions, for as long as a fast server runs (berth.h and
 * README, "Signals", say what it asks of the application).
 *
 * Why a signal: a connection thread blocks in recv() (one syscall per
 * request, the hot path); only a handled signal interrupts that call
 * (SO_RCVTIMEO sockets are never restarted), so a stop takes effect in
 * milliseconds, and it wakes a thread waiting for stream work with no
 * descriptor beside its socket. Without it, a stop is seen when the read
 * times out (within READ_TIMEOUT_MAX, 1 s) and each connection thread
 * needs an eventfd; polling the socket and an eventfd before each read
 * would cost a syscall per request. SIGURG because its default action is
 * to ignore it (Go's runtime preempts goroutines with it for that reason)
 * and nothing uses it but out-of-band TCP data on sockets an application
 * gave an owner with F_SETOWN.
 *
 * Installed only where the disposition is SIG_DFL (an application that
 * set SIGURG, even to SIG_IGN, keeps it: berth then uses eventfds), and
 * put back to SIG_DFL when the last fast server of the process is joined,
 * if it is still berth's. 1 if berth's handler is in place (then a wake
 * needs no eventfd); each 1 is given back with wakeup_signal_release. */
static pthread_mutex_t wakeup_lock = PTHREAD_MUTEX_INITIALIZER;
static int wakeup_users; /* fast servers running with berth's handler */

static int wakeup_signal_install(void)
{
    pthread_mutex_lock(&wakeup_lock);
    struct sigaction old;
    int ours = 0;
    if (sigaction(SIGURG, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO)) {
        if (old.sa_handler == on_wakeup_signal) {
            ours = 1; /* another fast server of this process installed it */
        } else if (old.sa_handler == SIG_DFL) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_wakeup_signal;
            /* What it interrupts besides berth's calls resumes. Not where
             * that would restart the reads a stop interrupts (platform.h). */
            sa.sa_flags = BERTH_SIGURG_RESTARTS ? SA_RESTART : 0;
            sigemptyset(&sa.sa_mask);
            ours = sigaction(SIGURG, &sa, NULL) == 0;
        }
    }
    wakeup_users += ours;
    pthread_mutex_unlock(&wakeup_lock);
    return ours;
}

static void wakeup_signal_release(void)
{
    pthread_mutex_lock(&wakeup_lock);
    struct sigaction cur;
    if (--wakeup_users == 0 && sigaction(SIGURG, NULL, &cur) == 0 &&
        !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == on_wakeup_signal) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGURG, &sa, NULL);
    }
    pthread_mutex_unlock(&wakeup_lock);
}

/* Starts the monitor, then the acceptors. On a failure part-way it
 * returns -1 at once: the server stops and joins what started (fast_join
 * copes with any prefix of this; acceptors start only once the monitor,
 * which stops connection threads, runs). */
static int fast_start(berth_server *srv)
{
    fast *f = calloc(1, sizeof *f);
    if (!f) {
        berth_logf(&srv->log, "berth: fast: out of memory");
        return -1;
    }
    srv->backend_data = f;
    f->srv = srv;
    f->send_tick_ms = send_tick_for(&srv->engine);
    f->max_threads = srv->config.max_threads ? srv->config.max_threads : FAST_THREADS_DEFAULT;
    f->stack_size = FAST_STACK_SIZE;
    f->signal_handler = wakeup_signal_install();
    f->signal_wake = f->signal_handler && BERTH_HAVE_PPOLL;
    f->open.next = f->open.prev = &f->open;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->all_done, NULL);
    pthread_cond_init(&f->fd_freed, NULL);
    /* Acceptors poll, then accept without blocking (fast_accept.c): a
     * listener left blocking would hold its acceptor in accept4. */
    for (int i = 0; i < srv->nlisten; i++) {
        int fl = fcntl(srv->listeners[i].fd, F_GETFL);
        if (fl < 0 || fcntl(srv->listeners[i].fd, F_SETFL, fl | O_NONBLOCK) != 0) {
            berth_logf(&srv->log, "berth: fast: a listener: %s", strerror(errno));
            return -1;
        }
    }
    f->acceptors = calloc((size_t)srv->nlisten, sizeof(pthread_t));
    if (!f->acceptors) {
        berth_logf(&srv->log, "berth: fast: out of memory");
        return -1;
    }
    /* Server timers: a thread of their own, started by the first
     * (server_timer.c), as connection threads have no loop to run them. */
    if (berth_stimers_open(srv, NULL, 0) != 0) {
        berth_logf(&srv->log, "berth: fast: out of memory");
        return -1;
    }
    int rc = pthread_create(&f->monitor, NULL, monitor_main, f);
    if (rc != 0) {
        berth_logf(&srv->log, "berth: fast: cannot start the monitor thread: %s", strerror(rc));
        return -1;
    }
    f->monitor_running = 1;
    for (int i = 0; i < srv->nlisten; i++) {
        fast_acceptor_arg *a = malloc(sizeof *a);
        if (!a) {
            berth_logf(&srv->log, "berth: fast: out of memory");
            return -1;
        }
        a->f = f;
        a->fd = srv->listeners[i].fd;
        a->li = &srv->listeners[i];
        rc = pthread_create(&f->acceptors[i], NULL, fast_acceptor_main, a);
        if (rc != 0) {
            free(a);
            berth_logf(&srv->log, "berth: fast: cannot start acceptor thread %d: %s", i, strerror(rc));
            return -1;
        }
        f->nacceptors++;
    }
    return 0;
}

/* After a stop, or a start that failed part-way: joins the monitor and
 * the acceptors that run, waits for the connection threads. */
static void fast_join(berth_server *srv)
{
    fast *f = srv->backend_data;
    if (!f)
        return;
    if (f->monitor_running)
        pthread_join(f->monitor, NULL); /* returns once stopping */
    berth_stimers_detach(srv); /* the timers' thread ends on the stop too */
    for (int i = 0; i < f->nacceptors; i++)
        pthread_join(f->acceptors[i], NULL);
    for (int i = 0; i < srv->nlisten; i++) {
        if (srv->listeners[i].fd >= 0)
            close(srv->listeners[i].fd);
        srv->listeners[i].fd = -1;
    }
    /* Connections finish their request in flight, and threads take what is
     * queued; each thread cuts its own at the drain deadline (check_stop). */
    pthread_mutex_lock(&f->lock);
    while (f->running > 0)
        pthread_cond_wait(&f->all_done, &f->lock);
    fast_queue_close(f); /* left only if no thread could be made for them */
    pthread_mutex_unlock(&f->lock);
    if (f->signal_handler)
        wakeup_signal_release(); /* no thread of this server is left to signal */
    free(f->acceptors);
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->all_done);
    pthread_cond_destroy(&f->fd_freed);
    free(f);
    srv->backend_data = NULL;
}

const berth_backend_ops berth_backend_fast = {"fast", fast_start, fast_join};
