#include "engine_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void route_echo(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_str b = berth_req_body(req);
    berth_res_send(res, 200, "text/plain", b.ptr, b.len);
}

static void route_hello(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_res_send(res, 200, "text/plain", "hello", 5);
}

static void route_count(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)berth_req_body_received(req));
    berth_res_send(res, 200, "text/plain", buf, (size_t)n);
}

static void route_param(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_str v;
    if (berth_req_param(req, "id", &v) != 0)
        v.ptr = "?", v.len = 1;
    berth_res_send(res, 200, "text/plain", v.ptr, v.len);
}

/* A large static body, borrowed rather than copied. */
char harness_big[100000];

static void route_big(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_res_body_borrow(res, harness_big, sizeof harness_big);
}

/* 3000 bytes of text/plain: compressed for clients that accept gzip. */
static void route_text(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    static char text[3000];
    if (!text[0])
        for (size_t i = 0; i < sizeof text; i++)
            text[i] = "berth quay tide {}\n"[(i * 7 + i / 13) % 18];
    berth_res_header(res, "Content-Type", "text/plain");
    berth_res_body_borrow(res, text, sizeof text);
}

/* Borrows the request's own body: berth must copy it, since the request's
 * memory is reused once the handler returns. */
static void route_echo_borrow(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_str b = berth_req_body(req);
    berth_res_body_borrow(res, b.ptr, b.len);
}

/* Answers the value of header X and the path parameter, then the body. */
static void route_x_and_body(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_str x = {"", 0}, id = {"", 0}, b = berth_req_body(req);
    berth_req_header(req, "X", &x);
    berth_req_param(req, "id", &id);
    char *out = berth_res_body_reserve(res, x.len + id.len + b.len + 2);
    if (!out)
        return;
    memcpy(out, x.ptr, x.len);
    out[x.len] = '|';
    memcpy(out + x.len + 1, id.ptr, id.len);
    out[x.len + 1 + id.len] = '|';
    memcpy(out + x.len + id.len + 2, b.ptr, b.len);
}

berth_stream *harness_stream;

static void route_defer(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_res_header(res, "X-Before", "kept");
    harness_stream = berth_res_defer(res);
}

static void route_stream(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    harness_stream = berth_res_defer(res);
    berth_stream_start(harness_stream, 200, "text/plain");
    berth_stream_write(harness_stream, "first", 5);
}

/* A printf-style reply: a short one (the response's own space), or with
 * ?n=N (up to 4000) N more bytes (a pool block). */
static void route_sendf(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    int64_t n = 0;
    berth_req_query_int(req, "n", &n);
    berth_res_sendf(res, 200, "application/json", "{\"id\":%d,\"name\":\"%s\",\"pad\":\"%0*d\"}", 42,
                    "berth", (int)(n > 0 && n <= 4000 ? n : 1), 0);
}

void harness_init(harness *h, void (*tweak)(berth_config *cfg))
{
    memset(h, 0, sizeof *h);
    berth_config cfg;
    berth_config_init(&cfg);
    h->router = berth_router_new();
    berth_router_add(h->router, "GET", "/", route_hello, NULL);
    berth_router_add(h->router, "POST", "/echo", route_echo, NULL);
    berth_router_add(h->router, "GET", "/item/{id}", route_param, NULL);
    berth_router_add_streaming(h->router, "POST", "/count", NULL, route_count, NULL);
    berth_router_add(h->router, "GET", "/defer", route_defer, NULL);
    berth_router_add(h->router, "GET", "/stream", route_stream, NULL);
    berth_router_add(h->router, "GET", "/big", route_big, NULL);
    berth_router_add(h->router, "GET", "/text", route_text, NULL);
    berth_router_add(h->router, "POST", "/x/{id}", route_x_and_body, NULL);
    berth_router_add(h->router, "POST", "/echo-borrow", route_echo_borrow, NULL);
    berth_router_add(h->router, "GET", "/sendf", route_sendf, NULL);
    cfg.router = h->router;
    if (tweak)
        tweak(&cfg);
    berth_engine_init(&h->engine, &cfg);
    berth_worker_init(&h->worker, &h->engine);
    h->conn = berth_conn_new(&h->worker, 0);
    h->out = malloc(1);
    h->out[0] = '\0';
}

void harness_free(harness *h)
{
    berth_conn_free(h->conn);
    berth_worker_destroy(&h->worker);
    berth_router_free(h->router);
    free(h->out);
}

static void drain_output(harness *h);

void harness_pump(harness *h)
{
    berth_conn *c;
    while ((c = berth_worker_next_woken(&h->worker)))
        berth_conn_apply_streams(c);
    drain_output(h);
}

static void out_put(harness *h, const char *p, size_t n)
{
    h->out = realloc(h->out, h->out_len + n + 1);
    memcpy(h->out + h->out_len, p, n);
    h->out_len += n;
    h->out[h->out_len] = '\0';
}

/* What a backend's drive loop does: writes everything (file segments are
 * read with pread), then processes input the engine held back. */
static void drain_output(harness *h)
{
    berth_seg segs[16];
    for (;;) {
        int n;
        while ((n = berth_conn_out_segs(h->conn, segs, 16)) > 0) {
            size_t total = 0;
            for (int i = 0; i < n; i++) {
                if (segs[i].ptr) {
                    out_put(h, segs[i].ptr, segs[i].len);
                } else {
                    char *tmp = malloc(segs[i].len);
                    ssize_t r = pread(segs[i].fd, tmp, segs[i].len, (off_t)segs[i].off);
                    out_put(h, tmp, r > 0 ? (size_t)r : 0);
                    free(tmp);
                }
                total += segs[i].len;
            }
            berth_conn_out_done(h->conn, total);
        }
        if (!berth_conn_has_pending(h->conn))
            return;
        berth_conn_pump(h->conn);
    }
}

void harness_feed(harness *h, const char *data, size_t len, size_t step)
{
    size_t off = 0;
    while (off < len) {
        size_t cap;
        char *buf = berth_conn_read_buf(h->conn, &cap);
        if (!buf)
            break;
        size_t n = len - off;
        if (step && n > step)
            n = step;
        if (n > cap)
            n = cap;
        memcpy(buf, data + off, n);
        off += n;
        berth_conn_read_done(h->conn, n);
        drain_output(h);
    }
    drain_output(h);
}

void harness_feed_str(harness *h, const char *s) { harness_feed(h, s, strlen(s), 0); }

void harness_eof(harness *h)
{
    berth_conn_read_done(h->conn, 0);
    drain_output(h);
}

int harness_count(const harness *h, const char *s)
{
    int n = 0;
    size_t sl = strlen(s);
    for (const char *p = h->out; (p = memmem(p, h->out_len - (size_t)(p - h->out), s, sl));
         p += sl)
        n++;
    return n;
}

int harness_state(const harness *h) { return berth_conn_state(h->conn); }

int harness_status_of(const char *s)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, s);
    int status = 0;
    if (h.out_len >= 12 && memcmp(h.out, "HTTP/1.1 ", 9) == 0)
        status = atoi(h.out + 9);
    harness_free(&h);
    return status;
}
