/* berth_metrics_mount: the server's counters (berth_server_stats) in
 * Prometheus' text exposition format 0.0.4, built only on the public
 * header and shipped in the library. Names follow Prometheus' conventions:
 * the berth_ prefix, base units (seconds, bytes), _total on counters, a
 * HELP and TYPE line for each family. The requests family shows the label
 * sets that were counted (an absent one is 0); the others always show. */
#include <berth.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *p;
    size_t len, cap;
    int failed; /* out of memory: the scrape is answered 500 */
} text;

static void put(text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->failed = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
}

static void family(text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *const protocols[BERTH_STATS_PROTOCOLS] = {"http/1.0", "http/1.1", "h2"};
static const char *const methods[BERTH_STATS_METHODS] = {"GET", "HEAD", "POST",
                                                         "PUT", "DELETE", "other"};
static const char *const classes[BERTH_STATS_CLASSES] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const conn_protocols[BERTH_STATS_CONNS] = {"http/1.1", "h2", "websocket"};
static const char *const states[] = {"stopped", "running", "draining"};

/* A bound in seconds, as Prometheus writes them (0.0001, 2.5, 10). */
static void le(text *t, uint64_t us)
{
    if (us == UINT64_MAX)
        put(t, "+Inf");
    else
        put(t, "%g", (double)us / 1e6);
}

static void requests(text *t, const berth_stats *st)
{
    family(t, "berth_requests_total", "counter",
           "Requests that are over, by protocol, method and status class (none: no status sent).");
    for (int p = 0; p < BERTH_STATS_PROTOCOLS; p++)
        for (int m = 0; m < BERTH_STATS_METHODS; m++)
            for (int c = 0; c < BERTH_STATS_CLASSES; c++)
                if (st->requests[p][m][c])
                    put(t, "berth_requests_total{protocol=\"%s\",method=\"%s\",code=\"%s\"} %llu\n",
                        protocols[p], methods[m], classes[c],
                        (unsigned long long)st->requests[p][m][c]);
    family(t, "berth_request_duration_seconds", "histogram",
           "Time from a request's head to its end.");
    for (int i = 0; i < BERTH_STATS_BUCKETS; i++) {
        put(t, "berth_request_duration_seconds_bucket{le=\"");
        le(t, st->duration_le_us[i]);
        put(t, "\"} %llu\n", (unsigned long long)st->duration_count[i]);
    }
    put(t, "berth_request_duration_seconds_sum %.9g\n", (double)st->duration_sum_us / 1e6);
    put(t, "berth_request_duration_seconds_count %llu\n",
        (unsigned long long)st->duration_count[BERTH_STATS_BUCKETS - 1]);
}

static void counter(text *t, const char *name, const char *help, uint64_t v)
{
    family(t, name, "counter", help);
    put(t, "%s %llu\n", name, (unsigned long long)v);
}

static void connections(text *t, const berth_stats *st)
{
    family(t, "berth_connections", "gauge", "Connections open now, by backend and protocol.");
    for (int k = 0; k < BERTH_STATS_CONNS; k++)
        put(t, "berth_connections{backend=\"%s\",protocol=\"%s\"} %llu\n", st->backend,
            conn_protocols[k], (unsigned long long)st->connections_open[k]);
    counter(t, "berth_connections_accepted_total", "Connections accepted, refused ones included.",
            st->connections_accepted);
    counter(t, "berth_connections_refused_total",
            "Connections answered 503 and closed at the connection cap.",
            st->connections_refused);
    family(t, "berth_tls_handshakes_total", "counter",
           "TLS handshakes: full, resumed from a session ticket, or failed.");
    put(t, "berth_tls_handshakes_total{result=\"full\"} %llu\n",
        (unsigned long long)st->tls_handshakes_full);
    put(t, "berth_tls_handshakes_total{result=\"resumed\"} %llu\n",
        (unsigned long long)st->tls_handshakes_resumed);
    put(t, "berth_tls_handshakes_total{result=\"failed\"} %llu\n",
        (unsigned long long)st->tls_handshakes_failed);
    counter(t, "berth_ktls_handoffs_total",
            "TLS connections whose records the kernel took over (kernel TLS).", st->ktls_handoffs);
    counter(t, "berth_received_bytes_total", "Bytes of HTTP read from connections (after TLS).",
            st->bytes_received);
    counter(t, "berth_sent_bytes_total", "Bytes of HTTP written to connections (before TLS).",
            st->bytes_sent);
    counter(t, "berth_websocket_connections_total", "WebSocket upgrades.", st->ws_connections);
    family(t, "berth_websocket_messages_total", "counter", "WebSocket messages, by direction.");
    put(t, "berth_websocket_messages_total{direction=\"received\"} %llu\n",
        (unsigned long long)st->ws_messages_received);
    put(t, "berth_websocket_messages_total{direction=\"sent\"} %llu\n",
        (unsigned long long)st->ws_messages_sent);
}

static void server_state(text *t, const berth_stats *st)
{
    family(t, "berth_server_state", "gauge", "1 for the state the server is in, 0 for the others.");
    for (int s = 0; s < 3; s++)
        put(t, "berth_server_state{state=\"%s\"} %d\n", states[s], st->state == s);
}

static void serve_metrics(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_server *srv = berth_req_server(req);
    berth_stats st;
    text t = {NULL, 0, 0, 0};
    if (!srv || berth_server_stats(srv, &st) != 0) {
        berth_res_error(res, 500);
        return;
    }
    t.cap = 8192;
    if (!(t.p = malloc(t.cap)))
        t.failed = 1;
    requests(&t, &st);
    connections(&t, &st);
    server_state(&t, &st);
    if (t.failed) {
        free(t.p);
        berth_res_error(res, 500);
        return;
    }
    berth_res_header(res, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    berth_res_header(res, "Cache-Control", "no-store");
    berth_res_body_external(res, t.p, t.len, free, t.p);
}

int berth_metrics_mount(berth_router *router, const char *path)
{
    return berth_router_add(router, "GET", path, serve_metrics, NULL);
}
