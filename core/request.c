/* The public berth_req_* accessors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ascii.h"
#include "request.h"

int berth_req_split_target(struct berth_req *req)
{
    berth_str t = req->head.target, m = req->head.method;
    const char *p = t.ptr, *end = t.ptr + t.len;
    if (t.ptr[0] != '/') {
        const char *s = memchr(p, ':', t.len);
        /* a scheme is ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC
         * 3986 3.1): "a/b?c=d://x/" is no absolute-form target */
        int scheme = s && s > p && berth_is_alpha((unsigned char)p[0]);
        for (const char *c = p; scheme && c < s; c++)
            scheme = berth_is_alpha((unsigned char)*c) || berth_is_digit((unsigned char)*c) ||
                     *c == '+' || *c == '-' || *c == '.';
        if (scheme && end - s > 2 && s[1] == '/' && s[2] == '/') {
            /* absolute-form (RFC 9112 3.2.2): skip "scheme://authority",
             * which may not hold userinfo ("user:pass@"): senders MUST NOT
             * send it, recipients treat it as an error (RFC 9110 4.2.4). */
            const char *q = s + 3;
            while (q < end && *q != '/' && *q != '?')
                q++;
            if (memchr(s + 3, '@', (size_t)(q - (s + 3))))
                return 400;
            p = q;
        } else if (t.len == 1 && t.ptr[0] == '*') {
            /* asterisk-form, for OPTIONS only (RFC 9112 3.2.4) */
            if (!(m.len == 7 && memcmp(m.ptr, "OPTIONS", 7) == 0))
                return 400;
        } else if (!(m.len == 7 && memcmp(m.ptr, "CONNECT", 7) == 0)) {
            return 400; /* authority-form is for CONNECT; nothing else fits */
        }
    }
    const char *qm = memchr(p, '?', (size_t)(end - p));
    req->path.ptr = p;
    req->path.len = (size_t)((qm ? qm : end) - p);
    if (req->path.len == 0 && p != t.ptr) {
        req->path.ptr = "/";
        req->path.len = 1;
    }
    req->query.ptr = qm ? qm + 1 : end;
    req->query.len = qm ? (size_t)(end - qm - 1) : 0;
    return 0;
}

berth_str berth_req_method(const berth_req *req) { return req->head.method; }
berth_str berth_req_target(const berth_req *req) { return req->head.target; }
berth_str berth_req_path(const berth_req *req) { return req->path; }
berth_str berth_req_query_string(const berth_req *req) { return req->query; }
int berth_req_version_minor(const berth_req *req) { return req->head.minor; }
int berth_req_http_version(const berth_req *req) { return berth_head_version(&req->head); }
size_t berth_req_header_count(const berth_req *req) { return req->head.nheaders; }
berth_str berth_req_body(const berth_req *req)
{
    berth_str s = {req->body ? req->body : "", req->body_len};
    return s;
}
uint64_t berth_req_body_received(const berth_req *req) { return req->body_received; }
int berth_req_body_first(const berth_req *req)
{
    return req->pieces == 1;
}

int berth_req_header(const berth_req *req, const char *name, berth_str *value)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->head.nheaders; i++) {
        const berth_header *h = &req->head.headers[i];
        if (berth_str_ieq(h->name, name, n)) {
            *value = h->value;
            return 0;
        }
    }
    return BERTH_ENOENT;
}

int berth_req_header_at(const berth_req *req, size_t i, berth_str *name, berth_str *value)
{
    if (i >= req->head.nheaders)
        return BERTH_ENOENT;
    *name = req->head.headers[i].name;
    *value = req->head.headers[i].value;
    return 0;
}

/* Finds the raw value of query parameter name. */
static int query_find(const berth_req *req, const char *name, berth_str *raw)
{
    size_t nlen = strlen(name);
    const char *p = req->query.ptr, *end = req->query.ptr + req->query.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        if ((size_t)(ke - p) == nlen && memcmp(p, name, nlen) == 0) {
            raw->ptr = eq ? eq + 1 : pe;
            raw->len = eq ? (size_t)(pe - eq - 1) : 0;
            return 1;
        }
        p = pe + 1;
    }
    return 0;
}

/* Decodes a value found (found: 1) into buf: its length, or
 * BERTH_ENOENT, BERTH_EINVAL, BERTH_ENOSPC. */
static long decoded(int found, berth_str raw, char *buf, size_t cap, int plus_as_space)
{
    if (!found)
        return BERTH_ENOENT;
    return berth_url_decode(raw.ptr, raw.len, buf, cap, plus_as_space);
}

long berth_req_query(const berth_req *req, const char *name, char *buf, size_t cap)
{
    berth_str raw;
    return decoded(query_find(req, name, &raw), raw, buf, cap, 1);
}

int berth_req_query_int(const berth_req *req, const char *name, int64_t *out)
{
    char buf[32];
    long n = berth_req_query(req, name, buf, sizeof buf);
    if (n == BERTH_ENOENT)
        return BERTH_ENOENT;
    if (n <= 0)
        return BERTH_EINVAL; /* empty, badly encoded, or too long for an int64_t */
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    /* The whole decoded value: "5%00x" decodes to 3 bytes, not to 5. */
    if (end != buf + n || end == buf || errno == ERANGE ||
        !((buf[0] >= '0' && buf[0] <= '9') || buf[0] == '-'))
        return BERTH_EINVAL;
    *out = v;
    return 0;
}

long berth_req_param_decoded(const berth_req *req, const char *name, char *buf, size_t cap)
{
    berth_str raw;
    return decoded(berth_req_param(req, name, &raw) == 0, raw, buf, cap, 0);
}

int berth_req_param(const berth_req *req, const char *name, berth_str *value)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->nparams; i++) {
        if (req->param_names[i].len == n && memcmp(req->param_names[i].ptr, name, n) == 0) {
            *value = req->param_values[i];
            return 0;
        }
    }
    return BERTH_ENOENT;
}
