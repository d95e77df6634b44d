#include "compress.h"

#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>

#include "ascii.h"
#include "engine.h"
#include "field_list.h"
#include "request.h"
#include "serialize.h"

/* Text and text-like formats; images, video, archives and fonts in woff
 * form are compressed already. */
const char berth_comp_default_types[] =
    "text/*, application/json, application/*+json, application/javascript, "
    "application/x-javascript, application/ecmascript, application/xml, application/*+xml, "
    "image/svg+xml, application/wasm, font/ttf, font/otf";

/* One side of a pattern against one side of a type: "*", a token, or (a
 * subtype) "*+suffix". */
static int part_matches(const char *p, size_t plen, const char *t, size_t tlen)
{
    if (plen == 1 && p[0] == '*')
        return 1;
    if (plen > 2 && p[0] == '*' && p[1] == '+')
        return tlen > plen - 1 && berth_ascii_ieq(t + tlen - (plen - 1), p + 1, plen - 1);
    return plen == tlen && berth_ascii_ieq(p, t, tlen);
}

/* Splits "a/b" at the slash; 0 if there is none. */
static int split_type(berth_str s, const char **slash)
{
    *slash = s.len ? memchr(s.ptr, '/', s.len) : NULL;
    return *slash && *slash > s.ptr && *slash + 1 < s.ptr + s.len;
}

int berth_comp_type_matches(const char *list, const char *type, size_t len)
{
    /* the media type without parameters or whitespace */
    berth_str params, t = berth_list_value((berth_str){type, len}, &params);
    const char *tslash, *pslash;
    if (!split_type(t, &tslash))
        return 0;
    berth_list l = berth_list_of(list, strlen(list));
    berth_str p;
    while (berth_list_next(&l, &p)) {
        if (split_type(p, &pslash) &&
            part_matches(p.ptr, (size_t)(pslash - p.ptr), t.ptr, (size_t)(tslash - t.ptr)) &&
            part_matches(pslash + 1, (size_t)(p.ptr + p.len - pslash - 1), tslash + 1,
                         (size_t)(t.ptr + t.len - tslash - 1)))
            return 1;
    }
    return 0;
}

/* A side of a pattern: "*", "*+token" (subtype only) or a token. */
static int part_ok(const char *p, const char *end, int subtype)
{
    if (end - p == 1 && *p == '*')
        return 1;
    if (subtype && end - p > 2 && p[0] == '*' && p[1] == '+')
        p += 2;
    if (p == end)
        return 0;
    for (; p < end; p++)
        if (!berth_is_tchar((unsigned char)*p) || *p == '*')
            return 0;
    return 1;
}

long berth_comp_types_check(const char *list)
{
    berth_list l = berth_list_of(list, strlen(list));
    berth_str p;
    const char *slash;
    while (berth_list_next(&l, &p)) {
        if (!(split_type(p, &slash) && part_ok(p.ptr, slash, 0) &&
              part_ok(slash + 1, p.ptr + p.len, 1)))
            return (long)(p.ptr - list);
    }
    return -1;
}

/* The worker's compressor, made at its first use. */
static struct libdeflate_compressor *gzip_of(berth_worker *w)
{
    if (!w->gzip)
        w->gzip = libdeflate_alloc_compressor(w->engine->gzip_level);
    return w->gzip;
}

void berth_comp_free(berth_worker *w)
{
    if (w->gzip)
        libdeflate_free_compressor(w->gzip);
    w->gzip = NULL;
}

/* Vary: Accept-Encoding, unless the handler's Vary already says so (or
 * *): then 1, the handler negotiates encodings itself. -1: out of memory
 * for the header. */
static int vary_add(struct berth_res *res)
{
    berth_str v;
    if (berth_res_header_get(res, "vary", &v) &&
        (berth_list_has(v, "accept-encoding", 15) || berth_list_has(v, "*", 1)))
        return 1;
    return berth_res_header_n(res, "Vary", 4, "Accept-Encoding", 15) == 0 ? 0 : -1;
}

/* A strong ETag names one representation's bytes (RFC 9110 8.8.3): the
 * compressed reply's is made weak, as nginx does, so that If-None-Match
 * (a weak comparison) still matches it. */
static void etag_weaken(struct berth_res *res)
{
    berth_str v;
    char buf[512];
    if (!berth_res_header_get(res, "etag", &v) || v.len == 0 || v.ptr[0] != '"')
        return;
    if (v.len + 2 > sizeof buf) {
        berth_res_header_remove(res, "ETag"); /* no tag rather than a false strong one */
        return;
    }
    memcpy(buf, "W/", 2);
    memcpy(buf + 2, v.ptr, v.len);
    size_t n = v.len + 2;
    berth_res_header_remove(res, "ETag");
    berth_res_header_n(res, "ETag", 4, buf, n);
}

/* Compresses res's body in place of it and labels it (Content-Encoding);
 * 0, or -1 (left as it was) when out of memory or when gzip would not make
 * it smaller. The label is added before the body is replaced: gzip bytes
 * never go out without it. */
static int body_gzip(berth_worker *w, struct berth_res *res)
{
    struct libdeflate_compressor *gz = gzip_of(w);
    if (!gz)
        return -1;
    size_t bound = libdeflate_gzip_compress_bound(gz, res->body_len);
    /* A pool block up to the copy limit: copied next to the head and
     * given back at once, as handlers' own pooled bodies are. */
    int pooled = bound <= BERTH_SER_COPY_MAX && bound <= w->buf_pool.block_size;
    char *dst = pooled ? berth_pool_get(&w->buf_pool) : malloc(bound);
    if (!dst)
        return -1;
    size_t n = libdeflate_gzip_compress(gz, res->body, res->body_len, dst, bound);
    if (n == 0 || n >= res->body_len ||
        berth_res_header_n(res, "Content-Encoding", 16, "gzip", 4) != 0) {
        if (pooled)
            berth_pool_put(&w->buf_pool, dst);
        else
            free(dst);
        return -1;
    }
    berth_res_body_drop(res);
    res->body = dst;
    res->body_len = n;
    res->body_alloc = dst;
    res->body_pooled = pooled;
    return 0;
}

/* The rule past its first tests (berth_comp_apply). Apart, so that the
 * common call, stopped by the size, costs a few instructions. */
static __attribute__((noinline)) void comp_decide(berth_worker *w, const struct berth_req *req,
                                                  int gzip_q, struct berth_res *res)
{
    const berth_engine *e = w->engine;
    int status = res->status, bodyless = !berth_ser_status_has_body(status);
    if (status == 206 || (bodyless && status != 304) || (!bodyless && res->body_len < e->compress_min))
        return;
    berth_str ct;
    if (!berth_res_header_get(res, "content-type", &ct) ||
        !berth_comp_type_matches(e->compress_types, ct.ptr, ct.len) ||
        berth_res_has_header(res, "content-encoding") || berth_res_has_header(res, "content-range"))
        return;
    /* From here the answer depends on Accept-Encoding: caches must know.
     * Without room for the Vary it goes as it is (an identity body suits
     * every client, a cache's copy included). */
    int own_vary = vary_add(res);
    if (own_vary < 0 || (req ? berth_req_accept_encoding(req, "gzip") : gzip_q) == 0)
        return;
    if (bodyless) {
        /* A 304 for what would be sent compressed carries the weak tag the
         * 200 would, unless the handler varies on Accept-Encoding itself
         * (a static handler's tag per precompressed sibling). */
        if (!own_vary)
            etag_weaken(res);
        return;
    }
    if (body_gzip(w, res) != 0)
        return;
    etag_weaken(res); /* out of memory: no ETag rather than the strong one */
}

void berth_comp_apply(berth_worker *w, const struct berth_req *req, int gzip_q,
                      struct berth_res *res)
{
    const berth_engine *e = w->engine;
    /* Cheapest tests first: most responses stop at the size (a 304 has
     * no body, and may still need the Vary and the weak tag; a file
     * body's length is not body_len, and it goes as it is anyway). */
    if (!e->compress || (res->body_len < e->compress_min && res->status != 304) ||
        res->no_compress || res->body_fd >= 0)
        return;
    comp_decide(w, req, gzip_q, res);
}
