/* Reply helpers (berth.h, "Reply helpers"): a printf-style body, a JSON
 * error (and the on_error hook made of it), and the JSON string escape
 * under it. A body is made in memory the
 * current body does not use and swapped in only once complete, so an
 * argument may point into the body it replaces and a failure leaves the
 * response as it was. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"
#include "request.h"
#include "serialize.h"

/* Memory for a body of need bytes (a NUL included) that is not the
 * response's: a pool block up to the copy limit as berth_res_body_reserve
 * takes (no malloc on the hot path), else its exact size. */
static char *space_get(berth_res *res, size_t need, int *pooled)
{
    *pooled = need <= BERTH_SER_COPY_MAX && res->pool && need <= res->pool->block_size;
    return *pooled ? berth_pool_get(res->pool) : malloc(need);
}

static void space_put(berth_res *res, char *p, int pooled)
{
    if (pooled)
        berth_pool_put(res->pool, p);
    else
        free(p);
}

/* Makes the len bytes at p the body: copied into the response's own space
 * when they fit (p is then the caller's), else p itself is taken. */
static void body_take(berth_res *res, char *p, size_t len, int pooled, int owned)
{
    berth_res_body_drop(res);
    if (!owned) {
        memcpy(res->body_inline, p, len);
        p = res->body_inline;
    } else {
        res->body_alloc = p;
        res->body_pooled = pooled;
    }
    res->body = p;
    res->body_len = len;
}

/* The JSON escape, measuring: writes what fits below lim and returns the
 * whole length, as snprintf does. */
static const char hex[] = "0123456789abcdef";

/* The length of the UTF-8 sequence at p (n bytes left) when it is valid
 * (*ok = 1), else of its maximal ill-formed subpart (*ok = 0): a lead byte
 * and the continuation bytes that fit it, at least 1 (Unicode 3.9, table
 * 3-7 of the well-formed sequences). */
static size_t utf8_seq(const unsigned char *p, size_t n, int *ok)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t more;
    *ok = 0;
    if (c >= 0xC2 && c <= 0xDF)
        more = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
        more = 2;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlong form */
        hi = c == 0xED ? 0x9F : 0xBF; /* no surrogate */
    } else if (c >= 0xF0 && c <= 0xF4) {
        more = 3;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing past U+10FFFF */
    } else
        return 1; /* a continuation byte alone, C0, C1, F5-FF */
    for (size_t i = 1; i <= more; i++) {
        if (i >= n || p[i] < lo || p[i] > hi)
            return i;
        lo = 0x80, hi = 0xBF;
    }
    *ok = 1;
    return more + 1;
}

static size_t escape(char *out, size_t lim, const unsigned char *s, size_t len)
{
    size_t o = 0;
#define PUT(ch)                                                                               \
    do {                                                                                      \
        if (o < lim)                                                                          \
            out[o] = (char)(ch);                                                              \
        o++;                                                                                  \
    } while (0)
#define PUTS(str)                                                                             \
    do {                                                                                      \
        for (const char *q_ = (str); *q_; q_++)                                               \
            PUT(*q_);                                                                         \
    } while (0)
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            PUT(c);
            i++;
            continue;
        }
        if (c < 0x80) {
            const char *brief = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b"
                              : c == '\f' ? "\\f" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                              : c == '\t' ? "\\t" : NULL;
            if (brief) {
                PUTS(brief);
            } else {
                PUTS("\\u00");
                PUT(hex[c >> 4]);
                PUT(hex[c & 15]);
            }
            i++;
            continue;
        }
        int ok;
        size_t n = utf8_seq(s + i, len - i, &ok);
        if (!ok)
            PUTS("\\ufffd");
        else if (n == 3 && c == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9))
            PUTS(s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
        else
            for (size_t k = 0; k < n; k++)
                PUT(s[i + k]);
        i += n;
    }
#undef PUT
#undef PUTS
    return o;
}

long berth_json_escape(char *out, size_t cap, const char *s, size_t len)
{
    if ((!s && len) || (!out && cap))
        return BERTH_EINVAL;
    size_t n = escape(out, cap ? cap - 1 : 0, (const unsigned char *)s, len);
    if (!out)
        return (long)n;
    if (n >= cap) {
        if (cap)
            out[0] = '\0';
        return BERTH_ENOSPC;
    }
    out[n] = '\0';
    return (long)n;
}

int berth_res_vsendf(berth_res *res, int status, const char *content_type, const char *fmt,
                     va_list ap)
{
    if (!res || !fmt || status < 100 || status > 599)
        return BERTH_EINVAL;
    if (res->deferred)
        return BERTH_ESTATE;
    if (content_type &&
        berth_header_check("Content-Type", 12, content_type, strlen(content_type)) == BERTH_HDR_INVALID)
        return BERTH_EINVAL;
    /* Most bodies fit the response's own space: formatted on the stack
     * first (the arguments may point into the current body), then copied.
     * A longer one is measured by that first pass and formatted again into
     * memory of its size. */
    char first[BERTH_RES_BODY_INLINE + 1];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(first, sizeof first, fmt, ap);
    char *p = first;
    int pooled = 0;
    if (n >= 0 && (size_t)n >= sizeof first) {
        p = space_get(res, (size_t)n + 1, &pooled);
        if (!p) {
            va_end(again);
            return BERTH_ENOMEM;
        }
        if (vsnprintf(p, (size_t)n + 1, fmt, again) != n)
            n = -1; /* an argument changed under us (another thread's string) */
    }
    va_end(again);
    int rc = n < 0 ? BERTH_EINVAL : 0;
    if (rc == 0 && content_type)
        rc = berth_res_header(res, "Content-Type", content_type);
    if (rc != 0) {
        if (p != first)
            space_put(res, p, pooled);
        return rc;
    }
    res->status = status;
    body_take(res, p, (size_t)n, pooled, p != first);
    return 0;
}

int berth_res_sendf(berth_res *res, int status, const char *content_type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = berth_res_vsendf(res, status, content_type, fmt, ap);
    va_end(ap);
    return rc;
}

int berth_res_error_json(berth_res *res, int status, const char *message)
{
    static const char head[] = "{\"error\":{\"status\":", mid[] = ",\"message\":\"", tail[] = "\"}}";
    if (!res || status < 400 || status > 599)
        return BERTH_EINVAL;
    if (res->deferred)
        return BERTH_ESTATE;
    if (!message)
        message = berth_status_reason(status);
    size_t mlen = strlen(message);
    size_t esc = escape(NULL, 0, (const unsigned char *)message, mlen);
    size_t len = sizeof head - 1 + 3 + sizeof mid - 1 + esc + sizeof tail - 1;
    char first[BERTH_RES_BODY_INLINE];
    char *p = first;
    int pooled = 0;
    if (len > sizeof first && !(p = space_get(res, len, &pooled)))
        return BERTH_ENOMEM;
    char *w = p;
    memcpy(w, head, sizeof head - 1);
    w += sizeof head - 1;
    *w++ = (char)('0' + status / 100);
    *w++ = (char)('0' + status / 10 % 10);
    *w++ = (char)('0' + status % 10);
    memcpy(w, mid, sizeof mid - 1);
    w += sizeof mid - 1;
    w += escape(w, esc, (const unsigned char *)message, mlen);
    memcpy(w, tail, sizeof tail - 1);
    /* Content-Type and Content-Encoding described the body replaced, as
     * berth_res_error drops them. The new Content-Type is added once
     * before they go, so that the header space it needs is there: a
     * failure (ENOMEM) then comes before anything changed, and the add
     * after the removals (which only shrink) cannot fail. */
    int rc = berth_res_header(res, "Content-Type", "application/json");
    if (rc != 0) {
        if (p != first)
            space_put(res, p, pooled);
        return rc;
    }
    berth_res_header_remove(res, "Content-Type");
    berth_res_header_remove(res, "Content-Encoding");
    berth_res_header(res, "Content-Type", "application/json");
    res->status = status;
    body_take(res, p, len, pooled, p != first);
    return 0;
}

/* The on_error hook every JSON API would write: berth's reason text when
 * it has one (a multipart body's), else the status's. */
void berth_on_error_json(berth_req *req, berth_res *res, int status, void *user)
{
    (void)user;
    berth_res_error_json(res, status, berth_req_error_text(req, status));
}
