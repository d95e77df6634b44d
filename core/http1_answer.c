/* HTTP/1's answers: errors berth writes itself (through the error hook)
 * and a handler's response serialized into the output queue, each ending
 * the exchange (exch.c) it answers. */
#include "http1.h"

#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "multipart.h"
#include "serialize.h"

/* ---- errors -------------------------------------------------------------- */

/* What a client that sent plain HTTP to a TLS port reads when no error
 * hook is set: the reason, and why (no other request of it is served). */
static void fill_plain_http(struct berth_res *res, int status)
{
    static const char why[] = ": this port speaks HTTPS.\n";
    const char *reason = berth_status_reason(status);
    size_t n = strlen(reason);
    res->status = status;
    berth_res_header(res, "Content-Type", "text/plain; charset=utf-8");
    char *body = berth_res_body_reserve(res, n + sizeof why - 1);
    if (body) {
        memcpy(body, reason, n);
        memcpy(body + n, why, sizeof why - 1);
    }
}

/* An error answered in a response made like a handler's: through the
 * error hook or with berth's reason for the request (in the request's
 * response: headers a before hook set stay, or one made for it), or
 * berth's own answer to plain HTTP on a TLS port. */
static int error_in_response(berth_conn *c, int status)
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
    if (c->w->engine->on_error || c->pipe.refusal != BERTH_PIPE_REFUSE_PLAIN_HTTP)
        berth_error_fill(c, req && req->head_ok ? req : NULL, &r->res, status);
    else
        fill_plain_http(&r->res, status);
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
    int plain_http = c->pipe.refusal == BERTH_PIPE_REFUSE_PLAIN_HTTP;
    if (!h1(c)->x.live)
        berth_h1_exch_begin(c); /* no request was read: the after hook and the counters
                                   still hear of it */
    /* berth's constant answer, unless a hook or a reason of its own (a
     * multipart body's) shapes it */
    int shaped = e->on_error || plain_http || berth_req_error_text(h1(c)->req, status);
    int rc = shaped ? error_in_response(c, status) : berth_ser_error(&c->out, status);
    if (rc != 0) {
        berth_conn_kill(c);
        return;
    }
    h1(c)->no_more = 1;
    h1(c)->x.status = status;
    if (plain_http && !h1(c)->x.reason)
        h1(c)->x.reason = BERTH_REASON_TLS; /* (a timeout keeps its own) */
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
