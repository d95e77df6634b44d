/* HTTP/1's exchange: the request in progress from its head to its end
 * (berth_exch), what its completion callbacks are told, and the answers
 * berth writes itself: errors (through the error hook) and a handler's
 * response serialized into the output queue. */
#include "http1.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compress.h"
#include "serialize.h"

/* ---- the request's lifetime (berth_exch) -------------------------------- */

uint64_t berth_h1_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A deferred response outlives its request's memory: what the callbacks
 * will be told is copied (only when one is set). */
void berth_h1_exch_keep(berth_conn *c, const struct berth_req *req)
{
    berth_exch *x = &h1(c)->x;
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
    if (h1(c)->x.reason)
        return h1(c)->x.reason; /* a timeout, on_body's refusal */
    if (c->reason)
        return c->reason; /* a layer's failure (TLS), the write timeout */
    if (outcome == BERTH_DONE_ABORTED)
        return c->peer_eof ? BERTH_REASON_CLIENT_CLOSED : BERTH_REASON_CLIENT_RESET;
    switch (h1(c)->x.status) {
    case 404: case 405: return BERTH_REASON_NO_ROUTE;
    case 408: return BERTH_REASON_HEADER_TIMEOUT;
    case 413: case 414: case 431: case 503: return BERTH_REASON_LIMIT;
    case 500: return BERTH_REASON_INTERNAL;
    default: return BERTH_REASON_BAD_REQUEST;
    }
}

/* The request is over: its callbacks run, once. */
void berth_h1_exch_end(berth_conn *c, int outcome)
{
    berth_exch *x = &h1(c)->x;
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
        const struct berth_req *req = h1(c)->req;
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
        d.duration_us = x->t0_us ? berth_h1_now_us() - x->t0_us : 0;
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
    if (h1(c)->x.live)
        h1(c)->x.due = 1;
}

/* ---- errors -------------------------------------------------------------- */

/* An error answered through the error hook: in the request's response
 * (headers a before hook set stay), or one made for it. */
static int error_hooked(berth_conn *c, int status)
{
    struct berth_req *req = h1(c)->req, *tmp = NULL;
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
    berth_h1_response_write(c, r, 0);
    if (tmp) {
        berth_res_release(&tmp->res);
        berth_pool_put(&c->w->req_pool, tmp);
    }
    return c->phase == P_CLOSED ? -1 : 0;
}

/* Queues berth's answer to an error and reads no further request. */
void berth_h1_error(berth_conn *c, int status)
{
    const berth_engine *e = c->w->engine;
    if (!h1(c)->x.live && e->after)
        berth_h1_exch_begin(c); /* no request was read: the after hook still hears of it */
    if ((e->on_error ? error_hooked(c, status) : berth_ser_error(&c->out, status)) != 0) {
        berth_conn_kill(c);
        return;
    }
    h1(c)->no_more = 1;
    h1(c)->x.status = status;
    berth_h1_exch_end(c, BERTH_DONE_REJECTED);
}


/* ---- responses ----------------------------------------------------------- */

static int within(const char *p, const char *base, size_t len)
{
    return base && (uintptr_t)p >= (uintptr_t)base && (uintptr_t)p < (uintptr_t)base + len;
}

/* Serializes the response of the current request; its body moves to the
 * output queue (or is copied when it lives in memory the request reuses). */
void berth_h1_response_write(berth_conn *c, struct berth_req *req, int keep_alive)
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
    h1(c)->x.status = res->status;
    h1(c)->x.bytes = req->is_head || !berth_ser_status_has_body(res->status) ? 0 : b.len;
    if (berth_ser_response(&c->out, res->status, res->hdr, res->hdr_len, NULL, 0, &b,
                           !req->is_head, keep_alive, res->omit) != 0)
        berth_conn_kill(c);
}


void berth_req_set_data(berth_req *req, void *data) { h1(req->res.conn)->x.data = data; }
void *berth_req_data(const berth_req *req) { return h1(req->res.conn)->x.data; }

void berth_req_on_done(berth_req *req, berth_done_fn fn, void *arg)
{
    berth_exch *x = &h1(req->res.conn)->x;
    x->fn = fn;
    x->arg = arg;
    if (fn && !x->t0_us)
        x->t0_us = berth_h1_now_us();
}

