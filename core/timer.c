#include "timer.h"

#include <stdlib.h>

static void heap_swap(berth_worker *w, size_t a, size_t b)
{
    berth_timer *t = w->timers[a];
    w->timers[a] = w->timers[b];
    w->timers[b] = t;
}

static void heap_up(berth_worker *w, size_t i)
{
    while (i && w->timers[(i - 1) / 2]->due > w->timers[i]->due) {
        heap_swap(w, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(berth_worker *w, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < w->ntimers && w->timers[l]->due < w->timers[m]->due)
            m = l;
        if (r < w->ntimers && w->timers[r]->due < w->timers[m]->due)
            m = r;
        if (m == i)
            return;
        heap_swap(w, i, m);
        i = m;
    }
}

static int heap_push(berth_worker *w, berth_timer *t)
{
    if (w->ntimers == w->timers_cap) {
        size_t cap = w->timers_cap ? w->timers_cap * 2 : 64;
        berth_timer **n = realloc(w->timers, cap * sizeof *n);
        if (!n)
            return -1;
        w->timers = n;
        w->timers_cap = cap;
    }
    w->timers[w->ntimers++] = t;
    heap_up(w, w->ntimers - 1);
    return 0;
}

static berth_timer *heap_pop(berth_worker *w)
{
    berth_timer *t = w->timers[0];
    w->timers[0] = w->timers[--w->ntimers];
    if (w->ntimers)
        heap_down(w, 0);
    return t;
}

static void unlink_from_owner(berth_timer *t)
{
    if (!t->list)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else
        *t->list = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->list = NULL;
}

static void link_to_owner(berth_timer *t, berth_timer **list)
{
    t->list = list;
    t->next = *list;
    if (*list)
        (*list)->prev = t;
    *list = t;
}

static berth_timer *timer_new(void *subject, unsigned repeat_ms, berth_stream_fn fn, void *arg)
{
    berth_timer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->repeat_ms = repeat_ms;
    t->fn = fn;
    t->subject = subject;
    t->arg = arg;
    return t;
}

berth_timer *berth_timer_add(berth_worker *w, berth_timer **list, void *subject,
                             unsigned delay_ms, unsigned repeat_ms, berth_stream_fn fn, void *arg)
{
    berth_timer *t = timer_new(subject, repeat_ms, fn, arg);
    if (!t)
        return NULL;
    t->due = w->clock.now_ms + delay_ms;
    if (heap_push(w, t) != 0) {
        free(t);
        return NULL;
    }
    link_to_owner(t, list);
    return t;
}

berth_timer *berth_timer_post(berth_worker *w, berth_timer **list, void *subject,
                              unsigned delay_ms, unsigned repeat_ms, berth_stream_fn fn, void *arg)
{
    berth_timer *t = timer_new(subject, repeat_ms, fn, arg);
    if (!t)
        return NULL;
    t->due = delay_ms; /* made a time by the owner's clock as it takes it in */
    link_to_owner(t, list);
    berth_timer *head = atomic_load_explicit(&w->timers_in, memory_order_relaxed);
    do
        t->posted_next = head;
    while (!atomic_compare_exchange_weak_explicit(&w->timers_in, &head, t, memory_order_release,
                                                  memory_order_relaxed));
    return t;
}

/* Takes in what other threads posted. One the heap has no room for (out
 * of memory) is posted again, tried at the next turn. */
static void take_posted(berth_worker *w)
{
    if (!atomic_load_explicit(&w->timers_in, memory_order_relaxed))
        return;
    berth_timer *t = atomic_exchange_explicit(&w->timers_in, NULL, memory_order_acquire);
    while (t) {
        berth_timer *next = t->posted_next;
        t->posted_next = NULL;
        t->due += w->clock.now_ms;
        if (heap_push(w, t) != 0) {
            t->due -= w->clock.now_ms;
            berth_timer *head = atomic_load_explicit(&w->timers_in, memory_order_relaxed);
            do
                t->posted_next = head;
            while (!atomic_compare_exchange_weak_explicit(&w->timers_in, &head, t, memory_order_release,
                                                          memory_order_relaxed));
        }
        t = next;
    }
}

void berth_timer_stop(berth_timer *t)
{
    if (t)
        unlink_from_owner(t); /* inert; freed when it comes due */
}

uint64_t berth_worker_run_timers(berth_worker *w)
{
    take_posted(w);
    while (w->ntimers && w->timers[0]->due <= w->clock.now_ms) {
        berth_timer *t = heap_pop(w);
        if (t->list) {
            t->fn(t->subject, t->arg);
            if (t->list && t->repeat_ms) {
                t->due = w->clock.now_ms + t->repeat_ms;
                if (heap_push(w, t) == 0)
                    continue;
            }
        }
        unlink_from_owner(t);
        free(t);
    }
    return w->ntimers ? w->timers[0]->due : UINT64_MAX;
}

void berth_timers_free(berth_worker *w)
{
    for (size_t i = 0; i < w->ntimers; i++) {
        unlink_from_owner(w->timers[i]);
        free(w->timers[i]);
    }
    free(w->timers);
    w->timers = NULL;
    for (berth_timer *t = atomic_exchange(&w->timers_in, NULL), *next; t; t = next) {
        next = t->posted_next;
        unlink_from_owner(t);
        free(t);
    }
    w->ntimers = w->timers_cap = 0;
}

uint64_t berth_worker_next_timer(berth_worker *w)
{
    take_posted(w);
    return w->ntimers ? w->timers[0]->due : UINT64_MAX;
}
