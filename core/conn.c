/* The connection engine: request lifecycle, keep-alive, pipelining,
 * limits, errors, the stop, and the engine's side of the pipe (pipe.h).
 * Responses are written by serialize.c into the output queue (outq.c);
 * deferred and streamed responses live in conn_stream.c. */
#include "conn_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "abi.h"
#include "budget.h"
#include "compress.h"
#include "log.h"
#include "router.h"
#include "serialize.h"
#include "ws.h"

static void process(berth_conn *c);
static void response_write(berth_conn *c, struct berth_req *req, int keep_alive);

static uint64_t now(const berth_conn *c) { return c->w->clock.now_ms; }

/* Too much output is waiting: parse no further request until it drains. */
static int backlog(const berth_conn *c) { return c->out.pending > c->w->engine->out_high_water; }
int berth_conn_backlog(const berth_conn *c) { return backlog(c); }

/* Ends the connection now. A stream in progress is marked gone (its
 * calls answer -1 from now on); it is detached, and its on_close run, when
 * the backend frees the connection: never inside the berth call (a write
 * from a timer, say) that found the connection dead. */
void berth_conn_kill(berth_conn *c)
{
    c->phase = P_CLOSED;
    if (c->stream)
        berth_stream_mark_gone(c->stream);
    /* Killed outside a drive (a stream operation on the owner thread that
     * ran out of memory), it must still be driven to be closed: its
     * backend's sweep asks only connections due (backends/deadlines.h). */
    berth_worker_notify(c->w, c);
}

void berth_conn_abort(berth_conn *c)
{
    /* A layer above that failed says so (TLS); else the socket did. */
    if (!c->x.reason)
        c->x.reason = c->pipe.abort_reason ? c->pipe.abort_reason : BERTH_REASON_CLIENT_RESET;
    berth_conn_kill(c);
}

int berth_conn_waiting(const berth_conn *c) { return c->phase == P_WAIT || c->phase == P_WS; }

/* ---- the request's lifetime (berth_exch) -------------------------------- */

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void exch_begin(berth_conn *c)
{
    berth_exch *x = &c->x;
    x->live = 1;
    x->due = 0;
    x->status = 0;
    x->fn = NULL;
    x->data = NULL;
    x->bytes = 0;
    x->t0_us = c->w->engine->after ? now_us() : 0;
}

/* A deferred response outlives its request's memory: what the callbacks
 * will be told is copied (only when one is set). */
static void exch_keep(berth_conn *c, const struct berth_req *req)
{
    berth_exch *x = &c->x;
    if (!x->live || !(x->fn || c->w->engine->after) || !req->head_ok)
        return;
    x->minor = req->head.minor;
    x->body_received = req->body_received;
    x->kept = berth_req_keep(&req->head);
}

/* Why a request that did not complete ended (berth_done.reason). */
static int exch_reason(const berth_conn *c, int outcome)
{
    if (outcome == BERTH_DONE_COMPLETED)
        return BERTH_REASON_NONE;
    if (outcome == BERTH_DONE_STOPPED)
        return BERTH_REASON_STOP;
    if (c->x.reason)
        return c->x.reason; /* a timeout, on_body's refusal, a TLS failure */
    if (outcome == BERTH_DONE_ABORTED)
        return c->peer_eof ? BERTH_REASON_CLIENT_CLOSED : BERTH_REASON_CLIENT_RESET;
    switch (c->x.status) {
    case 404: case 405: return BERTH_REASON_NO_ROUTE;
    case 408: return BERTH_REASON_HEADER_TIMEOUT;
    case 413: case 414: case 431: case 503: return BERTH_REASON_LIMIT;
    case 500: return BERTH_REASON_INTERNAL;
    default: return BERTH_REASON_BAD_REQUEST;
    }
}

/* The request is over: its callbacks run, once. */
static void exch_end(berth_conn *c, int outcome)
{
    berth_exch *x = &c->x;
    if (!x->live)
        return;
    x->live = x->due = 0;
    const berth_engine *e = c->w->engine;
    if (x->fn || e->after) {
        berth_done d;
        struct berth_done_priv priv = {NULL, 0, x->res_hdr, x->res_hdr_len};
        memset(&d, 0, sizeof d);
        d.size = sizeof d;
        d.priv = &priv;
        d.reason = exch_reason(c, outcome);
        d.outcome = outcome;
        d.status = x->status;
        d.bytes_sent = x->bytes;
        d.data = x->data;
        d.tls = c->tls != NULL;
        d.method.ptr = d.target.ptr = "";
        const struct berth_req *req = c->req;
        if (req && req->head_ok) {
            d.method = req->head.method;
            d.target = req->head.target;
            d.version_minor = req->head.minor;
            d.body_received = req->body_received;
            priv.req = req->head.headers;
            priv.nreq = req->head.nheaders;
        } else if (x->kept) {
            d.method = x->kept->method;
            d.target = x->kept->target;
            d.version_minor = x->minor;
            d.body_received = x->body_received;
            priv.req = x->kept->headers;
            priv.nreq = x->kept->nheaders;
        }
        if (req && !x->res_hdr) {
            priv.res = req->res.hdr;
            priv.res_len = req->res.hdr_len;
        }
        berth_addr peer;
        d.peer = berth_caddr_get(&c->peer, &peer) ? &peer : NULL;
        d.duration_us = x->t0_us ? now_us() - x->t0_us : 0;
        berth_done_fn fn = x->fn;
        x->fn = NULL;
        if (fn)
            fn(&d, x->arg);
        if (e->after)
            e->after(&d, e->hook_user);
    }
    free(x->kept);
    x->kept = NULL;
    free(x->res_hdr);
    x->res_hdr = NULL;
    x->reason = 0;
}

void berth_exch_due(berth_conn *c)
{
    if (c->x.live)
        c->x.due = 1;
}

/* ---- errors -------------------------------------------------------------- */

/* An error answered through the error hook: in the request's response
 * (headers a before hook set stay), or one made for it. */
static int error_hooked(berth_conn *c, int status)
{
    struct berth_req *req = c->req, *tmp = NULL;
    if (req) {
        berth_res_body_drop(&req->res);
    } else {
        tmp = berth_pool_get(&c->w->req_pool);
        if (!tmp)
            return berth_ser_error(&c->out, status);
        memset(tmp, 0, sizeof *tmp);
        berth_res_init(&tmp->res, c, &c->w->buf_pool);
    }
    struct berth_req *r = req ? req : tmp;
    berth_error_fill(c, req && req->head_ok ? req : NULL, &r->res, status);
    response_write(c, r, 0);
    if (tmp) {
        berth_res_release(&tmp->res);
        berth_pool_put(&c->w->req_pool, tmp);
    }
    return c->phase == P_CLOSED ? -1 : 0;
}

/* Queues berth's answer to an error and reads no further request. */
static void conn_error(berth_conn *c, int status)
{
    const berth_engine *e = c->w->engine;
    if (!c->x.live && e->after)
        exch_begin(c); /* no request was read: the after hook still hears of it */
    if ((e->on_error ? error_hooked(c, status) : berth_ser_error(&c->out, status)) != 0) {
        berth_conn_kill(c);
        return;
    }
    c->no_more = 1;
    c->x.status = status;
    exch_end(c, BERTH_DONE_REJECTED);
}

/* ---- responses ----------------------------------------------------------- */

static int within(const char *p, const char *base, size_t len)
{
    return base && (uintptr_t)p >= (uintptr_t)base && (uintptr_t)p < (uintptr_t)base + len;
}

/* Serializes the response of the current request; its body moves to the
 * output queue (or is copied when it lives in memory the request reuses). */
static void response_write(berth_conn *c, struct berth_req *req, int keep_alive)
{
    struct berth_res *res = &req->res;
    if (req->head_ok)
        berth_comp_apply(c->w, req, 0, res);
    berth_body_out b = {.fd = -1};
    if (res->body_fd >= 0) {
        b.fd = res->body_fd;
        b.off = res->body_off;
        b.len = res->body_flen;
        b.release = BERTH_REL_CLOSE;
        res->body_fd = -1;
    } else {
        b.ptr = res->body;
        b.len = res->body_len;
        if (res->body_release) {
            b.stable = 1;
            b.release = BERTH_REL_USER;
            b.rel_fn = res->body_release;
            b.rel_ptr = res->body_release_arg;
            res->body_release = NULL;
        } else if (res->body_alloc && !res->body_pooled) {
            b.stable = 1;
            b.release = BERTH_REL_FREE;
            b.rel_ptr = res->body_alloc;
            res->body_alloc = NULL;
        } else {
            /* Inline and pooled bodies are small and copied; bytes of the
             * request (its buffer is reused) are always copied; anything
             * else was borrowed and outlives the response. */
            b.stable = !res->body_alloc && res->body != res->body_inline &&
                       !within(res->body, c->in, c->w->buf_pool.block_size) &&
                       !within(res->body, req->body_buf, req->body_cap);
        }
    }
    c->x.status = res->status;
    c->x.bytes = req->is_head || !berth_ser_status_has_body(res->status) ? 0 : b.len;
    if (berth_ser_response(&c->out, res->status, res->hdr, res->hdr_len, NULL, 0, &b,
                           !req->is_head, keep_alive, res->omit) != 0)
        berth_conn_kill(c);
}

/* ---- request lifecycle --------------------------------------------------- */

static void body_buf_free(berth_conn *c, struct berth_req *req)
{
    berth_budget_give(c->w->engine->bodies, req->budget);
    req->budget = 0;
    if (!req->body_buf)
        return;
    if (req->body_buf_pooled)
        berth_pool_put(&c->w->buf_pool, req->body_buf);
    else
        free(req->body_buf);
    req->body_buf = NULL;
}

/* Makes req hold `bytes` of the server's body budget (what it holds
 * already counts). 0, or -1 when the server's buffered bodies would pass
 * max_buffered_bodies. */
static int body_budget(berth_conn *c, struct berth_req *req, uint64_t bytes)
{
    if (bytes <= req->budget)
        return 0;
    if (berth_budget_take(c->w->engine->bodies, bytes - req->budget) != 0)
        return -1;
    req->budget = bytes;
    return 0;
}

static void request_end(berth_conn *c)
{
    struct berth_req *req = c->req;
    if (!req)
        return;
    body_buf_free(c, req);
    berth_res_release(&req->res);
    berth_pool_put(&c->w->req_pool, req);
    c->req = NULL;
    if (c->phase == P_BODY)
        c->phase = P_HEAD;
    c->head_started = 0;
    berth_head_scan_reset(&c->scan);
}

/* Answers an error for the request in progress (the error hook sees it),
 * then ends it. */
static void request_fail(berth_conn *c, int status)
{
    conn_error(c, status);
    request_end(c);
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

static int body_deliver(berth_conn *c, struct berth_req *req, const char *data, size_t n);

static void dispatch(berth_conn *c)
{
    struct berth_req *req = c->req;
    if (req->streaming && req->on_body && req->pieces == 0) {
        /* An empty body: on_body still runs once (0 bytes, the first
         * piece), so that what it sets up exists for every request. */
        int rc = body_deliver(c, req, "", 0);
        if (rc) {
            request_fail(c, rc);
            return;
        }
    }
    if (req->handler) {
        c->dispatching = 1;
        req->handler(req, &req->res, req->user);
        c->dispatching = 0;
    }
    if (c->ws) {
        /* Upgraded: the 101 is queued and what follows the head is frames. */
        exch_end(c, BERTH_DONE_COMPLETED);
        request_end(c);
        berth_wsc_open(c);
        return;
    }
    if (req->res.deferred) {
        /* The stream holds what the response needs; the request block (and
         * an emptied input buffer) go back to the pool meanwhile. */
        exch_keep(c, req);
        request_end(c);
        if (c->phase == P_WAIT && c->in_off == c->in_len) {
            c->in_off = c->in_len = 0;
            berth_conn_read_idle(c);
        }
        return;
    }
    int keep_alive = req->keep_alive && !req->res.close && berth_conn_drain_keeps_alive(c);
    response_write(c, req, keep_alive);
    if (!keep_alive)
        c->no_more = 1;
    exch_end(c, req->rejected ? BERTH_DONE_REJECTED : BERTH_DONE_COMPLETED);
    request_end(c);
    if (c->in_off == c->in_len)
        c->t_idle = now(c);
}

/* Appends decoded body bytes to the request's body buffer: a pool block
 * while the body fits one, else memory of its own (the whole declared
 * length at once, or doubling for chunked bodies) counted against the
 * server's body budget. 0, -1 out of memory, -2 over the budget. */
static int body_buf_append(berth_conn *c, struct berth_req *req, const char *data, size_t n)
{
    size_t need = req->body_len + n;
    if (need > req->body_cap) {
        size_t bs = c->w->buf_pool.block_size;
        int whole = req->body_mode == BERTH_BODY_LENGTH && req->content_length > bs;
        if (!req->body_buf && need <= bs && !whole) {
            req->body_buf = berth_pool_get(&c->w->buf_pool);
            if (!req->body_buf)
                return -1;
            req->body_cap = bs;
            req->body_buf_pooled = 1;
        } else {
            size_t cap = req->body_cap ? req->body_cap * 2 : bs;
            while (cap < need)
                cap *= 2;
            if (whole)
                cap = (size_t)req->content_length; /* reserved in request_start */
            if (body_budget(c, req, cap) != 0)
                return -2;
            char *nb = malloc(cap);
            if (!nb)
                return -1;
            if (req->body_len)
                memcpy(nb, req->body_buf, req->body_len);
            uint64_t held = req->budget;
            req->budget = 0; /* body_buf_free gives back only the old buffer's part */
            body_buf_free(c, req);
            req->budget = held;
            req->body_buf = nb;
            req->body_cap = cap;
            req->body_buf_pooled = 0;
        }
    }
    memcpy(req->body_buf + req->body_len, data, n);
    req->body_len += n;
    return 0;
}

/* Takes decoded body bytes: to the handler, or into the body buffer. */
static int body_deliver(berth_conn *c, struct berth_req *req, const char *data, size_t n)
{
    req->body_received += n;
    if (req->streaming) {
        if (req->on_body) {
            req->pieces++;
            int rc = req->on_body(req, data, n, req->user);
            if (rc) {
                c->x.reason = BERTH_REASON_REFUSED;
                return rc >= 400 && rc <= 599 ? rc : 400;
            }
        }
        return 0;
    }
    int rc = body_buf_append(c, req, data, n);
    return rc == 0 ? 0 : rc == -2 ? 503 : 500;
}

static void str_shift(berth_str *s, const char *lo, const char *hi, size_t by)
{
    if ((uintptr_t)s->ptr >= (uintptr_t)lo && (uintptr_t)s->ptr <= (uintptr_t)hi)
        s->ptr -= by;
}

/* Moves the head of the request in progress (and what follows it) from
 * in_off to the start of the input buffer; the request's strings that
 * point into it move along. */
static void head_move_to_start(berth_conn *c)
{
    struct berth_req *req = c->req;
    size_t by = c->in_off;
    const char *lo = c->in + c->in_off, *hi = c->in + c->in_len;
    memmove(c->in, lo, c->in_len - by);
    berth_head *h = &req->head;
    str_shift(&h->method, lo, hi, by);
    str_shift(&h->target, lo, hi, by);
    for (size_t i = 0; i < h->nheaders; i++) {
        str_shift(&h->headers[i].name, lo, hi, by);
        str_shift(&h->headers[i].value, lo, hi, by);
    }
    str_shift(&req->path, lo, hi, by); /* may be a constant "/" */
    str_shift(&req->query, lo, hi, by);
    for (size_t i = 0; i < req->nparams; i++)
        str_shift(&req->param_values[i], lo, hi, by);
    c->in_off = 0;
    c->in_len -= by;
    c->head_end -= by;
    c->body_pos -= by;
}

/* Consumes available body bytes. Returns 1 when the body is complete,
 * 0 when more is needed, or an error status. */
static int body_step(berth_conn *c)
{
    struct berth_req *req = c->req;
    if (req->body_mode == BERTH_BODY_LENGTH) {
        if (c->body_in_place) {
            if (c->in_len - c->head_end < req->content_length)
                return 0;
            req->body = c->in + c->head_end;
            req->body_len = (size_t)req->content_length;
            req->body_received = req->content_length;
            c->body_pos = c->head_end + (size_t)req->content_length;
            return 1;
        }
        size_t avail = c->in_len - c->body_pos;
        uint64_t left = req->content_length - req->body_received;
        size_t n = avail < left ? avail : (size_t)left;
        if (n) {
            int rc = body_deliver(c, req, c->in + c->body_pos, n);
            if (rc)
                return rc;
            c->body_pos += n;
        }
        if (req->body_received == req->content_length)
            return 1;
    } else {
        const berth_engine *e = c->w->engine;
        for (;;) {
            size_t used = 0;
            const char *data = NULL;
            size_t dlen = 0;
            int rc = berth_chunked_next(&req->chunked, c->in + c->body_pos, c->in_len - c->body_pos,
                                        &used, &data, &dlen, req->max_body, e->max_header_bytes);
            c->body_pos += used;
            if (rc == BERTH_CHUNKED_DATA) {
                rc = body_deliver(c, req, data, dlen);
                if (rc)
                    return rc;
                continue;
            }
            if (rc == BERTH_CHUNKED_DONE)
                return 1;
            if (rc != BERTH_CHUNKED_MORE)
                return rc;
            break;
        }
    }
    /* Everything read so far is consumed: reuse the space after the head. */
    if (c->body_pos == c->in_len) {
        c->in_len = c->body_pos = c->head_end;
        /* A head behind pipelined requests may leave (almost) no room for
         * the body: move it to the buffer's start. */
        size_t bs = c->w->buf_pool.block_size;
        if (c->in_off > 0 && bs - c->head_end < bs / 4)
            head_move_to_start(c);
    }
    return 0;
}

static void body_complete(berth_conn *c)
{
    struct berth_req *req = c->req;
    if (!c->body_in_place && !req->streaming) {
        req->body = req->body_buf;
        /* body_len was counted by body_buf_append */
    }
    c->in_off = c->body_pos;
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
        conn_error(c, 503);
        return;
    }
    memset(req, 0, sizeof *req);
    c->req = req;
    exch_begin(c);
    req->head.headers = req->headers;
    req->head.max_headers = e->max_header_fields;
    berth_res_init(&req->res, c, &c->w->buf_pool);

    int rc = berth_head_parse(c->in + c->in_off, head_len, &req->head);
    req->head_ok = rc == 0;
    if (!rc)
        rc = berth_req_framing(req);
    if (!rc)
        rc = berth_req_split_target(req);
    if (rc) {
        request_fail(c, rc);
        return;
    }
    req->is_head = req->head.method.len == 4 && memcmp(req->head.method.ptr, "HEAD", 4) == 0;

    if (e->before && e->before(req, &req->res, e->hook_user) != 0) {
        answered(req); /* the hook answered it */
    } else if (e->router) {
        char allow[128];
        rc = berth_router_match(e->router, req, allow, sizeof allow);
        if (rc)
            route_error(c, req, rc, allow);
    } else {
        req->handler = e->handler;
        req->user = e->user;
    }
    if (!req->max_body)
        req->max_body = e->max_body;

    if (req->body_mode == BERTH_BODY_LENGTH && req->content_length > req->max_body) {
        request_fail(c, 413);
        return;
    }
    c->head_end = c->in_off + head_len;
    if (req->body_mode == BERTH_BODY_LENGTH && !req->streaming &&
        c->head_end + req->content_length > e->buf_size) {
        /* A body buffered in memory of its own: the server-wide budget is
         * checked now, before a 100 Continue invites it. */
        const berth_budget *b = e->bodies;
        if (b && req->content_length > b->limit) {
            request_fail(c, 413);
            return;
        }
        if (body_budget(c, req, req->content_length) != 0) {
            request_fail(c, 503);
            return;
        }
    }
    c->body_pos = c->head_end;
    if (req->body_mode == BERTH_BODY_NONE) {
        c->in_off = c->head_end;
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
    c->body_in_place = req->body_mode == BERTH_BODY_LENGTH && !req->streaming &&
                       c->head_end + req->content_length <= e->buf_size;
    c->phase = P_BODY;
    c->t_phase = now(c);
    if (req->expect_continue && c->in_len == c->head_end && berth_ser_continue(&c->out) != 0)
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

/* Parses and dispatches every complete request read, until the input runs
 * out, a response is deferred, or the output backlog holds it back. */
static void process(berth_conn *c)
{
    const berth_engine *e = c->w->engine;
    if (c->busy || c->dispatching)
        return;
    c->busy = 1;
    if (c->x.due)
        exch_end(c, BERTH_DONE_COMPLETED); /* a deferred response ended */
    berth_wsc_report(c);
    c->held = 0;
    for (;;) {
        if (c->phase == P_HEAD) {
            if (c->no_more)
                break;
            if (backlog(c)) {
                c->held = 1; /* pump again once the output is written */
                break;
            }
            if (!c->head_started) {
                int rc = skip_empty_lines(c);
                if (rc < 0) {
                    conn_error(c, 400);
                    break;
                }
                if (c->in_off == c->in_len || rc > 0)
                    break;
                c->head_started = 1;
                c->t_phase = now(c);
            }
            long r = berth_head_scan_run(&c->scan, c->in + c->in_off, c->in_len - c->in_off,
                                         e->max_request_line, e->max_header_bytes);
            if (r == 0)
                break;
            if (r < 0) {
                conn_error(c, (int)-r);
                break;
            }
            request_start(c, (size_t)r);
        } else if (c->phase == P_BODY) {
            int rc = body_step(c);
            if (rc == 0) {
                c->t_phase = now(c);
                break;
            }
            if (rc == 1)
                body_complete(c);
            else
                request_fail(c, rc);
        } else if (c->phase == P_WS) {
            berth_wsc_input(c);
            break;
        } else {
            break;
        }
    }
    berth_wsc_report(c);
    /* After the peer's EOF, answer what is complete, then stop. */
    if (c->peer_eof && c->phase == P_HEAD && !c->no_more && !c->held) {
        if (c->in && c->in_off < c->in_len)
            conn_error(c, 400); /* a truncated head */
        c->no_more = 1;
    }
    /* Between requests, move a partial head to the buffer's start. */
    if (c->phase == P_HEAD && c->in) {
        if (c->in_off == c->in_len) {
            c->in_off = c->in_len = 0;
            if (!c->head_started) {
                berth_pool_put(&c->w->buf_pool, c->in);
                c->in = NULL;
            }
        } else if (c->in_off > 0) {
            memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
            c->in_len -= c->in_off;
            c->in_off = 0;
        }
    }
    c->busy = 0;
}

/* The lingering close: once the last response (or a WebSocket's close
 * frame) is written, the write side is shut and input is read and dropped
 * until the client closes, linger_ms pass without input, or linger_time_ms
 * pass in all (engine.c). Closing with unread input would make the kernel
 * send a reset, which may destroy what berth wrote before the client read
 * it: a 413 or 400 to a client still sending its body, the 1009 to a
 * WebSocket client still sending the message it refused (issue 20). No
 * count of bytes ends it: a client sending its body at full speed would
 * reach any fixed count (the 1 MiB of before) and get the reset, and the
 * drive loop's turn (backends/drive.h) already bounds what one
 * connection takes of its thread. */
void berth_conn_settle(berth_conn *c)
{
    /* A WebSocket whose close frame is written: as after a last response. */
    int ws_done = c->phase == P_WS && c->ws->closing && c->out.pending == 0;
    if (ws_done || (c->phase == P_HEAD && c->no_more && c->out.pending == 0 && !c->req)) {
        if (c->peer_eof) {
            c->phase = P_CLOSED;
        } else {
            c->phase = P_LINGER;
            c->t_linger = c->t_linger_read = now(c);
        }
    }
}

void berth_conn_linger_input(berth_conn *c)
{
    if (c->phase == P_LINGER)
        c->t_linger_read = now(c);
}

/* While the server stops, a connection between requests gets
 * stop_grace_ms from its last activity to send one more request (answered
 * with Connection: close): a client whose next request is already on its
 * way is answered rather than cut off. Connections idle for longer close at
 * once, lingering (SHUTDOWN) so a request racing the close causes no reset. */
static int drain_idle(const berth_conn *c)
{
    return c->draining && c->phase == P_HEAD && !c->head_started && !c->req && !c->no_more &&
           c->out.pending == 0 && !more_input(c);
}

static uint64_t drain_idle_deadline(const berth_conn *c)
{
    uint64_t since = c->t_idle > c->out.t_write ? c->t_idle : c->out.t_write;
    return since + c->w->engine->stop_grace_ms;
}

/* ---- the pipe ------------------------------------------------------------ */

static const berth_pipe_ops engine_pipe_ops;

berth_conn *berth_conn_new(berth_worker *w, int refuse)
{
    berth_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->pipe.ops = &engine_pipe_ops;
    c->w = w;
    c->phase = P_HEAD;
    c->t_idle = now(c);
    berth_outq_init(&c->out, &w->buf_pool, &w->clock);
    if (refuse)
        conn_error(c, 503); /* over the connection cap: say so, read nothing */
    return c;
}

berth_pipe *berth_conn_pipe(berth_conn *c) { return &c->pipe; }

/* A WebSocket whose close frame is queued drops its input (ws_conn.c), as
 * a lingering connection does: reading it makes no output, so an output
 * backlog does not hold it back. Held back, a client blocked sending (its
 * messages, before it reads our echoes) never read our close frame: each
 * side waited for the other until the stop's cut reset the connection. */
static int ws_dropping(const berth_conn *c) { return c->phase == P_WS && c->ws->closing; }

char *berth_conn_read_buf(berth_conn *c, size_t *cap)
{
    size_t bs = c->w->buf_pool.block_size;
    if (c->phase == P_HEAD || c->phase == P_WS) {
        if (c->no_more || c->peer_eof || (backlog(c) && !ws_dropping(c)))
            return NULL;
    } else if (c->phase == P_CLOSED || c->peer_eof) {
        return NULL;
    }
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
    if ((c->phase == P_HEAD || c->phase == P_WS) && (c->no_more || (backlog(c) && !ws_dropping(c))))
        return 0;
    return !c->in || c->phase == P_LINGER || c->in_len < c->w->buf_pool.block_size;
}

void berth_conn_read_idle(berth_conn *c)
{
    if (c->in && c->in_len == 0 && !c->req) {
        berth_pool_put(&c->w->buf_pool, c->in);
        c->in = NULL;
    }
}

void berth_conn_read_done(berth_conn *c, size_t n)
{
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
        if (c->phase == P_WS) {
            /* Gone without a close (on_close hears 1006 as it is freed),
             * or after ours: either way nothing more is said. */
            berth_conn_kill(c);
            return;
        }
        if (c->phase == P_BODY || c->phase == P_WAIT) {
            /* The client went away before its response: nobody to answer.
             * (A deferred response hears of it once its stream has, when
             * the connection is freed.) */
            if (c->phase == P_BODY)
                exch_end(c, BERTH_DONE_ABORTED);
            request_end(c);
            berth_conn_kill(c);
            return;
        }
    } else {
        c->in_len += n;
    }
    process(c);
    berth_conn_settle(c);
}

int berth_conn_has_pending(const berth_conn *c)
{
    return (c->held && c->phase == P_HEAD && !backlog(c)) || c->x.due || (c->ws && c->ws->due);
}

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
    if (c->phase == P_WAIT)
        return UINT64_MAX; /* a stream may be quiet for long */
    if (c->phase == P_WS)
        return berth_wsc_deadline(c);
    if (c->phase == P_BODY)
        return c->t_phase + e->body_timeout_ms;
    if (c->head_started)
        return c->t_phase + e->header_timeout_ms;
    uint64_t idle = c->t_idle + e->idle_timeout_ms;
    if (drain_idle(c)) {
        uint64_t grace = drain_idle_deadline(c);
        return grace < idle ? grace : idle;
    }
    return idle;
}

void berth_conn_on_timeout(berth_conn *c)
{
    if (c->phase == P_LINGER || c->out.pending) {
        c->x.reason = BERTH_REASON_WRITE_TIMEOUT; /* the client reads nothing */
        berth_conn_kill(c);
        return;
    }
    if (c->phase == P_WS) {
        berth_wsc_timeout(c); /* a ping, or the close after an unanswered one */
        return;
    }
    if (c->phase == P_BODY || c->head_started) {
        c->x.reason = c->phase == P_BODY ? BERTH_REASON_BODY_TIMEOUT : BERTH_REASON_HEADER_TIMEOUT;
        request_fail(c, 408);
        berth_conn_settle(c);
        return;
    }
    if (drain_idle(c)) {
        c->no_more = 1; /* the stop's grace is over: close, lingering */
        berth_conn_settle(c);
        return;
    }
    c->phase = P_CLOSED; /* idle keep-alive connection */
}

void berth_conn_drain(berth_conn *c)
{
    if (c->draining || c->phase == P_CLOSED)
        return;
    c->draining = 1;
    if (drain_idle(c) && now(c) >= drain_idle_deadline(c)) {
        c->no_more = 1;
        berth_conn_settle(c);
    }
    if (c->ws) {
        berth_wsc_stop(c); /* close 1001 */
        return;
    }
    /* Last: the handler's on_stop may end its stream, which goes on with
     * the requests that follow. */
    if (c->stream)
        berth_stream_stop(c->stream);
}

void berth_conn_free(berth_conn *c)
{
    if (!c)
        return;
    berth_wsc_free(c); /* on_close first, while the handle is whole */
    /* Detach the stream first: once it no longer points at c, no other
     * thread can put c on the wake list again, so the removal below is
     * final (the other order leaves a window for a use after free). */
    if (c->stream) {
        berth_stream *s = c->stream;
        c->stream = NULL;
        berth_stream_detach(s, 1);
    }
    berth_worker_forget(c->w, c);
    if (c->x.due)
        exch_end(c, BERTH_DONE_COMPLETED);
    else
        exch_end(c, c->draining && !c->peer_eof ? BERTH_DONE_STOPPED : BERTH_DONE_ABORTED);
    free(c->tls);
    request_end(c);
    berth_outq_clear(&c->out);
    berth_pool_put(&c->w->buf_pool, c->in);
    free(c);
}

struct conn_tls {
    berth_tls_info info;
    char alpn[32];
    char sni[256];
};

/* Copies a string of what TLS negotiated into dst (truncated to fit). */
static berth_str tls_str_copy(char *dst, size_t cap, berth_str src)
{
    size_t n = src.len < cap ? src.len : cap;
    if (n)
        memcpy(dst, src.ptr, n);
    berth_str out = {dst, n};
    return out;
}

void berth_conn_set_tls(berth_conn *c, const berth_tls_info *info)
{
    if (!c->tls && !(c->tls = malloc(sizeof *c->tls))) {
        /* Its requests would pass for plaintext ones (berth_req_tls saying
         * no to a handler that checks): the connection is closed instead. */
        berth_logf(c->w->engine->log, "berth: out of memory: a TLS connection is closed");
        berth_conn_kill(c);
        return;
    }
    c->tls->info = *info; /* version and cipher are wolfSSL's static names */
    c->tls->info.alpn = tls_str_copy(c->tls->alpn, sizeof c->tls->alpn, info->alpn);
    c->tls->info.sni = tls_str_copy(c->tls->sni, sizeof c->tls->sni, info->sni);
}

void berth_conn_set_peer(berth_conn *c, const struct sockaddr *sa, socklen_t len)
{
    berth_caddr_set(&c->peer, sa, len);
}

void berth_conn_set_addrs(berth_conn *c, const struct sockaddr *peer, socklen_t peer_len,
                          const struct sockaddr *local, socklen_t local_len)
{
    if (peer)
        berth_caddr_set(&c->peer, peer, peer_len);
    if (local)
        berth_caddr_set(&c->local, local, local_len);
}

int berth_req_tls_sized(const berth_req *req, berth_tls_info *info, size_t size)
{
    const berth_conn *c = req->res.conn;
    if (!c || !c->tls)
        return BERTH_ENOENT;
    berth_abi_write(info, size, &c->tls->info, sizeof c->tls->info);
    return 0;
}

int berth_req_is_tls(const berth_req *req)
{
    const berth_conn *c = req->res.conn;
    return c && c->tls;
}

int berth_req_peer(const berth_req *req, berth_addr *addr)
{
    const berth_conn *c = req->res.conn;
    return c && berth_caddr_get(&c->peer, addr) ? 0 : BERTH_ENOENT;
}

int berth_req_local(const berth_req *req, berth_addr *addr)
{
    const berth_conn *c = req->res.conn;
    if (!c)
        return BERTH_ENOENT;
    if (c->local.family)
        return berth_caddr_get(&c->local, addr) ? 0 : BERTH_ENOENT;
    const berth_engine *e = c->w->engine;
    memset(addr, 0, sizeof *addr);
    return e->local_addr && e->local_addr(c, addr) ? 0 : BERTH_ENOENT;
}

int berth_req_stopping(const berth_req *req)
{
    const berth_conn *c = req->res.conn;
    return c && c->draining;
}

void berth_req_set_data(berth_req *req, void *data) { req->res.conn->x.data = data; }
void *berth_req_data(const berth_req *req) { return req->res.conn->x.data; }

void berth_req_on_done(berth_req *req, berth_done_fn fn, void *arg)
{
    berth_exch *x = &req->res.conn->x;
    x->fn = fn;
    x->arg = arg;
    if (fn && !x->t0_us)
        x->t0_us = now_us();
}

void *berth_conn_backend_data(const berth_conn *c) { return c->backend_data; }
void berth_conn_set_backend_data(berth_conn *c, void *data) { c->backend_data = data; }

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

static const berth_pipe_ops engine_pipe_ops = {
    p_wants_input, p_read_buf, p_read_done, p_read_idle, p_has_pending, p_pump, p_out_segs, p_out_done,
    p_state, p_deadline, p_on_timeout, p_drain, p_abort, p_free,
    NULL, NULL, /* the engine hands nothing to the kernel */
};
