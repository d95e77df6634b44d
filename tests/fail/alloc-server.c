/* berth-alloc-server: a server whose Nth allocation fails
 * (BERTH_FAIL_ALLOC=N, alloc_fail.c), for alloc_sweep.py's scripted
 * sessions. Its routes cover what a session exercises: keep-alive and
 * pipelined requests, bodies (chunked and large), gzip, deferred responses
 * (streamed from a timer and from another thread, sent whole), a
 * WebSocket echo, static files, and all of it over TLS too.
 *
 * Every failure a handler sees is answered honestly: 500 (or the stream's
 * end after a failed write, which berth must then not present as a
 * complete response). A failed setup exits 3, a clean stop 0; either way
 * everything is freed first (the sanitizer's leak check runs at exit).
 *
 * Environment: HTTP_BACKEND, BERTH_TEST_CERTS (the certificates'
 * directory), BERTH_TEST_STATIC (the directory served under /static). */
#include <berth.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc_fail.h"

static berth_server *server;
static atomic_int app_threads; /* stream producers still running */
static char text[6000];        /* a compressible body: gzip's case */

static void on_signal(int sig)
{
    (void)sig;
    if (server)
        berth_server_stop(server);
}

static void send_or_500(berth_res *res, const char *type, const void *body, size_t len)
{
    if (berth_res_send(res, 200, type, body, len) != 0)
        berth_res_error(res, 500);
}

/* Says whether the request came over TLS: a connection whose TLS record
 * could not be kept must not pass its requests off as plaintext ones. */
static void hello(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    if (berth_req_is_tls(req))
        send_or_500(res, "text/plain", "hello world over tls", 20);
    else
        send_or_500(res, "text/plain", "hello world", 11);
}

static void echo(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_str b = berth_req_body(req);
    send_or_500(res, "application/octet-stream", b.ptr, b.len);
}

static void text_route(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    send_or_500(res, "text/plain", text, sizeof text);
}

/* The header lines fill the response's inline room (1 KiB) so that the
 * Content-Encoding gzip adds is the one that needs an allocation. */
static void text_padded(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    char pad[961];
    memset(pad, 'p', sizeof pad - 1);
    pad[sizeof pad - 1] = 0;
    if (berth_res_header(res, "X-Pad", pad) != 0) {
        berth_res_error(res, 500);
        return;
    }
    send_or_500(res, "text/plain", text, sizeof text);
}

/* ---- deferred responses ---- */

#define PIECES 3
static const char *const piece[PIECES] = {"piece-0;", "piece-1;", "piece-2;"};

typedef struct producer {
    berth_stream *s;
    int next;
} producer;

/* A write the stream refused: its end follows (exactly one send or end
 * per handle), and berth must not make it look complete. */
static void stream_timer_tick(berth_stream *s, void *arg)
{
    producer *p = arg;
    int rc = p->next == 0 ? berth_stream_start(s, 200, "text/plain") : 0;
    if (rc == 0)
        rc = berth_stream_write(s, piece[p->next], strlen(piece[p->next]));
    if (rc != 0 || ++p->next == PIECES) {
        berth_stream_end(s); /* stops the timer */
        free(p);
    }
}

/* The client went first: the timers are stopped, the handle still ends. */
static void stream_timer_gone(berth_stream *s, void *arg)
{
    berth_stream_end(s);
    free(arg);
}

static void stream_timer(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    producer *p = calloc(1, sizeof *p);
    if (!p) {
        berth_res_error(res, 500);
        return;
    }
    berth_stream *s = berth_res_defer(res);
    if (!s) {
        free(p);
        berth_res_error(res, 500);
        return;
    }
    p->s = s;
    if (!berth_stream_timer(s, 1, 1, stream_timer_tick, p)) {
        free(p);
        berth_stream_send(s, 500, "text/plain", "no timer", 8);
        return;
    }
    berth_stream_on_close(s, stream_timer_gone, p);
}

static void *stream_thread_main(void *arg)
{
    berth_stream *s = arg;
    int rc = berth_stream_start(s, 200, "text/plain");
    for (int i = 0; rc == 0 && i < PIECES; i++)
        rc = berth_stream_write(s, piece[i], strlen(piece[i]));
    berth_stream_end(s);
    atomic_fetch_sub(&app_threads, 1);
    return NULL;
}

static void stream_thread(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_stream *s = berth_res_defer(res);
    if (!s) {
        berth_res_error(res, 500);
        return;
    }
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    atomic_fetch_add(&app_threads, 1);
    if (pthread_create(&t, &a, stream_thread_main, s) != 0) {
        atomic_fetch_sub(&app_threads, 1);
        berth_stream_send(s, 500, "text/plain", "no thread", 9);
    }
    pthread_attr_destroy(&a);
}

static void defer_send_tick(berth_stream *s, void *arg)
{
    (void)arg;
    berth_stream_send(s, 200, "text/plain", text, sizeof text);
}

static void defer_send_gone(berth_stream *s, void *arg)
{
    (void)arg;
    berth_stream_end(s);
}

/* Sent whole from a timer: gzip through the deferred path. */
static void defer_send(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_stream *s = berth_res_defer(res);
    if (!s) {
        berth_res_error(res, 500);
        return;
    }
    if (!berth_stream_timer(s, 1, 0, defer_send_tick, NULL)) {
        berth_stream_send(s, 500, "text/plain", "no timer", 8);
        return;
    }
    berth_stream_on_close(s, defer_send_gone, NULL);
}

/* ---- WebSocket ---- */

static void ws_message(berth_ws *ws, int type, const char *data, size_t len, void *user)
{
    (void)user;
    if (berth_ws_send(ws, type, data, len) != 0)
        berth_ws_close(ws, 1011, "cannot echo");
}

static void ws_route(berth_req *req, berth_res *res, void *user)
{
    berth_ws_upgrade(req, res, user, NULL);
}

/* ---- the server ---- */

static int routes_add(berth_router *r, berth_ws_config *ws)
{
    return berth_router_add(r, "GET", "/hello", hello, NULL) || berth_router_add(r, "POST", "/echo", echo, NULL) ||
           berth_router_add(r, "GET", "/text", text_route, NULL) ||
           berth_router_add(r, "GET", "/text-padded", text_padded, NULL) ||
           berth_router_add(r, "GET", "/stream-timer", stream_timer, NULL) ||
           berth_router_add(r, "GET", "/stream-thread", stream_thread, NULL) ||
           berth_router_add(r, "GET", "/defer-send", defer_send, NULL) ||
           berth_router_add(r, "GET", "/ws", ws_route, ws);
}

int main(void)
{
    if (alloc_fail_init() != 0) {
        fprintf(stderr, "alloc-server: the libraries' allocator hooks were refused\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = "berth serves this text, compressed when asked\n"[i % 46];
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    const char *certs = getenv("BERTH_TEST_CERTS"), *dir = getenv("BERTH_TEST_STATIC");
    char cert[512], key[512];
    snprintf(cert, sizeof cert, "%s/server.crt", certs ? certs : ".");
    snprintf(key, sizeof key, "%s/server.key", certs ? certs : ".");

    int rc = 3;
    berth_static *st = NULL;
    berth_ws_config ws;
    berth_ws_config_init(&ws);
    ws.on_message = ws_message;
    berth_router *r = berth_router_new();
    if (!r || routes_add(r, &ws) != 0)
        goto out;
    if (dir && berth_static_mount(r, "/static", dir, NULL, &st) != 0)
        goto out;
    berth_tls_config tls;
    berth_tls_config_init(&tls);
    tls.port = 0;
    tls.cert_file = cert;
    tls.key_file = key;
    tls.ktls = 0;
    tls.handshake_timeout_ms = 5000;
    berth_config c;
    berth_config_init(&c);
    c.host = "127.0.0.1";
    c.port = 0;
    c.threads = 1;
    c.router = r;
    c.tls = &tls;
    c.header_timeout_ms = c.body_timeout_ms = c.idle_timeout_ms = c.write_timeout_ms = 5000;
    c.drain_timeout_ms = 5000;
    server = berth_server_new(&c);
    if (!server)
        goto out;
    if (berth_server_start(server) != 0) {
        berth_server_free(server);
        server = NULL;
        goto out;
    }
    printf("http://127.0.0.1:%u backend=%s tls=https://127.0.0.1:%u\n", berth_server_port(server),
           berth_server_backend(server), berth_server_tls_port(server));
    fflush(stdout);
    berth_server_wait(server);
    berth_server_free(server);
    server = NULL;
    rc = 0;
out:
    if (rc)
        printf("setup failed\n");
    fflush(stdout);
    while (atomic_load(&app_threads) > 0)
        usleep(1000); /* a producer still ending its stream */
    berth_static_free(st);
    berth_router_free(r);
    fprintf(stderr, "alloc-server: allocations=%ld fail_at=%ld failed=%d\n", alloc_fail_calls(),
            alloc_fail_target(), alloc_fail_hit());
    return rc;
}
