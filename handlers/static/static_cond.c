/* Conditional and range requests (RFC 9110 13 and 14) against one
 * representation: its ETag, its modification time and its size. */
#include <string.h>
#include <time.h>

#include "static_cond.h"

/* Does the If-None-Match list hold etag (weak comparison), or "*"? */
static int etag_in_list(berth_str list, const char *etag)
{
    size_t elen = strlen(etag);
    const char *s = list.ptr, *end = list.ptr + list.len;
    while (s < end) {
        while (s < end && (*s == ' ' || *s == '\t' || *s == ','))
            s++;
        if (s < end && *s == '*')
            return 1;
        if (end - s >= 2 && s[0] == 'W' && s[1] == '/')
            s += 2;
        const char *e = s;
        if (e < end && *e == '"') {
            const char *q = memchr(e + 1, '"', (size_t)(end - e - 1));
            e = q ? q + 1 : end;
        } else {
            while (e < end && *e != ',')
                e++;
        }
        if ((size_t)(e - s) == elen && memcmp(s, etag, elen) == 0)
            return 1;
        s = e;
    }
    return 0;
}

/* An HTTP-date in any of its three forms (RFC 9110 5.6.7); -1 if none. */
static time_t parse_date(berth_str v)
{
    char buf[64];
    if (v.len == 0 || v.len >= sizeof buf)
        return -1;
    memcpy(buf, v.ptr, v.len);
    buf[v.len] = '\0';
    static const char *const forms[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                        "%a %b %e %H:%M:%S %Y"};
    for (size_t i = 0; i < 3; i++) {
        struct tm tm = {0};
        const char *end = strptime(buf, forms[i], &tm);
        if (end && *end == '\0')
            return timegm(&tm);
    }
    return -1;
}

int berth_static_not_modified(const berth_req *req, const char *etag, time_t mtime)
{
    berth_str v;
    if (berth_req_header(req, "If-None-Match", &v) == 0)
        return etag_in_list(v, etag);
    if (berth_req_header(req, "If-Modified-Since", &v) == 0) {
        time_t since = parse_date(v);
        return since >= 0 && mtime <= since;
    }
    return 0;
}

/* If-Range: the range applies only to the representation it names, by a
 * strong ETag or by the exact Last-Modified date. */
static int if_range_holds(const berth_req *req, const char *etag, const char *last_modified)
{
    berth_str v;
    if (berth_req_header(req, "If-Range", &v) != 0)
        return 1;
    if (v.len > 0 && v.ptr[0] == '"')
        return v.len == strlen(etag) && memcmp(v.ptr, etag, v.len) == 0;
    return v.len == strlen(last_modified) && memcmp(v.ptr, last_modified, v.len) == 0;
}

static int parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*s++ - '0');
    }
    if (s == *p)
        return 0;
    *p = s;
    *out = v;
    return 1;
}

int berth_static_range(const berth_req *req, const char *etag, const char *last_modified,
                       uint64_t size, uint64_t *off, uint64_t *len)
{
    berth_str v;
    if (berth_req_header(req, "Range", &v) != 0 || !if_range_holds(req, etag, last_modified))
        return RANGE_NONE;
    const char *s = v.ptr, *end = v.ptr + v.len;
    if (v.len < 6 || strncasecmp(s, "bytes=", 6) != 0)
        return RANGE_NONE; /* another unit: ignored */
    s += 6;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    uint64_t first = 0, last = 0;
    int has_first = parse_u64(&s, end, &first);
    if (s >= end || *s != '-')
        return RANGE_NONE;
    s++;
    int has_last = parse_u64(&s, end, &last);
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    if (s < end)
        return RANGE_NONE; /* several ranges (or junk): the whole file */
    if (!has_first && !has_last)
        return RANGE_NONE;
    if (!has_first) { /* suffix: the last N bytes */
        if (last == 0 || size == 0)
            return RANGE_UNSATISFIABLE;
        *len = last < size ? last : size;
        *off = size - *len;
        return RANGE_OK;
    }
    if (has_last && last < first)
        return RANGE_NONE; /* invalid: ignored (RFC 9110 14.1.1) */
    if (first >= size)
        return RANGE_UNSATISFIABLE;
    if (!has_last || last >= size)
        last = size - 1;
    *off = first;
    *len = last - first + 1;
    return RANGE_OK;
}
