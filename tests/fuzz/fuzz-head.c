/* libFuzzer target: the HTTP/1.1 request head on its own (core/parse.c,
 * and what conn.c does with a parsed head: framing.c's Host, Content-Length,
 * Transfer-Encoding and Connection rules, request.c's target forms).
 *
 * Input: byte 0 limits (bits 0-1: default, tiny, small; bit 2: 3 header
 * slots), byte 1 seeds the sizes of the pieces the scanner is fed, then the
 * bytes a client sends. Checks, for any input:
 *   - the scanner gives the same answer fed in pieces (resuming) as in one
 *     call: the same head length, "need more", or an error (the code may
 *     differ only when a size limit races a syntax error); or, fed in
 *     pieces, a 400 for a bare CR seen before the head was complete where
 *     the whole head is one the parser answers 400;
 *   - a complete head holding a bare CR (a CR without its LF) parses to a
 *     400, whatever else is wrong with it (the scan leaves it to the parser);
 *   - a head it accepts parses to fields made of the bytes their grammar
 *     allows (method a token; target VCHAR without # " < >; names tokens;
 *     values without CR, LF, NUL, other controls, leading or trailing
 *     whitespace), all inside the head; re-serializing them gives a head
 *     that parses to the same fields (one reading only);
 *   - framing: Content-Length together with Transfer-Encoding, differing
 *     Content-Lengths, a last coding other than chunked, or an HTTP/1.1
 *     request without exactly one Host are never accepted; an accepted
 *     length equals every Content-Length element; chunked means exactly one
 *     "chunked", last;
 *   - the target splits into a path and a query inside the target (or "/"
 *     for an empty absolute-form path), the path starting with '/' unless
 *     the form is "*" (OPTIONS) or authority (CONNECT). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../core/parse.h"
#include "../../core/request.h"

/* A CR not followed by LF (written out apart from parse.c's). */
static int has_bare_cr(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 100

static void fail(const char *what, const uint8_t *d, size_t n)
{
    fprintf(stderr, "fuzz-head: invariant violated: %s\ninput (%zu bytes): \"", what, n);
    for (size_t i = 0; i < n && i < 2000; i++)
        fprintf(stderr, d[i] >= 0x20 && d[i] < 0x7f && d[i] != '\\' ? "%c" : "\\x%02x", d[i]);
    fprintf(stderr, "\"\n");
    abort();
}

#define CHECK(cond, what)                                                                     \
    do {                                                                                      \
        if (!(cond))                                                                          \
            fail(what, cur, cur_len);                                                         \
    } while (0)

static const uint8_t *cur;
static size_t cur_len;

static int tchar(unsigned char c) { return berth_is_tchar(c); }

static int inside(berth_str s, const char *buf, size_t len)
{
    return s.ptr >= buf && s.ptr + s.len <= buf + len;
}

static int eq_ci(berth_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(s.ptr, lit, n) == 0;
}

/* The parsed fields, checked against their grammar. */
static void check_fields(const berth_head *h, const char *buf, size_t len)
{
    CHECK(h->method.len > 0 && inside(h->method, buf, len), "method outside the head");
    for (size_t i = 0; i < h->method.len; i++)
        CHECK(tchar((unsigned char)h->method.ptr[i]), "method byte not a tchar");
    CHECK(h->target.len > 0 && inside(h->target, buf, len), "target outside the head");
    for (size_t i = 0; i < h->target.len; i++) {
        unsigned char c = (unsigned char)h->target.ptr[i];
        CHECK(c > 0x20 && c < 0x7f && !strchr("#\"<>", c), "target byte outside its class");
    }
    CHECK(h->minor == 0 || h->minor == 1, "minor version");
    CHECK(h->nheaders <= h->max_headers, "more fields than slots");
    for (size_t k = 0; k < h->nheaders; k++) {
        berth_str n = h->headers[k].name, v = h->headers[k].value;
        CHECK(n.len > 0 && inside(n, buf, len) && (v.len == 0 || inside(v, buf, len)),
              "field outside the head");
        for (size_t i = 0; i < n.len; i++)
            CHECK(tchar((unsigned char)n.ptr[i]), "field name byte not a tchar");
        for (size_t i = 0; i < v.len; i++) {
            unsigned char c = (unsigned char)v.ptr[i];
            CHECK(c == '\t' || (c >= 0x20 && c != 0x7f), "field value byte outside its class");
        }
        if (v.len)
            CHECK(v.ptr[0] != ' ' && v.ptr[0] != '\t' && v.ptr[v.len - 1] != ' ' &&
                      v.ptr[v.len - 1] != '\t',
                  "field value not trimmed");
    }
}

/* Writes the head back in its canonical form. */
static size_t reserialize(const berth_head *h, char *out, size_t cap)
{
    size_t o = 0;
#define PUT(p, n)                                                                             \
    do {                                                                                      \
        if (o + (n) > cap)                                                                    \
            return 0;                                                                         \
        memcpy(out + o, (p), (n));                                                            \
        o += (n);                                                                             \
    } while (0)
    PUT(h->method.ptr, h->method.len);
    PUT(" ", 1);
    PUT(h->target.ptr, h->target.len);
    PUT(h->minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n", 11);
    for (size_t k = 0; k < h->nheaders; k++) {
        PUT(h->headers[k].name.ptr, h->headers[k].name.len);
        PUT(": ", 2);
        if (h->headers[k].value.len)
            PUT(h->headers[k].value.ptr, h->headers[k].value.len);
        PUT("\r\n", 2);
    }
    PUT("\r\n", 2);
#undef PUT
    return o;
}

static int same_str(berth_str a, berth_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Independent reading of the framing fields, for the smuggling rules. */
static void check_framing(struct berth_req *req, int rc)
{
    const berth_head *h = &req->head;
    int hosts = 0, cl = 0, te = 0;
    for (size_t k = 0; k < h->nheaders; k++) {
        berth_str n = h->headers[k].name;
        hosts += eq_ci(n, "host");
        cl += eq_ci(n, "content-length");
        te += eq_ci(n, "transfer-encoding");
    }
    if (rc != 0) {
        CHECK(rc == 400 || rc == 417 || rc == 501, "framing answered an unexpected status");
        return;
    }
    CHECK(!(cl && te), "Content-Length and Transfer-Encoding both accepted");
    CHECK(hosts <= 1 && (h->minor == 0 || hosts == 1), "Host count accepted");
    if (te)
        CHECK(h->minor == 1 && req->body_mode == BERTH_BODY_CHUNKED,
              "Transfer-Encoding accepted without chunked framing");
    if (req->body_mode == BERTH_BODY_CHUNKED) {
        /* Exactly one "chunked" over all TE fields, and it is the last element. */
        int count = 0, last_chunked = 0;
        for (size_t k = 0; k < h->nheaders; k++) {
            if (!eq_ci(h->headers[k].name, "transfer-encoding"))
                continue;
            const char *p = h->headers[k].value.ptr, *e = p + h->headers[k].value.len;
            while (p < e) {
                const char *s = p;
                while (p < e && *p != ',')
                    p++;
                const char *t = p;
                while (s < t && (*s == ' ' || *s == '\t'))
                    s++;
                while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
                    t--;
                if (t > s) {
                    berth_str item = {s, (size_t)(t - s)};
                    last_chunked = eq_ci(item, "chunked");
                    count += last_chunked;
                }
                if (p < e)
                    p++;
            }
        }
        CHECK(count == 1 && last_chunked, "chunked framing without one final chunked");
    }
    if (cl) {
        /* Every element of every Content-Length is the number accepted. */
        for (size_t k = 0; k < h->nheaders; k++) {
            if (!eq_ci(h->headers[k].name, "content-length"))
                continue;
            const char *p = h->headers[k].value.ptr, *e = p + h->headers[k].value.len;
            while (p < e) {
                while (p < e && (*p == ' ' || *p == '\t' || *p == ','))
                    p++;
                if (p == e)
                    break;
                uint64_t v = 0;
                int digits = 0;
                while (p < e && *p >= '0' && *p <= '9') {
                    CHECK(v <= (UINT64_MAX - 9) / 10, "Content-Length overflow accepted");
                    v = v * 10 + (uint64_t)(*p++ - '0');
                    digits++;
                }
                while (p < e && (*p == ' ' || *p == '\t'))
                    p++;
                CHECK(digits > 0 && (p == e || *p == ','), "Content-Length element not digits");
                CHECK(v == req->content_length, "differing Content-Lengths accepted");
            }
        }
        CHECK(req->body_mode == (req->content_length ? BERTH_BODY_LENGTH : BERTH_BODY_NONE),
              "Content-Length framing");
    } else if (!te) {
        CHECK(req->body_mode == BERTH_BODY_NONE, "a body without framing fields");
    }
}

static void check_target(struct berth_req *req, int rc)
{
    berth_str t = req->head.target, m = req->head.method;
    if (rc != 0) {
        CHECK(rc == 400, "target answered an unexpected status");
        return;
    }
    int root = req->path.len == 1 && req->path.ptr[0] == '/' && !inside(req->path, t.ptr, t.len);
    CHECK(root || inside(req->path, t.ptr, t.len), "path outside the target");
    CHECK(req->query.len == 0 || inside(req->query, t.ptr, t.len), "query outside the target");
    if (t.ptr[0] == '/') {
        CHECK(req->path.ptr == t.ptr, "origin-form path does not start the target");
    } else if (t.len == 1 && t.ptr[0] == '*') {
        CHECK(eq_ci(m, "OPTIONS") && memcmp(m.ptr, "OPTIONS", 7) == 0, "* accepted for a method not OPTIONS");
    } else if (!(m.len == 7 && memcmp(m.ptr, "CONNECT", 7) == 0)) {
        /* absolute-form: a path, and no userinfo in the authority */
        CHECK(req->path.len && req->path.ptr[0] == '/', "absolute-form path not /...");
        const char *auth = memchr(t.ptr, ':', t.len);
        CHECK(auth && auth + 3 <= t.ptr + t.len && auth[1] == '/' && auth[2] == '/',
              "a target of no form accepted");
        const char *end = auth + 3;
        while (end < t.ptr + t.len && *end != '/' && *end != '?')
            end++;
        CHECK(!memchr(auth + 3, '@', (size_t)(end - (auth + 3))), "userinfo accepted");
    }
    const char *qm = memchr(t.ptr, '?', t.len);
    CHECK(qm ? req->query.ptr == qm + 1 && req->query.len == (size_t)(t.ptr + t.len - qm - 1)
             : req->query.len == 0,
          "query is not what follows the first ?");
}

static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct berth_req *req, *req2;
    if (!req) {
        req = calloc(1, sizeof *req + MAX_FIELDS * sizeof(berth_header));
        req2 = calloc(1, sizeof *req2 + MAX_FIELDS * sizeof(berth_header));
        if (!req || !req2)
            abort();
    }
    if (size < 2 || size > 65536)
        return 0;
    cur = data;
    cur_len = size;
    size_t max_line = 8192, max_fields = 16384, slots = MAX_FIELDS;
    switch (data[0] & 3) {
    case 1: max_line = 40, max_fields = 96; break;
    case 2: max_line = 300, max_fields = 600; break;
    }
    if (data[0] & 4)
        slots = 3;
    uint32_t seed = data[1] * 2654435761u + 1;
    const char *buf = (const char *)data + 2;
    size_t len = size - 2;

    /* One call over everything, then in pieces (each call sees a longer
     * prefix, as the engine's buffer grows). */
    berth_head_scan s;
    berth_head_scan_reset(&s);
    long whole = berth_head_scan_run(&s, buf, len, max_line, max_fields);
    berth_head_scan_reset(&s);
    long piecewise = 0;
    for (size_t have = 0; have < len && piecewise == 0;) {
        have += 1 + rnd(&seed) % 32;
        if (have > len)
            have = len;
        piecewise = berth_head_scan_run(&s, buf, have, max_line, max_fields);
    }
    CHECK(whole <= (long)len, "head longer than the input");
    int rc = -1;
    if (whole > 0) {
        memset(req, 0, sizeof *req);
        req->head.headers = req->headers;
        req->head.max_headers = slots;
        rc = berth_head_parse(buf, (size_t)whole, &req->head);
        CHECK(rc == 0 || rc == 400 || rc == 431 || rc == 505, "parse answered an unexpected status");
        /* The scan leaves a complete head's bare CR to the parser. */
        if (has_bare_cr(buf, (size_t)whole))
            CHECK(rc == 400, "a complete head with a bare CR is not a 400");
    }
    if (whole == 0)
        CHECK(piecewise == 0, "the scan depends on how the bytes arrive");
    else if (whole > 0)
        /* in pieces, a bare CR may be seen before the head is complete */
        CHECK(piecewise == whole || (piecewise == -400 && rc == 400),
              "the scan depends on how the bytes arrive");
    else
        CHECK(piecewise < 0, "an error in one piece is not an error in pieces");
    if (whole <= 0 || rc)
        return 0;

    size_t hlen = (size_t)whole;
    check_fields(&req->head, buf, hlen);

    /* One reading only: the canonical form parses to the same fields. */
    static char again[65536 + 1024];
    size_t alen = reserialize(&req->head, again, sizeof again);
    CHECK(alen > 0, "reserialized head too long");
    memset(req2, 0, sizeof *req2);
    req2->head.headers = req2->headers;
    req2->head.max_headers = slots;
    CHECK(berth_head_parse(again, alen, &req2->head) == 0, "the canonical form does not parse");
    CHECK(same_str(req->head.method, req2->head.method) && same_str(req->head.target, req2->head.target) &&
              req->head.minor == req2->head.minor && req->head.nheaders == req2->head.nheaders,
          "the canonical form parses otherwise");
    for (size_t k = 0; k < req->head.nheaders; k++)
        CHECK(same_str(req->head.headers[k].name, req2->head.headers[k].name) &&
                  same_str(req->head.headers[k].value, req2->head.headers[k].value),
              "a field reads otherwise in the canonical form");

    rc = berth_req_framing(req);
    check_framing(req, rc);
    if (rc)
        return 0;
    check_target(req, berth_req_split_target(req));
    return 0;
}
