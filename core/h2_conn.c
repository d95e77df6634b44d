/* HTTP/2 over the connection core (proto.h): the nghttp2 server session,
 * its callbacks, input through nghttp2_session_mem_recv and output copied
 * into the connection's output queue by the send callback, the protocol's
 * table, and the hand-over from HTTP/1 at the client preface
 * (docs/HTTP2.md). What a stream is belongs to h2_stream.c. */
#include "h2.h"
#include "stats.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof preface - 1)

static uint64_t now(const berth_conn *c) { return c->w->clock.now_ms; }

int berth_h2_preface(const char *p, size_t n)
{
    size_t k = n < PREFACE_LEN ? n : PREFACE_LEN;
    if (memcmp(p, preface, k) != 0)
        return -1;
    return n >= PREFACE_LEN ? 1 : 0;
}

/* Over TLS, ALPN alone decides (RFC 9113 3.2, RFC 7301): a connection that
 * negotiated h2 is HTTP/2's whatever its first bytes, and one that did not
 * (http/1.1, or no ALPN at all) stays HTTP/1 even if it sends the preface,
 * which HTTP/1 answers 505 (HTTP/2.0 is not its version). On plaintext the
 * preface is the client's prior knowledge (3.3). (An h2-only listener's
 * connections do not ask: http1_conn.c hands them over at once.) */
int berth_h2_selected(const berth_conn *c)
{
    if (c->tls)
        return berth_conn_alpn_h2(c) ? 1 : -1;
    return berth_h2_preface(c->in, c->in_len);
}

/* ---- the session's callbacks ------------------------------------------- */

/* Frames leave through the output queue (copied); above the high water
 * nghttp2 keeps them until the output drained (has_pending pumps). */
static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *user)
{
    (void)s, (void)flags;
    berth_conn *c = user;
    if (berth_conn_backlog(c))
        return NGHTTP2_ERR_WOULDBLOCK;
    if (berth_outq_append(&c->out, data, len) != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)len;
}

static h2_stream *stream_of(nghttp2_session *s, int32_t id)
{
    return nghttp2_session_get_stream_user_data(s, id);
}

/* A HEADERS frame naming a stream below the highest the client opened,
 * one it skipped (idle, so closed by the later one's opening), is a
 * connection error of type PROTOCOL_ERROR (RFC 9113 5.1.1). nghttp2 ignores
 * such frames, as it cannot tell a skipped stream from one it forgot: berth
 * remembers which of the last 64 odd ids were named and says so for those. */
static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *user)
{
    berth_h2 *h = h2_of(user);
    int32_t id = hd->stream_id;
    berth_h2_guard_frame(user, hd);
    if (hd->type != NGHTTP2_HEADERS || !(id & 1))
        return 0;
    if (id > h->max_id) {
        uint32_t shift = (uint32_t)(id - h->max_id) / 2;
        h->used = (shift >= 64 ? 0 : h->used << shift) | 1;
        h->max_id = id;
    } else if ((uint32_t)(h->max_id - id) / 2 < 64 &&
               !(h->used & (1ull << ((uint32_t)(h->max_id - id) / 2)))) {
        nghttp2_session_terminate_session(s, NGHTTP2_PROTOCOL_ERROR);
    }
    return 0;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    berth_conn *c = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    h2_stream *st = berth_h2s_open(c, f->hd.stream_id);
    if (!st) {
        /* No memory for it: refused, the client may retry (RFC 9113 8.7). */
        berth_logf(c->w->engine->log, "berth: out of memory: an HTTP/2 stream was refused");
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st);
    st->t_last = now(c);
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
    (void)flags;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers: not kept (the API has none) */
    h2_stream *st = stream_of(s, f->hd.stream_id);
    if (st)
        berth_h2s_header(user, st, name, nlen, value, vlen);
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    berth_conn *c = user;
    berth_h2_guard_recv(c, f);
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
        return 0;
    h2_stream *st = stream_of(s, f->hd.stream_id);
    if (!st)
        return 0;
    int end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
        berth_h2s_head_done(c, st, end);
    if (end)
        berth_h2s_request_done(c, st);
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *user)
{
    (void)flags;
    berth_conn *c = user;
    h2_stream *st = stream_of(s, id);
    if (st) {
        st->t_last = now(c);
        berth_h2s_data(c, st, data, len);
    }
    /* Automatic WINDOW_UPDATE is off (h2_limits.c): the windows open
     * again only now that on_body took the bytes or they were stored.
     * Bytes dropped (a stream answered already, or refused) give back the
     * connection's window, for the other streams, not the stream's: the
     * client cannot go on pushing a body nobody reads. */
    int rc = st && !st->answered ? nghttp2_session_consume(s, id, len)
                                 : nghttp2_session_consume_connection(s, len);
    return rc == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* A response sent whole before its request ended (an error answered
 * early, a 413): the client is asked to stop sending, without error (RFC
 * 9113 8.1), once the response's last frame is out (a reset before it
 * would be sent ahead of the response's DATA). */
static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    berth_h2_guard_sent(user, f, f->hd.stream_id ? stream_of(s, f->hd.stream_id) : NULL);
    if ((f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS) ||
        !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    h2_stream *st = stream_of(s, f->hd.stream_id);
    if (st)
        st->end_sent = 1; /* the whole response is out: completed (h2_stream.c) */
    if (st && st->answered && !st->ended)
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
    return 0;
}

/* A deferred response's handle first (its on_close), then the exchange
 * (on_done) and the stream's memory. */
static void stream_closed(berth_conn *c, h2_stream *st, uint32_t error_code)
{
    if (st->hs)
        berth_h2o_close(c, st);
    berth_h2s_close(c, st, error_code);
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *user)
{
    berth_conn *c = user;
    if (h2_of(c)->freeing)
        return 0;
    h2_stream *st = stream_of(s, id);
    if (st) {
        int early = !(st->answered && error_code == NGHTTP2_NO_ERROR);
        stream_closed(c, st, error_code);
        berth_h2_guard_closed(c, early);
    }
    return 0;
}

/* ---- input and output ---------------------------------------------------- */

/* Everything nghttp2 has to send, into the output queue (up to the high
 * water). A failure there closes the connection. */
static void flush(berth_conn *c)
{
    if (c->phase == P_CLOSED || berth_conn_backlog(c))
        return;
    if (nghttp2_session_send(h2_of(c)->s) != 0)
        berth_conn_kill(c);
}

static void h2_input(berth_conn *c)
{
    berth_h2 *h = h2_of(c);
    if (c->in && c->in_off < c->in_len) {
        ssize_t n = nghttp2_session_mem_recv(h->s, (const uint8_t *)c->in + c->in_off,
                                             c->in_len - c->in_off);
        if (n < 0) {
            /* Fatal (a bad preface, out of memory, a flood nghttp2 counts
             * itself: CONTINUATION frames, ACKs left unread): nghttp2
             * queued a GOAWAY where it could; it goes out, then the close. */
            c->in_off = c->in_len;
            int flood = n == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS || n == NGHTTP2_ERR_FLOODED;
            if (flood)
                c->reason = BERTH_REASON_LIMIT;
            nghttp2_session_terminate_session(h->s, flood ? NGHTTP2_ENHANCE_YOUR_CALM
                                                          : NGHTTP2_PROTOCOL_ERROR);
        } else {
            c->in_off += (size_t)n;
        }
        if (c->in_off == c->in_len) {
            c->in_off = c->in_len = 0;
            berth_conn_read_idle(c); /* nothing points into it: back to the pool */
        }
    }
    flush(c);
}

/* ---- the protocol ------------------------------------------------------- */

static void h2_start(berth_conn *c)
{
    c->phase = P_HEAD; /* the core's phases only matter for P_LINGER / P_CLOSED */
    c->in_pinned = 0;
}

/* The client went away: nobody to answer. */
static int h2_peer_closed(berth_conn *c)
{
    berth_conn_kill(c);
    return 1;
}

static int h2_input_held(const berth_conn *c) { return berth_conn_backlog(c); }

static int h2_has_pending(const berth_conn *c)
{
    return !berth_conn_backlog(c) && nghttp2_session_want_write(h2_of(c)->s);
}

static int h2_finished(const berth_conn *c)
{
    nghttp2_session *s = h2_of(c)->s;
    return !nghttp2_session_want_read(s) && !nghttp2_session_want_write(s);
}

/* A deadline passed (h2_limits.c says which and acts): what it queued goes
 * out; a connection nghttp2 is done with closes. */
static void h2_timeout(berth_conn *c)
{
    berth_h2_timeout(c);
    flush(c);
    berth_conn_settle(c);
    if (c->phase != P_LINGER && !c->out.pending && h2_finished(c))
        c->phase = P_CLOSED;
}

/* The stop: GOAWAY with the last stream id; the streams begun finish. */
static void h2_drain(berth_conn *c)
{
    nghttp2_session *s = h2_of(c)->s;
    nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(s),
                          NGHTTP2_NO_ERROR, NULL, 0);
    flush(c);
    berth_conn_settle(c);
    berth_h2o_stop(c); /* last: on_stop may end a deferred response */
}

static void h2_free(berth_conn *c)
{
    berth_h2 *h = h2_of(c);
    if (!h)
        return;
    h->freeing = 1;
    nghttp2_session_del(h->s);
    while (h->streams)
        stream_closed(c, h->streams, NGHTTP2_CANCEL);
    c->proto_state = NULL;
    free(h);
}

const berth_proto berth_h2_proto = {
    "h2",        h2_start,    h2_input,   h2_peer_closed, h2_input_held, h2_has_pending,
    h2_finished, berth_h2_deadline, h2_timeout, h2_drain,     h2_free,
    berth_h2o_defer, berth_h2o_apply_streams, berth_h2o_awaits_app,
    BERTH_CP_H2,
};

/* nghttp2 allocates through berth's own calls: one allocator for the
 * whole library, so a refused allocation inside nghttp2 is one the
 * failure-path tests (tests/fail) can refuse too. */
static void *mem_malloc(size_t n, void *u) { (void)u; return malloc(n); }
static void mem_free(void *p, void *u) { (void)u; free(p); }
static void *mem_calloc(size_t k, size_t n, void *u) { (void)u; return calloc(k, n); }
static void *mem_realloc(void *p, size_t n, void *u) { (void)u; return realloc(p, n); }
static nghttp2_mem mem = {NULL, mem_malloc, mem_free, mem_calloc, mem_realloc};

int berth_h2_switch(berth_conn *c)
{
    berth_h2 *h = calloc(1, sizeof *h);
    nghttp2_session_callbacks *cb = NULL;
    if (!h || nghttp2_session_callbacks_new(&cb) != 0) {
        free(h);
        return -1;
    }
    nghttp2_session_callbacks_set_send_callback(cb, on_send);
    nghttp2_session_callbacks_set_send_data_callback(cb, berth_h2o_send_data);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
    int rc = berth_h2_session_new(c, h, cb, &mem);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0) {
        free(h);
        return -1;
    }
    berth_conn_switch(c, &berth_h2_proto, h);
    return 0;
}
