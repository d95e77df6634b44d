/* Server timers (server_timer.h). One lock per server guards every
 * timer's state: timers are few and fire seldom, and a cancel from another
 * thread must know whether the callback runs now (it waits for it). */
#include "server_timer.h"

#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "../core/timer.h"

struct berth_server_timer {
    berth_server *srv;
    berth_server_timer_fn fn;
    void *arg;
    berth_timer *entry;       /* in its worker's heap: the owner's list of one */
    int refs;                 /* 1 while scheduled, 1 while the application holds it */
    int scheduled;            /* posted to a worker, not yet over */
    int cancelled;
    int running;              /* its callback runs now, on runner */
    pthread_t runner;
    struct berth_server_timer *prev, *next; /* in berth_stimers.all */
};

/* fast's timers' thread: a worker of its own, waiting in poll on its wake
 * descriptor and the server's stop. */
typedef struct berth_timer_thread {
    berth_server *srv;
    berth_worker w;
    berth_wake wake;
    pthread_t tid;
} berth_timer_thread;

void berth_stimers_init(berth_stimers *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->idle, NULL);
}

/* Drops one reference (lock held); the last frees the timer. */
static void release(berth_stimers *s, berth_server_timer *t)
{
    if (--t->refs > 0)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else
        s->all = t->next;
    if (t->next)
        t->next->prev = t->prev;
    free(t);
}

void berth_stimers_destroy(berth_stimers *s)
{
    while (s->all) {
        s->all->refs = 1;
        release(s, s->all);
    }
    free(s->workers);
    s->workers = NULL;
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
}

int berth_stimers_open(berth_server *srv, berth_worker **workers, int n)
{
    berth_stimers *s = &srv->stimers;
    berth_worker **copy = NULL;
    if (n > 0) {
        copy = malloc((size_t)n * sizeof *copy);
        if (!copy)
            return -1;
        memcpy(copy, workers, (size_t)n * sizeof *copy);
    }
    pthread_mutex_lock(&s->lock);
    free(s->workers);
    s->workers = copy;
    s->nworkers = n;
    s->next = 0;
    s->own_thread = n == 0;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void timer_thread_wake(berth_worker *w)
{
    berth_timer_thread *tt = w->backend;
    berth_wake_signal(&tt->wake);
}

static void *timer_thread_main(void *arg)
{
    berth_timer_thread *tt = arg;
    berth_server *srv = tt->srv;
    tt->w.owner = pthread_self();
    struct pollfd p[2] = {{srv->stop.rfd, POLLIN, 0}, {tt->wake.rfd, POLLIN, 0}};
    while (!atomic_load(&srv->stopping)) {
        berth_clock_update(&tt->w.clock);
        berth_worker_run_timers(&tt->w);
        berth_clock_update(&tt->w.clock); /* the callbacks took time */
        uint64_t due = berth_worker_next_timer(&tt->w), now = tt->w.clock.now_ms;
        int timeout = due == UINT64_MAX ? -1 : due <= now ? 0 : due - now > INT_MAX ? INT_MAX : (int)(due - now);
        if (poll(p, 2, timeout) > 0 && (p[1].revents & POLLIN))
            berth_wake_drain(&tt->wake);
    }
    return NULL;
}

/* fast's first timer starts the thread (lock held): 0, or BERTH_ENOMEM or
 * BERTH_ESYS having said why. */
static int timer_thread_start(berth_server *srv)
{
    berth_timer_thread *tt = calloc(1, sizeof *tt);
    if (!tt)
        return BERTH_ENOMEM;
    tt->srv = srv;
    if (berth_wake_open(&tt->wake) != 0) {
        berth_logf(&srv->log, "berth: server timers: cannot open a wake descriptor");
        free(tt);
        return BERTH_ESYS;
    }
    berth_worker_init(&tt->w, &srv->engine);
    tt->w.backend = tt;
    tt->w.wake = timer_thread_wake;
    int rc = pthread_create(&tt->tid, NULL, timer_thread_main, tt);
    if (rc != 0) {
        berth_logf(&srv->log, "berth: server timers: cannot start their thread: %s", strerror(rc));
        berth_worker_destroy(&tt->w);
        berth_wake_close(&tt->wake);
        free(tt);
        return BERTH_ESYS;
    }
    srv->stimers.thread = tt;
    return 0;
}

void berth_stimers_detach(berth_server *srv)
{
    berth_stimers *s = &srv->stimers;
    pthread_mutex_lock(&s->lock);
    free(s->workers);
    s->workers = NULL;
    s->nworkers = 0;
    s->own_thread = 0;
    berth_timer_thread *tt = s->thread;
    s->thread = NULL;
    pthread_mutex_unlock(&s->lock);
    if (!tt)
        return;
    /* It ends on the stop (detach comes after one); the signal only makes
     * sure of it. */
    berth_wake_signal(&tt->wake);
    pthread_join(tt->tid, NULL);
    berth_worker_destroy(&tt->w); /* its heap: the timers' entries */
    berth_wake_close(&tt->wake);
    free(tt);
}

void berth_stimers_finish(berth_server *srv)
{
    berth_stimers *s = &srv->stimers;
    pthread_mutex_lock(&s->lock);
    for (berth_server_timer *t = s->all, *next; t; t = next) {
        next = t->next;
        t->entry = NULL; /* freed with its worker */
        if (t->scheduled) {
            t->scheduled = 0;
            release(s, t);
        }
    }
    pthread_mutex_unlock(&s->lock);
}

/* The heap entry's function, on the worker's thread: runs the callback
 * unless the timer was cancelled or the server is stopping, and ends the
 * timer after its one run, a cancel or the stop. */
static void fire(berth_stream *unused, void *arg)
{
    (void)unused;
    berth_server_timer *t = arg;
    berth_server *srv = t->srv;
    berth_stimers *s = &srv->stimers;
    pthread_mutex_lock(&s->lock);
    int run = !t->cancelled && !atomic_load(&srv->stopping);
    if (run) {
        t->running = 1;
        t->runner = pthread_self();
    }
    pthread_mutex_unlock(&s->lock);
    if (run)
        t->fn(srv, t->arg);
    pthread_mutex_lock(&s->lock);
    if (run) {
        t->running = 0;
        pthread_cond_broadcast(&s->idle);
    }
    if (!run || t->cancelled || !t->entry->repeat_ms || atomic_load(&srv->stopping)) {
        berth_timer_stop(t->entry); /* the heap frees the entry as this returns */
        t->entry = NULL;
        t->scheduled = 0;
        release(s, t);
    }
    pthread_mutex_unlock(&s->lock);
}

int berth_server_timer_add(berth_server *srv, unsigned delay_ms, unsigned repeat_ms,
                           berth_server_timer_fn fn, void *arg, berth_server_timer **timer)
{
    if (timer)
        *timer = NULL;
    if (!srv || !fn)
        return BERTH_EINVAL;
    berth_stimers *s = &srv->stimers;
    berth_server_timer *t = calloc(1, sizeof *t);
    if (!t)
        return BERTH_ENOMEM;
    t->srv = srv;
    t->fn = fn;
    t->arg = arg;
    t->refs = timer ? 2 : 1;
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    if ((!s->workers && !s->own_thread) || atomic_load(&srv->stopping))
        rc = BERTH_ESTATE;
    else if (s->own_thread && !s->thread)
        rc = timer_thread_start(srv);
    berth_worker *w = NULL;
    if (rc == 0) {
        w = s->own_thread ? &s->thread->w : s->workers[s->next];
        if (!s->own_thread)
            s->next = (s->next + 1) % s->nworkers;
        if (!berth_timer_post(w, &t->entry, NULL, delay_ms, repeat_ms, fire, t))
            rc = BERTH_ENOMEM;
    }
    if (rc != 0) {
        pthread_mutex_unlock(&s->lock);
        free(t);
        return rc;
    }
    t->scheduled = 1;
    t->next = s->all;
    if (s->all)
        s->all->prev = t;
    s->all = t;
    if (timer)
        *timer = t; /* before the worker may run it: its callback may read it */
    w->wake(w);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

void berth_server_timer_cancel(berth_server_timer *t)
{
    if (!t)
        return;
    berth_stimers *s = &t->srv->stimers;
    pthread_mutex_lock(&s->lock);
    t->cancelled = 1;
    /* Its callback running on another thread: wait, so that arg may be
     * freed once this returns. From inside the callback: no wait. */
    while (t->running && !pthread_equal(t->runner, pthread_self()))
        pthread_cond_wait(&s->idle, &s->lock);
    release(s, t);
    pthread_mutex_unlock(&s->lock);
}
