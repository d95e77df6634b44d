/* HTTP/1's deferred and streamed responses: the handle a handler gets
 * from berth_res_defer, and the application of its operations (on the
 * owner thread) to the connection's output. Built on http1.c and the
 * connection core's mailbox; the handle itself (stream.c) reaches this
 * file only through its sink. */
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "http1.h"
#include "serialize.h"

static void apply(berth_conn *c, int kind, int status, const char *a, size_t alen, const char *b,
                  size_t blen);

static const berth_stream_sink sink = {apply, berth_conn_apply_streams, berth_conn_notify};

berth_stream *berth_res_defer(berth_res *res)
{
    berth_conn *c = res->conn;
    if (c->stream && res->deferred)
        return c->stream;
    if (!c->dispatching || c->stream)
        return NULL;
    struct berth_req *req = c->req;
    /* Whether a stop closes the connection is decided when the response
     * is serialized (stream_keep_alive). */
    int keep_alive = req->keep_alive && !res->close;
    berth_stream *s = berth_stream_new(&sink, c, c->w, res->status, res->hdr, res->hdr_len,
                                       res->omit, req->is_head, keep_alive);
    if (!s)
        return NULL;
    s->chunked = req->head.minor >= 1;
    s->no_compress = res->no_compress;
    if (c->w->engine->compress && !res->no_compress)
        s->gzip_q = berth_req_accept_encoding(req, "gzip");
    c->stream = s;
    res->deferred = 1;
    c->phase = P_WAIT;
    return s;
}

/* The keep-alive decision of a stream's response, made when its head is
 * serialized: a stop since the handler ran may close the connection. */
static int stream_keep_alive(berth_conn *c, berth_stream *s)
{
    if (s->keep_alive && !berth_conn_drain_keeps_alive(c))
        s->keep_alive = 0;
    return s->keep_alive;
}

/* The response is complete: the connection goes back to its requests,
 * which the loop processes (pump), not this call. */
static void stream_finish(berth_conn *c)
{
    berth_stream *s = c->stream;
    c->stream = NULL;
    /* A head sent keep-alive before a stop: close unless requests follow. */
    if (!s->keep_alive || !berth_conn_drain_keeps_alive(c))
        c->no_more = 1;
    /* Its header lines go to the completion callbacks (done.c). */
    free(c->x.res_hdr);
    c->x.res_hdr = s->hdr;
    c->x.res_hdr_len = s->hdr_len;
    s->hdr = NULL;
    s->hdr_len = 0;
    berth_stream_detach(s, 0);
    berth_exch_due(c);
    if (c->phase == P_WAIT)
        c->phase = P_HEAD;
    c->held = 1; /* input read during the wait, or the peer's EOF */
    c->t_idle = c->w->clock.now_ms;
    berth_conn_settle(c);
    berth_conn_output(c);
}

static int stream_hdr_add(berth_stream *s, const char *name, size_t nlen, const char *value,
                          size_t vlen)
{
    char *n = realloc(s->hdr, s->hdr_len + nlen + vlen + 4);
    if (!n)
        return -1; /* a response without a header it was given: not sent at all */
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

static int stream_start(berth_conn *c, berth_stream *s, int status, const char *ct,
                        size_t ct_len)
{
    if (status >= 100 && status <= 999)
        s->status = status;
    int frame = !berth_ser_status_has_body(s->status) ? BERTH_FRAME_NONE
                : s->chunked                          ? BERTH_FRAME_CHUNKED
                                                      : BERTH_FRAME_CLOSE;
    if (frame == BERTH_FRAME_CLOSE)
        s->keep_alive = 0; /* HTTP/1.0: the close ends the body */
    if (frame == BERTH_FRAME_NONE)
        s->is_head = 1; /* no body may follow */
    berth_head_out h = {s->status, s->hdr, s->hdr_len, ct, ct_len, frame, 0,
                        stream_keep_alive(c, s), s->omit};
    s->started = 1;
    c->x.status = s->status;
    return berth_ser_head(&c->out, &h);
}

static int stream_write(berth_conn *c, berth_stream *s, const char *data, size_t len)
{
    if (s->is_head || len == 0)
        return 0;
    c->x.bytes += len;
    return s->chunked ? berth_ser_chunk(&c->out, data, len) : berth_outq_append(&c->out, data, len);
}

/* A whole response that the compression rule may apply to: made into a
 * berth_res (as a handler's would be), compressed or not, serialized. */
static int stream_whole_comp(berth_conn *c, berth_stream *s, const char *ct, size_t ct_len,
                             const char *body, size_t len)
{
    struct berth_res *res = malloc(sizeof *res); /* 5 KiB: not on a small stack */
    if (!res)
        return -1;
    berth_res_init(res, c, &c->w->buf_pool);
    res->status = s->status;
    res->omit = s->omit;
    int rc = berth_res_header_lines(res, s->hdr, s->hdr_len);
    if (rc == 0 && ct_len)
        rc = berth_res_header_n(res, "Content-Type", 12, ct, ct_len);
    if (rc == 0) {
        berth_res_body_borrow(res, body, len);
        berth_comp_apply(c->w, NULL, s->gzip_q, res);
        berth_body_out b = {.ptr = res->body, .len = res->body_len, .fd = -1};
        c->x.status = s->status;
        c->x.bytes = s->is_head || !berth_ser_status_has_body(s->status) ? 0 : res->body_len;
        rc = berth_ser_response(&c->out, s->status, res->hdr, res->hdr_len, NULL, 0, &b,
                                !s->is_head, stream_keep_alive(c, s), res->omit);
    }
    berth_res_release(res);
    free(res);
    return rc;
}

/* The whole response at once (send, or end before start). */
static int stream_whole(berth_conn *c, berth_stream *s, const char *ct, size_t ct_len,
                        const char *body, size_t len)
{
    const berth_engine *e = c->w->engine;
    if (e->compress && !s->no_compress && (len >= e->compress_min || s->status == 304))
        return stream_whole_comp(c, s, ct, ct_len, body, len);
    berth_body_out b = {.ptr = body, .len = len, .fd = -1};
    c->x.status = s->status;
    c->x.bytes = s->is_head || !berth_ser_status_has_body(s->status) ? 0 : len;
    return berth_ser_response(&c->out, s->status, s->hdr, s->hdr_len, ct, ct_len, &b,
                              !s->is_head, stream_keep_alive(c, s), s->omit);
}

static void apply(berth_conn *c, int kind, int status, const char *a, size_t alen, const char *b,
                  size_t blen)
{
    berth_stream *s = c->stream;
    if (!s || c->phase == P_CLOSED)
        return;
    int rc = 0;
    switch (kind) {
    case OP_HEADER:
        if (s->started)
            break;
        int hk = berth_header_check(a, alen, b, blen);
        if (hk == BERTH_HDR_CLOSE) {
            s->keep_alive = 0; /* as Connection: close set by a handler */
        } else {
            s->omit |= berth_header_omit(hk);
            rc = stream_hdr_add(s, a, alen, b, blen);
        }
        break;
    case OP_SEND:
        if (!s->started) {
            if (status >= 100 && status <= 999)
                s->status = status;
            rc = stream_whole(c, s, a, alen, b, blen);
        } else if (!s->is_head) {
            rc = stream_write(c, s, b, blen);
            if (rc == 0 && s->chunked) /* never the last chunk after a lost one */
                rc = berth_ser_chunk(&c->out, NULL, 0);
        }
        break;
    case OP_START:
        if (!s->started)
            rc = stream_start(c, s, status, a, alen);
        break;
    case OP_WRITE:
        if (!s->started)
            rc = stream_start(c, s, 0, NULL, 0);
        if (rc == 0)
            rc = stream_write(c, s, b, blen);
        break;
    case OP_END:
        if (!s->started)
            rc = stream_whole(c, s, NULL, 0, NULL, 0);
        else if (s->chunked && !s->is_head)
            rc = berth_ser_chunk(&c->out, NULL, 0);
        break;
    }
    if (rc != 0) {
        berth_conn_mailbox_fail(c);
        return;
    }
    if (kind == OP_SEND || kind == OP_END) {
        stream_finish(c);
        return;
    }
    berth_stream_set_pending(s, (size_t)c->out.pending);
    berth_conn_output(c);
}
