/* The connection core: what a connection is whatever its protocol. The
 * engine's side of the pipe (pipe.h), the input buffer, the output queue,
 * the mailbox other threads post to (a berth_stream: a deferred response's
 * or a WebSocket's), the lingering close and the write deadline. What the
 * bytes mean is the protocol's (proto.h), reached only through its table:
 * HTTP/1 first (http1_conn.c), then whichever it hands the connection to. */
#include "conn_impl.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stats.h"

static uint64_t now(const berth_conn *c) { return c->w->clock.now_ms; }

/* Ends the connection now. A stream in progress is marked gone (its
 * calls answer -1 from now on); it is detached, and its on_close run, when
 * the backend frees the connection: never inside the berth call (a write
 * from a timer, say) that found the connection dead. */
void berth_conn_kill(berth_conn *c)
{
    int was_closed = c->phase == P_CLOSED;
    c->phase = P_CLOSED;
    if (c->stream)
        berth_stream_mark_gone(c->stream);
    /* Killed outside a drive (a stream operation on the owner thread that
     * ran out of memory), it must still be driven to be closed: its
     * backend's sweep asks only connections due (backends/deadlines.h).
     * Once only: a backend whose close completes later (libuv's uv_close)
     * drives a closed connection again from its wake list, its queued
     * output fails again on the reset socket and kills it again; queued
     * again each time, its worker looped there for ever (a TSan run of
     * test_hostile's random resets: the server never stopped). */
    if (!was_closed)
        berth_worker_notify(c->w, c);
}

void berth_conn_abort(berth_conn *c)
{
    /* A layer above that failed says so (TLS); else the socket did. */
    if (!c->reason)
        c->reason = c->pipe.abort_reason ? c->pipe.abort_reason : BERTH_REASON_CLIENT_RESET;
    berth_conn_kill(c);
}

/* Waiting for its application: a mailbox is open (a deferred response, a
 * WebSocket) on a connection that is not closing. */
int berth_conn_waiting(const berth_conn *c)
{
    return (c->stream || (c->proto->awaits_app && c->proto->awaits_app(c))) &&
           c->phase != P_LINGER && c->phase != P_CLOSED;
}

/* ---- the protocol ---------------------------------------------------------- */

static const berth_pipe_ops engine_pipe_ops;

berth_conn *berth_conn_make(berth_worker *w, const berth_proto *proto, size_t area_size)
{
    berth_conn *c = calloc(1, sizeof *c + area_size);
    if (!c)
        return NULL;
    c->pipe.ops = &engine_pipe_ops;
    c->w = w;
    c->proto = proto;
    berth_outq_init(&c->out, &w->buf_pool, &w->clock);
    berth_stat_add(&w->stats->accepted, 1);
    berth_stat_add(&w->stats->opened[proto->metric], 1);
    return c;
}

void berth_conn_switch(berth_conn *c, const berth_proto *to, void *state)
{
    berth_stat_add(&c->w->stats->closed[c->proto->metric], 1);
    berth_stat_add(&c->w->stats->opened[to->metric], 1);
    c->proto = to;
    c->proto_state = state;
    if (to->start)
        to->start(c);
}

/* Runs the protocol on the input, and the next one on what is left after
 * a hand-over. Never re-entered: not from a handler, nor from output
 * written inside the processing. */
static void process(berth_conn *c)
{
    if (c->busy || c->dispatching)
        return;
    c->busy = 1;
    const berth_proto *p;
    do {
        p = c->proto;
        p->input(c);
    } while (c->proto != p);
    c->busy = 0;
}

/* The lingering close: once the protocol is finished (its last response,
 * or a WebSocket's close frame, written), the write side is shut and input
 * is read and dropped until the client closes, linger_ms pass without
 * input, or linger_time_ms pass in all (engine.c). Closing with unread
 * input would make the kernel send a reset, which may destroy what berth
 * wrote before the client read it: a 413 or 400 to a client still sending
 * its body, the 1009 to a WebSocket client still sending the message it
 * refused (issue 20). No count of bytes ends it: a client sending its body
 * at full speed would reach any fixed count (the 1 MiB of before) and get
 * the reset, and the drive loop's turn (backends/drive.h) already bounds
 * what one connection takes of its thread. */
void berth_conn_settle(berth_conn *c)
{
    if (c->out.pending || c->phase == P_LINGER || c->phase == P_CLOSED || !c->proto->finished(c))
        return;
    if (c->peer_eof) {
        c->phase = P_CLOSED;
    } else {
        c->phase = P_LINGER;
        c->t_linger = c->t_linger_read = now(c);
    }
}

void berth_conn_linger_input(berth_conn *c)
{
    if (c->phase == P_LINGER)
        c->t_linger_read = now(c);
}

/* ---- the mailbox ----------------------------------------------------------- */

void berth_conn_notify(berth_conn *c) { berth_worker_notify(c->w, c); }

/* New output from an operation applied on the owner thread: written at
 * once where handlers may block (fast), else by the loop once the current
 * callback returns. */
void berth_conn_output(berth_conn *c)
{
    if (!berth_conn_flush(c))
        berth_worker_notify(c->w, c);
}

/* An operation could not be applied (out of memory): the response can no
 * longer be the one the application made, and none of it may look
 * complete. The connection closes: what was queued before goes out (a
 * body cut short of its length or its last chunk), and the stream answers
 * -1 from now on. */
void berth_conn_mailbox_fail(berth_conn *c)
{
    berth_logf(c->w->engine->log, "berth: out of memory: a deferred response or WebSocket send "
               "could not be completed; its connection is closed");
    berth_conn_kill(c);
}

void berth_conn_apply_streams(berth_conn *c)
{
    berth_stream *s = c->stream;
    if (!s) {
        if (c->proto->apply_streams)
            c->proto->apply_streams(c); /* a handle per HTTP/2 stream */
        return;
    }
    int failed;
    stream_op *op = berth_stream_take(s, &failed);
    if (failed && c->phase != P_CLOSED)
        berth_conn_mailbox_fail(c); /* an operation of another thread's was lost */
    while (op) {
        stream_op *next = op->next;
        s->sink->apply(s, c, op->kind, op->status, op->data, op->split, op->data + op->split,
                       op->len - op->split); /* nothing after a failure: c is closed */
        if (berth_stream_op_counted(op->kind))
            berth_stream_consumed(s, op->len - op->split); /* writes keep s alive */
        free(op);
        op = next;
    }
}

void berth_conn_mailbox_close(berth_conn *c)
{
    /* Detach the stream first: once it no longer points at c, no other
     * thread can put c on the wake list again, so the removal below is
     * final (the other order leaves a window for a use after free). */
    if (c->stream) {
        berth_stream *s = c->stream;
        c->stream = NULL;
        berth_stream_detach(s, 1);
    }
    berth_worker_forget(c->w, c);
}

/* ---- the pipe -------------------------------------------------------------- */

berth_pipe *berth_conn_pipe(berth_conn *c) { return &c->pipe; }

char *berth_conn_read_buf(berth_conn *c, size_t *cap)
{
    size_t bs = c->w->buf_pool.block_size;
    if (c->phase == P_CLOSED || c->peer_eof)
        return NULL;
    if (c->phase != P_LINGER && c->proto->input_held(c))
        return NULL;
    if (!c->in) {
        c->in = berth_pool_get(&c->w->buf_pool);
        if (!c->in)
            return NULL;
        c->in_len = c->in_off = 0;
    }
    if (c->phase == P_LINGER) {
        *cap = bs;
        return c->in; /* dropped */
    }
    if (c->in_len >= bs)
        return NULL;
    *cap = bs - c->in_len;
    return c->in + c->in_len;
}

int berth_conn_wants_input(const berth_conn *c)
{
    if (c->phase == P_CLOSED || c->peer_eof)
        return 0;
    if (c->phase != P_LINGER && c->proto->input_held(c))
        return 0;
    return !c->in || c->phase == P_LINGER || c->in_len < c->w->buf_pool.block_size;
}

void berth_conn_read_idle(berth_conn *c)
{
    if (c->in && c->in_len == 0 && !c->in_pinned) {
        berth_pool_put(&c->w->buf_pool, c->in);
        c->in = NULL;
    }
}

void berth_conn_read_done(berth_conn *c, size_t n)
{
    berth_stat_add(&c->w->stats->bytes_in, n);
    c->w->last_us = berth_clock_precise_us(); /* when these bytes came (exch.h's begin) */
    if (c->phase == P_CLOSED)
        return;
    if (c->phase == P_LINGER) {
        if (n == 0)
            c->phase = P_CLOSED;
        c->t_linger_read = now(c);
        return;
    }
    if (n == 0) {
        c->peer_eof = 1;
        if (c->proto->peer_closed(c))
            return;
    } else {
        c->in_len += n;
    }
    process(c);
    berth_conn_settle(c);
}

int berth_conn_has_pending(const berth_conn *c) { return c->proto->has_pending(c); }

void berth_conn_pump(berth_conn *c)
{
    process(c);
    berth_conn_settle(c);
}

int berth_conn_out_segs(const berth_conn *c, berth_seg *segs, int max)
{
    return berth_outq_segs(&c->out, segs, max);
}

uint64_t berth_conn_out_pending(const berth_conn *c) { return c->out.pending; }

void berth_conn_out_done(berth_conn *c, size_t n)
{
    berth_stat_add(&c->w->stats->bytes_out, n);
    berth_outq_done(&c->out, n);
    if (c->stream)
        berth_stream_set_pending(c->stream, (size_t)c->out.pending);
    berth_conn_settle(c);
}

int berth_conn_state(const berth_conn *c)
{
    if (c->phase == P_CLOSED)
        return BERTH_PIPE_CLOSED;
    if (c->phase == P_LINGER)
        return BERTH_PIPE_SHUTDOWN;
    return BERTH_PIPE_OPEN;
}

uint64_t berth_conn_deadline(const berth_conn *c)
{
    const berth_engine *e = c->w->engine;
    if (c->phase == P_LINGER) {
        uint64_t gap = c->t_linger_read + e->linger_ms, all = c->t_linger + e->linger_time_ms;
        return gap < all ? gap : all;
    }
    if (c->out.pending)
        return c->out.t_write + e->write_timeout_ms;
    return c->proto->deadline(c);
}

void berth_conn_on_timeout(berth_conn *c)
{
    if (c->phase == P_LINGER || c->out.pending) {
        c->reason = BERTH_REASON_WRITE_TIMEOUT; /* the client reads nothing */
        berth_conn_kill(c);
        return;
    }
    c->proto->timeout(c);
}

void berth_conn_drain(berth_conn *c)
{
    if (c->draining || c->phase == P_CLOSED)
        return;
    c->draining = 1;
    c->proto->drain(c);
}

void berth_conn_free(berth_conn *c)
{
    if (!c)
        return;
    c->proto->free(c); /* callbacks owed first, while their handles are whole */
    berth_stat_add(&c->w->stats->closed[c->proto->metric], 1);
    berth_conn_mailbox_close(c);
    free(c->tls);
    berth_outq_clear(&c->out);
    berth_pool_put(&c->w->buf_pool, c->in);
    free(c);
}

void *berth_conn_transport(const berth_conn *c) { return c->transport; }
void berth_conn_set_transport(berth_conn *c, void *transport) { c->transport = transport; }

/* The engine as a pipe. */
static int p_wants_input(berth_pipe *p) { return berth_conn_wants_input((berth_conn *)p); }
static char *p_read_buf(berth_pipe *p, size_t *cap) { return berth_conn_read_buf((berth_conn *)p, cap); }
static void p_read_done(berth_pipe *p, size_t n) { berth_conn_read_done((berth_conn *)p, n); }
static void p_read_idle(berth_pipe *p) { berth_conn_read_idle((berth_conn *)p); }
static int p_has_pending(berth_pipe *p) { return berth_conn_has_pending((berth_conn *)p); }
static void p_pump(berth_pipe *p) { berth_conn_pump((berth_conn *)p); }
static int p_out_segs(berth_pipe *p, berth_seg *s, int max) { return berth_conn_out_segs((berth_conn *)p, s, max); }
static void p_out_done(berth_pipe *p, size_t n) { berth_conn_out_done((berth_conn *)p, n); }
static int p_state(berth_pipe *p) { return berth_conn_state((berth_conn *)p); }
static uint64_t p_deadline(berth_pipe *p) { return berth_conn_deadline((berth_conn *)p); }
static void p_on_timeout(berth_pipe *p) { berth_conn_on_timeout((berth_conn *)p); }
static void p_drain(berth_pipe *p) { berth_conn_drain((berth_conn *)p); }
static void p_abort(berth_pipe *p) { berth_conn_abort((berth_conn *)p); }
static void p_free(berth_pipe *p) { berth_conn_free((berth_conn *)p); }
static int p_awaits_app(berth_pipe *p) { return berth_conn_waiting((berth_conn *)p); }

static const berth_pipe_ops engine_pipe_ops = {
    p_wants_input, p_read_buf, p_read_done, p_read_idle, p_has_pending, p_pump, p_out_segs, p_out_done,
    p_state, p_deadline, p_on_timeout, p_drain, p_abort, p_free,
    NULL, NULL, /* the engine hands nothing to the kernel */
    .awaits_app = p_awaits_app,
};
