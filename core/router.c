#include "router.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SEGMENTS 32

typedef struct route_seg {
    const char *text; /* literal text, or the parameter name */
    size_t len;
    int is_param;
} route_seg;

typedef struct berth_route {
    char method[16];
    char *pattern; /* owned copy that segments point into */
    route_seg segs[MAX_SEGMENTS];
    size_t nsegs;
    size_t nparams;
    berth_handler_fn handler;
    berth_body_fn on_body;
    int streaming;
    void *user;
} berth_route;

struct berth_router {
    berth_route **routes;
    size_t count, cap;
};

berth_router *berth_router_new(void) { return calloc(1, sizeof(berth_router)); }

void berth_router_free(berth_router *router)
{
    if (!router)
        return;
    for (size_t i = 0; i < router->count; i++) {
        free(router->routes[i]->pattern);
        free(router->routes[i]);
    }
    free(router->routes);
    free(router);
}

static int route_compile(berth_route *r)
{
    char *p = r->pattern;
    if (*p != '/')
        return -1;
    r->nsegs = 0;
    r->nparams = 0;
    while (*p == '/') {
        p++;
        char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (r->nsegs == MAX_SEGMENTS)
            return -1;
        route_seg *s = &r->segs[r->nsegs++];
        if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
            if (len == 2 || r->nparams == BERTH_MAX_PARAMS)
                return -1;
            s->is_param = 1;
            s->text = p + 1;
            s->len = len - 2;
            r->nparams++;
        } else {
            if (memchr(p, '{', len) || memchr(p, '}', len))
                return -1;
            s->is_param = 0;
            s->text = p;
            s->len = len;
        }
        p += len;
    }
    return *p == '\0' ? 0 : -1;
}

static int router_add(berth_router *router, const char *method, const char *pattern,
                      berth_body_fn on_body, int streaming, berth_handler_fn handler,
                      void *user)
{
    if (!router || !method || !pattern || !handler || strlen(method) >= 16 || !*method)
        return -1;
    berth_route *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    strcpy(r->method, method);
    r->pattern = strdup(pattern);
    r->handler = handler;
    r->on_body = on_body;
    r->streaming = streaming;
    r->user = user;
    if (!r->pattern || route_compile(r) != 0) {
        free(r->pattern);
        free(r);
        return -1;
    }
    if (router->count == router->cap) {
        size_t cap = router->cap ? router->cap * 2 : 8;
        berth_route **n = realloc(router->routes, cap * sizeof *n);
        if (!n) {
            free(r->pattern);
            free(r);
            return -1;
        }
        router->routes = n;
        router->cap = cap;
    }
    router->routes[router->count++] = r;
    return 0;
}

int berth_router_add(berth_router *router, const char *method, const char *pattern,
                     berth_handler_fn handler, void *user)
{
    return router_add(router, method, pattern, NULL, 0, handler, user);
}

int berth_router_add_streaming(berth_router *router, const char *method, const char *pattern,
                               berth_body_fn on_body, berth_handler_fn handler, void *user)
{
    return router_add(router, method, pattern, on_body, 1, handler, user);
}

/* Matches path against r, filling params (may be NULL). */
static int path_match(const berth_route *r, berth_str path, struct berth_req *req)
{
    const char *p = path.ptr, *end = path.ptr + path.len;
    size_t np = 0;
    for (size_t i = 0; i < r->nsegs; i++) {
        if (p >= end || *p != '/')
            return 0;
        p++;
        const char *se = memchr(p, '/', (size_t)(end - p));
        if (!se)
            se = end;
        size_t len = (size_t)(se - p);
        const route_seg *s = &r->segs[i];
        if (s->is_param) {
            if (len == 0)
                return 0;
            if (req) {
                req->param_names[np].ptr = s->text;
                req->param_names[np].len = s->len;
                req->param_values[np].ptr = p;
                req->param_values[np].len = len;
            }
            np++;
        } else if (len != s->len || memcmp(p, s->text, len) != 0) {
            return 0;
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
        int any = r->method[0] == '*' && r->method[1] == '\0';
        if (any || method_is(r, m)) {
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
