/* Timers posted to a worker from another thread (core/timer.c,
 * berth_timer_post): the owner takes them in as it next runs or reads its
 * timers, with their delay counted from its own clock then. */
#include <pthread.h>

#include "../../core/timer.h"
#include "engine_harness.h"
#include "test.h"

static int fired;
static void on_fire(berth_stream *s, void *arg)
{
    (void)s, (void)arg;
    fired++;
}

typedef struct post_arg {
    berth_worker *w;
    berth_timer *list;
    berth_timer *t;
} post_arg;

static void *post_thread(void *arg)
{
    post_arg *p = arg;
    p->t = berth_timer_post(p->w, &p->list, NULL, 20, 0, on_fire, NULL);
    return NULL;
}

TEST(timer_posted_from_another_thread_runs_on_the_owner_from_its_clock)
{
    harness h;
    harness_init(&h, NULL);
    post_arg p = {&h.worker, NULL, NULL};
    pthread_t t;
    CHECK_INT(pthread_create(&t, NULL, post_thread, &p), 0);
    pthread_join(t, NULL);
    CHECK(p.t != NULL);
    CHECK(p.list == p.t); /* in its owner's list at once */
    CHECK_INT((int)h.worker.ntimers, 0); /* not in the heap before the owner takes it */
    h.worker.clock.now_ms += 1000; /* time passed before the owner looked */
    fired = 0;
    uint64_t due = berth_worker_next_timer(&h.worker);
    CHECK(due == h.worker.clock.now_ms + 20); /* counted from the take-in */
    CHECK_INT((int)h.worker.ntimers, 1);
    berth_worker_run_timers(&h.worker);
    CHECK_INT(fired, 0);
    h.worker.clock.now_ms += 20;
    berth_worker_run_timers(&h.worker);
    CHECK_INT(fired, 1);
    CHECK(p.list == NULL); /* a one-shot leaves its owner's list */
    harness_free(&h);
}

TEST(timer_posted_then_stopped_never_runs_and_is_freed)
{
    harness h;
    harness_init(&h, NULL);
    berth_timer *list = NULL;
    berth_timer *a = berth_timer_post(&h.worker, &list, NULL, 0, 5, on_fire, NULL);
    CHECK(berth_timer_post(&h.worker, &list, NULL, 0, 0, on_fire, NULL) != NULL);
    berth_timer_stop(a);
    fired = 0;
    berth_worker_run_timers(&h.worker);
    CHECK_INT(fired, 1); /* the other one */
    h.worker.clock.now_ms += 50;
    berth_worker_run_timers(&h.worker);
    CHECK_INT(fired, 1);
    CHECK(list == NULL);
    /* Posted and never taken in: freed with the worker (LeakSanitizer). */
    berth_timer *left = NULL;
    CHECK(berth_timer_post(&h.worker, &left, NULL, 0, 0, on_fire, NULL) != NULL);
    harness_free(&h);
    CHECK(left == NULL);
}
