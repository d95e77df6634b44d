/* The public berth_res_* setters. What the response holds is serialized
 * by the engine (conn.c) once the handler returns. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ascii.h"
#include "field_list.h"
#include "request.h"
#include "serialize.h"

void berth_res_init(struct berth_res *res, struct berth_conn *conn, berth_pool *pool)
{
    res->conn = conn;
    res->pool = pool;
    res->deferred = 0;
    res->status = 200;
    res->close = 0;
    res->omit = 0;
    res->no_compress = 0;
    res->hdr = res->hdr_inline;
    res->hdr_len = 0;
    res->hdr_cap = sizeof res->hdr_inline;
    res->body = NULL;
    res->body_len = 0;
    res->body_alloc = NULL;
    res->body_pooled = 0;
    res->body_release = NULL;
    res->body_release_arg = NULL;
    res->body_fd = -1;
    res->body_off = res->body_flen = 0;
}

/* Lets go of the body: its memory, file or owner's release. */
void berth_res_body_drop(struct berth_res *res)
{
    if (res->body_alloc) {
        if (res->body_pooled)
            berth_pool_put(res->pool, res->body_alloc);
        else
            free(res->body_alloc);
        res->body_alloc = NULL;
        res->body_pooled = 0;
    }
    if (res->body_release) {
        void (*fn)(void *) = res->body_release;
        res->body_release = NULL;
        fn(res->body_release_arg);
    }
    if (res->body_fd >= 0) {
        close(res->body_fd);
        res->body_fd = -1;
    }
    res->body = NULL;
    res->body_len = 0;
}

void berth_res_release(struct berth_res *res)
{
    if (res->hdr != res->hdr_inline)
        free(res->hdr);
    res->hdr = res->hdr_inline;
    berth_res_body_drop(res);
}

int berth_res_status(berth_res *res, int status)
{
    if (status < 100 || status > 599)
        return BERTH_EINVAL; /* RFC 9110 15: every valid status is 100-599 */
    res->status = status;
    return 0;
}

/* 1 if the n bytes at p hold a CR, LF or NUL. Eight bytes at a time: a
 * word none of whose bytes is below 0x10 holds none of them (the common
 * case: header values are printable); a word that may is checked byte by
 * byte. */
static int has_ctl_break(const char *p, size_t n)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        /* a high bit set where a byte is below 0x10 (and maybe above one) */
        if (((w - ones * 0x10) & ~w & highs) == 0)
            continue;
        for (size_t j = i; j < i + 8; j++)
            if (p[j] == '\r' || p[j] == '\n' || p[j] == '\0')
                return 1;
    }
    for (; i < n; i++)
        if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
            return 1;
    return 0;
}

/* name (of the length of lit) is lit, but for ASCII case. */
#define NAME_IS(name, lit) berth_ascii_ieq((name), (lit), sizeof(lit) - 1)

/* berth_header_check's body, inline in the setter every handler calls. */
static inline int header_kind(const char *name, size_t name_len, const char *value,
                              size_t value_len)
{
    if (name_len == 0)
        return BERTH_HDR_INVALID;
    /* The classes all the name's bytes share: four at a time. */
    const unsigned char *n = (const unsigned char *)name, *end = n + name_len;
    unsigned char all = BERTH_CH_TCHAR;
    for (; end - n >= 4; n += 4)
        all &= berth_ascii[n[0]] & berth_ascii[n[1]] & berth_ascii[n[2]] & berth_ascii[n[3]];
    for (; n < end; n++)
        all &= berth_ascii[*n];
    if (!all || has_ctl_break(value, value_len))
        return BERTH_HDR_INVALID; /* not a token; response splitting */
    /* Framing headers belong to berth: only names of these lengths can be
     * one of them. */
    switch (name_len) {
    case 4:
        return NAME_IS(name, "date") ? BERTH_HDR_DROP : BERTH_HDR_KEEP;
    case 6:
        return NAME_IS(name, "server") ? BERTH_HDR_SERVER : BERTH_HDR_KEEP;
    case 10:
        if (!NAME_IS(name, "connection"))
            return BERTH_HDR_KEEP;
        /* "close" in the list, so "foo, Close" but not "closed" */
        return berth_list_has((berth_str){value, value_len}, "close", 5) ? BERTH_HDR_CLOSE
                                                                          : BERTH_HDR_DROP;
    case 14:
        return NAME_IS(name, "content-length") ? BERTH_HDR_DROP : BERTH_HDR_KEEP;
    case 17:
        return NAME_IS(name, "transfer-encoding") ? BERTH_HDR_DROP : BERTH_HDR_KEEP;
    default:
        return BERTH_HDR_KEEP;
    }
}

int berth_header_check(const char *name, size_t name_len, const char *value, size_t value_len)
{
    return header_kind(name, name_len, value, value_len);
}

unsigned berth_header_omit(int kind)
{
    return kind == BERTH_HDR_SERVER ? BERTH_OMIT_SERVER : 0;
}

/* Room for need bytes of header lines: the inline buffer, then doubling
 * heap buffers. */
static int hdr_reserve(struct berth_res *res, size_t need)
{
    if (need <= res->hdr_cap)
        return 0;
    size_t cap = res->hdr_cap * 2;
    while (cap < need)
        cap *= 2;
    char *p = malloc(cap);
    if (!p)
        return -1;
    memcpy(p, res->hdr, res->hdr_len);
    if (res->hdr != res->hdr_inline)
        free(res->hdr);
    res->hdr = p;
    res->hdr_cap = cap;
    return 0;
}

int berth_res_header_n(berth_res *res, const char *name, size_t name_len, const char *value,
                       size_t value_len)
{
    int kind = header_kind(name, name_len, value, value_len);
    switch (kind) {
    case BERTH_HDR_INVALID:
        return BERTH_EINVAL;
    case BERTH_HDR_CLOSE:
        res->close = 1;
        return 0;
    case BERTH_HDR_DROP:
        return 0;
    }
    res->omit |= berth_header_omit(kind);
    if (hdr_reserve(res, res->hdr_len + name_len + value_len + 4) != 0)
        return BERTH_ENOMEM;
    char *p = res->hdr + res->hdr_len;
    memcpy(p, name, name_len);
    p += name_len;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, value_len);
    p += value_len;
    *p++ = '\r';
    *p++ = '\n';
    res->hdr_len = (size_t)(p - res->hdr);
    return 0;
}

int berth_res_header_lines(struct berth_res *res, const char *lines, size_t len)
{
    size_t need = res->hdr_len + len;
    if (hdr_reserve(res, need) != 0)
        return -1;
    if (len)
        memcpy(res->hdr + res->hdr_len, lines, len);
    res->hdr_len = need;
    return 0;
}

int berth_res_header(berth_res *res, const char *name, const char *value)
{
    return berth_res_header_n(res, name, strlen(name), value, strlen(value));
}

/* The next "Name: value\r\n" line of res->hdr at or after off whose name
 * is name; its start, or NULL. */
static char *hdr_find(const struct berth_res *res, size_t off, const char *name, size_t nlen,
                      size_t *line_len)
{
    char *p = res->hdr + off, *end = res->hdr + res->hdr_len;
    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)(eol - p) + 1;
        if (len > nlen && p[nlen] == ':' && berth_ascii_ieq(p, name, nlen)) {
            *line_len = len;
            return p;
        }
        p += len;
    }
    return NULL;
}

int berth_res_has_header(const struct berth_res *res, const char *name)
{
    size_t len;
    return hdr_find(res, 0, name, strlen(name), &len) != NULL;
}

int berth_res_header_get(const struct berth_res *res, const char *name, berth_str *value)
{
    size_t nlen = strlen(name), len;
    const char *p = hdr_find(res, 0, name, nlen, &len);
    if (!p)
        return 0;
    const char *v = p + nlen + 2, *end = p + len - 2; /* "Name: " ... "\r\n" */
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    value->ptr = v;
    value->len = (size_t)(end - v);
    return 1;
}

void berth_res_compress(berth_res *res, int on) { res->no_compress = !on; }

int berth_res_header_remove(berth_res *res, const char *name)
{
    size_t nlen = strlen(name), len;
    int kind = berth_header_check(name, nlen, "", 0);
    if (kind == BERTH_HDR_INVALID)
        return BERTH_EINVAL;
    res->omit |= berth_header_omit(kind) | (nlen == 4 && NAME_IS(name, "date") ? BERTH_OMIT_DATE : 0);
    char *p;
    while ((p = hdr_find(res, 0, name, nlen, &len))) {
        memmove(p, p + len, (size_t)(res->hdr + res->hdr_len - (p + len)));
        res->hdr_len -= len;
    }
    return 0;
}

char *berth_res_body_reserve(berth_res *res, size_t len)
{
    char *dst;
    berth_res_body_drop(res);
    if (len <= sizeof res->body_inline) {
        dst = res->body_inline;
    } else {
        /* Up to the copy limit, a pooled block: no malloc per request. */
        int pooled = len <= BERTH_SER_COPY_MAX && res->pool && len <= res->pool->block_size;
        dst = pooled ? berth_pool_get(res->pool) : malloc(len);
        if (!dst)
            return NULL;
        res->body_alloc = dst;
        res->body_pooled = pooled;
    }
    res->body = dst;
    res->body_len = len;
    return dst;
}

int berth_res_body(berth_res *res, const void *data, size_t len)
{
    char *dst = berth_res_body_reserve(res, len);
    if (!dst)
        return BERTH_ENOMEM;
    if (len)
        memcpy(dst, data, len);
    return 0;
}

void berth_res_body_borrow(berth_res *res, const void *data, size_t len)
{
    berth_res_body_drop(res);
    res->body = data;
    res->body_len = len;
}

void berth_res_body_external(berth_res *res, const void *data, size_t len,
                             void (*release)(void *arg), void *arg)
{
    berth_res_body_drop(res);
    res->body = data;
    res->body_len = len;
    res->body_release = release;
    res->body_release_arg = arg;
}

int berth_res_file(berth_res *res, int fd, uint64_t offset, uint64_t length)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        offset > (uint64_t)st.st_size || length > (uint64_t)st.st_size - offset) {
        if (fd >= 0)
            close(fd);
        return BERTH_EINVAL;
    }
    berth_res_body_drop(res);
    res->body_fd = fd;
    res->body_off = offset;
    res->body_flen = length;
    return 0;
}

int berth_res_send(berth_res *res, int status, const char *content_type, const void *data,
                   size_t len)
{
    int rc = berth_res_status(res, status);
    if (rc == 0 && content_type)
        rc = berth_res_header(res, "Content-Type", content_type);
    return rc ? rc : berth_res_body(res, data, len);
}
