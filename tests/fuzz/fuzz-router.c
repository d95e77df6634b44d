/* libFuzzer target: router matching (core/router.c) on its own.
 *
 * Input: text lines. Up to the first empty line, routes "METHOD PATTERN";
 * after it, requests "METHOD PATH" (at most 24 of each; a NUL ends a
 * pattern, as it would a C string). Checks, for any input:
 *   - the routes are accepted or refused whatever order they come in: the
 *     accepted ones, added again in reverse order, are all accepted, and
 *     the refused ones refused after them;
 *   - matching does not depend on that order: both routers give the same
 *     answer (the same route, the same parameters; 404; 405 with the same
 *     Allow set);
 *   - a match is real: the matched pattern, read by a reference matcher
 *     written from the README's rules, matches the path with exactly the
 *     parameters berth gives (names and values, inside the path); the
 *     route's method is the request's, "*", or GET for a HEAD;
 *   - 404 exactly when no accepted pattern matches the path; 405 otherwise
 *     when no route takes the method, with Allow listing each matching
 *     route's method once (HEAD beside GET). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ROUTES 24
#define MAX_REQS 24

static const uint8_t *cur;
static size_t cur_len;

static void fail_n(const char *what, const char *detail, size_t dlen)
{
    fprintf(stderr, "fuzz-router: %s (%.*s)\ninput: \"", what, (int)dlen, detail);
    for (size_t i = 0; i < cur_len && i < 3000; i++)
        fprintf(stderr, cur[i] >= 0x20 && cur[i] < 0x7f && cur[i] != '\\' ? "%c" : "\\x%02x",
                cur[i]);
    fprintf(stderr, "\"\n");
    abort();
}

static void fail(const char *what, const char *detail) { fail_n(what, detail, strlen(detail)); }
#define FAIL_PATH(what) fail_n(what, path.ptr, path.len)

typedef struct route_in {
    char method[64];
    char pattern[512];
    int accepted;
} route_in;

static route_in routes[MAX_ROUTES];
static int route_ids[MAX_ROUTES]; /* user pointers: &route_ids[i] is route i */

static void handler(berth_req *req, berth_res *res, void *user) { (void)req, (void)res, (void)user; }

/* The reference matcher: pattern (accepted by berth) against path. Fills
 * names and values; returns the parameter count, or -1 for no match. */
static int ref_match(const char *pattern, const char *path, size_t plen, berth_str *names,
                     berth_str *values)
{
    const char *p = path, *end = path + plen, *s = pattern;
    int np = 0;
    while (*s == '/') {
        s++;
        const char *se = strchr(s, '/');
        if (!se)
            se = s + strlen(s);
        if (p == end || *p != '/')
            return -1;
        p++;
        const char *open = memchr(s, '{', (size_t)(se - s));
        if (!open) { /* literal */
            size_t n = (size_t)(se - s);
            if ((size_t)(end - p) < n || memcmp(p, s, n) != 0 || (p + n < end && p[n] != '/'))
                return -1;
            p += n;
        } else {
            const char *close = memchr(open, '}', (size_t)(se - open));
            size_t pre = (size_t)(open - s), suf = (size_t)(se - close - 1);
            size_t nlen = (size_t)(close - open - 1);
            int wild = nlen > 3 && memcmp(close - 3, "...", 3) == 0;
            const char *ve = wild ? end : memchr(p, '/', (size_t)(end - p));
            if (!ve)
                ve = end;
            size_t len = (size_t)(ve - p);
            if (len < pre + suf || (!wild && len == pre + suf) || memcmp(p, s, pre) != 0 ||
                memcmp(ve - suf, close + 1, suf) != 0)
                return -1;
            names[np] = (berth_str){open + 1, wild ? nlen - 3 : nlen};
            values[np] = (berth_str){p + pre, len - pre - suf};
            np++;
            p = ve;
        }
        s = se;
    }
    return p == end ? np : -1;
}

static int method_eq(const char *m, berth_str rm)
{
    return strlen(m) == rm.len && memcmp(m, rm.ptr, rm.len) == 0;
}

/* Allow as a sorted, comma-joined set, for comparison. */
static void allow_set(const char *allow, char *out, size_t cap)
{
    const char *items[64];
    size_t lens[64], n = 0;
    for (const char *p = allow; *p && n < 64;) {
        const char *c = strstr(p, ", ");
        size_t l = c ? (size_t)(c - p) : strlen(p);
        items[n] = p;
        lens[n++] = l;
        p += l + (c ? 2 : 0);
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            size_t m = lens[j] < lens[j - 1] ? lens[j] : lens[j - 1];
            int c = memcmp(items[j], items[j - 1], m);
            if (c > 0 || (c == 0 && lens[j] >= lens[j - 1]))
                break;
            const char *t = items[j];
            items[j] = items[j - 1], items[j - 1] = t;
            size_t tl = lens[j];
            lens[j] = lens[j - 1], lens[j - 1] = tl;
        }
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && o + lens[i] + 2 < cap; i++) {
        if (i && lens[i] == lens[i - 1] && memcmp(items[i], items[i - 1], lens[i]) == 0)
            continue; /* duplicates are a failure of their own, found below */
        memcpy(out + o, items[i], lens[i]);
        o += lens[i];
        out[o++] = ',';
        out[o] = '\0';
    }
}

static int has_dup(const char *allow)
{
    char a[512];
    allow_set(allow, a, sizeof a);
    size_t items = 0, set = 0;
    for (const char *p = allow; *p; p++)
        items += *p == ',';
    for (const char *p = a; *p; p++)
        set += *p == ',';
    return *allow && items + 1 != set;
}

typedef struct answer {
    int rc;
    void *user;
    size_t nparams;
    berth_str names[BERTH_MAX_PARAMS], values[BERTH_MAX_PARAMS];
    char allow[128];
} answer;

static void match(const berth_router *r, berth_str method, berth_str path, answer *a)
{
    static struct berth_req req;
    memset(&req, 0, sizeof req);
    req.head.method = method;
    req.path = path;
    memset(a, 0, sizeof *a);
    a->rc = berth_router_match(r, &req, a->allow, sizeof a->allow);
    a->user = req.user;
    a->nparams = req.nparams;
    memcpy(a->names, req.param_names, sizeof a->names);
    memcpy(a->values, req.param_values, sizeof a->values);
}

static size_t next_line(const uint8_t **p, const uint8_t *end, const uint8_t **line)
{
    *line = *p;
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = (size_t)((nl ? nl : end) - *p);
    *p = nl ? nl + 1 : end;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    cur = data;
    cur_len = size;
    const uint8_t *p = data, *end = data + size, *line;
    size_t nroutes = 0;
    berth_router *a = berth_router_new(), *b = berth_router_new();
    if (!a || !b)
        abort();
    while (p < end) {
        size_t n = next_line(&p, end, &line);
        if (n == 0)
            break;
        if (nroutes == MAX_ROUTES)
            continue;
        const uint8_t *sp = memchr(line, ' ', n);
        size_t ml = sp ? (size_t)(sp - line) : n;
        route_in *r = &routes[nroutes];
        if (ml >= sizeof r->method || (sp && n - ml - 1 >= sizeof r->pattern))
            continue;
        memcpy(r->method, line, ml);
        r->method[ml] = '\0';
        size_t pl = sp ? n - ml - 1 : 0;
        memcpy(r->pattern, sp ? sp + 1 : line, pl);
        r->pattern[pl] = '\0';
        r->accepted = berth_router_add(a, r->method, r->pattern, handler, &route_ids[nroutes]) == 0;
        if (!r->accepted && !berth_router_error(a)[0])
            fail("a refused route without a reason", r->pattern);
        nroutes++;
    }
    for (size_t i = nroutes; i-- > 0;)
        if (routes[i].accepted &&
            berth_router_add(b, routes[i].method, routes[i].pattern, handler, &route_ids[i]) != 0)
            fail("a route accepted in one order is refused in another", berth_router_error(b));
    for (size_t i = 0; i < nroutes; i++)
        if (!routes[i].accepted &&
            berth_router_add(b, routes[i].method, routes[i].pattern, handler, &route_ids[i]) == 0)
            fail("a route refused in one order is accepted in another", routes[i].pattern);

    for (int k = 0; p < end && k < MAX_REQS; k++) {
        size_t n = next_line(&p, end, &line);
        const uint8_t *sp = memchr(line, ' ', n);
        if (!sp)
            continue;
        berth_str method = {(const char *)line, (size_t)(sp - line)};
        berth_str path = {(const char *)sp + 1, n - (size_t)(sp - line) - 1};
        answer x, y;
        match(a, method, path, &x);
        match(b, method, path, &y);
        char sx[512], sy[512];
        if (x.rc != y.rc || x.user != y.user || x.nparams != y.nparams)
            FAIL_PATH("the answer depends on the order routes were added in");
        if (x.rc == 0) {
            for (size_t i = 0; i < x.nparams; i++)
                if (x.names[i].len != y.names[i].len ||
                    memcmp(x.names[i].ptr, y.names[i].ptr, x.names[i].len) != 0 ||
                    x.values[i].ptr != y.values[i].ptr || x.values[i].len != y.values[i].len)
                    FAIL_PATH("parameters depend on the order routes were added in");
        } else if (x.rc == 405) {
            allow_set(x.allow, sx, sizeof sx);
            allow_set(y.allow, sy, sizeof sy);
            if (strcmp(sx, sy) != 0)
                fail("Allow depends on the order routes were added in", x.allow);
        } else if (x.rc != 404) {
            FAIL_PATH("an answer other than 0, 404, 405");
        }

        /* Against the reference matcher. */
        int is_head = method.len == 4 && memcmp(method.ptr, "HEAD", 4) == 0;
        int any_path = 0, takes_method = 0;
        char expect[1024] = "";
        berth_str names[BERTH_MAX_PARAMS + 1], values[BERTH_MAX_PARAMS + 1];
        for (size_t i = 0; i < nroutes; i++) {
            const route_in *r = &routes[i];
            if (!r->accepted)
                continue;
            int np = ref_match(r->pattern, path.ptr, path.len, names, values);
            if (np < 0)
                continue;
            any_path = 1;
            int takes = strcmp(r->method, "*") == 0 || method_eq(r->method, method) ||
                        (is_head && strcmp(r->method, "GET") == 0);
            takes_method |= takes;
            if (strlen(expect) + 40 < sizeof expect) {
                strcat(expect, expect[0] ? ", " : "");
                strcat(expect, r->method);
                if (strcmp(r->method, "GET") == 0)
                    strcat(expect, ", HEAD");
            }
            if (x.rc == 0 && x.user == &route_ids[i]) {
                if (!takes)
                    fail("matched a route of another method", r->method);
                if ((size_t)np != x.nparams)
                    fail("parameter count differs from the reference", r->pattern);
                for (int j = 0; j < np; j++)
                    if (names[j].len != x.names[j].len ||
                        memcmp(names[j].ptr, x.names[j].ptr, names[j].len) != 0 ||
                        values[j].ptr != x.values[j].ptr || values[j].len != x.values[j].len)
                        fail("a parameter differs from the reference", r->pattern);
            }
        }
        if (x.rc == 0) {
            size_t i = (size_t)((int *)x.user - route_ids);
            if (i >= nroutes || !routes[i].accepted ||
                ref_match(routes[i].pattern, path.ptr, path.len, names, values) < 0)
                FAIL_PATH("matched a route whose pattern does not match the path");
        }
        if ((x.rc == 404) != !any_path)
            FAIL_PATH("404 although a pattern matches, or a match where none does");
        if (x.rc == 405 && takes_method)
            FAIL_PATH("405 although a route takes the method");
        if (x.rc == 0 && !takes_method)
            FAIL_PATH("a match although no route takes the method");
        if (x.rc == 405) {
            if (has_dup(x.allow))
                fail("a method twice in Allow", x.allow);
            char se[1024];
            allow_set(x.allow, sx, sizeof sx);
            allow_set(expect, se, sizeof se);
            if (strlen(expect) < sizeof x.allow - 1 && strcmp(sx, se) != 0)
                fail("Allow is not the methods of the matching routes", x.allow);
        }
    }
    berth_router_free(a);
    berth_router_free(b);
    return 0;
}
