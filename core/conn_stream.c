/* HTTP/1's deferred and streamed responses: the handle a handler gets
 * from berth_res_defer, and the application of its operations (on the
 * owner thread) to the connection's output. Built on http1_conn.c and the
 * connection core's mailbox; the handle itself (stream.c) reaches this
 * file only through its sink. */
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "http1.h"
#include "serialize.h"

static void apply(berth_stream *hs, berth_conn *c, int kind, int status, const char *a,
                  size_t alen, const char *b, size_t blen);

static void release(berth_stream *s);

static const berth_stream_sink sink = {apply, berth_conn_apply_streams, berth_conn_notify, release};

/* A deferred response's state, in its handle's owner area (owner thread
 * only, until the handle is freed). */
typedef struct deferred {
    int status;
    char *hdr;                 /* header lines, "Name: value\r\n" each */
    size_t hdr_len;
    int started;
    int chunked;
    int is_head;
    int keep_alive;
    unsigned omit;             /* BERTH_OMIT_* (serialize.h) */
    int gzip_q;                /* the client's weight for gzip (a whole send may be
                                  compressed; the request is gone by then) */
    int no_compress;           /* berth_res_compress(res, 0) before the defer */
} deferred;

static deferred *deferred_of(berth_stream *s) { return berth_stream_owner(s); }

static void release(berth_stream *s) { free(deferred_of(s)->hdr); }

berth_stream *berth_res_defer(berth_res *res)
{
    berth_conn *c = res->conn;
    if (c->stream && res->deferred)
        return c->stream;
    if (c->proto != &berth_h1_proto) /* HTTP/2: a handle per stream (h2_output.c) */
        return c->dispatching && c->proto->defer ? c->proto->defer(c, res) : NULL;
    if (!c->dispatching || c->stream)
        return NULL;
    struct berth_req *req = h1(c)->req;
    /* Whether a stop closes the connection is decided when the response
     * is serialized (stream_keep_alive). */
    int keep_alive = req->keep_alive && !res->close;
    berth_stream *s = berth_stream_new(&sink, c, c->w, sizeof(deferred));
    if (!s)
        return NULL;
    deferred *d = deferred_of(s);
    if (res->hdr_len) {
        d->hdr = malloc(res->hdr_len);
        if (!d->hdr) {
            berth_stream_detach(s, 0);
            berth_stream_release(s);
            return NULL;
        }
        memcpy(d->hdr, res->hdr, res->hdr_len);
        d->hdr_len = res->hdr_len;
    }
    d->status = res->status;
    d->omit = res->omit;
    d->is_head = req->is_head;
    d->keep_alive = keep_alive;
    d->chunked = req->head.minor >= 1;
    d->no_compress = res->no_compress;
    if (c->w->engine->compress && !res->no_compress)
        d->gzip_q = berth_req_accept_encoding(req, "gzip");
    c->stream = s;
    res->deferred = 1;
    c->phase = P_WAIT;
    return s;
}

/* The keep-alive decision of a stream's response, made when its head is
 * serialized: a stop since the handler ran may close the connection. */
static int stream_keep_alive(berth_conn *c, deferred *d)
{
    if (d->keep_alive && !berth_conn_drain_keeps_alive(c))
        d->keep_alive = 0;
    return d->keep_alive;
}

/* The response is complete: the connection goes back to its requests,
 * which the loop processes (pump), not this call. */
static void stream_finish(berth_conn *c)
{
    berth_stream *s = c->stream;
    deferred *d = deferred_of(s);
    c->stream = NULL;
    /* A head sent keep-alive before a stop: close unless requests follow. */
    if (!d->keep_alive || !berth_conn_drain_keeps_alive(c))
        h1(c)->no_more = 1;
    /* Its header lines go to the completion callbacks (done.c). */
    free(h1(c)->x.res_hdr);
    h1(c)->x.res_hdr = d->hdr;
    h1(c)->x.res_hdr_len = d->hdr_len;
    d->hdr = NULL;
    d->hdr_len = 0;
    berth_stream_detach(s, 0);
    berth_exch_due(&h1(c)->x);
    if (c->phase == P_WAIT)
        c->phase = P_HEAD;
    h1(c)->held = 1; /* input read during the wait, or the peer's EOF */
    h1(c)->t_idle = c->w->clock.now_ms;
    berth_conn_settle(c);
    berth_conn_output(c);
}

static int stream_hdr_add(deferred *d, const char *name, size_t nlen, const char *value,
                          size_t vlen)
{
    char *n = realloc(d->hdr, d->hdr_len + nlen + vlen + 4);
    if (!n)
        return -1; /* a response without a header it was given: not sent at all */
    char *p = n + d->hdr_len;
    memcpy(p, name, nlen);
    p += nlen;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, vlen);
    p += vlen;
    *p++ = '\r';
    *p++ = '\n';
    d->hdr = n;
    d->hdr_len = (size_t)(p - n);
    return 0;
}

static int stream_start(berth_conn *c, deferred *d, int status, const char *ct,
                        size_t ct_len)
{
    if (status >= 100 && status <= 999)
        d->status = status;
    int frame = !berth_ser_status_has_body(d->status) ? BERTH_FRAME_NONE
                : d->chunked                          ? BERTH_FRAME_CHUNKED
                                                      : BERTH_FRAME_CLOSE;
    if (frame == BERTH_FRAME_CLOSE)
        d->keep_alive = 0; /* HTTP/1.0: the close ends the body */
    if (frame == BERTH_FRAME_NONE)
        d->is_head = 1; /* no body may follow */
    berth_head_out h = {d->status, d->hdr, d->hdr_len, ct, ct_len, frame, 0,
                        stream_keep_alive(c, d), d->omit};
    d->started = 1;
    h1(c)->x.status = d->status;
    return berth_ser_head(&c->out, &h);
}

static int stream_write(berth_conn *c, deferred *d, const char *data, size_t len)
{
    if (d->is_head || len == 0)
        return 0;
    h1(c)->x.bytes += len;
    return d->chunked ? berth_ser_chunk(&c->out, data, len) : berth_outq_append(&c->out, data, len);
}

/* A whole response that the compression rule may apply to: made into a
 * berth_res (as a handler's would be), compressed or not, serialized. */
static int stream_whole_comp(berth_conn *c, deferred *d, const char *ct, size_t ct_len,
                             const char *body, size_t len)
{
    struct berth_res *res = malloc(sizeof *res); /* 5 KiB: not on a small stack */
    if (!res)
        return -1;
    berth_res_init(res, c, &c->w->buf_pool);
    res->status = d->status;
    res->omit = d->omit;
    int rc = berth_res_header_lines(res, d->hdr, d->hdr_len);
    if (rc == 0 && ct_len)
        rc = berth_res_header_n(res, "Content-Type", 12, ct, ct_len);
    if (rc == 0) {
        berth_res_body_borrow(res, body, len);
        berth_comp_apply(c->w, NULL, d->gzip_q, res);
        berth_body_out b = {.ptr = res->body, .len = res->body_len, .fd = -1};
        h1(c)->x.status = d->status;
        h1(c)->x.bytes = d->is_head || !berth_ser_status_has_body(d->status) ? 0 : res->body_len;
        rc = berth_ser_response(&c->out, d->status, res->hdr, res->hdr_len, NULL, 0, &b,
                                !d->is_head, stream_keep_alive(c, d), res->omit);
    }
    berth_res_release(res);
    free(res);
    return rc;
}

/* The whole response at once (send, or end before start). */
static int stream_whole(berth_conn *c, deferred *d, const char *ct, size_t ct_len,
                        const char *body, size_t len)
{
    const berth_engine *e = c->w->engine;
    if (e->compress && !d->no_compress && (len >= e->compress_min || d->status == 304))
        return stream_whole_comp(c, d, ct, ct_len, body, len);
    berth_body_out b = {.ptr = body, .len = len, .fd = -1};
    h1(c)->x.status = d->status;
    h1(c)->x.bytes = d->is_head || !berth_ser_status_has_body(d->status) ? 0 : len;
    return berth_ser_response(&c->out, d->status, d->hdr, d->hdr_len, ct, ct_len, &b,
                              !d->is_head, stream_keep_alive(c, d), d->omit);
}

static void apply(berth_stream *hs, berth_conn *c, int kind, int status, const char *a,
                  size_t alen, const char *b, size_t blen)
{
    (void)hs; /* HTTP/1 has one: c->stream */
    berth_stream *s = c->stream;
    if (!s || c->phase == P_CLOSED)
        return;
    deferred *d = deferred_of(s);
    int rc = 0;
    switch (kind) {
    case OP_HEADER:
        if (d->started)
            break;
        int hk = berth_header_check(a, alen, b, blen);
        if (hk == BERTH_HDR_CLOSE) {
            d->keep_alive = 0; /* as Connection: close set by a handler */
        } else {
            d->omit |= berth_header_omit(hk);
            rc = stream_hdr_add(d, a, alen, b, blen);
        }
        break;
    case OP_SEND:
        if (!d->started) {
            if (status >= 100 && status <= 999)
                d->status = status;
            rc = stream_whole(c, d, a, alen, b, blen);
        } else if (!d->is_head) {
            rc = stream_write(c, d, b, blen);
            if (rc == 0 && d->chunked) /* never the last chunk after a lost one */
                rc = berth_ser_chunk(&c->out, NULL, 0);
        }
        break;
    case OP_START:
        if (!d->started)
            rc = stream_start(c, d, status, a, alen);
        break;
    case OP_WRITE:
        if (!d->started)
            rc = stream_start(c, d, 0, NULL, 0);
        if (rc == 0)
            rc = stream_write(c, d, b, blen);
        break;
    case OP_END:
        if (!d->started)
            rc = stream_whole(c, d, NULL, 0, NULL, 0);
        else if (d->chunked && !d->is_head)
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
