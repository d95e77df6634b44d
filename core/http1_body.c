/* HTTP/1 request bodies: Content-Length and chunked bodies read from the
 * input buffer, delivered to on_body or buffered (in place, a pool block,
 * or memory of their own counted against the server's body budget). */
#include "http1.h"

#include <stdlib.h>
#include <string.h>

#include "budget.h"

/* Makes req hold `bytes` of the server's body budget (what it holds
 * already counts). 0, or -1 when the server's buffered bodies would pass
 * max_buffered_bodies. */
int berth_h1_body_budget(berth_conn *c, struct berth_req *req, uint64_t bytes)
{
    if (bytes <= req->budget)
        return 0;
    if (berth_budget_take(c->w->engine->bodies, bytes - req->budget) != 0)
        return -1;
    req->budget = bytes;
    return 0;
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
            if (berth_h1_body_budget(c, req, cap) != 0)
                return -2;
            char *nb = malloc(cap);
            if (!nb)
                return -1;
            if (req->body_len)
                memcpy(nb, req->body_buf, req->body_len);
            uint64_t held = req->budget;
            req->budget = 0; /* body_buf_free gives back only the old buffer's part */
            berth_h1_body_free(c, req);
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
int berth_h1_body_deliver(berth_conn *c, struct berth_req *req, const char *data, size_t n)
{
    req->body_received += n;
    if (req->streaming) {
        if (req->on_body) {
            req->pieces++;
            int rc = req->on_body(req, data, n, req->user);
            if (rc) {
                req->exch->reason = BERTH_REASON_REFUSED; /* HTTP/1's or an HTTP/2 stream's */
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
    struct berth_req *req = h1(c)->req;
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
    h1(c)->head_end -= by;
    h1(c)->body_pos -= by;
}

/* Consumes available body bytes. Returns 1 when the body is complete,
 * 0 when more is needed, or an error status. */
int berth_h1_body_step(berth_conn *c)
{
    struct berth_req *req = h1(c)->req;
    if (req->body_mode == BERTH_BODY_LENGTH) {
        if (h1(c)->body_in_place) {
            if (c->in_len - h1(c)->head_end < req->content_length)
                return 0;
            req->body = c->in + h1(c)->head_end;
            req->body_len = (size_t)req->content_length;
            req->body_received = req->content_length;
            h1(c)->body_pos = h1(c)->head_end + (size_t)req->content_length;
            return 1;
        }
        size_t avail = c->in_len - h1(c)->body_pos;
        uint64_t left = req->content_length - req->body_received;
        size_t n = avail < left ? avail : (size_t)left;
        if (n) {
            int rc = berth_h1_body_deliver(c, req, c->in + h1(c)->body_pos, n);
            if (rc)
                return rc;
            h1(c)->body_pos += n;
        }
        if (req->body_received == req->content_length)
            return 1;
    } else {
        const berth_engine *e = c->w->engine;
        for (;;) {
            size_t used = 0;
            const char *data = NULL;
            size_t dlen = 0;
            int rc = berth_chunked_next(&req->chunked, c->in + h1(c)->body_pos, c->in_len - h1(c)->body_pos,
                                        &used, &data, &dlen, req->max_body, e->max_header_bytes);
            h1(c)->body_pos += used;
            if (rc == BERTH_CHUNKED_DATA) {
                rc = berth_h1_body_deliver(c, req, data, dlen);
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
    if (h1(c)->body_pos == c->in_len) {
        c->in_len = h1(c)->body_pos = h1(c)->head_end;
        /* A head behind pipelined requests may leave (almost) no room for
         * the body: move it to the buffer's start. */
        size_t bs = c->w->buf_pool.block_size;
        if (c->in_off > 0 && bs - h1(c)->head_end < bs / 4)
            head_move_to_start(c);
    }
    return 0;
}

