/* libFuzzer target: query strings and percent-decoding (core/util.c's
 * berth_url_decode, core/request.c's berth_req_query, _query_int, _param
 * and _param_decoded) on their own.
 *
 * Input: byte 0 the output room handed to the decoder (0, 1, 2, 3, 8, 32,
 * 256 or 4096 bytes: buffers of exactly that size, so ASan sees a write
 * past them), then a query string as it follows '?'. Every key in it, and
 * a few fixed names, are looked up. Checks, for any input:
 *   - decoding agrees with a reference decoder: the same length and bytes,
 *     NUL-terminated within the room given, -1 for a '%' without two hex
 *     digits, -2 when the room runs out (whichever comes first);
 *   - a lookup finds the first parameter whose raw key is the name, and
 *     answers -1 when there is none and -2 when its value does not decode;
 *   - berth_req_query_int accepts exactly an optional '-' and decimal
 *     digits that fit an int64_t, the whole decoded value, nothing else
 *     (no '+', spaces, or bytes after a decoded NUL);
 *   - path parameters (berth_req_param, _param_decoded) read the same way,
 *     with '+' kept. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *cur;
static size_t cur_len;

static void fail(const char *what, const char *name, size_t nlen)
{
    fprintf(stderr, "fuzz-query: %s (name \"%.*s\")\ninput: \"", what, (int)nlen, name);
    for (size_t i = 0; i < cur_len && i < 3000; i++)
        fprintf(stderr, cur[i] >= 0x20 && cur[i] < 0x7f && cur[i] != '\\' ? "%c" : "\\x%02x",
                cur[i]);
    fprintf(stderr, "\"\n");
    abort();
}

static int hexv(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The reference decoder: the decoded bytes in out (unbounded) and what
 * berth_url_decode must answer with cap bytes of room. */
static long ref_decode(const char *s, size_t len, size_t cap, int plus, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (len - i < 3 || hexv((unsigned char)s[i + 1]) < 0 || hexv((unsigned char)s[i + 2]) < 0)
                return -1;
            c = (unsigned char)(hexv((unsigned char)s[i + 1]) * 16 + hexv((unsigned char)s[i + 2]));
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (o + 2 > cap)
            return -2; /* this byte and the NUL do not fit */
        out[o++] = (char)c;
    }
    return cap ? (long)o : -2;
}

static int ref_int(const char *v, long n, int64_t *out)
{
    if (n <= 0 || n >= 32)
        return 0; /* berth reads the value into 32 bytes */
    long i = v[0] == '-';
    if (i == n)
        return 0;
    int64_t x = 0;
    for (; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 0;
        int d = v[i] - '0';
        if (v[0] == '-' ? x < (INT64_MIN + d) / 10 || (x == INT64_MIN / 10 && d > 8)
                        : x > (INT64_MAX - d) / 10)
            return 0;
        x = v[0] == '-' ? x * 10 - d : x * 10 + d;
    }
    *out = x;
    return 1;
}

static char ref_out[70000];

/* The reference's -1 (bad escape) and -2 (no room) as berth's codes. */
static long ref_code(long r) { return r == -1 ? BERTH_EINVAL : r == -2 ? BERTH_ENOSPC : r; }

/* berth_url_decode into exactly cap bytes of heap, against the reference. */
static void check_decode(const char *s, size_t len, size_t cap, int plus)
{
    char *dst = cap ? malloc(cap) : NULL;
    if (cap && !dst)
        abort();
    long want = ref_code(ref_decode(s, len, cap, plus, ref_out));
    long got = berth_url_decode(s, len, dst ? dst : (char *)"", cap, plus);
    if (got != want)
        fail("berth_url_decode disagrees with the reference", s, len);
    if (got >= 0 && (memcmp(dst, ref_out, (size_t)got) != 0 || dst[got] != '\0'))
        fail("decoded bytes differ or are not NUL-terminated", s, len);
    free(dst);
}

/* The first parameter named name (raw key), as berth must find it. */
static int ref_find(const char *q, size_t qlen, const char *name, size_t nlen, const char **v,
                    size_t *vlen)
{
    const char *p = q, *end = q + qlen;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        if ((size_t)(ke - p) == nlen && memcmp(p, name, nlen) == 0) {
            *v = eq ? eq + 1 : pe;
            *vlen = eq ? (size_t)(pe - eq - 1) : 0;
            return 1;
        }
        p = pe + 1;
    }
    return 0;
}

static void check_lookup(struct berth_req *req, const char *name, size_t nlen, size_t cap)
{
    if (memchr(name, '\0', nlen) || nlen > 200)
        return; /* the API takes C strings */
    char cname[256];
    memcpy(cname, name, nlen);
    cname[nlen] = '\0';
    const char *v;
    size_t vlen;
    int found = ref_find(req->query.ptr, req->query.len, name, nlen, &v, &vlen);
    char *dst = malloc(cap ? cap : 1);
    if (!dst)
        abort();
    long want = found ? ref_code(ref_decode(v, vlen, cap, 1, ref_out)) : BERTH_ENOENT;
    long got = berth_req_query(req, cname, dst, cap);
    if (got != want)
        fail("berth_req_query disagrees with the reference", name, nlen);
    if (got >= 0 && memcmp(dst, ref_out, (size_t)got) != 0)
        fail("berth_req_query decoded other bytes", name, nlen);
    free(dst);

    int64_t a = 0, b = 0;
    long full = found ? ref_decode(v, vlen, sizeof ref_out, 1, ref_out) : -1;
    int want_int = !found ? BERTH_ENOENT : full > 0 && ref_int(ref_out, full, &b) ? 0 : BERTH_EINVAL;
    int got_int = berth_req_query_int(req, cname, &a);
    if (got_int != want_int || (got_int == 0 && a != b))
        fail("berth_req_query_int disagrees with the reference", name, nlen);

    /* The same pair as a path parameter: '+' stays '+'. */
    req->nparams = 1;
    req->param_names[0] = (berth_str){name, nlen};
    req->param_values[0] = found ? (berth_str){v, vlen} : (berth_str){"", 0};
    berth_str raw;
    if (berth_req_param(req, cname, &raw) != 0 || raw.ptr != req->param_values[0].ptr)
        fail("berth_req_param does not find its parameter", name, nlen);
    dst = malloc(cap ? cap : 1);
    if (!dst)
        abort();
    want = ref_code(ref_decode(req->param_values[0].ptr, req->param_values[0].len, cap, 0, ref_out));
    got = berth_req_param_decoded(req, cname, dst, cap);
    if (got != want || (got >= 0 && memcmp(dst, ref_out, (size_t)got) != 0))
        fail("berth_req_param_decoded disagrees with the reference", name, nlen);
    free(dst);
    req->nparams = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[8] = {0, 1, 2, 3, 8, 32, 256, 4096};
    static struct berth_req *req;
    if (!req && !(req = calloc(1, sizeof *req)))
        abort();
    if (size < 1 || size > 65536)
        return 0;
    cur = data;
    cur_len = size;
    size_t cap = caps[data[0] & 7];
    const char *q = (const char *)data + 1;
    size_t qlen = size - 1;

    check_decode(q, qlen, cap, 1);
    check_decode(q, qlen, cap, 0);
    check_decode(q, qlen, qlen + 1, data[0] & 8);

    memset(req, 0, sizeof *req);
    req->query = (berth_str){q, qlen};
    static const char *fixed[] = {"a", "b", "", "n", "x=y"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        check_lookup(req, fixed[i], strlen(fixed[i]), cap);
    /* Every key of the query, and its value as a name too. */
    const char *p = q, *end = q + qlen;
    for (int k = 0; p <= end && k < 64; k++) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        check_lookup(req, p, (size_t)((eq ? eq : pe) - p), cap);
        check_lookup(req, p, (size_t)((eq ? eq : pe) - p), 32);
        if (eq)
            check_lookup(req, eq + 1, (size_t)(pe - eq - 1), cap);
        if (!amp)
            break;
        p = amp + 1;
    }
    return 0;
}
