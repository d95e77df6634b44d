/* berth-test-server: berth-serve's endpoints plus routes that exist only
 * to test behaviour end to end (blocking handlers, deferred responses
 * from threads, streams, disconnect reports). Same environment as
 * berth-serve. */
#include <berth.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h> /* mallinfo2, for /heap */
#endif
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../handlers/arena.h"
#include "../../handlers/dataset.h"
#include "../../handlers/serve_env.h"
#include "../../handlers/tls_env.h"
#include "../../handlers/ws_echo.h"
#include "comp-routes.h"
#include "file-routes.h"
#include "form-routes.h"
#include "mw-routes.h"
#include "hold-routes.h"
#include "reply-routes.h"
#include "static-routes.h"
#include "thread-routes.h"
#include "topic-routes.h"
#include "ws-deflate-routes.h"
#include "ws-hub.h"

static berth_server *server;
static atomic_int closes_seen;
static atomic_long max_buffered;
static atomic_long handled;    /* requests answered by /counted */
static atomic_int live_ticks;  /* /tick streams not yet released */
/* on_done of the stream routes (/thread, /produce, /watch, /tick) by
 * outcome (enum berth_outcome): once each, with the right one. */
static atomic_int stream_done[4];

static void stream_finished(const berth_done *d, void *arg)
{
    (void)arg;
    if (d->outcome >= 0 && d->outcome < 4)
        atomic_fetch_add(&stream_done[d->outcome], 1);
}

/* SIGTERM and SIGINT stop the server, taken by a thread of their own with
 * sigwait rather than by a handler: under ThreadSanitizer a handler's run
 * is deferred to the receiving thread's next intercepted call, and 1 stop
 * in about 80 under load was never run (gdb: the workers polling, main in
 * its join). A handler that calls berth_server_stop stays the way
 * berth-serve and the examples stop. server_lock keeps a late signal from
 * stopping a server main has freed. */
static pthread_mutex_t server_lock = PTHREAD_MUTEX_INITIALIZER;
static sigset_t stop_signals;

static void *signal_thread_main(void *arg)
{
    (void)arg;
    for (;;) {
        int sig;
        if (sigwait(&stop_signals, &sig) != 0)
            continue;
        pthread_mutex_lock(&server_lock);
        if (server)
            berth_server_stop(server);
        pthread_mutex_unlock(&server_lock);
    }
    return NULL;
}

/* Blocks the stop signals in this thread and every thread made after it,
 * then starts the thread that takes them. */
static void stop_on_signals(void)
{
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    pthread_t t;
    if (pthread_create(&t, NULL, signal_thread_main, NULL) == 0)
        pthread_detach(t);
}

/* BERTH_TEST_LOG=FILE: berth's messages appended there, one line each (a
 * write per line: from any of the server's threads), instead of stderr. */
static int log_fd = -1;

static void log_to_file(const char *msg, void *user)
{
    (void)user;
    char line[600];
    int n = snprintf(line, sizeof line, "%s\n", msg);
    if (n > 0 && write(log_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) < 0)
        abort();
}

static int64_t query_or(berth_req *req, const char *name, int64_t fallback)
{
    int64_t v;
    return berth_req_query_int(req, name, &v) == 0 ? v : fallback;
}

/* GET /sleep?ms=: blocks its thread (fine on fast, stalls a loop elsewhere). */
static void sleep_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    usleep((useconds_t)query_or(req, "ms", 200) * 1000);
    berth_res_send(res, 200, "text/plain", "slept", 5);
}

typedef struct job {
    berth_stream *s;
    int64_t ms, n, bytes;
} job;

static void *answer_later(void *arg)
{
    job *j = arg;
    usleep((useconds_t)j->ms * 1000);
    berth_stream_send(j->s, 200, "text/plain", "from a thread", 13);
    free(j);
    return NULL;
}

static void start_thread(void *(*fn)(void *), job *j)
{
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, &a, fn, j);
    pthread_attr_destroy(&a);
}

/* GET /thread?ms=: answered by another thread after ms. */
static void thread_route(berth_req *req, berth_res *res, void *user)
{
    berth_req_on_done(req, stream_finished, NULL);
    (void)user;
    job *j = calloc(1, sizeof *j);
    j->ms = query_or(req, "ms", 50);
    j->s = berth_res_defer(res);
    start_thread(answer_later, j);
}

/* Streams n chunks of `bytes` from a thread, waiting for the buffer to
 * drain (backpressure); records the most ever buffered. */
static void *produce(void *arg)
{
    job *j = arg;
    char *chunk = malloc((size_t)j->bytes);
    berth_stream_start(j->s, 200, "application/octet-stream");
    for (int64_t i = 0; i < j->n; i++) {
        memset(chunk, 'a' + (int)(i % 26), (size_t)j->bytes);
        int rc;
        while ((rc = berth_stream_write(j->s, chunk, (size_t)j->bytes)) == BERTH_EAGAIN)
            berth_stream_wait(j->s, 256 * 1024, 1000);
        long b = (long)berth_stream_buffered(j->s);
        if (b > atomic_load(&max_buffered))
            atomic_store(&max_buffered, b);
        if (rc == BERTH_EGONE)
            break; /* the client went away */
    }
    berth_stream_end(j->s);
    free(chunk);
    free(j);
    return NULL;
}

/* GET /produce?n=&bytes= */
static void produce_route(berth_req *req, berth_res *res, void *user)
{
    berth_req_on_done(req, stream_finished, NULL);
    (void)user;
    job *j = calloc(1, sizeof *j);
    j->n = query_or(req, "n", 10);
    j->bytes = query_or(req, "bytes", 1024);
    if (j->bytes < 1 || j->bytes > (1 << 20))
        j->bytes = 1024;
    j->s = berth_res_defer(res);
    start_thread(produce, j);
}

static void watch_closed(berth_stream *s, void *arg)
{
    (void)arg;
    atomic_fetch_add(&closes_seen, 1);
    berth_stream_end(s);
}

/* GET /watch: a stream that never ends by itself; reports the disconnect. */
static void watch_route(berth_req *req, berth_res *res, void *user)
{
    berth_req_on_done(req, stream_finished, NULL);
    (void)req, (void)user;
    berth_stream *s = berth_res_defer(res);
    berth_stream_on_close(s, watch_closed, NULL);
    berth_stream_start(s, 200, "text/plain");
    berth_stream_write(s, "watching\n", 9);
}

/* GET /counted: "ok", counted; the count is printed when the server exits,
 * so a test can tell every request a handler answered reached its client. */
static void counted_route(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    atomic_fetch_add(&handled, 1);
    berth_res_send(res, 200, "text/plain", "ok", 2);
}

/* GET /tick?interval_ms=: server-sent events without end, written in the
 * order berth-serve's /sse uses (on_close set after the first write). The
 * handle count must return to zero however the clients leave. */
static void tick(berth_stream *s, void *arg)
{
    (void)arg;
    berth_sse_send(s, "tick", NULL, "x", 1);
}

static void tick_release(berth_stream *s, void *arg)
{
    (void)arg;
    berth_stream_end(s);
    atomic_fetch_sub(&live_ticks, 1);
}

static void tick_route(berth_req *req, berth_res *res, void *user)
{
    berth_req_on_done(req, stream_finished, NULL);
    (void)user;
    berth_stream *s = berth_sse_start(res, 0);
    if (!s)
        return;
    atomic_fetch_add(&live_ticks, 1);
    berth_stream_on_close(s, tick_release, NULL);
    berth_stream_on_stop(s, tick_release, NULL);
    unsigned ms = (unsigned)query_or(req, "interval_ms", 50);
    berth_stream_timer(s, ms, ms, tick, NULL);
}

/* GET /tls-info: what berth_req_tls says, as JSON ({"tls":false} over TCP). */
static void tls_info_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_tls_info info;
    char buf[512];
    int n = berth_req_tls(req, &info) == 0
                ? snprintf(buf, sizeof buf,
                           "{\"tls\":true,\"version\":\"%s\",\"cipher\":\"%s\",\"alpn\":\"%.*s\","
                           "\"sni\":\"%.*s\",\"resumed\":%s,",
                           info.version, info.cipher, (int)info.alpn.len, info.alpn.ptr,
                           (int)info.sni.len, info.sni.ptr, info.resumed ? "true" : "false")
                : snprintf(buf, sizeof buf, "{\"tls\":false,");
    n += snprintf(buf + n, sizeof buf - (size_t)n, "\"http_version\":%d,\"version_minor\":%d}",
                  berth_req_http_version(req), berth_req_version_minor(req));
    berth_res_send(res, 200, "application/json", buf, (size_t)n);
}

/* GET /peer: what berth_req_peer, berth_req_local and berth_req_tls say. */
/* Stops the server it came to and answers the state berth_server_stats
 * says then (test_metrics: "2", draining); this request is still answered. */
static void stop_state_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_server *srv = berth_req_server(req);
    berth_server_stop(srv);
    berth_stats st;
    berth_server_stats(srv, &st);
    char buf[16];
    int n = snprintf(buf, sizeof buf, "%d", st.state);
    berth_res_send(res, 200, "text/plain", buf, (size_t)n);
}

static void peer_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_addr p, l;
    int hp = berth_req_peer(req, &p) == 0, hl = berth_req_local(req, &l) == 0;
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "{\"peer\":\"%s\",\"peer_port\":%u,\"peer_family\":%d,\"local\":\"%s\","
                     "\"local_port\":%u,\"local_family\":%d,\"tls\":%s}",
                     hp ? p.text : "?", hp ? (unsigned)p.port : 0, hp ? p.family : -1,
                     hl ? l.text : "?", hl ? (unsigned)l.port : 0, hl ? l.family : -1,
                     berth_req_is_tls(req) ? "true" : "false");
    berth_res_send(res, 200, "application/json", buf, (size_t)n);
}

/* POST /store: a streamed upload written to a file of its own, as an
 * upload service would: the open file is the request's data, created on
 * the first piece and closed (and, unless complete, removed) when the
 * request is over. Each body is one repeated byte: a piece with another
 * byte would be another client's, counted as mixed. Limit 1 GiB (the
 * server's is the default 64 MiB). */
static atomic_int store_started, store_done, store_completed, store_mixed, store_twice;
static atomic_int store_seq;

typedef struct upload {
    int fd;
    char fill;
    char path[64];
    int done;
} upload;

static void store_finished(const berth_done *d, void *arg)
{
    upload *u = arg;
    if (d->outcome == BERTH_DONE_STOPPED) /* test_stop.py reads it at exit */
        printf("store stopped status=%d received=%llu\n", d->status,
               (unsigned long long)d->body_received);
    if (u->done++)
        atomic_fetch_add(&store_twice, 1);
    atomic_fetch_add(&store_done, 1);
    close(u->fd);
    if (d->outcome == BERTH_DONE_COMPLETED)
        atomic_fetch_add(&store_completed, 1);
    unlink(u->path); /* a test server keeps nothing */
    free(u);
}

static int store_piece(berth_req *req, const char *data, size_t len, void *user)
{
    (void)user;
    upload *u = berth_req_data(req);
    if (berth_req_body_first(req)) {
        if (u)
            atomic_fetch_add(&store_mixed, 1); /* another request's state */
        u = calloc(1, sizeof *u);
        if (!u)
            return 500;
        snprintf(u->path, sizeof u->path, "/tmp/berth-store-%d-%d", (int)getpid(),
                 atomic_fetch_add(&store_seq, 1));
        u->fd = open(u->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        u->fill = data[0];
        if (u->fd < 0) {
            free(u);
            return 500;
        }
        atomic_fetch_add(&store_started, 1);
        berth_req_set_data(req, u);
        berth_req_on_done(req, store_finished, u);
    }
    if (!u)
        return 500;
    berth_str early;
    if (berth_req_stopping(req) && berth_req_header(req, "X-End-On-Stop", &early) == 0)
        return 503; /* the server stops: this upload ends now */
    berth_str slow;
    if (berth_req_header(req, "X-Slow-Ms", &slow) == 0) {
        unsigned ms = 0; /* a slow consumer: each piece takes this long */
        for (size_t i = 0; i < slow.len && slow.ptr[i] >= '0' && slow.ptr[i] <= '9'; i++)
            ms = ms * 10 + (unsigned)(slow.ptr[i] - '0');
        usleep(ms * 1000);
    }
    for (size_t i = 0; i < len; i++) {
        if (data[i] != u->fill) {
            atomic_fetch_add(&store_mixed, 1);
            break;
        }
    }
    return write(u->fd, data, len) == (ssize_t)len ? 0 : 500;
}

static void store_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    upload *u = berth_req_data(req);
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%llu %c", (unsigned long long)berth_req_body_received(req),
                     u ? u->fill : '-');
    berth_res_send(res, 201, "text/plain", buf, (size_t)n);
}

/* Descriptors open on upload files (removed or not); -1 where there is no
 * /proc/self/fd to read them from (off Linux: the tests that look skip). */
static int open_fds(void)
{
#ifdef __linux__
    int n = 0;
    char path[64], target[256], prefix[64];
    int plen = snprintf(prefix, sizeof prefix, "/tmp/berth-store-%d-", (int)getpid());
    for (int fd = 0; fd < 65536; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len > 0 && len >= plen && memcmp(target, prefix, (size_t)plen) == 0)
            n++;
    }
    return n;
#else
    return -1;
#endif
}

/* GET /store-stats */
static void store_stats_route(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    char buf[256];
    int n = snprintf(buf, sizeof buf,
                     "{\"started\":%d,\"done\":%d,\"completed\":%d,\"mixed\":%d,\"twice\":%d,"
                     "\"fds\":%d}",
                     atomic_load(&store_started), atomic_load(&store_done),
                     atomic_load(&store_completed), atomic_load(&store_mixed),
                     atomic_load(&store_twice), open_fds());
    berth_res_send(res, 200, "application/json", buf, (size_t)n);
}

/* BERTH_TEST_HOOKS=1: a before hook (X-Request-Id on every response; OPTIONS
 * answered 204 for CORS preflight), JSON errors with CORS headers, and
 * berth's Server replaced by X-Server-Name's value when a request asks. */
static atomic_long request_ids;

static int test_before(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char id[32];
    snprintf(id, sizeof id, "%ld", atomic_fetch_add(&request_ids, 1) + 1);
    berth_res_header(res, "X-Request-Id", id);
    berth_res_header(res, "Access-Control-Allow-Origin", "*");
    berth_str v;
    if (berth_req_header(req, "X-Server-Name", &v) == 0)
        berth_res_header_n(res, "Server", 6, v.ptr, v.len);
    if (berth_req_header(req, "X-No-Date", &v) == 0)
        berth_res_header_remove(res, "Date");
    if (berth_str_eq_bytes(berth_req_method(req), "OPTIONS")) {
        berth_res_status(res, 204);
        berth_res_header(res, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        return 1;
    }
    return 0;
}

static void test_errors(berth_req *req, berth_res *res, int status, void *user)
{
    (void)user;
    char body[128];
    int n = snprintf(body, sizeof body, "{\"error\":%d,\"reason\":\"%s\",\"request\":%s}", status,
                     berth_status_reason(status), req ? "true" : "false");
    berth_res_header(res, "Access-Control-Allow-Origin", "*");
    berth_res_header(res, "Content-Type", "application/json");
    berth_res_body(res, body, (size_t)n);
}

/* GET /files/{path...} and GET /doc/{name}.json: the decoded parameter. */
static void param_route(berth_req *req, berth_res *res, void *user)
{
    char buf[1024];
    long n = berth_req_param_decoded(req, user, buf, sizeof buf);
    if (n < 0)
        berth_res_send(res, 400, "text/plain", "bad parameter\n", 14);
    else
        berth_res_send(res, 200, "text/plain", buf, (size_t)n);
}

/* GET /heap: bytes the allocator has handed out and not had back
 * (glibc's mallinfo2), for tests of what connections keep; 501 where the
 * C library cannot say (macOS, FreeBSD: those tests skip there). */
static void heap_route(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
#ifdef __GLIBC__
    char buf[64];
    int n = snprintf(buf, sizeof buf, "{\"in_use\":%zu}", mallinfo2().uordblks);
    berth_res_send(res, 200, "application/json", buf, (size_t)n);
#else
    berth_res_send(res, 501, "text/plain", "no mallinfo2\n", 13);
#endif
}

/* GET /stats: what the test routes observed. */
static void stats_route(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    char buf[224];
    int n = snprintf(buf, sizeof buf,
                     "{\"closes\":%d,\"max_buffered\":%ld,\"live_ticks\":%d,\"releases\":%d,"
                     "\"done\":[%d,%d,%d,%d]}",
                     atomic_load(&closes_seen), atomic_load(&max_buffered),
                     atomic_load(&live_ticks), file_routes_releases(),
                     atomic_load(&stream_done[0]), atomic_load(&stream_done[1]),
                     atomic_load(&stream_done[2]), atomic_load(&stream_done[3]));
    berth_res_send(res, 200, "application/json", buf, (size_t)n);
}

int main(void)
{
    stop_on_signals();
    berth_config cfg;
    berth_config_init(&cfg);
    const char *port = getenv("PORT");
    cfg.port = (uint16_t)(port ? atoi(port) : 0);
    const char *v;
    if ((v = getenv("BERTH_MAX_STREAM_BUFFER")))
        cfg.max_stream_buffer = (size_t)atol(v);
    if ((v = getenv("BERTH_MAX_CONNECTIONS")))
        cfg.max_connections = (unsigned)atol(v);
    if ((v = getenv("BERTH_MAX_THREADS")))
        cfg.max_threads = (unsigned)atol(v);
    if ((v = getenv("BERTH_DRAIN_TIMEOUT_MS")))
        cfg.drain_timeout_ms = (unsigned)atol(v);
    if ((v = getenv("BERTH_HEADER_TIMEOUT_MS")))
        cfg.header_timeout_ms = (unsigned)atol(v);
    if ((v = getenv("BERTH_IDLE_TIMEOUT_MS")))
        cfg.idle_timeout_ms = (unsigned)atol(v);
    if ((v = getenv("BERTH_BODY_TIMEOUT_MS")))
        cfg.body_timeout_ms = (unsigned)atol(v);
    if ((v = getenv("BERTH_WRITE_TIMEOUT_MS")))
        cfg.write_timeout_ms = (unsigned)atol(v);
    if ((v = getenv("BERTH_MAX_BODY")))
        cfg.max_body = (uint64_t)atoll(v);
    dataset data;
    const char *path = getenv("BERTH_DATASET");
    dataset_load(&data, path ? path : "/data/dataset.json");
    berth_router *r = berth_router_new();
    arena_routes_add(r, &data);
    ws_echo_route_add(r); /* /ws, as berth-serve (the soak's WebSocket phase) */
    berth_metrics_mount(r, "/metrics"); /* test_metrics */
    berth_router_add(r, "GET", "/sleep", sleep_route, NULL);
    berth_router_add(r, "GET", "/thread", thread_route, NULL);
    berth_router_add(r, "GET", "/produce", produce_route, NULL);
    berth_router_add(r, "GET", "/watch", watch_route, NULL);
    berth_router_add(r, "GET", "/stats", stats_route, NULL);
    berth_router_add(r, "GET", "/heap", heap_route, NULL);
    berth_router_add(r, "GET", "/counted", counted_route, NULL);
    berth_router_add(r, "GET", "/tick", tick_route, NULL);
    file_routes_add(r); /* /file, /mapped: file-routes.c */
    berth_router_add(r, "GET", "/tls-info", tls_info_route, NULL);
    berth_router_add(r, "GET", "/peer", peer_route, NULL);
    berth_router_add(r, "GET", "/stop-state", stop_state_route, NULL);
    berth_route_opts store;
    berth_route_opts_init(&store);
    store.on_body = store_piece;
    store.max_body = 1ull << 30;
    berth_router_add_opts(r, "POST", "/store", store_route, NULL, &store);
    berth_router_add(r, "GET", "/store-stats", store_stats_route, NULL);
    berth_router_add(r, "GET", "/files/{path...}", param_route, "path");
    berth_router_add(r, "GET", "/doc/{name}.json", param_route, "name");
    comp_routes_add(r);
    hold_routes_add(r);
    form_routes_add(r, &cfg); /* forms, multipart, cookies: form-routes.c, upload-routes.c */
    mw_routes_add(r);   /* middleware under /mw: mw-routes.c */
    topic_routes_add(r); /* topics: topic-routes.c */
    ws_deflate_routes_add(r); /* compressed WebSockets fed by threads: ws-deflate-routes.c */
    reply_routes_add(r); /* /sendf, /error-json: reply-routes.c */
    if (static_routes_add(r) != 0) /* BERTH_STATIC_DIR: static-routes.c */
        return 1;
    ws_hub_route_add(r, &server);
    thread_routes_add(r, &cfg); /* worker-thread and stop hooks: thread-routes.c */
    if ((v = getenv("BERTH_TEST_LOG")) && *v) {
        log_fd = open(v, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (log_fd < 0)
            return 1;
        cfg.log = log_to_file;
    }
    if ((v = getenv("BERTH_TEST_HOOKS")) && strcmp(v, "1") == 0) {
        cfg.before = test_before;
        cfg.on_error = test_errors;
    }
    cfg.request_id_header = "X-Request-Id"; /* mw-routes.c */
    cfg.router = r;
    berth_tls_config tls;
    int use_tls = tls_from_env(&tls);
    if (use_tls < 0)
        return 1;
    cfg.tls = use_tls ? &tls : NULL;
    pthread_mutex_lock(&server_lock);
    server = server_from_env(&cfg);
    pthread_mutex_unlock(&server_lock);
    int rc = 1;
    /* A server that cannot be made or started exits 1, having freed what
     * it made (LeakSanitizer checks the failure path too). */
    if (server && berth_server_start(server) == 0) {
        print_listening(server);
        berth_server_wait(server);
        ws_hub_join();
        thread_routes_report();
        berth_stats st;
        berth_server_stats(server, &st);
        printf("stopped handled=%ld live_ticks=%d state=%d\n", atomic_load(&handled),
               atomic_load(&live_ticks), st.state);
        fflush(stdout);
        rc = 0;
    }
    pthread_mutex_lock(&server_lock);
    berth_server_free(server);
    server = NULL;
    pthread_mutex_unlock(&server_lock);
    berth_router_free(r);
    ws_deflate_routes_free();
    topic_routes_free();
    static_routes_free();
    dataset_free(&data);
    return rc;
}
