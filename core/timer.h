/* Timers of a worker: a binary min-heap on the owner thread. A stopped
 * timer stays in the heap, inert, until it comes due and is freed. */
#ifndef BERTH_TIMER_H
#define BERTH_TIMER_H

#include "engine.h"

struct berth_timer {
    uint64_t due;
    unsigned repeat_ms;
    berth_stream_fn fn;
    void *subject;            /* fn's first argument */
    void *arg;
    berth_timer **list;       /* the owner's list of its timers; NULL once stopped */
    struct berth_timer *prev, *next;
    struct berth_timer *posted_next; /* in the worker's timers_in */
};

/* Adds a timer that calls fn(subject, arg) and links it into *list, so
 * its owner can stop all its timers at once. */
berth_timer *berth_timer_add(berth_worker *w, berth_timer **list, void *subject,
                             unsigned delay_ms, unsigned repeat_ms, berth_stream_fn fn, void *arg);
/* The same from any thread: a timer the owner adds (its delay counted
 * from then) as it next runs or reads its timers; the caller then wakes
 * the owner's loop (w->wake). NULL if out of memory. */
berth_timer *berth_timer_post(berth_worker *w, berth_timer **list, void *subject,
                              unsigned delay_ms, unsigned repeat_ms, berth_stream_fn fn, void *arg);
/* Frees the heap and what was posted (owner thread, or once it is gone). */
void berth_timers_free(berth_worker *w);

#endif
