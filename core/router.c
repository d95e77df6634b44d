/* Method + path pattern routing.
 *
 * A pattern is a path of segments; each segment is literal text, a
 * parameter `{name}` with an optional literal prefix and suffix
 * (`{id}.json`, `v{major}`), or, as the last segment, a wildcard
 * `{name...}` that takes the rest of the path. Routes are kept sorted by
 * specificity, so the first that matches is the most specific: segment by
 * segment, literal text beats a parameter with a prefix or suffix, which
 * beats a bare parameter, which beats a wildcard; a route for a method
 * beats one for "*". The order routes were added in does not matter. */
#include "router.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "log.h"
#include "multipart.h"
#include "parse.h"

#define MAX_SEGMENTS BERTH_MAX_PARAMS

enum seg_kind { SEG_LITERAL, SEG_AFFIXED, SEG_PARAM, SEG_WILDCARD };

typedef struct route_seg {
    int kind;
    const char *pre;  /* literal text, or the text before the parameter */
    size_t pre_len;
    const char *name; /* the parameter's name */
    size_t name_len;
    const char *suf;  /* the text after the parameter */
    size_t suf_len;
} route_seg;

struct berth_route {
    char method[16];
    int any_method;
    char *pattern; /* owned copy that segments point into */
    route_seg segs[MAX_SEGMENTS];
    size_t nsegs;
    berth_handler_fn handler;
    berth_body_fn on_body;
    int streaming;
    uint64_t max_body;
    void *user;
    berth_mw mw; /* its own before and after */
    berth_route_mp mp; /* mp.handler set: berth parses its multipart body */
};


berth_router *berth_router_new(void) { return calloc(1, sizeof(berth_router)); }

static void route_free(berth_route *r)
{
    if (r) {
        free(r->pattern);
        free(r);
    }
}

void berth_router_free(berth_router *router)
{
    if (!router)
        return;
    if (atomic_load(&router->running)) {
        /* Its workers read it without a lock: freeing it is a use after
         * free to come. A debug build stops here, where the cause is. */
        berth_logf(atomic_load(&router->log), "berth: berth_router_free: a server using this router is still running "
                   "(free it after berth_server_wait or berth_server_free)");
#ifndef NDEBUG
        abort();
#endif
        return; /* leaked rather than used after its free */
    }
    for (size_t i = 0; i < router->count; i++)
        route_free(router->routes[i]);
    for (size_t i = 0; i < router->nmw; i++)
        free(router->mw[i].prefix);
    free(router->routes);
    free(router);
}

const char *berth_router_error(const berth_router *router)
{
    return router ? router->error : "no router";
}

__attribute__((format(printf, 2, 3))) static int fail(berth_router *router, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(router->error, sizeof router->error, fmt, ap);
    va_end(ap);
    return BERTH_EINVAL;
}

int berth_router_use(berth_router *router, const char *prefix, berth_before_fn before,
                     berth_done_fn after, void *user)
{
    if (!router)
        return BERTH_EINVAL;
    router->error[0] = '\0';
    if (atomic_load(&router->running)) {
        fail(router, "middleware on %s: fixed while a server using the router runs (add it "
             "before berth_server_start)", prefix ? prefix : "");
        berth_logf(atomic_load(&router->log), "berth: berth_router_use: %s", router->error);
        return BERTH_ESTATE;
    }
    if (!prefix || prefix[0] != '/')
        return fail(router, "middleware: the prefix must start with '/'");
    if (!before && !after)
        return fail(router, "middleware on %s: neither before nor after", prefix);
    if (router->nmw == BERTH_MW_MAX) {
        fail(router, "middleware on %s: a router has at most %d", prefix, BERTH_MW_MAX);
        return BERTH_ENOSPC;
    }
    berth_mw *m = &router->mw[router->nmw];
    if (!(m->prefix = strdup(prefix))) {
        fail(router, "out of memory");
        return BERTH_ENOMEM;
    }
    m->prefix_len = strlen(prefix);
    m->before = before;
    m->after = after;
    m->user = user;
    router->nmw++;
    return 0;
}

void berth_router_hold(berth_router *router, berth_log *log)
{
    atomic_store(&router->log, log);
    atomic_fetch_add(&router->running, 1);
}
void berth_router_release(berth_router *router) { atomic_fetch_sub(&router->running, 1); }

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* Parses one segment [p, p + len) into s; a message in err on failure. */
static int seg_compile(route_seg *s, char *p, size_t len, int last, char *err, size_t cap)
{
    char *open = memchr(p, '{', len), *close = memchr(p, '}', len);
    if (memchr(p, '*', len) || memchr(p, '?', len) || memchr(p, '#', len)) {
        snprintf(err, cap, "'%.*s': '*', '?' and '#' have no meaning in a pattern "
                 "(a wildcard is {name...})", (int)len, p);
        return -1;
    }
    memset(s, 0, sizeof *s);
    if (!open && !close) {
        s->kind = SEG_LITERAL;
        s->pre = p;
        s->pre_len = len;
        return 0;
    }
    if (!open || !close || close < open || memchr(open + 1, '{', (size_t)(p + len - open - 1)) ||
        memchr(close + 1, '}', (size_t)(p + len - close - 1)) ||
        memchr(close + 1, '{', (size_t)(p + len - close - 1))) {
        snprintf(err, cap, "'%.*s': braces must enclose one parameter per segment", (int)len, p);
        return -1;
    }
    s->pre = p;
    s->pre_len = (size_t)(open - p);
    s->name = open + 1;
    s->name_len = (size_t)(close - open - 1);
    s->suf = close + 1;
    s->suf_len = (size_t)(p + len - close - 1);
    int wild = s->name_len > 3 && memcmp(s->name + s->name_len - 3, "...", 3) == 0;
    if (wild)
        s->name_len -= 3;
    if (s->name_len == 0) {
        snprintf(err, cap, "'%.*s': a parameter needs a name", (int)len, p);
        return -1;
    }
    for (size_t i = 0; i < s->name_len; i++) {
        if (!name_char(s->name[i])) {
            snprintf(err, cap, "'%.*s': a parameter name is letters, digits, '_' and '-'",
                     (int)len, p);
            return -1;
        }
    }
    if (wild) {
        if (!last || s->pre_len || s->suf_len) {
            snprintf(err, cap, "'%.*s': a wildcard {name...} must be a whole segment, the last",
                     (int)len, p);
            return -1;
        }
        s->kind = SEG_WILDCARD;
    } else {
        s->kind = s->pre_len || s->suf_len ? SEG_AFFIXED : SEG_PARAM;
    }
    return 0;
}

static int route_compile(berth_router *router, berth_route *r)
{
    char *p = r->pattern;
    char err[200];
    if (*p != '/')
        return fail(router, "pattern '%s': must start with '/'", r->pattern);
    r->nsegs = 0;
    while (*p == '/') {
        p++;
        char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 && end)
            return fail(router, "pattern '%s': empty segment ('//')", r->pattern);
        if (r->nsegs == MAX_SEGMENTS)
            return fail(router, "pattern '%s': more than %d segments", r->pattern, MAX_SEGMENTS);
        route_seg *s = &r->segs[r->nsegs++];
        if (seg_compile(s, p, len, !end, err, sizeof err) != 0)
            return fail(router, "pattern '%s': %s", r->pattern, err);
        for (size_t i = 0; s->name && i + 1 < r->nsegs; i++) {
            const route_seg *o = &r->segs[i];
            if (o->name && o->name_len == s->name_len && memcmp(o->name, s->name, s->name_len) == 0)
                return fail(router, "pattern '%s': parameter '%.*s' used twice", r->pattern,
                            (int)s->name_len, s->name);
        }
        p += len;
    }
    return 0;
}

/* Orders routes by specificity (see the top); 0 for the same shape. */
static int route_cmp(const berth_route *a, const berth_route *b)
{
    size_t n = a->nsegs < b->nsegs ? a->nsegs : b->nsegs;
    for (size_t i = 0; i < n; i++) {
        const route_seg *x = &a->segs[i], *y = &b->segs[i];
        if (x->kind != y->kind)
            return x->kind < y->kind ? -1 : 1;
        size_t xl = x->pre_len + x->suf_len, yl = y->pre_len + y->suf_len;
        if (xl != yl) /* longer affixes are more specific */
            return xl > yl ? -1 : 1;
        if (x->pre_len != y->pre_len)
            return x->pre_len > y->pre_len ? -1 : 1;
        int c = memcmp(x->pre, y->pre, x->pre_len);
        if (!c && x->suf_len)
            c = memcmp(x->suf, y->suf, x->suf_len);
        if (c)
            return c;
    }
    if (a->nsegs != b->nsegs)
        return a->nsegs < b->nsegs ? -1 : 1;
    return 0;
}

static int method_valid(const char *m)
{
    if (!*m || strlen(m) >= 16)
        return 0;
    if (strcmp(m, "*") == 0)
        return 1;
    for (const char *p = m; *p; p++)
        if (!berth_is_tchar((unsigned char)*p) || (*p >= 'a' && *p <= 'z'))
            return 0;
    return 1;
}

/* berth parses the body of route r as multipart/form-data, with the
 * configuration o names (copied): berth's on_body and handler
 * (multipart_route.c) take the route's, and the application's handler
 * runs after berth's. */
static int route_multipart(berth_router *router, berth_route *r, const berth_route_opts *o,
                           const char *method, const char *pattern)
{
    if (o->on_body)
        return fail(router, "%s %s: a route has on_body or multipart, not both (berth feeds "
                    "the multipart parser)", method, pattern);
    berth_multipart_config_init(&r->mp.cfg);
    if (berth_abi_read(&r->mp.cfg, sizeof r->mp.cfg, o->multipart) != 0)
        return fail(router, "%s %s: the multipart configuration was not filled by "
                    "berth_multipart_config_init", method, pattern);
    if (r->mp.cfg.max_part_header < 4 || r->mp.cfg.max_part_header > (1u << 20))
        return fail(router, "%s %s: multipart max_part_header is not 4 bytes to 1 MiB", method,
                    pattern);
    r->mp.handler = r->handler;
    r->handler = berth_mp_route_handler;
    r->on_body = berth_mp_route_body;
    r->streaming = 1;
    return 0;
}

int berth_router_add_opts(berth_router *router, const char *method, const char *pattern,
                          berth_handler_fn handler, void *user, const berth_route_opts *opts)
{
    if (!router)
        return BERTH_EINVAL;
    router->error[0] = '\0';
    if (atomic_load(&router->running)) {
        /* Workers read the routes without a lock. */
        fail(router, "%s %s: routes are fixed while a server using the router runs (add them "
             "before berth_server_start)", method ? method : "", pattern ? pattern : "");
        berth_logf(atomic_load(&router->log), "berth: berth_router_add: %s", router->error);
        return BERTH_ESTATE;
    }
    if (!method || !pattern || !handler)
        return fail(router, "method, pattern and handler are required");
    if (!method_valid(method))
        return fail(router, "method '%.20s': an upper-case token such as GET, or \"*\" "
                    "(methods are case-sensitive)", method);
    berth_route *r = calloc(1, sizeof *r);
    if (!r || !(r->pattern = strdup(pattern))) {
        route_free(r);
        fail(router, "out of memory");
        return BERTH_ENOMEM;
    }
    strcpy(r->method, method);
    r->any_method = strcmp(method, "*") == 0;
    r->handler = handler;
    r->user = user;
    if (opts) {
        berth_route_opts o;
        berth_route_opts_init(&o);
        if (berth_abi_read(&o, sizeof o, opts) != 0) {
            route_free(r);
            return fail(router, "%s %s: the options were not filled by berth_route_opts_init",
                        method, pattern);
        }
        r->on_body = o.on_body;
        r->streaming = o.stream_body || o.on_body;
        r->max_body = o.max_body;
        r->mw.before = o.before;
        r->mw.after = o.after;
        r->mw.user = o.hook_user;
        if (o.multipart && route_multipart(router, r, &o, method, pattern) != 0) {
            route_free(r);
            return BERTH_EINVAL;
        }
    }
    if (route_compile(router, r) != 0) {
        route_free(r);
        return BERTH_EINVAL;
    }
    /* Sorted insertion: after every route at least as specific, so that
     * equally specific routes keep the order they were added in. */
    size_t at = router->count;
    for (size_t i = 0; i < router->count; i++) {
        const berth_route *o = router->routes[i];
        int c = route_cmp(r, o);
        if (c == 0 && (o->any_method == r->any_method) &&
            (r->any_method || strcmp(o->method, r->method) == 0)) {
            fail(router, "%s %s: the route %s %s has the same method and path", method, pattern,
                 o->method, o->pattern);
            route_free(r);
            return BERTH_EEXIST;
        }
        if (at == router->count && (c < 0 || (c == 0 && !r->any_method && o->any_method)))
            at = i;
    }
    if (router->count == router->cap) {
        size_t cap = router->cap ? router->cap * 2 : 8;
        berth_route **n = realloc(router->routes, cap * sizeof *n);
        if (!n) {
            route_free(r);
            fail(router, "out of memory");
            return BERTH_ENOMEM;
        }
        router->routes = n;
        router->cap = cap;
    }
    memmove(router->routes + at + 1, router->routes + at, (router->count - at) * sizeof *router->routes);
    router->routes[at] = r;
    router->count++;
    return 0;
}

int berth_router_add(berth_router *router, const char *method, const char *pattern,
                     berth_handler_fn handler, void *user)
{
    return berth_router_add_opts(router, method, pattern, handler, user, NULL);
}

int berth_router_add_streaming(berth_router *router, const char *method, const char *pattern,
                               berth_body_fn on_body, berth_handler_fn handler, void *user)
{
    berth_route_opts o;
    berth_route_opts_init(&o);
    o.on_body = on_body;
    o.stream_body = 1;
    return berth_router_add_opts(router, method, pattern, handler, user, &o);
}

void berth_route_opts_init_sized(berth_route_opts *opts, size_t size)
{
    berth_route_opts d;
    memset(&d, 0, sizeof d);
    d.size = sizeof d;
    berth_abi_init(opts, size, &d, sizeof d);
}

/* Matches path against r, filling req's parameters (if req is set). */
static int path_match(const berth_route *r, berth_str path, struct berth_req *req)
{
    const char *p = path.ptr, *end = path.ptr + path.len;
    size_t np = 0;
    for (size_t i = 0; i < r->nsegs; i++) {
        if (p >= end || *p != '/')
            return 0;
        p++;
        const route_seg *s = &r->segs[i];
        const char *se = end;
        if (s->kind != SEG_WILDCARD) {
            se = memchr(p, '/', (size_t)(end - p));
            if (!se)
                se = end;
        }
        size_t len = (size_t)(se - p);
        if (s->kind == SEG_LITERAL) {
            if (len != s->pre_len || memcmp(p, s->pre, len) != 0)
                return 0;
        } else {
            size_t affix = s->pre_len + s->suf_len;
            if (len < affix || (s->kind != SEG_WILDCARD && len == affix) ||
                memcmp(p, s->pre, s->pre_len) != 0 ||
                memcmp(se - s->suf_len, s->suf, s->suf_len) != 0)
                return 0;
            if (req) {
                req->param_names[np].ptr = s->name;
                req->param_names[np].len = s->name_len;
                req->param_values[np].ptr = p + s->pre_len;
                req->param_values[np].len = len - affix;
            }
            np++;
        }
        p = se;
    }
    if (p != end)
        return 0;
    if (req)
        req->nparams = np;
    return 1;
}

static int method_is(const berth_route *r, berth_str m)
{
    size_t n = strlen(r->method);
    return n == m.len && memcmp(r->method, m.ptr, n) == 0;
}

static void allow_add(char *allow, size_t cap, const char *method)
{
    size_t len = strlen(allow), n = strlen(method);
    /* Skip duplicates. */
    const char *p = allow;
    while ((p = strstr(p, method)) != NULL) {
        if ((p == allow || (p - allow >= 2 && p[-2] == ',')) && (p[n] == '\0' || p[n] == ','))
            return;
        p += n;
    }
    if (len + n + 3 > cap)
        return;
    if (len)
        strcpy(allow + len, ", "), len += 2;
    strcpy(allow + len, method);
}

int berth_router_match(const berth_router *router, struct berth_req *req, char *allow,
                       size_t cap)
{
    berth_str m = req->head.method;
    int is_head = m.len == 4 && memcmp(m.ptr, "HEAD", 4) == 0;
    const berth_route *fallback = NULL; /* GET route serving HEAD */
    int path_found = 0;
    for (size_t i = 0; i < router->count; i++) {
        const berth_route *r = router->routes[i];
        if (!path_match(r, req->path, NULL))
            continue;
        path_found = 1;
        if (r->any_method || method_is(r, m)) {
            fallback = r;
            break;
        }
        if (is_head && !fallback && strcmp(r->method, "GET") == 0)
            fallback = r;
    }
    if (fallback) {
        path_match(fallback, req->path, req);
        req->handler = fallback->handler;
        req->on_body = fallback->on_body;
        req->streaming = fallback->streaming;
        req->user = fallback->user;
        req->max_body = fallback->max_body;
        req->route_mw = fallback->mw.before || fallback->mw.after ? &fallback->mw : NULL;
        req->mp_route = fallback->mp.handler ? &fallback->mp : NULL;
        return 0;
    }
    if (!path_found)
        return 404;
    if (cap)
        allow[0] = '\0';
    for (size_t i = 0; i < router->count; i++) {
        const berth_route *r = router->routes[i];
        if (path_match(r, req->path, NULL)) {
            allow_add(allow, cap, r->method);
            if (strcmp(r->method, "GET") == 0)
                allow_add(allow, cap, "HEAD");
        }
    }
    return 405;
}
