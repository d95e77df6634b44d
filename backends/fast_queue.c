/* fast's queue of accepted connections waiting for a thread (beyond
 * max_threads), shared by the acceptors that fill it and the connection
 * threads that take from it as they finish; all under f->lock. Below both,
 * so neither calls the other for it. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "fast.h"
#include "../core/clock.h"

uint64_t fast_now_ms(void)
{
    struct timespec now;
    clock_gettime(BERTH_CLOCK_MONOTONIC_CHEAP, &now); /* the worker clock's */
    return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

/* Queues j (copied) to wait for a thread. */
int fast_queue_push(fast *f, const fast_job *j)
{
    fast_job *q = malloc(sizeof *q);
    if (!q)
        return -1;
    *q = *j;
    q->next = NULL;
    if (f->queue_tail)
        f->queue_tail->next = q;
    else
        f->queue = q;
    f->queue_tail = q;
    f->nqueued++;
    return 0;
}

/* Puts a node just dequeued back at the front (no allocation). */
void fast_queue_requeue(fast *f, fast_job *q)
{
    q->next = f->queue;
    f->queue = q;
    if (!f->queue_tail)
        f->queue_tail = q;
    f->nqueued++;
}

fast_job *fast_queue_pop(fast *f)
{
    fast_job *q = f->queue;
    f->queue = q->next;
    if (!f->queue)
        f->queue_tail = NULL;
    f->nqueued--;
    return q;
}

/* The queue's head may be served now: a refusal needs no place, an
 * admitted connection needs one under max_threads. */
int fast_queue_servable(const fast *f)
{
    return f->queue && (f->queue->refuse || (unsigned)f->busy < f->max_threads);
}

int fast_next_job(fast *f, fthread *t)
{
    if (!fast_queue_servable(f))
        return 0;
    fast_job *q = fast_queue_pop(f);
    if (!q->refuse) {
        q->busy = 1;
        f->busy++;
    }
    t->job = *q;
    t->has_job = 1;
    free(q);
    return 1;
}

void fast_queue_close(fast *f)
{
    while (f->queue) {
        fast_job *q = fast_queue_pop(f);
        close(q->fd);
        berth_backend_release(f->srv, q->admit == BERTH_REFUSE);
        free(q);
    }
}

