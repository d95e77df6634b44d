/* URL encoding and application/x-www-form-urlencoded bodies, built only on
 * the public header: berth_url_encode (the inverse of berth_url_decode),
 * walking and looking up a form's name=value pairs. Nothing allocates:
 * names are compared as they decode, values decode into the caller's
 * buffer. */
#include <string.h>

#include "berth.h"

/* RFC 3986 2.3's unreserved characters: the only bytes left as they are,
 * so one encoding serves a path segment, a query name and a query value. */
static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

long berth_url_encode(const char *src, size_t len, char *dst, size_t cap, int space_as_plus)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (unreserved(c) || (c == ' ' && space_as_plus)) {
            if (o + 1 >= cap)
                return BERTH_ENOSPC;
            dst[o++] = c == ' ' ? '+' : (char)c;
        } else {
            if (o + 3 >= cap)
                return BERTH_ENOSPC;
            dst[o++] = '%';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    if (cap == 0)
        return BERTH_ENOSPC;
    dst[o] = '\0';
    return (long)o;
}

int berth_form_next(berth_str *rest, berth_str *name, berth_str *value)
{
    const char *p = rest->ptr, *end = rest->ptr + rest->len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *next = amp ? amp + 1 : end;
        if (pe == p) { /* an empty pair: "&&", a leading or trailing '&' */
            p = next;
            continue;
        }
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        name->ptr = p;
        name->len = (size_t)((eq ? eq : pe) - p);
        value->ptr = eq ? eq + 1 : pe;
        value->len = eq ? (size_t)(pe - eq - 1) : 0;
        rest->ptr = next;
        rest->len = (size_t)(end - next);
        return 0;
    }
    rest->ptr = end;
    rest->len = 0;
    return BERTH_ENOENT;
}

static int hexv(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* 1 if the raw (encoded, '+' for space) name decodes to want, 0 if not,
 * BERTH_EINVAL for a bad escape: compared byte by byte as it decodes. */
static int name_is(berth_str raw, const char *want, size_t wlen)
{
    size_t o = 0;
    int same = 1;
    for (size_t i = 0; i < raw.len; i++) {
        unsigned char c = (unsigned char)raw.ptr[i];
        if (c == '%') {
            int hi, lo;
            if (raw.len - i < 3 || (hi = hexv((unsigned char)raw.ptr[i + 1])) < 0 ||
                (lo = hexv((unsigned char)raw.ptr[i + 2])) < 0)
                return BERTH_EINVAL;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (o >= wlen || (unsigned char)want[o] != c)
            same = 0; /* go on: a bad escape later still counts */
        o++;
    }
    return same && o == wlen;
}

long berth_form_value(berth_str form, const char *name, char *buf, size_t cap)
{
    size_t nlen = strlen(name);
    berth_str n, v;
    while (berth_form_next(&form, &n, &v) == 0) {
        int r = name_is(n, name, nlen);
        if (r < 0)
            return r;
        if (r)
            return berth_url_decode(v.ptr, v.len, buf, cap, 1);
    }
    return BERTH_ENOENT;
}

long berth_req_form(const berth_req *req, const char *name, char *buf, size_t cap)
{
    return berth_form_value(berth_req_body(req), name, buf, cap);
}
