/* The connection engine: request lifecycle, keep-alive, pipelining,
 * limits, errors and response serialization. See conn.h. */
#include "conn.h"

#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "request.h"
#include "router.h"
#include "stream.h"

#define OUT_SEGS 16
#define LINGER_MAX_BYTES (1u << 20)

/* P_WAIT: the handler deferred its response; input is held, not parsed. */
enum phase { P_HEAD, P_BODY, P_WAIT, P_LINGER, P_CLOSED };

typedef struct out_seg {
    const char *ptr; /* external bytes, or NULL: bytes at off in the out buffer */
    size_t off;
    size_t len;
    void *to_free;
} out_seg;

struct berth_conn {
    berth_worker *w;
    /* input */
    char *in;
    size_t in_len, in_off;
    berth_head_scan scan;
    int head_started;       /* bytes of the next head have arrived */
    struct berth_req *req;  /* request in progress */
    size_t head_end;        /* offset in `in` where the body starts */
    size_t body_pos;        /* offset in `in` of unconsumed body bytes */
    int body_in_place;      /* Content-Length body waits whole in `in` */
    int phase;
    int no_more;            /* respond to nothing more: close after output */
    int peer_eof;
    int draining;
    uint64_t t_phase, t_idle, t_write, t_linger;
    size_t linger_bytes;
    /* output */
    char *out;
    size_t out_len, out_cap;
    int out_pooled;
    out_seg segs[OUT_SEGS];
    unsigned nsegs, seg_head;
    size_t seg_off;
    size_t out_pending;
    /* deferred or streamed response */
    berth_stream *stream;
    int dispatching;        /* inside a handler */
    int busy;               /* inside process(): no re-entry */
    int woken;              /* on the worker's wake list */
    struct berth_conn *wake_next;
    void *backend_data;
};

static void process(berth_conn *c);
static void settle(berth_conn *c);
static void conn_kill(berth_conn *c);

static uint64_t now(const berth_conn *c) { return c->w->clock.now_ms; }

berth_conn *berth_conn_new(berth_worker *w)
{
    berth_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->w = w;
    c->phase = P_HEAD;
    c->t_idle = now(c);
    return c;
}

/* ---- output ----------------------------------------------------------- */

static void out_release(berth_conn *c)
{
    for (unsigned i = c->seg_head; i < c->nsegs; i++)
        free(c->segs[i].to_free);
    if (c->out_pooled)
        berth_pool_put(&c->w->buf_pool, c->out);
    else
        free(c->out);
    c->out = NULL;
    c->out_len = c->out_cap = 0;
    c->nsegs = c->seg_head = 0;
    c->seg_off = 0;
    c->out_pending = 0;
}

/* Hands the current out buffer over to the segments still pending in it,
 * so it can be replaced without moving bytes a backend may be writing
 * (an asynchronous write keeps pointers until berth_conn_out_done). */
static void out_detach_buffer(berth_conn *c)
{
    int last = -1;
    for (unsigned i = c->seg_head; i < c->nsegs; i++) {
        if (!c->segs[i].ptr) {
            c->segs[i].ptr = c->out + c->segs[i].off;
            last = (int)i;
        }
    }
    if (last >= 0)
        c->segs[last].to_free = c->out; /* freed once its last byte is sent */
    else if (c->out_pooled)
        berth_pool_put(&c->w->buf_pool, c->out);
    else
        free(c->out);
    c->out = NULL;
    c->out_len = c->out_cap = 0;
    c->out_pooled = 0;
}

/* Returns room for n more bytes at the end of the out buffer. */
static char *out_reserve(berth_conn *c, size_t n)
{
    if (c->out_len + n <= c->out_cap)
        return c->out + c->out_len;
    size_t bs = c->w->buf_pool.block_size;
    if (c->out && c->out_pending) {
        out_detach_buffer(c);
    } else if (c->out) {
        if (c->out_pooled)
            berth_pool_put(&c->w->buf_pool, c->out);
        else
            free(c->out);
        c->out = NULL;
        c->out_len = c->out_cap = 0;
    }
    if (n <= bs) {
        c->out = berth_pool_get(&c->w->buf_pool);
        if (!c->out)
            return NULL;
        c->out_cap = bs;
        c->out_pooled = 1;
        return c->out;
    }
    c->out = malloc(n);
    if (!c->out)
        return NULL;
    c->out_cap = n;
    c->out_pooled = 0;
    return c->out;
}

/* Frees slots of segments already written. */
static void out_compact(berth_conn *c)
{
    if (c->seg_head == 0)
        return;
    memmove(c->segs, c->segs + c->seg_head, (c->nsegs - c->seg_head) * sizeof c->segs[0]);
    c->nsegs -= c->seg_head;
    c->seg_head = 0;
}

/* Makes n bytes written at the out buffer's end part of the output. */
static void out_commit(berth_conn *c, size_t n)
{
    if (c->out_pending == 0)
        c->t_write = now(c);
    out_seg *last = c->nsegs > c->seg_head ? &c->segs[c->nsegs - 1] : NULL;
    if (last && !last->ptr && last->off + last->len == c->out_len) {
        last->len += n;
    } else {
        if (c->nsegs == OUT_SEGS)
            out_compact(c);
        if (c->nsegs == OUT_SEGS) {
            conn_kill(c); /* cannot happen: out_external keeps slots free */
            return;
        }
        out_seg *s = &c->segs[c->nsegs++];
        s->ptr = NULL;
        s->off = c->out_len;
        s->len = n;
        s->to_free = NULL;
    }
    c->out_len += n;
    c->out_pending += n;
}

static int out_append(berth_conn *c, const void *data, size_t n)
{
    char *dst = out_reserve(c, n);
    if (!dst)
        return -1;
    memcpy(dst, data, n);
    out_commit(c, n);
    return 0;
}

/* Queues bytes owned elsewhere; to_free (may be NULL) is freed once sent.
 * Keeps two slots free so that out_commit always has one. */
static int out_external(berth_conn *c, const char *ptr, size_t n, void *to_free)
{
    if (c->nsegs + 2 >= OUT_SEGS)
        out_compact(c);
    if (c->nsegs + 2 >= OUT_SEGS) {
        int rc = out_append(c, ptr, n);
        free(to_free);
        return rc;
    }
    if (c->out_pending == 0)
        c->t_write = now(c);
    out_seg *s = &c->segs[c->nsegs++];
    s->ptr = ptr;
    s->off = 0;
    s->len = n;
    s->to_free = to_free;
    c->out_pending += n;
    return 0;
}

int berth_conn_out_iov(berth_conn *c, struct iovec *iov, int max)
{
    int n = 0;
    for (unsigned i = c->seg_head; i < c->nsegs && n < max; i++) {
        const out_seg *s = &c->segs[i];
        const char *base = s->ptr ? s->ptr : c->out + s->off;
        size_t skip = i == c->seg_head ? c->seg_off : 0;
        iov[n].iov_base = (void *)(base + skip);
        iov[n].iov_len = s->len - skip;
        n++;
    }
    return n;
}

size_t berth_conn_out_pending(const berth_conn *c) { return c->out_pending; }

void berth_conn_out_done(berth_conn *c, size_t n)
{
    if (n == 0)
        return;
    c->t_write = now(c);
    c->out_pending -= n;
    if (c->stream)
        berth_stream_set_pending(c->stream, c->out_pending);
    while (n && c->seg_head < c->nsegs) {
        out_seg *s = &c->segs[c->seg_head];
        size_t left = s->len - c->seg_off;
        if (n < left) {
            c->seg_off += n;
            break;
        }
        n -= left;
        if (s->to_free) {
            free(s->to_free);
            s->to_free = NULL;
        }
        c->seg_head++;
        c->seg_off = 0;
    }
    if (c->out_pending == 0) {
        c->nsegs = c->seg_head = 0;
        c->out_len = 0;
        /* Give the buffer back while idle; a pooled get is a pointer pop. */
        out_release(c);
        if (c->phase == P_HEAD && c->in_len > c->in_off)
            process(c); /* requests held back by the output backlog */
    }
    settle(c);
}

/* ---- serialization ---------------------------------------------------- */

static char *put_str(char *p, const char *s, size_t n)
{
    if (n)
        memcpy(p, s, n);
    return p + n;
}

static char *put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i)
        *p++ = tmp[--i];
    return p;
}

#define PUT_LIT(p, lit) put_str((p), (lit), sizeof(lit) - 1)

/* Writes the status line, Server and Date. Needs 64 + reason bytes. */
static char *put_head_start(berth_conn *c, char *p, int status)
{
    const char *reason = berth_status_reason(status);
    p = PUT_LIT(p, "HTTP/1.1 ");
    *p++ = (char)('0' + status / 100);
    *p++ = (char)('0' + status / 10 % 10);
    *p++ = (char)('0' + status % 10);
    *p++ = ' ';
    p = put_str(p, reason, strlen(reason));
    p = PUT_LIT(p, "\r\nServer: berth\r\nDate: ");
    p = put_str(p, c->w->clock.date, BERTH_DATE_LEN);
    return PUT_LIT(p, "\r\n");
}

/* Ends the connection now; a stream in progress learns the client is gone. */
static void conn_kill(berth_conn *c)
{
    c->phase = P_CLOSED;
    if (c->stream) {
        berth_stream *s = c->stream;
        c->stream = NULL;
        berth_stream_detach(s, 1);
    }
}

static void fail_alloc(berth_conn *c) { conn_kill(c); }

void berth_conn_abort(berth_conn *c) { conn_kill(c); }

int berth_conn_waiting(const berth_conn *c) { return c->phase == P_WAIT; }

/* Queues a complete error response and stops reading requests. */
static void conn_error(berth_conn *c, int status)
{
    const char *reason = berth_status_reason(status);
    size_t rlen = strlen(reason);
    char *p = out_reserve(c, 256 + rlen * 2);
    if (!p) {
        fail_alloc(c);
        return;
    }
    char *start = p;
    p = put_head_start(c, p, status);
    p = PUT_LIT(p, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: ");
    p = put_u64(p, rlen + 1);
    p = PUT_LIT(p, "\r\nConnection: close\r\n\r\n");
    p = put_str(p, reason, rlen);
    *p++ = '\n';
    out_commit(c, (size_t)(p - start));
    c->no_more = 1;
}

static int status_has_body(int status)
{
    return !(status < 200 || status == 204 || status == 304);
}

enum { FRAME_LENGTH, FRAME_CHUNKED, FRAME_CLOSE, FRAME_NONE };

static size_t head_bound(int status, size_t hdr_len, size_t ctype_len)
{
    return 200 + strlen(berth_status_reason(status)) + hdr_len + ctype_len;
}

/* Writes a response head; the caller reserved head_bound() bytes. */
static char *head_put(berth_conn *c, char *p, int status, const char *hdr, size_t hdr_len,
                      const char *ctype, size_t ctype_len, int frame, uint64_t length,
                      int keep_alive)
{
    p = put_head_start(c, p, status);
    p = put_str(p, hdr, hdr_len);
    if (ctype_len) {
        p = PUT_LIT(p, "Content-Type: ");
        p = put_str(p, ctype, ctype_len);
        p = PUT_LIT(p, "\r\n");
    }
    if (frame == FRAME_LENGTH) {
        p = PUT_LIT(p, "Content-Length: ");
        p = put_u64(p, length);
        p = PUT_LIT(p, "\r\n");
    } else if (frame == FRAME_CHUNKED) {
        p = PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    }
    return keep_alive ? PUT_LIT(p, "Connection: keep-alive\r\n\r\n")
                      : PUT_LIT(p, "Connection: close\r\n\r\n");
}

/* Stands for "borrowed" in response_put's owned argument. */
static char *borrowed_body;

/* Queues a complete response with a known body. A large body is queued
 * without a copy when it outlives the request: owned by *owned (which is
 * then cleared and freed once sent), or borrowed (owned == &borrowed_body). */
static void response_put(berth_conn *c, int status, const char *hdr, size_t hdr_len,
                         const char *ctype, size_t ctype_len, const char *body, size_t body_len,
                         char **owned, int is_head, int keep_alive)
{
    int with_length = status_has_body(status);
    if (!with_length)
        body_len = 0;
    int send_body = with_length && !is_head && body_len;
    int copy_body = send_body && (body_len <= BERTH_RES_COPY_MAX || !owned);
    char *p = out_reserve(c, head_bound(status, hdr_len, ctype_len) + (copy_body ? body_len : 0));
    if (!p) {
        fail_alloc(c);
        return;
    }
    char *start = p;
    p = head_put(c, p, status, hdr, hdr_len, ctype, ctype_len,
                 with_length ? FRAME_LENGTH : FRAME_NONE, body_len, keep_alive);
    if (copy_body)
        p = put_str(p, body, body_len);
    out_commit(c, (size_t)(p - start));
    if (send_body && !copy_body) {
        char *o = NULL;
        if (owned != &borrowed_body) {
            o = *owned;
            *owned = NULL;
        }
        if (out_external(c, body, body_len, o) != 0)
            fail_alloc(c);
    }
}

static int within(const char *p, const char *base, size_t len)
{
    return base && (uintptr_t)p >= (uintptr_t)base && (uintptr_t)p < (uintptr_t)base + len;
}

/* Serializes the response of the current request. */
static void response_write(berth_conn *c, struct berth_req *req, int keep_alive)
{
    struct berth_res *res = &req->res;
    char **owned = NULL; /* copy: inline bodies, and anything of the request's */
    if (res->body_alloc && !res->body_pooled)
        owned = &res->body_alloc; /* a pooled body is small: always copied */
    else if (res->body != res->body_inline && !within(res->body, c->in, c->w->buf_pool.block_size) &&
             !within(res->body, req->body_buf, req->body_cap))
        owned = &borrowed_body;
    response_put(c, res->status, res->hdr, res->hdr_len, NULL, 0, res->body, res->body_len,
                 owned, req->is_head, keep_alive);
}

/* ---- request lifecycle ------------------------------------------------ */

static void body_buf_free(berth_conn *c, struct berth_req *req)
{
    if (!req->body_buf)
        return;
    if (req->body_buf_pooled)
        berth_pool_put(&c->w->buf_pool, req->body_buf);
    else
        free(req->body_buf);
    req->body_buf = NULL;
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

static void request_fail(berth_conn *c, int status)
{
    request_end(c);
    conn_error(c, status);
}

static void dispatch(berth_conn *c)
{
    struct berth_req *req = c->req;
    if (req->handler) {
        c->dispatching = 1;
        req->handler(req, &req->res, req->user);
        c->dispatching = 0;
    }
    if (req->res.deferred) {
        /* The stream holds what the response needs; the request block (and
         * an emptied input buffer) go back to the pool meanwhile. */
        request_end(c);
        if (c->phase == P_WAIT && c->in_off == c->in_len) {
            c->in_off = c->in_len = 0;
            berth_conn_read_idle(c);
        }
        return;
    }
    int keep_alive = req->keep_alive && !req->res.close && !c->draining;
    response_write(c, req, keep_alive);
    if (!keep_alive)
        c->no_more = 1;
    request_end(c);
    if (c->in_off == c->in_len)
        c->t_idle = now(c);
}

/* Appends body bytes to the request's own body buffer: a pooled block
 * while it fits, then a heap buffer that doubles (bounded by max_body). */
static int body_buf_append(berth_conn *c, struct berth_req *req, const char *data, size_t n)
{
    size_t need = req->body_len + n;
    if (need > req->body_cap) {
        size_t bs = c->w->buf_pool.block_size;
        if (!req->body_buf && need <= bs) {
            req->body_buf = berth_pool_get(&c->w->buf_pool);
            if (!req->body_buf)
                return -1;
            req->body_cap = bs;
            req->body_buf_pooled = 1;
        } else {
            size_t cap = req->body_cap ? req->body_cap * 2 : bs;
            while (cap < need)
                cap *= 2;
            char *nb = malloc(cap);
            if (!nb)
                return -1;
            if (req->body_len)
                memcpy(nb, req->body_buf, req->body_len);
            body_buf_free(c, req);
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
        if (req->on_body && req->on_body(req, data, n, req->user) != 0)
            return 400;
        return 0;
    }
    return body_buf_append(c, req, data, n) == 0 ? 0 : 500;
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
                                        &used, &data, &dlen, e->max_body, e->max_header_bytes);
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

/* Prepares the default answer for an unrouted request (404/405). */
static void route_error(struct berth_req *req, int status, const char *allow)
{
    const char *reason = berth_status_reason(status);
    berth_res_status(&req->res, status);
    if (status == 405)
        berth_res_header(&req->res, "Allow", allow);
    berth_res_header(&req->res, "Content-Type", "text/plain; charset=utf-8");
    char body[64];
    size_t n = strlen(reason);
    memcpy(body, reason, n);
    body[n++] = '\n';
    berth_res_body(&req->res, body, n);
    req->handler = NULL; /* answered by berth */
    req->streaming = 1;  /* any body is read and dropped */
    req->on_body = NULL;
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
    req->head.headers = req->headers;
    req->head.max_headers = e->max_header_fields;
    berth_res_init(&req->res);
    req->res.conn = c;

    int rc = berth_head_parse(c->in + c->in_off, head_len, &req->head);
    if (!rc)
        rc = berth_req_framing(req);
    if (!rc)
        rc = berth_req_split_target(req);
    if (rc) {
        request_fail(c, rc);
        return;
    }
    req->is_head = req->head.method.len == 4 && memcmp(req->head.method.ptr, "HEAD", 4) == 0;

    if (e->router) {
        char allow[128];
        rc = berth_router_match(e->router, req, allow, sizeof allow);
        if (rc)
            route_error(req, rc, allow);
    } else {
        req->handler = e->handler;
        req->user = e->user;
    }

    if (req->body_mode == BERTH_BODY_LENGTH && req->content_length > e->max_body) {
        request_fail(c, 413);
        return;
    }
    c->head_end = c->in_off + head_len;
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
    if (req->expect_continue && c->in_len == c->head_end)
        out_append(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
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

static void process(berth_conn *c)
{
    const berth_engine *e = c->w->engine;
    if (c->busy || c->dispatching)
        return;
    c->busy = 1;
    for (;;) {
        if (c->phase == P_HEAD) {
            if (c->no_more || c->out_pending > e->out_high_water)
                break;
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
        } else {
            break;
        }
    }
    /* After the peer's EOF, answer what is complete, then stop. */
    if (c->peer_eof && c->phase == P_HEAD && !c->no_more &&
        c->out_pending <= e->out_high_water) {
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

/* Moves to SHUTDOWN or CLOSED once the last response is written. */
static void settle(berth_conn *c)
{
    if (c->phase == P_HEAD && c->no_more && c->out_pending == 0 && !c->req) {
        if (c->peer_eof) {
            c->phase = P_CLOSED;
        } else {
            c->phase = P_LINGER;
            c->t_linger = now(c);
            c->linger_bytes = 0;
        }
    }
}

/* ---- backend interface ------------------------------------------------ */

char *berth_conn_read_buf(berth_conn *c, size_t *cap)
{
    size_t bs = c->w->buf_pool.block_size;
    if (c->phase == P_CLOSED || c->peer_eof)
        return NULL;
    if (c->phase == P_HEAD && (c->no_more || c->out_pending > c->w->engine->out_high_water))
        return NULL;
    if (!c->in) {
        c->in = berth_pool_get(&c->w->buf_pool);
        if (!c->in)
            return NULL;
        c->in_len = c->in_off = 0;
    }
    if (c->phase == P_LINGER) {
        *cap = bs;
        return c->in; /* discarded */
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
    if (c->phase == P_HEAD && (c->no_more || c->out_pending > c->w->engine->out_high_water))
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
        c->linger_bytes += n;
        if (n == 0 || c->linger_bytes > LINGER_MAX_BYTES)
            c->phase = P_CLOSED;
        return;
    }
    if (n == 0) {
        c->peer_eof = 1;
        if (c->phase == P_BODY || c->phase == P_WAIT) {
            /* The client went away before its response: nobody to answer. */
            request_end(c);
            conn_kill(c);
            return;
        }
    } else {
        c->in_len += n;
    }
    process(c);
    settle(c);
}

int berth_conn_state(const berth_conn *c)
{
    if (c->phase == P_CLOSED)
        return BERTH_CONN_CLOSED;
    if (c->phase == P_LINGER)
        return BERTH_CONN_SHUTDOWN;
    return BERTH_CONN_OPEN;
}

uint64_t berth_conn_deadline(const berth_conn *c)
{
    const berth_engine *e = c->w->engine;
    if (c->phase == P_LINGER)
        return c->t_linger + e->linger_ms;
    if (c->out_pending)
        return c->t_write + e->write_timeout_ms;
    if (c->phase == P_WAIT)
        return UINT64_MAX; /* a stream may be quiet for long */
    if (c->phase == P_BODY)
        return c->t_phase + e->body_timeout_ms;
    if (c->head_started)
        return c->t_phase + e->header_timeout_ms;
    return c->t_idle + e->idle_timeout_ms;
}

void berth_conn_on_timeout(berth_conn *c)
{
    if (c->phase == P_LINGER || c->out_pending) {
        conn_kill(c);
        return;
    }
    if (c->phase == P_BODY || c->head_started) {
        request_end(c);
        conn_error(c, 408);
        settle(c);
        return;
    }
    c->phase = P_CLOSED; /* idle keep-alive connection */
}

void berth_conn_drain(berth_conn *c)
{
    c->draining = 1;
    /* A deferred response still to come says close, and is the last. */
    if (c->stream)
        c->stream->keep_alive = 0;
    if (c->phase == P_HEAD && !c->head_started && !c->req) {
        c->no_more = 1;
        if (c->out_pending == 0)
            c->phase = P_CLOSED;
    }
}

void berth_conn_free(berth_conn *c)
{
    if (!c)
        return;
    /* Detach the stream first: once it no longer points at c, no other
     * thread can put c on the wake list again, so the removal below is
     * final (the other order leaves a window for a use after free). */
    if (c->stream) {
        berth_stream *s = c->stream;
        c->stream = NULL;
        berth_stream_detach(s, 1);
    }
    berth_worker *w = c->w;
    pthread_mutex_lock(&w->wake_lock);
    if (c->woken) {
        for (berth_conn **pp = &w->woken; *pp; pp = &(*pp)->wake_next) {
            if (*pp == c) {
                *pp = c->wake_next;
                break;
            }
        }
    }
    pthread_mutex_unlock(&w->wake_lock);
    request_end(c);
    out_release(c);
    berth_pool_put(&c->w->buf_pool, c->in);
    free(c);
}

/* ---- deferred and streamed responses ---------------------------------- */

int berth_conn_on_owner_thread(const berth_conn *c)
{
    return pthread_equal(pthread_self(), c->w->owner);
}

berth_stream *berth_res_defer(berth_res *res)
{
    berth_conn *c = res->conn;
    if (c->stream && res->deferred)
        return c->stream;
    if (!c->dispatching || c->stream)
        return NULL;
    struct berth_req *req = c->req;
    int keep_alive = req->keep_alive && !res->close && !c->draining;
    berth_stream *s = berth_stream_new(c, c->w, res->status, res->hdr, res->hdr_len,
                                       req->is_head, keep_alive);
    if (!s)
        return NULL;
    s->chunked = req->head.minor >= 1;
    c->stream = s;
    res->deferred = 1;
    c->phase = P_WAIT;
    return s;
}

/* New output from a stream operation on the owner thread: the fast
 * backend writes it at once; event loops get the connection queued, and
 * service it after the current callback. */
static void stream_output(berth_conn *c)
{
    if (c->w->flush)
        c->w->flush(c);
    else
        berth_worker_notify(c->w, c);
}

/* The response of the stream is complete: back to reading requests. */
static void stream_finish(berth_conn *c)
{
    berth_stream *s = c->stream;
    c->stream = NULL;
    if (!s->keep_alive)
        c->no_more = 1;
    berth_stream_detach(s, 0);
    if (c->phase == P_WAIT)
        c->phase = P_HEAD;
    c->t_idle = now(c);
    stream_output(c);
    process(c);
    settle(c);
}

static int stream_hdr_add(berth_stream *s, const char *name, size_t nlen, const char *value,
                          size_t vlen)
{
    char *n = realloc(s->hdr, s->hdr_len + nlen + vlen + 4);
    if (!n)
        return -1;
    char *p = n + s->hdr_len;
    memcpy(p, name, nlen);
    p += nlen;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, vlen);
    p += vlen;
    *p++ = '\r';
    *p++ = '\n';
    s->hdr = n;
    s->hdr_len = (size_t)(p - n);
    return 0;
}

static void stream_start(berth_conn *c, berth_stream *s, int status, const char *ct,
                         size_t ct_len)
{
    if (status >= 100 && status <= 999)
        s->status = status;
    int frame = !status_has_body(s->status) ? FRAME_NONE : s->chunked ? FRAME_CHUNKED : FRAME_CLOSE;
    if (frame == FRAME_CLOSE)
        s->keep_alive = 0; /* HTTP/1.0: the close ends the body */
    if (frame == FRAME_NONE)
        s->is_head = 1; /* no body may follow */
    char *p = out_reserve(c, head_bound(s->status, s->hdr_len, ct_len));
    if (!p) {
        fail_alloc(c);
        return;
    }
    char *start = p;
    p = head_put(c, p, s->status, s->hdr, s->hdr_len, ct, ct_len, frame, 0, s->keep_alive);
    out_commit(c, (size_t)(p - start));
    s->started = 1;
}

static void stream_write(berth_conn *c, berth_stream *s, const char *data, size_t len)
{
    if (s->is_head || len == 0)
        return;
    char *p = out_reserve(c, len + 24);
    if (!p) {
        fail_alloc(c);
        return;
    }
    char *start = p;
    if (s->chunked) {
        static const char hex[] = "0123456789abcdef";
        char tmp[16];
        int n = 0;
        size_t v = len;
        do {
            tmp[n++] = hex[v & 15];
            v >>= 4;
        } while (v);
        while (n)
            *p++ = tmp[--n];
        *p++ = '\r';
        *p++ = '\n';
    }
    p = put_str(p, data, len);
    if (s->chunked) {
        *p++ = '\r';
        *p++ = '\n';
    }
    out_commit(c, (size_t)(p - start));
}

void berth_conn_stream_apply(berth_conn *c, stream_op *op)
{
    berth_stream *s = c->stream;
    if (!s || c->phase == P_CLOSED)
        return;
    const char *a = op->data, *b = op->data + op->split;
    size_t alen = op->split, blen = op->len - op->split;
    switch (op->kind) {
    case OP_HEADER:
        if (s->started)
            break;
        if (berth_header_check(a, alen, b, blen) == BERTH_HDR_CLOSE)
            s->keep_alive = 0; /* as Connection: close set by a handler */
        else
            stream_hdr_add(s, a, alen, b, blen);
        break;
    case OP_SEND:
        if (!s->started) {
            if (op->status >= 100 && op->status <= 999)
                s->status = op->status;
            response_put(c, s->status, s->hdr, s->hdr_len, a, alen, b, blen, NULL, s->is_head,
                         s->keep_alive);
        } else if (s->chunked && !s->is_head) {
            stream_write(c, s, b, blen);
            out_append(c, "0\r\n\r\n", 5);
        }
        stream_finish(c);
        return;
    case OP_START:
        if (!s->started)
            stream_start(c, s, op->status, a, alen);
        break;
    case OP_WRITE:
        if (!s->started)
            stream_start(c, s, 0, NULL, 0);
        stream_write(c, s, b, blen);
        break;
    case OP_END:
        if (!s->started) {
            response_put(c, s->status, s->hdr, s->hdr_len, NULL, 0, NULL, 0, NULL, s->is_head,
                         s->keep_alive);
        } else if (s->chunked && !s->is_head) {
            out_append(c, "0\r\n\r\n", 5);
        }
        stream_finish(c);
        return;
    }
    berth_stream_set_pending(s, c->out_pending);
    stream_output(c);
}

void berth_conn_pump(berth_conn *c)
{
    berth_stream *s = c->stream;
    if (!s)
        return;
    stream_op *op = berth_stream_take(s);
    while (op) {
        stream_op *next = op->next;
        berth_conn_stream_apply(c, op);
        if (op->kind == OP_WRITE)
            berth_stream_consumed(s, op->len - op->split); /* writes keep s alive */
        free(op);
        op = next;
    }
}

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

char *berth_conn_block_get(berth_conn *c) { return berth_pool_get(&c->w->buf_pool); }
void berth_conn_block_put(berth_conn *c, char *block) { berth_pool_put(&c->w->buf_pool, block); }

void *berth_conn_backend_data(const berth_conn *c) { return c->backend_data; }
void berth_conn_set_backend_data(berth_conn *c, void *data) { c->backend_data = data; }
