#include "compress.h"

#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine.h"
#include "request.h"
#include "serialize.h"

/* Text and text-like formats; images, video, archives and fonts in woff
 * form are compressed already. */
const char berth_comp_default_types[] =
    "text/*, application/json, application/*+json, application/javascript, "
    "application/x-javascript, application/ecmascript, application/xml, application/*+xml, "
    "image/svg+xml, application/wasm, font/ttf, font/otf";

static int is_tchar(unsigned char c)
{
    return c > ' ' && c < 127 && !strchr("\"(),/:;<=>?@[\\]{}", c);
}

static const char *skip_ows(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    return s;
}

/* One side of a pattern against one side of a type: "*", a token, or (a
 * subtype) "*+suffix". */
static int part_matches(const char *p, size_t plen, const char *t, size_t tlen)
{
    if (plen == 1 && p[0] == '*')
        return 1;
    if (plen > 2 && p[0] == '*' && p[1] == '+')
        return tlen > plen - 1 && strncasecmp(t + tlen - (plen - 1), p + 1, plen - 1) == 0;
    return plen == tlen && strncasecmp(p, t, tlen) == 0;
}

/* Splits "a/b" (trimmed) at the slash; 0 if there is none. */
static int split_type(const char *s, const char *end, const char **slash)
{
    *slash = memchr(s, '/', (size_t)(end - s));
    return *slash && *slash > s && *slash + 1 < end;
}

int berth_comp_type_matches(const char *list, const char *type, size_t len)
{
    /* the media type without parameters or whitespace */
    const char *tend = memchr(type, ';', len);
    tend = tend ? tend : type + len;
    type = skip_ows(type, tend);
    while (tend > type && (tend[-1] == ' ' || tend[-1] == '\t'))
        tend--;
    const char *tslash;
    if (!split_type(type, tend, &tslash))
        return 0;
    for (const char *s = list; *s;) {
        const char *comma = strchr(s, ',');
        const char *e = comma ? comma : s + strlen(s);
        const char *a = skip_ows(s, e), *b = e, *pslash;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (split_type(a, b, &pslash) &&
            part_matches(a, (size_t)(pslash - a), type, (size_t)(tslash - type)) &&
            part_matches(pslash + 1, (size_t)(b - pslash - 1), tslash + 1,
                         (size_t)(tend - tslash - 1)))
            return 1;
        s = comma ? comma + 1 : e;
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
        if (!is_tchar((unsigned char)*p) || *p == '*')
            return 0;
    return 1;
}

long berth_comp_types_check(const char *list)
{
    for (const char *s = list; *s;) {
        const char *comma = strchr(s, ',');
        const char *e = comma ? comma : s + strlen(s);
        const char *a = skip_ows(s, e), *b = e, *slash;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (a < b && !(split_type(a, b, &slash) && part_ok(a, slash, 0) &&
                       part_ok(slash + 1, b, 1)))
            return (long)(a - list);
        s = comma ? comma + 1 : e;
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

/* 1 if the list value v holds token (case-insensitive). */
static int list_has(berth_str v, const char *token)
{
    size_t tl = strlen(token);
    const char *s = v.ptr, *end = v.ptr + v.len;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end, *a = skip_ows(s, e), *b = e;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if ((size_t)(b - a) == tl && strncasecmp(a, token, tl) == 0)
            return 1;
        s = comma ? comma + 1 : end;
    }
    return 0;
}

/* Vary: Accept-Encoding, unless the handler's Vary already says so (or
 * *): then 1, the handler negotiates encodings itself. -1: out of memory
 * for the header. */
static int vary_add(struct berth_res *res)
{
    berth_str v;
    if (berth_res_header_get(res, "vary", &v) && (list_has(v, "accept-encoding") || list_has(v, "*")))
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

void berth_comp_apply(berth_worker *w, const struct berth_req *req, int gzip_q,
                      struct berth_res *res)
{
    const berth_engine *e = w->engine;
    /* Cheapest tests first: most responses stop at the size. */
    if (!e->compress || res->no_compress || res->body_fd >= 0)
        return;
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
