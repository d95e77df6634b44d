/* The wake list: connections with stream work queued by other threads,
 * waiting for their owner's loop (engine.h). */
#include "conn_impl.h"

void berth_worker_notify(berth_worker *w, berth_conn *c)
{
    int owner = pthread_equal(pthread_self(), w->owner);
    pthread_mutex_lock(&w->wake_lock);
    int first = !w->woken;
    if (!c->woken) {
        c->woken = 1;
        c->wake_next = w->woken;
        w->woken = c;
    }
    pthread_mutex_unlock(&w->wake_lock);
    if (!owner && first && w->wake)
        w->wake(w);
}

berth_conn *berth_worker_next_woken(berth_worker *w)
{
    pthread_mutex_lock(&w->wake_lock);
    berth_conn *c = w->woken;
    if (c) {
        w->woken = c->wake_next;
        c->woken = 0;
        c->wake_next = NULL;
    }
    pthread_mutex_unlock(&w->wake_lock);
    return c;
}

void berth_worker_forget(berth_worker *w, berth_conn *c)
{
    pthread_mutex_lock(&w->wake_lock);
    if (c->woken) {
        for (berth_conn **pp = &w->woken; *pp; pp = &(*pp)->wake_next) {
            if (*pp == c) {
                *pp = c->wake_next;
                break;
            }
        }
        c->woken = 0;
    }
    pthread_mutex_unlock(&w->wake_lock);
}
