/* HTTP/1 over the connection core (proto.h): the request lifecycle,
 * keep-alive, pipelining, limits, timeouts, the stop, and the hand-over to
 * another protocol at a 101. Bodies are read by http1_body.c, the exchange
 * and berth's own answers are http1_answer.c's, deferred and streamed
 * responses conn_stream.c's. */
#include "http1.h"
#include "stats.h"

#include <stddef.h>
#include <string.h>

#include "budget.h"
#ifdef BERTH_HAVE_NGHTTP2
#include "h2.h"
#endif
#include "middleware.h"
#include "router.h"
#include "serialize.h"

static uint64_t now(const berth_conn *c) { return c->w->clock.now_ms; }

void berth_h1_request_end(berth_conn *c)
{
    struct berth_req *req = h1(c)->req;
    if (!req)
        return;
    berth_h1_body_free(c, req);
    berth_res_release(&req->res);
    berth_pool_put(&c->w->req_pool, req);
    h1(c)->req = NULL;
    c->in_pinned = 0;
    if (c->phase == P_BODY)
        c->phase = P_HEAD;
    h1(c)->head_started = 0;
    berth_head_scan_reset(&h1(c)->scan);
}

/* Answers an error for the request in progress (the error hook sees it),
 * then ends it. */
void berth_h1_request_fail(berth_conn *c, int status)
{
    berth_h1_error(c, status);
    berth_h1_request_end(c);
}

/* 1 if bytes of a further request have been read (not just the empty
 * lines a client may send between requests). */
static int more_input(const berth_conn *c)
{
    for (size_t i = c->in_off; i < c->in_len; i++)
        if (c->in[i] != '\r' && c->in[i] != '\n')
            return 1;
    return 0;
}

/* While the server stops, a response stays keep-alive only if requests
 * already read follow it: every request read is answered, and the last
 * response says Connection: close. */
int berth_conn_drain_keeps_alive(const berth_conn *c) { return !c->draining || more_input(c); }

static void dispatch(berth_conn *c)
{
    struct berth_req *req = h1(c)->req;
    if (req->streaming && req->on_body && req->pieces == 0) {
        /* An empty body: on_body still runs once (0 bytes, the first
         * piece), so that what it sets up exists for every request. */
        int rc = berth_h1_body_deliver(c, req, "", 0);
        if (rc) {
            berth_h1_request_fail(c, rc);
            return;
        }
    }
    if (req->handler) {
        c->dispatching = 1;
        req->handler(req, &req->res, req->user);
        c->dispatching = 0;
    }
    if (c->proto != &berth_h1_proto) {
        /* Handed over (berth_h1_upgrade): the 101 is queued and what
         * follows the head is the next protocol's (the core runs it). */
        berth_h1_exch_end(c, BERTH_DONE_COMPLETED);
        berth_h1_request_end(c);
        return;
    }
    if (req->res.deferred) {
        /* The stream holds what the response needs; the request block (and
         * an emptied input buffer) go back to the pool meanwhile. */
        berth_h1_exch_keep(c, req);
        berth_h1_request_end(c);
        if (c->phase == P_WAIT && c->in_off == c->in_len) {
            c->in_off = c->in_len = 0;
            berth_conn_read_idle(c);
        }
        return;
    }
    int keep_alive = req->keep_alive && !req->res.close && berth_conn_drain_keeps_alive(c);
    berth_h1_response_write(c, req, keep_alive);
    if (!keep_alive)
        h1(c)->no_more = 1;
    berth_h1_exch_end(c, req->rejected ? BERTH_DONE_REJECTED : BERTH_DONE_COMPLETED);
    berth_h1_request_end(c);
    if (c->in_off == c->in_len)
        h1(c)->t_idle = now(c);
}

static void body_complete(berth_conn *c)
{
    struct berth_req *req = h1(c)->req;
    if (!h1(c)->body_in_place && !req->streaming) {
        req->body = req->body_buf;
        /* body_len was counted by body_buf_append */
    }
    c->in_off = h1(c)->body_pos;
    dispatch(c);
}

/* The request is answered without a handler: any body is read and
 * dropped first. */
static void answered(struct berth_req *req)
{
    req->handler = NULL;
    req->streaming = 1;
    req->on_body = NULL;
}

/* Prepares the default answer for an unrouted request (404/405). */
static void route_error(berth_conn *c, struct berth_req *req, int status, const char *allow)
{
    if (status == 405)
        berth_res_header(&req->res, "Allow", allow);
    berth_error_fill(c, req, &req->res, status);
    answered(req);
    req->rejected = 1;
}

/* A complete head of head_len bytes sits at in + in_off. */
static void request_start(berth_conn *c, size_t head_len)
{
    const berth_engine *e = c->w->engine;
    struct berth_req *req = berth_pool_get(&c->w->req_pool);
    if (!req) {
        berth_h1_error(c, 503);
        return;
    }
    /* Cleared field by field, not whole (2.7 KiB; about 340 instructions
     * per request): the route parameters are read only below nparams, and
     * berth_res_init sets every scalar of the response; neither's arrays
     * need zeroing. */
    memset(req, 0, offsetof(struct berth_req, param_names));
    memset(&req->body, 0, offsetof(struct berth_req, res) - offsetof(struct berth_req, body));
    req->exch = &h1(c)->x;
    h1(c)->req = req;
    c->in_pinned = 1; /* its head stays where it was read */
    berth_h1_exch_begin(c);
    req->head.headers = req->headers;
    req->head.max_headers = e->max_header_fields;
    berth_res_init(&req->res, c, &c->w->buf_pool);

    int rc = berth_head_parse(c->in + c->in_off, head_len, &req->head);
    req->head_ok = rc == 0;
    if (!rc)
        rc = berth_req_framing(req);
    if (!rc)
        rc = berth_req_split_target(req);
    if (c->pipe.refusal == BERTH_PIPE_REFUSE_PLAIN_HTTP)
        rc = 400; /* plain HTTP on a TLS port (pipe.h): whatever else is wrong with
                     it (an HTTP/2 preface: 505), never served */
    if (rc) {
        berth_h1_request_fail(c, rc);
        return;
    }
    req->is_head = req->head.method.len == 4 && memcmp(req->head.method.ptr, "HEAD", 4) == 0;

    char allow[128];
    rc = berth_mw_route(e, req, allow, sizeof allow);
    if (rc == 1)
        answered(req); /* a before hook answered it */
    else if (rc)
        route_error(c, req, rc, allow);
    if (!req->max_body)
        req->max_body = e->max_body;

    if (req->body_mode == BERTH_BODY_LENGTH && req->content_length > req->max_body) {
        berth_h1_request_fail(c, 413);
        return;
    }
    h1(c)->head_end = c->in_off + head_len;
    if (req->body_mode == BERTH_BODY_LENGTH && !req->streaming &&
        h1(c)->head_end + req->content_length > e->buf_size) {
        /* A body buffered in memory of its own: the server-wide budget is
         * checked now, before a 100 Continue invites it. */
        const berth_budget *b = e->bodies;
        if (b && req->content_length > b->limit) {
            berth_h1_request_fail(c, 413);
            return;
        }
        if (berth_h1_body_budget(c, req, req->content_length) != 0) {
            berth_h1_request_fail(c, 503);
            return;
        }
    }
    h1(c)->body_pos = h1(c)->head_end;
    if (req->body_mode == BERTH_BODY_NONE) {
        c->in_off = h1(c)->head_end;
        dispatch(c);
        return;
    }
    if (req->expect_continue && !req->handler) {
        /* Final status without reading the body (RFC 9110 10.1.1). */
        req->keep_alive = 0;
        c->in_off = c->in_len;
        dispatch(c);
        return;
    }
    if (req->body_mode == BERTH_BODY_CHUNKED)
        berth_chunked_init(&req->chunked);
    h1(c)->body_in_place = req->body_mode == BERTH_BODY_LENGTH && !req->streaming &&
                       h1(c)->head_end + req->content_length <= e->buf_size;
    c->phase = P_BODY;
    h1(c)->t_phase = now(c);
    if (req->expect_continue && c->in_len == h1(c)->head_end && berth_ser_continue(&c->out) != 0)
        berth_conn_kill(c);
}

/* Skips empty lines (CRLF) before a request line (RFC 9112 2.2). Returns
 * -1 for a bare CR or LF (no line end to berth, see parse.h), 1 if it
 * needs more bytes, 0 otherwise. */
static int skip_empty_lines(berth_conn *c)
{
    while (c->in_off < c->in_len) {
        char ch = c->in[c->in_off];
        if (ch == '\n') {
            return -1;
        } else if (ch == '\r') {
            if (c->in_off + 1 == c->in_len)
                return 1;
            if (c->in[c->in_off + 1] != '\n')
                return -1;
            c->in_off += 2;
        } else {
            return 0;
        }
    }
    return 0;
}

#ifdef BERTH_HAVE_NGHTTP2
/* No request was read on c yet (its exchange has never had a status: every
 * request that ends sets one), its input at the buffer's start. Over TLS
 * too: a client that negotiated h2 by ALPN (tls_ctx.c) starts with the
 * preface. */
static int first_request(const berth_conn *c)
{
    return c->in && c->in_off == 0 && !h1(c)->x.live && h1(c)->x.status == 0 &&
           c->pipe.refusal != BERTH_PIPE_REFUSE_PLAIN_HTTP; /* plain bytes on a TLS port: a 400 */
}
#endif

/* Parses and dispatches every complete request read, until the input runs
 * out, a response is deferred, or the output backlog holds it back. */
static void h1_input(berth_conn *c)
{
    const berth_engine *e = c->w->engine;
    if (h1(c)->x.due)
        berth_h1_exch_end(c, BERTH_DONE_COMPLETED); /* a deferred response ended */
    h1(c)->held = 0;
    for (;;) {
        if (c->phase == P_HEAD) {
            if (h1(c)->no_more)
                break;
            if (berth_conn_backlog(c)) {
                h1(c)->held = 1; /* pump again once the output is written */
                break;
            }
            if (!h1(c)->head_started) {
#ifdef BERTH_HAVE_NGHTTP2
                /* An h2-only listener's connection is HTTP/2's from its
                 * first byte (a bad preface meets nghttp2's GOAWAY); an
                 * HTTP/1-only one never hands over. */
                int pre = -1;
                if (first_request(c))
                    pre = !(c->protos & BERTH_CONN_H1) ? 1
                          : c->protos & BERTH_CONN_H2  ? berth_h2_selected(c)
                                                       : -1;
                if (pre == 0 && !c->peer_eof)
                    break; /* maybe the HTTP/2 preface: wait for the rest */
                if (pre == 1) {
                    /* h2c with prior knowledge: the preface stays in the
                     * input, for the h2 side (the core runs it next). */
                    if (berth_h2_switch(c) != 0)
                        berth_h1_error(c, 503);
                    return;
                }
#endif
                int rc = skip_empty_lines(c);
                if (rc < 0) {
                    berth_h1_error(c, 400);
                    break;
                }
                if (c->in_off == c->in_len || rc > 0)
                    break;
                h1(c)->head_started = 1;
                h1(c)->t_phase = now(c);
            }
            long r = berth_head_scan_run(&h1(c)->scan, c->in + c->in_off, c->in_len - c->in_off,
                                         e->max_request_line, e->max_header_bytes);
            if (r == 0)
                break;
            if (r < 0) {
                berth_h1_error(c, (int)-r);
                break;
            }
            request_start(c, (size_t)r);
        } else if (c->phase == P_BODY) {
            int rc = berth_h1_body_step(c);
            if (rc == 0) {
                h1(c)->t_phase = now(c);
                break;
            }
            if (rc == 1)
                body_complete(c);
            else
                berth_h1_request_fail(c, rc);
        } else {
            break;
        }
    }
    /* After the peer's EOF, answer what is complete, then stop. */
    if (c->peer_eof && c->phase == P_HEAD && !h1(c)->no_more && !h1(c)->held) {
        if (c->in && c->in_off < c->in_len)
            berth_h1_error(c, 400); /* a truncated head */
        h1(c)->no_more = 1;
    }
    /* Between requests, move a partial head to the buffer's start. */
    if (c->phase == P_HEAD && c->in) {
        if (c->in_off == c->in_len) {
            c->in_off = c->in_len = 0;
            if (!h1(c)->head_started) {
                berth_pool_put(&c->w->buf_pool, c->in);
                c->in = NULL;
            }
        } else if (c->in_off > 0) {
            memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
            c->in_len -= c->in_off;
            c->in_off = 0;
        }
    }
}

/* While the server stops, a connection between requests gets
 * stop_grace_ms from its last activity to send one more request (answered
 * with Connection: close): a client whose next request is already on its
 * way is answered rather than cut off. Connections idle for longer close at
 * once, lingering (SHUTDOWN) so a request racing the close causes no reset. */
static int drain_idle(const berth_conn *c)
{
    return c->draining && c->phase == P_HEAD && !h1(c)->head_started && !h1(c)->req && !h1(c)->no_more &&
           c->out.pending == 0 && !more_input(c);
}

static uint64_t drain_idle_deadline(const berth_conn *c)
{
    uint64_t since = h1(c)->t_idle > c->out.t_write ? h1(c)->t_idle : c->out.t_write;
    return since + c->w->engine->stop_grace_ms;
}


/* ---- HTTP/1 as a protocol (proto.h) --------------------------------------- */

static int h1_peer_closed(berth_conn *c)
{
    if (c->phase != P_BODY && c->phase != P_WAIT)
        return 0; /* answer what is complete (h1_input), then close */
    /* The client went away before its response: nobody to answer. (A
     * deferred response hears of it once its stream has, when the
     * connection is freed.) */
    if (c->phase == P_BODY)
        berth_h1_exch_end(c, BERTH_DONE_ABORTED);
    berth_h1_request_end(c);
    berth_conn_kill(c);
    return 1;
}

/* Between requests, input waits while nothing more is answered or the
 * output backlog holds it back; a body or a deferred response reads on. */
static int h1_input_held(const berth_conn *c)
{
    return c->phase == P_HEAD && (h1(c)->no_more || berth_conn_backlog(c));
}

static int h1_has_pending(const berth_conn *c)
{
    return (h1(c)->held && c->phase == P_HEAD && !berth_conn_backlog(c)) || h1(c)->x.due;
}

static int h1_finished(const berth_conn *c) { return c->phase == P_HEAD && h1(c)->no_more && !h1(c)->req; }

static uint64_t h1_deadline(const berth_conn *c)
{
    const berth_engine *e = c->w->engine;
    if (c->phase == P_WAIT)
        return UINT64_MAX; /* a stream may be quiet for long */
    if (c->phase == P_BODY)
        return h1(c)->t_phase + e->body_timeout_ms;
    if (h1(c)->head_started)
        return h1(c)->t_phase + e->header_timeout_ms;
    uint64_t idle = h1(c)->t_idle + e->idle_timeout_ms;
    if (drain_idle(c)) {
        uint64_t grace = drain_idle_deadline(c);
        return grace < idle ? grace : idle;
    }
    return idle;
}

static void h1_timeout(berth_conn *c)
{
    if (c->phase == P_BODY || h1(c)->head_started) {
        h1(c)->x.reason = c->phase == P_BODY ? BERTH_REASON_BODY_TIMEOUT : BERTH_REASON_HEADER_TIMEOUT;
        berth_h1_request_fail(c, 408);
        berth_conn_settle(c);
        return;
    }
    if (drain_idle(c)) {
        h1(c)->no_more = 1; /* the stop's grace is over: close, lingering */
        berth_conn_settle(c);
        return;
    }
    c->phase = P_CLOSED; /* idle keep-alive connection */
}

static void h1_drain(berth_conn *c)
{
    if (drain_idle(c) && now(c) >= drain_idle_deadline(c)) {
        h1(c)->no_more = 1;
        berth_conn_settle(c);
    }
    /* Last: the handler's on_stop may end its stream, which goes on with
     * the requests that follow. */
    if (c->stream)
        berth_stream_stop(c->stream);
}

void berth_h1_touch(berth_conn *c)
{
    if (c->proto == &berth_h1_proto)
        h1(c)->t_idle = now(c);
}

static void h1_free(berth_conn *c)
{
    /* The mailbox first: a deferred response's on_close, then the
     * exchange's callbacks. */
    berth_conn_mailbox_close(c);
    if (h1(c)->x.due)
        berth_h1_exch_end(c, BERTH_DONE_COMPLETED);
    else
        berth_h1_exch_end(c, c->draining && !c->peer_eof ? BERTH_DONE_STOPPED : BERTH_DONE_ABORTED);
    berth_h1_request_end(c);
}

const berth_proto berth_h1_proto = {
    "http/1.1",   NULL,        h1_input, h1_peer_closed, h1_input_held, h1_has_pending,
    h1_finished,  h1_deadline, h1_timeout, h1_drain,     h1_free,
    NULL,         NULL,        NULL, /* one mailbox: c->stream (conn_stream.c) */
    BERTH_CP_H1,
};

berth_conn *berth_conn_new(berth_worker *w, unsigned flags)
{
    berth_conn *c = berth_conn_make(w, &berth_h1_proto, sizeof(berth_h1));
    if (!c)
        return NULL;
    c->phase = P_HEAD;
    h1(c)->t_idle = now(c);
    c->protos = (unsigned char)(flags & BERTH_CONN_PROTOS ? flags & BERTH_CONN_PROTOS
                                                          : BERTH_CONN_PROTOS);
    if (flags & BERTH_CONN_REFUSE) {
        berth_stat_add(&w->stats->refused, 1);
        berth_h1_error(c, 503); /* over the connection cap: say so, read nothing */
    }
    return c;
}

int berth_h1_upgrade(berth_conn *c, struct berth_req *req, const berth_proto *to, void *state)
{
    berth_head_out h = {101,  req->res.hdr, req->res.hdr_len, NULL, 0, BERTH_FRAME_UPGRADE,
                        0,    1,            req->res.omit};
    if (berth_ser_head(&c->out, &h) != 0)
        return -1;
    h1(c)->x.status = 101;
    berth_conn_switch(c, to, state);
    return 0;
}
