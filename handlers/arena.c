#include "arena.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char text_plain[] = "text/plain";
static const char app_json[] = "application/json";

static atomic_int draining;

void arena_set_draining(int on) { atomic_store(&draining, on); }

/* 503 while the server drains (before its stop: a load balancer's check
 * takes it out of rotation while it still serves what is sent). */
static void health(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_res_header(res, "Content-Type", text_plain);
    if (atomic_load(&draining)) {
        berth_res_status(res, 503);
        berth_res_body_borrow(res, "draining", 8);
        return;
    }
    berth_res_body_borrow(res, "ok", 2);
}

static void hello_json(berth_req *req, berth_res *res, void *user)
{
    static const char body[] = "{\"message\":\"Hello, World!\"}";
    (void)req, (void)user;
    berth_res_header(res, "Content-Type", app_json);
    berth_res_body_borrow(res, body, sizeof body - 1);
}

static void echo(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_str ct, body = berth_req_body(req);
    if (berth_req_header(req, "Content-Type", &ct) == 0)
        berth_res_header_n(res, "Content-Type", 12, ct.ptr, ct.len);
    else
        berth_res_header(res, "Content-Type", "application/octet-stream");
    berth_res_body(res, body.ptr, body.len);
}

static void bad_request(berth_res *res, const char *why)
{
    berth_res_send(res, 400, text_plain, why, strlen(why));
}

/* A decimal integer with optional surrounding whitespace. */
static int parse_int(const char *p, size_t len, int64_t *out)
{
    char buf[32];
    while (len && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r' ||
                   p[len - 1] == '\n'))
        len--;
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, p, len);
    buf[len] = '\0';
    if (!((buf[0] >= '0' && buf[0] <= '9') || (buf[0] == '-' && len > 1)))
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (*end || errno)
        return 0;
    *out = v;
    return 1;
}

static void send_int(berth_res *res, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%lld", (long long)v);
    berth_res_send(res, 200, text_plain, buf, (size_t)n);
}

static void baseline(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    int64_t a, b, sum;
    if (berth_req_query_int(req, "a", &a) != 0 || berth_req_query_int(req, "b", &b) != 0)
        return bad_request(res, "a and b must be integers\n");
    if (__builtin_add_overflow(a, b, &sum))
        return bad_request(res, "sum out of range\n");
    if (berth_str_eq_bytes(berth_req_method(req), "POST")) {
        berth_str body = berth_req_body(req);
        int64_t c;
        if (!parse_int(body.ptr, body.len, &c))
            return bad_request(res, "the body must be an integer\n");
        if (__builtin_add_overflow(sum, c, &sum))
            return bad_request(res, "sum out of range\n");
    }
    send_int(res, sum);
}

static void pipeline(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_res_header(res, "Content-Type", text_plain);
    berth_res_body_borrow(res, "ok", 2);
}

static void upload(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    send_int(res, (int64_t)berth_req_body_received(req));
}

static int put_i64(char *p, int64_t v)
{
    char tmp[24];
    int n = 0, neg = v < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    int len = 0;
    if (neg)
        p[len++] = '-';
    while (n)
        p[len++] = tmp[--n];
    return len;
}

static void json_items(berth_req *req, berth_res *res, void *user)
{
    const dataset *d = user;
    if (d->count == 0) {
        char msg[300];
        int n = snprintf(msg, sizeof msg, "%s\n", d->error);
        berth_res_send(res, 503, text_plain, msg, (size_t)n);
        return;
    }
    berth_str cs;
    int64_t count, m = 1;
    berth_req_param(req, "count", &cs);
    if (!parse_int(cs.ptr, cs.len, &count) || count < 0 || cs.ptr[0] == '-')
        return bad_request(res, "count must be a non-negative integer\n");
    int rc = berth_req_query_int(req, "m", &m);
    if (rc != 0 && rc != BERTH_ENOENT) /* absent: 1 */
        return bad_request(res, "m must be an integer\n");
    if ((uint64_t)count > d->count)
        count = (int64_t)d->count;

    static const char head[] = "{\"items\":[", total_key[] = ",\"total\":",
                      tail[] = "],\"count\":";
    char num[24];
    /* First pass: validate totals and size the body exactly. */
    size_t len = sizeof head - 1 + sizeof tail - 1 + (size_t)put_i64(num, count) + 1;
    for (int64_t i = 0; i < count; i++) {
        const dataset_item *it = &d->items[i];
        int64_t t;
        if (__builtin_mul_overflow(it->price, it->quantity, &t) ||
            __builtin_mul_overflow(t, m, &t))
            return bad_request(res, "total out of range\n");
        len += (i ? 1 : 0) + it->prefix_len + sizeof total_key - 1 + (size_t)put_i64(num, t) + 1;
    }
    char *p = berth_res_body_reserve(res, len);
    if (!p) {
        berth_res_status(res, 500);
        return;
    }
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    for (int64_t i = 0; i < count; i++) {
        const dataset_item *it = &d->items[i];
        if (i)
            *p++ = ',';
        memcpy(p, it->prefix, it->prefix_len);
        p += it->prefix_len;
        memcpy(p, total_key, sizeof total_key - 1);
        p += sizeof total_key - 1;
        p += put_i64(p, it->price * it->quantity * m);
        *p++ = '}';
    }
    memcpy(p, tail, sizeof tail - 1);
    p += sizeof tail - 1;
    p += put_i64(p, count);
    *p = '}';
    berth_res_header(res, "Content-Type", app_json);
}

/* GET /sse?n=&interval_ms=: n events, one every interval_ms. */
typedef struct sse_state {
    int64_t sent, total;
} sse_state;

static void sse_tick(berth_stream *s, void *arg)
{
    sse_state *st = arg;
    char id[24], data[48];
    snprintf(id, sizeof id, "%lld", (long long)st->sent);
    int n = snprintf(data, sizeof data, "event %lld of %lld", (long long)st->sent + 1,
                     (long long)st->total);
    if (berth_sse_send(s, "tick", id, data, (size_t)n) == BERTH_EAGAIN)
        return; /* the client reads slowly: skip this beat, try the next */
    if (++st->sent >= st->total) {
        berth_stream_end(s);
        free(st);
    }
}

static void sse_closed(berth_stream *s, void *arg)
{
    berth_stream_end(s); /* releases the handle; the client is gone */
    free(arg);
}

/* The server is stopping: end the stream cleanly (its terminating chunk
 * tells the client it is complete) rather than be cut at the drain timeout. */
static void sse_stopped(berth_stream *s, void *arg)
{
    berth_stream_end(s);
    free(arg);
}

static void sse(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    int64_t n = 10, interval = 1000;
    int rn = berth_req_query_int(req, "n", &n), ri = berth_req_query_int(req, "interval_ms", &interval);
    if ((rn != 0 && rn != BERTH_ENOENT) || (ri != 0 && ri != BERTH_ENOENT) || /* absent: defaults */
        n < 0 || n > 1000000 || interval < 1 || interval > 3600000)
        return bad_request(res, "n (0-1000000) and interval_ms (1-3600000) must be integers\n");
    sse_state *st = calloc(1, sizeof *st);
    berth_stream *s = st ? berth_sse_start(res, 15000) : NULL;
    if (!s) {
        free(st);
        berth_res_send(res, 503, text_plain, "out of memory\n", 14);
        return;
    }
    st->total = n;
    if (n == 0) {
        berth_stream_end(s);
        free(st);
        return;
    }
    berth_stream_on_close(s, sse_closed, st);
    berth_stream_on_stop(s, sse_stopped, st);
    berth_stream_timer(s, (unsigned)interval, (unsigned)interval, sse_tick, st);
}

int arena_routes_add(berth_router *r, const dataset *data)
{
    int rc = 0;
    rc |= berth_router_add(r, "GET", "/health", health, NULL);
    rc |= berth_router_add(r, "GET", "/json", hello_json, NULL);
    rc |= berth_router_add(r, "POST", "/echo", echo, NULL);
    rc |= berth_router_add(r, "GET", "/baseline11", baseline, NULL);
    rc |= berth_router_add(r, "POST", "/baseline11", baseline, NULL);
    /* HttpArena's HTTP/2 profiles (baseline-h2, baseline-h2c): the same sum. */
    rc |= berth_router_add(r, "GET", "/baseline2", baseline, NULL);
    rc |= berth_router_add(r, "GET", "/pipeline", pipeline, NULL);
    rc |= berth_router_add(r, "GET", "/json/{count}", json_items, (void *)data);
    rc |= berth_router_add_streaming(r, "POST", "/upload", NULL, upload, NULL);
    rc |= berth_router_add(r, "GET", "/sse", sse, NULL);
    return rc ? -1 : 0;
}
