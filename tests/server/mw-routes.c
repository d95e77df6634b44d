/* Middleware as an application writes it (mw-routes.h):
 * - "/mw": a trace of the request (a value under trace_key) and an
 *   X-Request-Id answer header; its after stores the finished trace;
 * - "/mw/api": bearer auth, 401 in JSON without "Authorization: Bearer t";
 * - GET /mw/api/hello: the route's own before and after; its handler adds
 *   completion callbacks (on_done's and two added);
 * - GET /mw/apix, GET /mw/open: outside "/mw/api";
 * - GET /mw/values: nine keys on one request (the ninth: BERTH_ENOSPC).
 * Each step appends a word to the trace; GET /mw-last answers the last
 * finished one, with the ID the afters saw. */
#include "mw-routes.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct trace {
    char words[512];
    size_t len;
} trace;

static char trace_key; /* its address is the key */
static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;
static char last[700];

static void add(trace *t, const char *word)
{
    if (t)
        t->len += (size_t)snprintf(t->words + t->len, sizeof t->words - t->len, "%s%s",
                                   t->len ? "," : "", word);
}

static void trace_word(berth_req *req, const char *word) { add(berth_req_value(req, &trace_key), word); }

static void done_word(const berth_done *d, void *arg) { add(berth_done_value(d, &trace_key), arg); }

static int outer_before(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    trace *t = calloc(1, sizeof *t);
    if (!t || berth_req_set_value(req, &trace_key, t) != 0) {
        free(t);
        return 0;
    }
    add(t, "B:outer");
    char id[72];
    if (berth_req_id(req, id, sizeof id) > 0)
        berth_res_header(res, "X-Request-Id", id);
    return 0;
}

/* The last after: the trace is stored with the status and the ID. */
static void outer_after(const berth_done *d, void *user)
{
    (void)user;
    trace *t = berth_done_value(d, &trace_key);
    if (!t)
        return;
    add(t, "A:outer");
    char id[72] = "";
    berth_done_request_id(d, id, sizeof id);
    pthread_mutex_lock(&last_lock);
    snprintf(last, sizeof last, "%d %s %s", d->status, id, t->words);
    pthread_mutex_unlock(&last_lock);
    free(t);
}

static int auth_before(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    trace_word(req, "B:api");
    berth_str v;
    if (berth_req_header(req, "Authorization", &v) == 0 && berth_str_eq_bytes(v, "Bearer t"))
        return 0;
    berth_res_header(res, "WWW-Authenticate", "Bearer");
    berth_res_send(res, 401, "application/json", "{\"error\":\"unauthorized\"}", 24);
    return 1;
}

static void api_after(const berth_done *d, void *user) { done_word(d, user); }

static int route_before(berth_req *req, berth_res *res, void *user)
{
    (void)res;
    (void)user;
    trace_word(req, "B:route");
    return 0;
}

static void hello(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    trace_word(req, "H");
    berth_req_on_done(req, done_word, "D:on_done");
    berth_req_add_done(req, done_word, "D:added1");
    berth_req_add_done(req, done_word, "D:added2");
    char id[72], body[200];
    long n = berth_req_id(req, id, sizeof id);
    int len = snprintf(body, sizeof body, "hello %s %s", n > 0 ? id : "?",
                       berth_req_value(req, &trace_key) ? "traced" : "untraced");
    berth_res_send(res, 200, "text/plain", body, (size_t)len);
}

static void plain(berth_req *req, berth_res *res, void *user)
{
    trace_word(req, "H");
    berth_res_send(res, 200, "text/plain", user, strlen(user));
}

static void values(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    static char keys[9];
    char body[128];
    size_t len = 0;
    for (int i = 0; i < 9; i++) /* the trace holds one slot already */
        len += (size_t)snprintf(body + len, sizeof body - len, "%d ",
                                berth_req_set_value(req, &keys[i], &keys[i]));
    int same = 1;
    for (int i = 0; i < 7; i++)
        same &= berth_req_value(req, &keys[i]) == &keys[i];
    berth_req_set_value(req, &keys[0], NULL); /* cleared */
    len += (size_t)snprintf(body + len, sizeof body - len, "same=%d cleared=%d", same,
                            berth_req_value(req, &keys[0]) == NULL);
    berth_res_send(res, 200, "text/plain", body, len);
}

static void last_route(berth_req *req, berth_res *res, void *user)
{
    (void)req;
    (void)user;
    pthread_mutex_lock(&last_lock);
    berth_res_body(res, last, strlen(last));
    pthread_mutex_unlock(&last_lock);
}

void mw_routes_add(berth_router *r)
{
    berth_router_use(r, "/mw", outer_before, outer_after, NULL);
    berth_router_use(r, "/mw/api", auth_before, api_after, "A:api");
    berth_route_opts o;
    berth_route_opts_init(&o);
    o.before = route_before;
    o.after = done_word;
    o.hook_user = "A:route";
    berth_router_add_opts(r, "GET", "/mw/api/hello", hello, NULL, &o);
    berth_router_add(r, "GET", "/mw/apix", plain, "apix");
    berth_router_add(r, "GET", "/mw/open", plain, "open");
    berth_router_add(r, "GET", "/mw/values", values, NULL);
    berth_router_add(r, "GET", "/mw-last", last_route, NULL);
}
