/* Server timers (berth.h, "Server timers"): a timer of the running server,
 * not of a stream. Each lives in the timer heap of one worker (core/timer.c)
 * and is posted there from any thread; on the fast backend, which has no
 * worker loops, in the heap of a thread of its own, started by the first
 * timer.
 *
 * A backend hands its workers over at start (berth_stimers_open) and takes
 * them back before it frees them (berth_stimers_detach); the server ends
 * every timer once the backend is joined (berth_stimers_finish). */
#ifndef BERTH_SERVER_TIMER_H
#define BERTH_SERVER_TIMER_H

#include <pthread.h>

#include "../core/engine.h"

struct berth_timer_thread;

typedef struct berth_stimers {
    pthread_mutex_t lock;        /* everything below, and each timer's state */
    pthread_cond_t idle;         /* a callback returned (a cancel waits for it) */
    berth_worker **workers;      /* where timers go, in turn; NULL: none accepted */
    int nworkers, next;
    int own_thread;              /* fast: timers go to a thread of their own */
    struct berth_timer_thread *thread; /* ... started by the first timer */
    struct berth_server_timer *all; /* every timer not yet freed */
} berth_stimers;

void berth_stimers_init(berth_stimers *s);
/* Frees every timer left (handles the application kept included). */
void berth_stimers_destroy(berth_stimers *s);
/* The server starts: timers go to these n workers in turn (copied), or,
 * with n == 0, to a thread of their own. 0, or -1 out of memory. */
int berth_stimers_open(berth_server *srv, berth_worker **workers, int n);
/* The backend is about to free its workers (their threads have ended, or
 * will not see another timer): no timer is posted to them from now on;
 * the timers' own thread, if any, is stopped and joined. */
void berth_stimers_detach(berth_server *srv);
/* After the backend's join: the workers' heaps are gone; every timer is
 * over (a handle the application holds stays valid until cancelled). */
void berth_stimers_finish(berth_server *srv);

#endif
