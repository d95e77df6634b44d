/* An HTTP/2 stream as berth's request and exchange (docs/HTTP2.md): its
 * head copied as nghttp2 hands it over, checked against the same limits as
 * an HTTP/1 head, routed as HTTP/1 routes it (before hook, router, 404,
 * 405, max_body); its body to on_body or the request's buffer (HTTP/1's
 * own body code); the handler; the response submitted to nghttp2 with a
 * data provider over its body; the exchange ended once the stream closed. */
#include "h2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ascii.h"
#include "compress.h"
#include "http1.h"
#include "middleware.h"
#include "request.h"
#include "router.h"
#include "serialize.h"

#define NV_INLINE 40 /* response fields without an allocation */
/* A stream's strings (method, path, header fields) go first into an area
 * after its record, then into chunks of their own as its head grows (the
 * head budget bounds them): a stream costs about its head, not a pool
 * block (buf_size, 32 KiB or more, for up to 100 streams a connection). */
#define ST_INLINE 512
#define CHUNK_MIN 2048

struct h2_chunk {
    struct h2_chunk *next;
    size_t used, cap; /* bytes after the chunk's head */
};

/* ---- the stream's record and strings -------------------------------------- */

h2_stream *berth_h2s_open(berth_conn *c, int32_t id)
{
    berth_worker *w = c->w;
    const berth_engine *e = w->engine;
    h2_stream *st = malloc(sizeof *st + ST_INLINE);
    if (!st)
        return NULL;
    struct berth_req *req = berth_pool_get(&w->req_pool);
    if (!req) {
        free(st);
        return NULL;
    }
    memset(st, 0, sizeof *st);
    st->id = id;
    st->cap = ST_INLINE;
    /* As HTTP/1's request_start clears it: not the parameter arrays nor
     * the response (berth_res_init). */
    memset(req, 0, offsetof(struct berth_req, param_names));
    memset(&req->body, 0, offsetof(struct berth_req, res) - offsetof(struct berth_req, body));
    req->exch = &st->x;
    st->req = req;
    berth_exch_begin(&st->x, c->w);
    st->x.version = 20; /* counted as HTTP/2 even if its head is refused */
    req->head.headers = req->headers;
    req->head.max_headers = e->max_header_fields;
    req->head.minor = 1; /* what berth_req_version_minor says of HTTP/2 */
    req->head.major = 2; /* berth_req_http_version: 20 */
    req->keep_alive = 1;
    berth_res_init(&req->res, c, &w->buf_pool);
    berth_h2 *h = h2_of(c);
    st->next = h->streams;
    if (h->streams)
        h->streams->prev = st;
    h->streams = st;
    h->nstreams++;
    return st;
}

/* A copy of n bytes in the stream's area or chunks, or NULL out of
 * memory. */
static const char *keep(h2_stream *st, const uint8_t *p, size_t n)
{
    char *dst;
    struct h2_chunk *k = st->chunks;
    if (!n)
        return ""; /* an empty value: no space needed */
    if (n <= st->cap - st->used) {
        dst = (char *)(st + 1) + st->used;
        st->used += n;
    } else {
        if (!k || n > k->cap - k->used) {
            size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
            if (!(k = malloc(sizeof *k + cap)))
                return NULL;
            *k = (struct h2_chunk){st->chunks, 0, cap};
            st->chunks = k;
        }
        dst = (char *)(k + 1) + k->used;
        k->used += n;
    }
    memcpy(dst, p, n);
    return dst;
}

static int is(const uint8_t *p, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

void berth_h2s_header(berth_conn *c, h2_stream *st, const uint8_t *name, size_t nlen,
                      const uint8_t *value, size_t vlen)
{
    const berth_engine *e = c->w->engine;
    struct berth_req *req = st->req;
    if (st->fail)
        return;
    /* The budgets of an HTTP/1 head, so that a request gets the same answer
     * by either protocol: :method and :path make its request line
     * (max_request_line, 414), the other fields (:authority as Host) its
     * field section (max_header_bytes, 431; "name: value" and CRLF). */
    int pseudo = nlen && name[0] == ':' && !is(name, nlen, ":authority");
    if (!pseudo) {
        st->hdr_bytes += nlen + vlen + 4;
        if (st->hdr_bytes > e->max_header_bytes) {
            st->fail = 431;
            return;
        }
    } else if (vlen > e->max_request_line) {
        st->fail = 414; /* not kept: checked whole below */
        return;
    }
    if (nlen && name[0] == ':') {
        berth_str *dst = is(name, nlen, ":method") ? &req->head.method
                         : is(name, nlen, ":path") ? &req->head.target : NULL;
        if (is(name, nlen, ":authority")) {
            /* :authority stands for Host (RFC 9113 8.3.1): a field of its own. */
            name = (const uint8_t *)"host";
            nlen = 4;
        } else {
            if (!dst)
                return; /* :scheme; nghttp2 checked the set */
            const char *v = keep(st, value, vlen);
            if (!v) {
                st->fail = 500;
                return;
            }
            *dst = (berth_str){v, vlen};
            /* "METHOD SP target SP HTTP/1.1 CRLF" */
            if (req->head.method.len + req->head.target.len + 12 > e->max_request_line)
                st->fail = 414;
            return;
        }
    }
    if (nlen == 4 && memcmp(name, "host", 4) == 0 && st->have_host)
        return; /* :authority came first (pseudo-fields do): one Host */
    if (req->head.nheaders == req->head.max_headers) {
        st->fail = 431;
        return;
    }
    const char *n = keep(st, name, nlen), *v = n ? keep(st, value, vlen) : NULL;
    if (!n || !v) {
        st->fail = 500;
        return;
    }
    berth_header *hd = &req->headers[req->head.nheaders++];
    hd->name = (berth_str){n, nlen};
    hd->value = (berth_str){v, vlen};
    if (nlen == 4 && memcmp(n, "host", 4) == 0)
        st->have_host = 1;
}

/* ---- answers --------------------------------------------------------------- */

/* Names a response must not carry over HTTP/2 (RFC 9113 8.2.2); berth
 * drops Connection and Transfer-Encoding when they are set already. */
static int connection_specific(const char *name, size_t n)
{
    return (n == 10 && berth_ascii_ieq(name, "keep-alive", 10)) ||
           (n == 16 && berth_ascii_ieq(name, "proxy-connection", 16)) ||
           (n == 7 && berth_ascii_ieq(name, "upgrade", 7));
}

/* The next DATA frame's length; its bytes are written by berth_h2s_fill
 * straight into the output queue (NO_COPY: not through nghttp2's frame
 * buffer, one copy fewer). nghttp2 reads a stream's next frame only once
 * the last one was sent, so body_sent is where this one starts. */
static ssize_t body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *user)
{
    (void)s, (void)id, (void)buf, (void)user;
    h2_stream *st = src->ptr;
    struct berth_res *res = &st->req->res;
    uint64_t total = res->body_fd >= 0 ? res->body_flen : res->body_len;
    uint64_t left = total - st->body_sent;
    size_t n = left < len ? (size_t)left : len;
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (n == left)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

int berth_h2s_fill(h2_stream *st, char *dst, size_t n)
{
    struct berth_res *res = &st->req->res;
    if (res->body_fd >= 0) {
        ssize_t r = n ? pread(res->body_fd, dst, n, (off_t)(res->body_off + st->body_sent)) : 0;
        if (r < 0 || (size_t)r != n)
            return -1; /* the file shrank */
    } else if (n) {
        memcpy(dst, res->body + st->body_sent, n);
    }
    st->body_sent += n;
    return 0;
}

static nghttp2_nv nv(const char *name, size_t nlen, const char *value, size_t vlen)
{
    return (nghttp2_nv){(uint8_t *)(uintptr_t)name, (uint8_t *)(uintptr_t)value, nlen, vlen,
                        NGHTTP2_NV_FLAG_NONE};
}

/* The response in st's request, to nghttp2: fields, then the body through
 * a data provider: the response's own, or (streamed) the deferred
 * response's, which has no length and is sent as it is (no compression),
 * as over HTTP/1. */
void berth_h2s_submit(berth_conn *c, h2_stream *st, nghttp2_data_source_read_callback streamed)
{
    struct berth_req *req = st->req;
    struct berth_res *res = &req->res;
    if (st->answered)
        return;
    st->answered = 1;
    if (req->head_ok && !streamed)
        berth_comp_apply(c->w, req, 0, res);
    int status = res->status;
    uint64_t len = res->body_fd >= 0 ? res->body_flen : res->body_len;
    int has_body = berth_ser_status_has_body(status);
    size_t lines = 0;
    for (size_t i = 0; i < res->hdr_len; i++)
        lines += res->hdr[i] == '\n';
    nghttp2_nv inl[NV_INLINE], *v = inl;
    if (lines + 4 > NV_INLINE && !(v = malloc((lines + 4) * sizeof *v))) {
        nghttp2_submit_rst_stream(h2_of(c)->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    size_t n = 0;
    st->status[0] = (char)('0' + status / 100);
    st->status[1] = (char)('0' + status / 10 % 10);
    st->status[2] = (char)('0' + status % 10);
    v[n++] = nv(":status", 7, st->status, 3);
    if (!(res->omit & BERTH_OMIT_SERVER))
        v[n++] = nv("server", 6, "berth", 5);
    if (!(res->omit & BERTH_OMIT_DATE))
        v[n++] = nv("date", 4, c->w->clock.date, strlen(c->w->clock.date));
    /* "Name: value\r\n" lines: names lowercased in place (HTTP/2 wants
     * them so), values as set. */
    for (char *p = res->hdr, *end = res->hdr + res->hdr_len; p < end;) {
        char *eol = memchr(p, '\n', (size_t)(end - p)), *colon = memchr(p, ':', (size_t)(eol - p));
        char *val = colon + 1, *vend = eol - 1;
        while (val < vend && (*val == ' ' || *val == '\t'))
            val++;
        size_t nlen = (size_t)(colon - p);
        for (size_t i = 0; i < nlen; i++)
            p[i] = (char)berth_ascii_lower((unsigned char)p[i]);
        if (!connection_specific(p, nlen))
            v[n++] = nv(p, nlen, val, (size_t)(vend - val));
        p = eol + 1;
    }
    if (has_body && !streamed) {
        int k = snprintf(st->clen, sizeof st->clen, "%llu", (unsigned long long)len);
        v[n++] = nv("content-length", 14, st->clen, (size_t)k);
    }
    int send_body = has_body && !req->is_head && (len > 0 || streamed);
    st->x.status = status;
    st->x.bytes = has_body && !req->is_head && !streamed ? len : 0; /* streamed: as it goes */
    nghttp2_data_provider prd = {{.ptr = st}, streamed ? streamed : body_read};
    if (nghttp2_submit_response(h2_of(c)->s, st->id, v, n, send_body ? &prd : NULL) != 0)
        nghttp2_submit_rst_stream(h2_of(c)->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    if (v != inl)
        free(v);
    if (!send_body)
        berth_res_body_drop(res);
}

/* berth's answer to an error for the request (through the error hook);
 * what more the client sends on the stream is dropped. */
static void answer_error(berth_conn *c, h2_stream *st, int status)
{
    struct berth_req *req = st->req;
    berth_res_body_drop(&req->res);
    berth_error_fill(c, req->head_ok ? req : NULL, &req->res, status);
    req->rejected = 1;
    berth_h2s_submit(c, st, NULL);
}

/* ---- the request ------------------------------------------------------------- */

/* The request is answered without a handler: any body is dropped. */
static void answered(struct berth_req *req)
{
    req->handler = NULL;
    req->streaming = 1;
    req->on_body = NULL;
}

static int content_length(const struct berth_req *req, uint64_t *out)
{
    berth_str v;
    if (berth_req_header(req, "content-length", &v) != 0)
        return 0;
    uint64_t n = 0;
    for (size_t i = 0; i < v.len; i++)
        n = n * 10 + (uint64_t)(v.ptr[i] - '0'); /* nghttp2 checked the digits */
    *out = n;
    return 1;
}

void berth_h2s_head_done(berth_conn *c, h2_stream *st, int end_stream)
{
    const berth_engine *e = c->w->engine;
    struct berth_req *req = st->req;
    req->head_ok = req->head.method.ptr && req->head.target.ptr;
    if (!st->fail && !req->head_ok)
        st->fail = 400;
    if (!st->fail)
        st->fail = berth_req_split_target(req);
    if (st->fail) {
        answer_error(c, st, st->fail);
        return;
    }
    req->is_head = req->head.method.len == 4 && memcmp(req->head.method.ptr, "HEAD", 4) == 0;
    char allow[128];
    int rc = berth_mw_route(e, req, allow, sizeof allow);
    if (rc == 1) {
        answered(req); /* a before hook answered it */
    } else if (rc) {
        if (rc == 405)
            berth_res_header(&req->res, "Allow", allow);
        berth_error_fill(c, req, &req->res, rc);
        answered(req);
        req->rejected = 1;
    }
    if (!req->max_body)
        req->max_body = e->max_body;
    if (content_length(req, &req->content_length))
        req->body_mode = BERTH_BODY_LENGTH;
    else
        req->body_mode = end_stream ? BERTH_BODY_NONE : BERTH_BODY_CHUNKED; /* length unknown */
    if (req->body_mode == BERTH_BODY_LENGTH && req->content_length > req->max_body) {
        answer_error(c, st, 413);
        return;
    }
    st->routed = 1;
}

void berth_h2s_data(berth_conn *c, h2_stream *st, const uint8_t *data, size_t len)
{
    struct berth_req *req = st->req;
    if (!st->routed || st->answered)
        return; /* answered already: dropped */
    if (req->body_received + len > req->max_body) {
        answer_error(c, st, 413);
        return;
    }
    int rc = berth_h1_body_deliver(c, req, (const char *)data, len);
    if (rc)
        answer_error(c, st, rc);
}

void berth_h2s_timeout(berth_conn *c, h2_stream *st)
{
    st->x.reason = BERTH_REASON_BODY_TIMEOUT;
    answer_error(c, st, 408);
}

void berth_h2s_request_done(berth_conn *c, h2_stream *st)
{
    struct berth_req *req = st->req;
    st->ended = 1;
    if (!st->routed || st->answered)
        return;
    if (!req->streaming)
        req->body = req->body_buf; /* body_len counted as it came */
    if (req->streaming && req->on_body && req->pieces == 0) {
        /* An empty body: on_body still runs once, as over HTTP/1. */
        int rc = berth_h1_body_deliver(c, req, "", 0);
        if (rc) {
            answer_error(c, st, rc);
            return;
        }
    }
    if (req->handler) {
        c->dispatching = 1;
        req->handler(req, &req->res, req->user);
        c->dispatching = 0;
    }
    if (!st->hs) /* deferred: answered through its handle (h2_output.c) */
        berth_h2s_submit(c, st, NULL);
}

void berth_h2s_close(berth_conn *c, h2_stream *st, uint32_t error_code)
{
    struct berth_req *req = st->req;
    int outcome;
    /* Completed once its last frame went out, whatever the close says (a
     * client's RST_STREAM NO_ERROR before then cut the response short). */
    (void)error_code;
    if (st->answered && st->end_sent)
        outcome = req->rejected ? BERTH_DONE_REJECTED : BERTH_DONE_COMPLETED;
    else
        outcome = c->draining && !c->peer_eof ? BERTH_DONE_STOPPED : BERTH_DONE_ABORTED;
    berth_exch_end(&st->x, c->w->engine, c, req, outcome);
    berth_h1_body_free(c, req);
    berth_res_release(&req->res);
    berth_pool_put(&c->w->req_pool, req);
    berth_h2 *h = h2_of(c);
    if (st->prev)
        st->prev->next = st->next;
    else
        h->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    h->nstreams--;
    if (!h->freeing)
        nghttp2_session_set_stream_user_data(h->s, st->id, NULL);
    while (st->chunks) {
        struct h2_chunk *k = st->chunks;
        st->chunks = k->next;
        free(k);
    }
    free(st);
}
