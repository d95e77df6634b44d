/* Cookies (RFC 6265bis): the Cookie request field read pair by pair, and
 * Set-Cookie built from a berth_cookie, refusing what the RFC forbids
 * (a browser would drop or misread such a cookie, or it would split the
 * field) rather than sending it. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "abi.h"
#include "ascii.h"
#include "berth.h"
#include "clock.h"

/* 4.1.1 (and 5.6, which caps what a user agent keeps) */
#define NAME_VALUE_MAX 4096
#define ATTR_VALUE_MAX 1024
#define EXPIRES_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

int berth_cookie_next(berth_str *rest, berth_str *name, berth_str *value)
{
    const char *p = rest->ptr, *end = rest->ptr + rest->len;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *pe = semi ? semi : end;
        const char *next = semi ? semi + 1 : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        if (eq) {
            const char *n = p, *ne = eq, *v = eq + 1, *ve = pe;
            while (n < ne && berth_is_ows((unsigned char)*n))
                n++;
            while (ne > n && berth_is_ows((unsigned char)ne[-1]))
                ne--;
            while (v < ve && berth_is_ows((unsigned char)*v))
                v++;
            while (ve > v && berth_is_ows((unsigned char)ve[-1]))
                ve--;
            if (ve - v >= 2 && *v == '"' && ve[-1] == '"')
                v++, ve--;
            if (ne > n) {
                name->ptr = n;
                name->len = (size_t)(ne - n);
                value->ptr = v;
                value->len = (size_t)(ve - v);
                rest->ptr = next;
                rest->len = (size_t)(end - next);
                return 0;
            }
        }
        p = next; /* no '=' or no name: not a cookie */
    }
    rest->ptr = end;
    rest->len = 0;
    return BERTH_ENOENT;
}

int berth_req_cookie(const berth_req *req, const char *name, berth_str *value)
{
    size_t count = berth_req_header_count(req);
    for (size_t i = 0; i < count; i++) {
        berth_str hn, hv, n, v;
        if (berth_req_header_at(req, i, &hn, &hv) != 0 || !berth_str_eq_nocase(hn, "Cookie"))
            continue;
        while (berth_cookie_next(&hv, &n, &v) == 0) {
            if (berth_str_eq_bytes(n, name)) {
                *value = v;
                return 0;
            }
        }
    }
    return BERTH_ENOENT;
}

void berth_cookie_init_sized(berth_cookie *c, size_t size)
{
    berth_cookie d;
    memset(&d, 0, sizeof d);
    d.size = sizeof d;
    d.max_age = -1;
    berth_abi_init(c, size, &d, sizeof d);
}

/* cookie-octet (4.1.1): US-ASCII but CTLs, whitespace, DQUOTE, comma,
 * semicolon and backslash. */
static int cookie_octet(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e && c != '"' && c != ',' && c != ';' && c != '\\';
}

static int value_ok(const char *v, size_t len)
{
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"')
        v++, len -= 2; /* cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE ) */
    for (size_t i = 0; i < len; i++)
        if (!cookie_octet((unsigned char)v[i]))
            return 0;
    return 1;
}

/* av-octet: any CHAR but CTLs and ';'. A Domain is narrower: letters,
 * digits, '-' and '.' (an IDN as its A-labels). */
static int attr_ok(const char *s, int domain)
{
    size_t n = strlen(s);
    if (n == 0 || n > ATTR_VALUE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (domain ? !(berth_is_alpha(c) || berth_is_digit(c) || c == '-' || c == '.')
                   : (c < 0x20 || c > 0x7e || c == ';'))
            return 0;
    }
    return 1;
}

/* Appends to buf: 0, or BERTH_ENOSPC. */
static int put(char *buf, size_t cap, size_t *o, const char *s, size_t n)
{
    if (*o + n >= cap)
        return BERTH_ENOSPC;
    memcpy(buf + *o, s, n);
    *o += n;
    return 0;
}

static int puts_(char *buf, size_t cap, size_t *o, const char *s)
{
    return put(buf, cap, o, s, strlen(s));
}

long berth_cookie_format(const berth_cookie *cookie, char *buf, size_t cap)
{
    berth_cookie c;
    berth_cookie_init(&c);
    if (!cookie || berth_abi_read(&c, sizeof c, cookie) != 0 || !c.name)
        return BERTH_EINVAL;
    const char *value = c.value ? c.value : "";
    size_t nlen = strlen(c.name), vlen = strlen(value);
    if (nlen == 0 || berth_ascii_span(c.name, c.name + nlen, BERTH_CH_TCHAR) != c.name + nlen ||
        !value_ok(value, vlen) || nlen + vlen > NAME_VALUE_MAX)
        return BERTH_EINVAL;
    if ((c.domain && !attr_ok(c.domain, 1)) || (c.path && !attr_ok(c.path, 0)))
        return BERTH_EINVAL;
    if (c.max_age < -1 || c.expires < 0 || c.expires > EXPIRES_MAX)
        return BERTH_EINVAL;
    if (c.same_site < BERTH_SAMESITE_UNSET || c.same_site > BERTH_SAMESITE_NONE)
        return BERTH_EINVAL;
    /* SameSite=None and Partitioned without Secure are rejected by user
     * agents (4.1.2.7, CHIPS); so are the prefixes' broken promises
     * (4.1.3): __Secure- needs Secure, __Host- also no Domain and Path=/. */
    if (!c.secure && (c.same_site == BERTH_SAMESITE_NONE || c.partitioned))
        return BERTH_EINVAL;
    if (nlen >= 9 && berth_ascii_ieq(c.name, "__Secure-", 9) && !c.secure)
        return BERTH_EINVAL;
    if (nlen >= 7 && berth_ascii_ieq(c.name, "__Host-", 7) &&
        (!c.secure || c.domain || !c.path || strcmp(c.path, "/") != 0))
        return BERTH_EINVAL;

    size_t o = 0;
    int rc = put(buf, cap, &o, c.name, nlen);
    rc = rc ? rc : put(buf, cap, &o, "=", 1);
    rc = rc ? rc : put(buf, cap, &o, value, vlen);
    if (c.path) {
        rc = rc ? rc : puts_(buf, cap, &o, "; Path=");
        rc = rc ? rc : puts_(buf, cap, &o, c.path);
    }
    if (c.domain) {
        rc = rc ? rc : puts_(buf, cap, &o, "; Domain=");
        rc = rc ? rc : puts_(buf, cap, &o, c.domain);
    }
    if (c.max_age >= 0) {
        char n[32];
        snprintf(n, sizeof n, "; Max-Age=%" PRId64, c.max_age);
        rc = rc ? rc : puts_(buf, cap, &o, n);
    }
    if (c.expires > 0) {
        char date[BERTH_DATE_LEN + 1];
        berth_clock_format_date((time_t)c.expires, date);
        rc = rc ? rc : puts_(buf, cap, &o, "; Expires=");
        rc = rc ? rc : put(buf, cap, &o, date, BERTH_DATE_LEN);
    }
    if (c.secure)
        rc = rc ? rc : puts_(buf, cap, &o, "; Secure");
    if (c.http_only)
        rc = rc ? rc : puts_(buf, cap, &o, "; HttpOnly");
    static const char *const same[] = {NULL, "; SameSite=Strict", "; SameSite=Lax",
                                       "; SameSite=None"};
    if (c.same_site)
        rc = rc ? rc : puts_(buf, cap, &o, same[c.same_site]);
    if (c.partitioned)
        rc = rc ? rc : puts_(buf, cap, &o, "; Partitioned");
    if (rc)
        return rc;
    if (cap == 0)
        return BERTH_ENOSPC;
    buf[o] = '\0';
    return (long)o;
}

int berth_res_cookie(berth_res *res, const berth_cookie *c)
{
    /* name and value, Path and Domain at their limits, and the rest */
    char buf[NAME_VALUE_MAX + 2 * ATTR_VALUE_MAX + 256];
    long n = berth_cookie_format(c, buf, sizeof buf);
    if (n < 0)
        return (int)n;
    return berth_res_header_n(res, "Set-Cookie", 10, buf, (size_t)n);
}
