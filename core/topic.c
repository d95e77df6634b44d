/* Topics: one message published to every WebSocket and server-sent-events
 * subscriber, from any thread. Each subscriber's copy goes through its
 * connection's mailbox (stream.c), so it is written on that connection's
 * own thread, after what was sent to it before. The topic holds a
 * reference on each subscriber's handle, so a connection that ended is
 * found at a publish (its post answers gone) and dropped then, without
 * the application's on_close having to unsubscribe it first. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"
#include "stream.h"
#include "ws.h"
#include "ws_frame.h"

enum { SUB_WS, SUB_SSE };

typedef struct topic_sub {
    berth_stream *s;
    int kind;
} topic_sub;

struct berth_topic {
    pthread_mutex_t lock;
    int policy;          /* BERTH_TOPIC_DROP or _CLOSE */
    topic_sub *subs;
    size_t n, cap;
    uint64_t dropped, cut;
};

berth_topic *berth_topic_new(int slow_policy)
{
    if (slow_policy != BERTH_TOPIC_DROP && slow_policy != BERTH_TOPIC_CLOSE)
        return NULL;
    berth_topic *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    pthread_mutex_init(&t->lock, NULL);
    t->policy = slow_policy;
    return t;
}

void berth_topic_free(berth_topic *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        berth_stream_release(t->subs[i].s);
    free(t->subs);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static int subscribe(berth_topic *t, berth_stream *s, int kind)
{
    if (!t || !s)
        return BERTH_EINVAL;
    pthread_mutex_lock(&t->lock);
    int rc = 0;
    for (size_t i = 0; i < t->n && !rc; i++)
        if (t->subs[i].s == s)
            rc = BERTH_EEXIST;
    if (!rc && t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        topic_sub *n = realloc(t->subs, cap * sizeof *n);
        if (n) {
            t->subs = n;
            t->cap = cap;
        } else {
            rc = BERTH_ENOMEM;
        }
    }
    if (!rc)
        rc = berth_stream_ref(s);
    if (!rc)
        t->subs[t->n++] = (topic_sub){s, kind};
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int berth_topic_subscribe_ws(berth_topic *t, berth_ws *ws)
{
    return ws ? subscribe(t, ws->s, SUB_WS) : BERTH_EINVAL;
}

int berth_topic_subscribe_sse(berth_topic *t, berth_stream *s) { return subscribe(t, s, SUB_SSE); }

/* Drops subscriber i (the caller holds the lock): the order of the others
 * is not kept. */
static void drop_at(berth_topic *t, size_t i)
{
    berth_stream_release(t->subs[i].s);
    t->subs[i] = t->subs[--t->n];
}

static int unsubscribe(berth_topic *t, berth_stream *s)
{
    if (!t || !s)
        return BERTH_EINVAL;
    pthread_mutex_lock(&t->lock);
    int rc = BERTH_ENOENT;
    for (size_t i = 0; i < t->n; i++) {
        if (t->subs[i].s == s) {
            drop_at(t, i);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int berth_topic_unsubscribe_ws(berth_topic *t, berth_ws *ws)
{
    return ws ? unsubscribe(t, ws->s) : BERTH_EINVAL;
}

int berth_topic_unsubscribe_sse(berth_topic *t, berth_stream *s) { return unsubscribe(t, s); }

/* A subscriber whose buffer is full: skipped, or closed (a WebSocket with
 * 1008 after what it has buffered, an event stream cut). 1 if it is to
 * leave the topic. */
static int slow(berth_topic *t, const topic_sub *sub)
{
    if (t->policy == BERTH_TOPIC_DROP) {
        t->dropped++;
        return 0;
    }
    t->cut++;
    if (sub->kind == SUB_WS) {
        static const char pl[] = "\x03\xf0" "too slow"; /* 1008 */
        if (berth_stream_post(sub->s, OP_WS_CLOSE, 1008, NULL, 0, pl, sizeof pl - 1) == 0)
            return 1;
    }
    berth_stream_cut(sub->s);
    return 1;
}

long berth_topic_publish(berth_topic *t, int type, const char *event, const void *data, size_t len)
{
    if (!t || (type != BERTH_WS_TEXT && type != BERTH_WS_BINARY) || (!data && len) ||
        berth_sse_fields_bad(event, NULL))
        return BERTH_EINVAL;
    if (type == BERTH_WS_TEXT) {
        berth_utf8 st = {0, 0, 0};
        if (berth_utf8_run(&st, data, len) != 0 || !berth_utf8_done(&st))
            return BERTH_EINVAL; /* a client would fail the connection (1007) */
    }
    char *frame = NULL; /* the event-stream framing, made once for all */
    size_t flen = 0;
    long reached = 0;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->n;) {
        const topic_sub *sub = &t->subs[i];
        int rc;
        if (sub->kind == SUB_WS) {
            rc = berth_stream_post(sub->s, OP_WS_DATA, type, NULL, 0, data, len);
        } else {
            if (!frame) {
                frame = malloc(berth_sse_frame_size(event, NULL, data, len));
                if (!frame) {
                    pthread_mutex_unlock(&t->lock);
                    return BERTH_ENOMEM;
                }
                flen = berth_sse_frame(frame, event, NULL, data, len);
            }
            rc = berth_stream_write(sub->s, frame, flen);
        }
        int leave = rc == BERTH_EGONE || (rc == BERTH_EAGAIN && slow(t, sub));
        if (rc == 0)
            reached++;
        if (leave)
            drop_at(t, i); /* the last one moved here: i again */
        else
            i++;
    }
    pthread_mutex_unlock(&t->lock);
    free(frame);
    return reached;
}

/* The counters, under the lock (a publish on another thread updates them). */
static uint64_t read_locked(berth_topic *t, int which)
{
    if (!t)
        return 0;
    pthread_mutex_lock(&t->lock);
    uint64_t v = which == 0 ? t->n : which == 1 ? t->dropped : t->cut;
    pthread_mutex_unlock(&t->lock);
    return v;
}

size_t berth_topic_count(berth_topic *t) { return (size_t)read_locked(t, 0); }
uint64_t berth_topic_dropped(berth_topic *t) { return read_locked(t, 1); }
uint64_t berth_topic_closed(berth_topic *t) { return read_locked(t, 2); }
