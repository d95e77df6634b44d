/* HTTP/2's limits and defences (docs/HTTP2.md, "Limits and defences"):
 * the session's options and SETTINGS (windows, concurrent streams, header
 * list size, nghttp2's own flood limits set deliberately), berth's budget
 * of frames that make no progress and of streams ended early (floods,
 * rapid reset), and the connection's deadlines: the SETTINGS ACK, a
 * header block left open, idle without streams, a stream's request that
 * stopped coming, a response held by a window the client never opens. */
#include "h2.h"

#include "log.h"

/* SETTINGS_MAX_CONCURRENT_STREAMS: each open stream holds a pool block. */
#define MAX_STREAMS 100
/* Receive windows. A stream's request body may run this far ahead of the
 * handler: bytes are consumed (WINDOW_UPDATE) only once on_body took them
 * or they were stored under max_body. The connection's window bounds what
 * all streams together have in flight. */
#define STREAM_WINDOW (256u * 1024)
#define CONN_WINDOW (1024u * 1024)
/* nghttp2's limits, set here rather than left to its defaults. */
#define MAX_CONTINUATIONS 8  /* CONTINUATION frames after a HEADERS */
#define MAX_OUTBOUND_ACK 100 /* SETTINGS/PING ACKs queued unread */
#define MAX_SETTINGS 32      /* entries in one SETTINGS frame */
#define RESET_BURST 200      /* nghttp2's RST_STREAM token bucket */
#define RESET_RATE 33        /* tokens per second */
/* berth's budget (a token bucket) of frames that make no progress (PING,
 * SETTINGS, PRIORITY, empty DATA or CONTINUATION) and of streams closed
 * before their response was out: a client above it meets GOAWAY
 * ENHANCE_YOUR_CALM. */
#define FLOOD_BURST 200
#define FLOOD_RATE 50 /* tokens per second */

static uint64_t now(const berth_conn *c) { return c->w->clock.now_ms; }

/* Nonzero when n tokens were not there. */
static int spend(berth_conn *c, uint32_t n)
{
    berth_h2 *h = h2_of(c);
    uint64_t t = now(c), earned = (t - h->t_tokens) * FLOOD_RATE / 1000;
    if (earned) {
        h->tokens = h->tokens + earned > FLOOD_BURST ? FLOOD_BURST : h->tokens + (uint32_t)earned;
        h->t_tokens = t;
    }
    if (h->tokens < n)
        return -1;
    h->tokens -= n;
    return 0;
}

static void calm(berth_conn *c, const char *what)
{
    berth_h2 *h = h2_of(c);
    if (h->calmed)
        return;
    h->calmed = 1;
    c->reason = BERTH_REASON_LIMIT;
    berth_logf(c->w->engine->log, "berth: HTTP/2 %s: GOAWAY ENHANCE_YOUR_CALM", what);
    nghttp2_session_terminate_session(h->s, NGHTTP2_ENHANCE_YOUR_CALM);
}

int berth_h2_session_new(berth_conn *c, berth_h2 *h, const nghttp2_session_callbacks *cb,
                         nghttp2_mem *mem)
{
    const berth_engine *e = c->w->engine;
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0)
        return -1;
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_continuations(opt, MAX_CONTINUATIONS);
    nghttp2_option_set_max_outbound_ack(opt, MAX_OUTBOUND_ACK);
    nghttp2_option_set_max_settings(opt, MAX_SETTINGS);
    nghttp2_option_set_stream_reset_rate_limit(opt, RESET_BURST, RESET_RATE);
    int rc = nghttp2_session_server_new3(&h->s, cb, c, opt, mem);
    nghttp2_option_del(opt);
    if (rc != 0)
        return -1;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
        /* HTTP/1's head budget: request line and header section. */
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)(e->max_header_bytes + e->max_request_line)},
    };
    rc = nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
    if (rc == 0)
        rc = nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    if (rc != 0) {
        nghttp2_session_del(h->s);
        h->s = NULL;
        return -1;
    }
    uint64_t t = now(c);
    h->t_settings = h->t_idle = h->t_data = h->t_tokens = t;
    h->tokens = FLOOD_BURST;
    return 0;
}

void berth_h2_guard_frame(berth_conn *c, const nghttp2_frame_hd *hd)
{
    berth_h2 *h = h2_of(c);
    int ack = (hd->flags & NGHTTP2_FLAG_ACK) != 0;
    switch (hd->type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_CONTINUATION:
        /* A header block must end within header_timeout_ms: nothing else
         * may come on the connection until it does. */
        if (hd->flags & NGHTTP2_FLAG_END_HEADERS)
            h->t_headers = 0;
        else if (hd->type == NGHTTP2_HEADERS)
            h->t_headers = now(c);
        if (hd->type == NGHTTP2_HEADERS || hd->length)
            return;
        break; /* an empty CONTINUATION: no progress */
    case NGHTTP2_DATA:
        if (hd->length || (hd->flags & NGHTTP2_FLAG_END_STREAM))
            return;
        break;
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
        if (ack)
            return; /* answers to ours: we send few */
        break;
    case NGHTTP2_PRIORITY:
        break;
    default:
        /* WINDOW_UPDATE comes with downloads; RST_STREAM counts where it
         * ends a stream early (berth_h2_guard_closed) and nghttp2 limits
         * its rate; GOAWAY ends it all. */
        return;
    }
    if (spend(c, 1) != 0)
        calm(c, "flood of frames without progress");
}

void berth_h2_guard_recv(berth_conn *c, const nghttp2_frame *f)
{
    if (f->hd.type == NGHTTP2_SETTINGS && (f->hd.flags & NGHTTP2_FLAG_ACK))
        h2_of(c)->t_settings = 0;
}

void berth_h2_guard_sent(berth_conn *c, const nghttp2_frame *f, h2_stream *st)
{
    if (f->hd.type == NGHTTP2_DATA)
        h2_of(c)->t_data = now(c);
    if (st && (f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS))
        st->t_last = now(c);
}

void berth_h2_guard_closed(berth_conn *c, int early)
{
    berth_h2 *h = h2_of(c);
    if (!h->nstreams)
        h->t_idle = now(c);
    /* A stream that ended before its response was out (the client's
     * RST_STREAM, or one berth reset for its errors) cost a handler's
     * setup for nothing: rapid reset (CVE-2023-44487) and its variants. */
    if (early && !h->freeing && spend(c, 1) != 0)
        calm(c, "streams reset before their response (rapid reset)");
}

/* ---- deadlines ---------------------------------------------------------------- */

/* Whether st's response waits for the client's window (its own or the
 * connection's): nghttp2 holds the DATA until a WINDOW_UPDATE. */
static int window_shut(nghttp2_session *s, const h2_stream *st)
{
    return nghttp2_session_get_stream_remote_window_size(s, st->id) <= 0 ||
           nghttp2_session_get_remote_window_size(s) <= 0;
}

/* st's deadline (UINT64_MAX: none): a request still coming, the body
 * timeout since its last piece; a response held by a shut window, the
 * write timeout since DATA last left (on any stream). */
static uint64_t stream_deadline(const berth_conn *c, const h2_stream *st)
{
    const berth_engine *e = c->w->engine;
    const berth_h2 *h = h2_of(c);
    if (!st->answered)
        return st->ended ? UINT64_MAX : st->t_last + e->body_timeout_ms;
    if (!window_shut(h->s, st))
        return UINT64_MAX;
    return (st->t_last > h->t_data ? st->t_last : h->t_data) + e->write_timeout_ms;
}

uint64_t berth_h2_deadline(const berth_conn *c)
{
    const berth_engine *e = c->w->engine;
    const berth_h2 *h = h2_of(c);
    uint64_t d = UINT64_MAX;
    if (h->t_settings)
        d = h->t_settings + e->header_timeout_ms;
    if (h->t_headers && h->t_headers + e->header_timeout_ms < d)
        d = h->t_headers + e->header_timeout_ms;
    if (!h->nstreams && h->t_idle + e->idle_timeout_ms < d)
        d = h->t_idle + e->idle_timeout_ms;
    for (const h2_stream *st = h->streams; st; st = st->next) {
        uint64_t sd = stream_deadline(c, st);
        if (sd < d)
            d = sd;
    }
    return d;
}

/* The connection ends: GOAWAY with code, then the close. */
static void end_conn(berth_conn *c, uint32_t code, int reason)
{
    if (reason)
        c->reason = reason;
    nghttp2_session_terminate_session(h2_of(c)->s, code);
}

void berth_h2_timeout(berth_conn *c)
{
    const berth_engine *e = c->w->engine;
    berth_h2 *h = h2_of(c);
    uint64_t t = now(c);
    if (h->t_settings && h->t_settings + e->header_timeout_ms <= t) {
        end_conn(c, NGHTTP2_SETTINGS_TIMEOUT, BERTH_REASON_HEADER_TIMEOUT);
    } else if (h->t_headers && h->t_headers + e->header_timeout_ms <= t) {
        end_conn(c, NGHTTP2_NO_ERROR, BERTH_REASON_HEADER_TIMEOUT);
    } else if (!h->nstreams) {
        if (h->t_idle + e->idle_timeout_ms <= t)
            end_conn(c, NGHTTP2_NO_ERROR, 0);
    } else {
        for (h2_stream *st = h->streams; st; st = st->next) {
            if (stream_deadline(c, st) > t)
                continue;
            if (st->answered) {
                /* The client reads nothing: the connection goes, as
                 * HTTP/1's whose output is stuck. */
                end_conn(c, NGHTTP2_NO_ERROR, BERTH_REASON_WRITE_TIMEOUT);
                break;
            }
            berth_h2s_timeout(c, st); /* 408, then RST_STREAM once it is out */
        }
    }
}
