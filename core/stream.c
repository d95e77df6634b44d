/* The public berth_stream_* calls. Calls on the connection's own thread
 * apply at once; calls from other threads queue an operation and wake the
 * connection's loop, which applies it (through the sink its connection side set). */
#include "stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse.h"
#include "request.h"
#include "timer.h"

berth_stream *berth_stream_new(const berth_stream_sink *sink, struct berth_conn *c,
                               berth_worker *w, size_t owner_size)
{
    berth_stream *s = calloc(1, sizeof *s + owner_size);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->drained, NULL);
    s->sink = sink;
    s->conn = c;
    s->w = w;
    s->refs = 2;
    return s;
}

static void stream_free(berth_stream *s)
{
    stream_op *op = s->ops;
    while (op) {
        stream_op *next = op->next;
        free(op);
        op = next;
    }
    if (s->sink->release)
        s->sink->release(s);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->drained);
    free(s);
}

/* Drops one reference; the caller holds s->lock, which this releases. */
static void unref_unlock(berth_stream *s)
{
    int last = --s->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (last)
        stream_free(s);
}

stream_op *berth_stream_take(berth_stream *s, int *failed)
{
    pthread_mutex_lock(&s->lock);
    stream_op *ops = s->ops;
    s->ops = s->ops_tail = NULL;
    *failed = s->failed;
    pthread_mutex_unlock(&s->lock);
    return ops; /* s->queued drops as each write is applied */
}

void berth_stream_consumed(berth_stream *s, size_t bytes)
{
    pthread_mutex_lock(&s->lock);
    s->queued -= bytes;
    pthread_mutex_unlock(&s->lock);
}

void berth_stream_set_pending(berth_stream *s, size_t pending)
{
    atomic_store(&s->out_pending, pending);
    if (atomic_load(&s->waiters)) {
        pthread_mutex_lock(&s->lock);
        pthread_cond_broadcast(&s->drained);
        pthread_mutex_unlock(&s->lock);
    }
}

int berth_stream_on_owner(const berth_stream *s)
{
    return pthread_equal(pthread_self(), s->w->owner);
}

void berth_stream_mark_gone(berth_stream *s)
{
    pthread_mutex_lock(&s->lock);
    s->gone = 1;
    pthread_cond_broadcast(&s->drained);
    pthread_mutex_unlock(&s->lock);
}

void berth_stream_stop(berth_stream *s)
{
    if (atomic_exchange(&s->stopping, 1))
        return;
    pthread_mutex_lock(&s->lock);
    int run = s->on_stop && !s->app_done && !s->gone;
    pthread_mutex_unlock(&s->lock);
    if (run)
        s->on_stop(s, s->on_stop_arg);
}

void berth_stream_detach(berth_stream *s, int client_gone)
{
    pthread_mutex_lock(&s->lock);
    s->conn = NULL;
    s->gone = s->gone || client_gone;
    int notify = client_gone && !s->app_done && s->on_close;
    pthread_cond_broadcast(&s->drained);
    pthread_mutex_unlock(&s->lock);
    while (s->timers)
        berth_timer_stop(s->timers);
    if (notify)
        s->on_close(s, s->on_close_arg);
    pthread_mutex_lock(&s->lock);
    unref_unlock(s);
}

/* Posts an operation. a/b are copied; OP_WRITE counts b against the
 * buffer limit. Returns 0, BERTH_EGONE (client gone or handle ended),
 * BERTH_EAGAIN (full), BERTH_ENOMEM. */
int berth_stream_post(berth_stream *s, int kind, int status, const char *a, size_t alen,
                      const char *b, size_t blen)
{
    pthread_mutex_lock(&s->lock);
    if (s->app_done) {
        pthread_mutex_unlock(&s->lock);
        return BERTH_EGONE;
    }
    int ends = kind == OP_SEND || kind == OP_END;
    if (ends)
        s->app_done = 1;
    if (!s->conn || s->gone) {
        if (ends) {
            unref_unlock(s); /* the application's reference */
            return BERTH_EGONE;
        }
        pthread_mutex_unlock(&s->lock);
        return BERTH_EGONE;
    }
    int counted = berth_stream_op_counted(kind);
    if (counted) {
        size_t held = s->queued + atomic_load_explicit(&s->out_pending, memory_order_relaxed);
        size_t limit = s->limit ? s->limit : s->w->engine->max_stream_buffer;
        /* A WebSocket message into an empty buffer always goes: one message
         * larger than the limit must not wait forever. */
        if (held + blen > limit && !(kind == OP_WS_DATA && held == 0)) {
            pthread_mutex_unlock(&s->lock);
            return BERTH_EAGAIN;
        }
    }
    struct berth_conn *c = s->conn;
    if (berth_stream_on_owner(s)) {
        pthread_mutex_unlock(&s->lock);
        /* Operations other threads queued earlier go first, so the body
         * keeps the order of the calls. None of them ends the stream:
         * app_done was clear above. */
        s->sink->apply_queued(c);
        if (kind >= OP_WS_DATA) {
            s->sink->apply(s, c, kind, status, a, alen, b, blen);
            return 0;
        }
        /* Applied where the data lies: nothing to allocate, so nothing
         * here can fail and leave the response open (an end whose copy
         * could not be made left it open for ever, with no deadline). */
        s->sink->apply(s, c, kind, status, a, alen, b, blen); /* may complete and detach */
        pthread_mutex_lock(&s->lock);
        int rc = s->gone ? BERTH_EGONE : 0; /* it could not be applied: the connection is closed */
        if (ends)
            unref_unlock(s);
        else
            pthread_mutex_unlock(&s->lock);
        return rc;
    }
    stream_op *op = malloc(sizeof *op + alen + blen);
    if (!op) {
        /* The operation is lost: the response can no longer be what the
         * application made, so it fails as a whole. The connection is
         * closed at its owner's next turn (the sink's apply_queued), and
         * from now on calls answer BERTH_EGONE as for a client gone; this one
         * says why. An ending call has released the handle all the same. */
        s->failed = 1;
        s->gone = 1;
        pthread_cond_broadcast(&s->drained);
        s->sink->notify(c);
        if (ends)
            unref_unlock(s);
        else
            pthread_mutex_unlock(&s->lock);
        return BERTH_ENOMEM;
    }
    op->next = NULL;
    op->kind = kind;
    op->status = status;
    op->split = alen;
    op->len = alen + blen;
    if (alen)
        memcpy(op->data, a, alen);
    if (blen)
        memcpy(op->data + alen, b, blen);
    if (s->ops_tail)
        s->ops_tail->next = op;
    else
        s->ops = op;
    s->ops_tail = op;
    if (counted)
        s->queued += blen;
    s->sink->notify(c); /* c stays alive while we hold s->lock */
    if (ends)
        unref_unlock(s);
    else
        pthread_mutex_unlock(&s->lock);
    return 0;
}

int berth_stream_ref(berth_stream *s)
{
    pthread_mutex_lock(&s->lock);
    int ok = s->conn && !s->gone && !s->app_done;
    if (ok)
        s->refs++;
    pthread_mutex_unlock(&s->lock);
    return ok ? 0 : BERTH_EGONE;
}

void berth_stream_cut(berth_stream *s)
{
    pthread_mutex_lock(&s->lock);
    if (s->conn && !s->gone) {
        /* as for an operation that could not be queued (post): the owner
         * closes the connection at its next turn */
        s->failed = 1;
        s->gone = 1;
        pthread_cond_broadcast(&s->drained);
        s->sink->notify(s->conn);
    }
    pthread_mutex_unlock(&s->lock);
}

void berth_stream_release(berth_stream *s)
{
    pthread_mutex_lock(&s->lock);
    unref_unlock(s);
}

/* A Content-Type the response may carry. */
static int content_type_ok(const char *ct)
{
    return berth_header_check("Content-Type", 12, ct, strlen(ct)) == BERTH_HDR_KEEP;
}

int berth_stream_header(berth_stream *s, const char *name, const char *value)
{
    size_t nlen = strlen(name), vlen = strlen(value);
    int kind = berth_header_check(name, nlen, value, vlen);
    if (kind == BERTH_HDR_INVALID)
        return BERTH_EINVAL;
    if (kind == BERTH_HDR_DROP)
        return 0; /* berth writes the framing headers itself */
    return berth_stream_post(s, OP_HEADER, 0, name, nlen, value, vlen);
}

int berth_stream_send(berth_stream *s, int status, const char *content_type, const void *body,
                      size_t len)
{
    const char *ct = content_type ? content_type : "";
    if (!content_type_ok(ct))
        ct = "";
    if (status < 100 || status > 599)
        return BERTH_EINVAL; /* the handle stays the application's */
    return berth_stream_post(s, OP_SEND, status, ct, strlen(ct), body, len);
}

int berth_stream_start(berth_stream *s, int status, const char *content_type)
{
    const char *ct = content_type ? content_type : "";
    if (!content_type_ok(ct) || status < 100 || status > 599)
        return BERTH_EINVAL;
    return berth_stream_post(s, OP_START, status, ct, strlen(ct), NULL, 0);
}

int berth_stream_write(berth_stream *s, const void *data, size_t len)
{
    if (len == 0)
        return berth_stream_gone(s) ? BERTH_EGONE : 0;
    return berth_stream_post(s, OP_WRITE, 0, NULL, 0, data, len);
}

int berth_stream_end(berth_stream *s) { return berth_stream_post(s, OP_END, 0, NULL, 0, NULL, 0); }

size_t berth_stream_buffered(berth_stream *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->queued + atomic_load_explicit(&s->out_pending, memory_order_relaxed);
    pthread_mutex_unlock(&s->lock);
    return n;
}

int berth_stream_gone(berth_stream *s)
{
    pthread_mutex_lock(&s->lock);
    int gone = s->gone || !s->conn;
    pthread_mutex_unlock(&s->lock);
    return gone;
}

int berth_stream_wait(berth_stream *s, size_t below, unsigned timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    if (!s->gone && s->conn && berth_stream_on_owner(s)) {
        /* Only this thread's loop can drain the buffer: it would wait for
         * itself (forever, or until the timeout). */
        pthread_mutex_unlock(&s->lock);
        return BERTH_ESTATE;
    }
    s->waiters++;
    for (;;) {
        if (s->gone || !s->conn) {
            rc = BERTH_EGONE;
            break;
        }
        if (s->queued + atomic_load(&s->out_pending) <= below)
            break;
        int e = timeout_ms ? pthread_cond_timedwait(&s->drained, &s->lock, &until)
                           : pthread_cond_wait(&s->drained, &s->lock);
        if (e == ETIMEDOUT) {
            rc = BERTH_ETIMEDOUT;
            break;
        }
    }
    s->waiters--;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void berth_stream_on_close(berth_stream *s, berth_stream_fn fn, void *arg)
{
    s->on_close = fn;
    s->on_close_arg = arg;
}

void berth_stream_on_stop(berth_stream *s, berth_stream_fn fn, void *arg)
{
    s->on_stop = fn;
    s->on_stop_arg = arg;
}

int berth_stream_stopping(berth_stream *s) { return atomic_load(&s->stopping); }

berth_timer *berth_stream_timer(berth_stream *s, unsigned delay_ms, unsigned repeat_ms,
                                berth_stream_fn fn, void *arg)
{
    if (!fn || !s->conn || s->gone || !berth_stream_on_owner(s))
        return NULL;
    /* Only the owner adds timers, and its loop recomputes its sleep after
     * every callback, so no wake-up is needed. */
    return berth_timer_add(s->w, &s->timers, s, delay_ms, repeat_ms, fn, arg);
}
