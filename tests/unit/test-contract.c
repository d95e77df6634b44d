/* The contract with embedders (berth.h's conventions): error codes and
 * their texts, the version, why a request ended (berth_done.reason), the
 * headers completion callbacks read, the router fixed while a server runs,
 * waits refused on the connection's own thread, checked statuses, and
 * structs read and written within the size the application recorded. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../core/abi.h"
#include "../../core/pipe.h"
#include "engine_harness.h"
#include "test.h"

TEST(every_error_code_has_its_own_text)
{
    const int codes[] = {BERTH_OK, BERTH_EINVAL, BERTH_ENOENT, BERTH_ENOSPC, BERTH_ENOMEM,
                         BERTH_EAGAIN, BERTH_EGONE, BERTH_ETIMEDOUT, BERTH_ESTATE, BERTH_EEXIST,
                         BERTH_ESYS};
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        CHECK(strcmp(berth_strerror(codes[i]), "unknown error") != 0);
        for (size_t j = 0; j < i; j++)
            CHECK(codes[i] != codes[j] && strcmp(berth_strerror(codes[i]), berth_strerror(codes[j])));
    }
    CHECK(strcmp(berth_strerror(-99), "unknown error") == 0);
    CHECK(strcmp(berth_strerror(1), "unknown error") == 0);
}

TEST(version_of_the_library_is_the_headers)
{
    CHECK_INT((int)berth_version(), BERTH_VERSION_NUM);
    CHECK(strcmp(berth_version_string(), BERTH_VERSION) == 0);
    CHECK_INT(BERTH_VERSION_NUM >> 16, BERTH_VERSION_MAJOR);
}

/* ---- berth_done: reason and headers ------------------------------------- */

static int reason, outcome, dones;
static size_t done_size;
static char req_ua[64], res_rid[64], res_ct[64];

static void copy(char *dst, size_t cap, int rc, berth_str v)
{
    snprintf(dst, cap, "%.*s", rc == 0 ? (int)v.len : 1, rc == 0 ? v.ptr : "-");
}

static void after(const berth_done *d, void *user)
{
    (void)user;
    dones++;
    reason = d->reason;
    outcome = d->outcome;
    done_size = d->size;
    berth_str v;
    int rc = berth_done_req_header(d, "user-agent", &v);
    copy(req_ua, sizeof req_ua, rc, v);
    rc = berth_done_res_header(d, "X-Request-Id", &v);
    copy(res_rid, sizeof res_rid, rc, v);
    rc = berth_done_res_header(d, "content-type", &v);
    copy(res_ct, sizeof res_ct, rc, v);
}

static int refuse_body(berth_req *req, const char *data, size_t len, void *user)
{
    (void)req, (void)data, (void)user;
    return len ? 415 : 0;
}

static void tagged(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_res_header(res, "X-Request-Id", "r-7");
    berth_res_send(res, 200, "text/plain", "ok", 2);
}

static berth_stream *later;
static void tagged_defer(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_res_header(res, "X-Request-Id", "r-8");
    later = berth_res_defer(res);
}

static int wait_rc;
static void waits_on_itself(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_stream *s = berth_res_defer(res);
    berth_stream_start(s, 200, "text/plain");
    /* 200 ms: before the check this waited for itself until the timeout */
    wait_rc = berth_stream_wait(s, 0, 200);
    berth_stream_end(s);
}

static void contract_routes(berth_config *c)
{
    berth_route_opts o;
    berth_route_opts_init(&o);
    o.on_body = refuse_body;
    berth_router_add_opts(c->router, "POST", "/refuse", tagged, NULL, &o);
    berth_router_add(c->router, "GET", "/tagged", tagged, NULL);
    berth_router_add(c->router, "GET", "/tagged-defer", tagged_defer, NULL);
    berth_router_add(c->router, "GET", "/wait-self", waits_on_itself, NULL);
    c->after = after;
    c->max_body = 100;
}

static void start(harness *h)
{
    dones = reason = outcome = 0;
    req_ua[0] = res_rid[0] = res_ct[0] = '\0';
    harness_init(h, contract_routes);
}

TEST(done_reason_says_why_a_request_was_rejected)
{
    static const struct {
        const char *req;
        int reason;
    } cases[] = {
        {"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n", BERTH_REASON_NO_ROUTE},
        {"BAD\r\n\r\n", BERTH_REASON_BAD_REQUEST},
        {"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", BERTH_REASON_LIMIT},
        {"POST /refuse HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", BERTH_REASON_REFUSED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        harness h;
        start(&h);
        harness_feed_str(&h, cases[i].req);
        CHECK_INT(dones, 1);
        CHECK_INT(outcome, BERTH_DONE_REJECTED);
        CHECK_INT(reason, cases[i].reason);
        harness_free(&h);
    }
}

TEST(done_reason_tells_the_timeouts_apart)
{
    harness h;
    start(&h);
    harness_feed_str(&h, "GET /tagged HTTP/1.1\r\nHo");
    berth_conn_on_timeout(h.conn);
    CHECK_INT(dones, 1);
    CHECK_INT(reason, BERTH_REASON_HEADER_TIMEOUT);
    harness_free(&h);
    start(&h);
    harness_feed_str(&h, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nab");
    berth_conn_on_timeout(h.conn);
    CHECK_INT(dones, 1);
    CHECK_INT(reason, BERTH_REASON_BODY_TIMEOUT);
    harness_free(&h);
}

TEST(done_reason_of_aborted_and_stopped_requests)
{
    harness h;
    start(&h); /* the client closes in the middle of a body */
    harness_feed_str(&h, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nab");
    harness_eof(&h);
    CHECK_INT(outcome, BERTH_DONE_ABORTED);
    CHECK_INT(reason, BERTH_REASON_CLIENT_CLOSED);
    harness_free(&h);
    start(&h); /* the socket fails under a deferred response */
    harness_feed_str(&h, "GET /tagged-defer HTTP/1.1\r\nHost: a\r\n\r\n");
    berth_conn_abort(h.conn);
    berth_stream_end(later);
    berth_conn_free(h.conn);
    h.conn = NULL;
    CHECK_INT(outcome, BERTH_DONE_ABORTED);
    CHECK_INT(reason, BERTH_REASON_CLIENT_RESET);
    harness_free(&h);
    start(&h); /* the TLS layer failed (core/tls_layer.h says so before its abort) */
    harness_feed_str(&h, "GET /tagged-defer HTTP/1.1\r\nHost: a\r\n\r\n");
    ((berth_pipe *)h.conn)->abort_reason = BERTH_REASON_TLS; /* the engine's pipe comes first */
    berth_conn_abort(h.conn);
    berth_stream_end(later);
    berth_conn_free(h.conn);
    h.conn = NULL;
    CHECK_INT(reason, BERTH_REASON_TLS);
    harness_free(&h);
    start(&h); /* the stop cuts it */
    harness_feed_str(&h, "GET /tagged-defer HTTP/1.1\r\nHost: a\r\n\r\n");
    berth_conn_drain(h.conn);
    berth_conn_abort(h.conn); /* drain_timeout_ms passed */
    berth_conn_free(h.conn);
    h.conn = NULL;
    CHECK_INT(berth_stream_end(later), BERTH_EGONE);
    CHECK_INT(outcome, BERTH_DONE_STOPPED);
    CHECK_INT(reason, BERTH_REASON_STOP);
    harness_free(&h);
}

TEST(done_gives_the_request_and_response_headers)
{
    harness h;
    start(&h);
    harness_feed_str(&h, "GET /tagged HTTP/1.1\r\nHost: a\r\nUser-Agent: ua/1\r\n\r\n");
    CHECK_INT(dones, 1);
    CHECK_INT(reason, BERTH_REASON_NONE);
    CHECK(strcmp(req_ua, "ua/1") == 0);
    CHECK(strcmp(res_rid, "r-7") == 0);
    CHECK(strcmp(res_ct, "text/plain") == 0);
    CHECK_INT((int)done_size, (int)sizeof(berth_done));
    /* a deferred response: the request's memory went back to its pool */
    harness_feed_str(&h, "GET /tagged-defer HTTP/1.1\r\nHost: a\r\nUser-Agent: ua/2\r\n\r\n");
    berth_stream_header(later, "X-Late", "1");
    berth_stream_send(later, 200, "text/html", "x", 1);
    harness_pump(&h);
    CHECK_INT(dones, 2);
    CHECK(strcmp(req_ua, "ua/2") == 0);
    CHECK(strcmp(res_rid, "r-8") == 0);
    harness_feed_str(&h, "GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(dones, 3);
    CHECK(strcmp(req_ua, "-") == 0);
    CHECK(strcmp(res_rid, "-") == 0);
    harness_free(&h);
}

/* ---- waits, statuses ---------------------------------------------------- */

TEST(stream_wait_on_the_connections_own_thread_is_refused)
{
    harness h;
    start(&h);
    wait_rc = 1;
    harness_feed_str(&h, "GET /wait-self HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(wait_rc, BERTH_ESTATE);
    harness_free(&h);
}

static void *wait_elsewhere(void *arg)
{
    wait_rc = berth_stream_wait(arg, 0, 100);
    return NULL;
}

TEST(stream_wait_from_another_thread_still_waits)
{
    harness h;
    start(&h);
    harness_feed_str(&h, "GET /tagged-defer HTTP/1.1\r\nHost: a\r\n\r\n");
    berth_stream_start(later, 200, "text/plain");
    berth_stream_write(later, "queued", 6); /* not drained: nobody pumps */
    pthread_t t;
    wait_rc = 1;
    pthread_create(&t, NULL, wait_elsewhere, later);
    pthread_join(t, NULL);
    CHECK(wait_rc == 0 || wait_rc == BERTH_ETIMEDOUT);
    berth_stream_end(later);
    harness_free(&h);
}

static int status_rcs[4];
static void statuses(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    status_rcs[0] = berth_res_status(res, 99);
    status_rcs[1] = berth_res_status(res, 600);
    status_rcs[2] = berth_res_status(res, 1000);
    status_rcs[3] = berth_res_status(res, 201);
    berth_res_status(res, 0); /* refused: 201 stays */
}
static void status_route(berth_config *c) { berth_router_add(c->router, "GET", "/s", statuses, NULL); }

TEST(res_status_refuses_what_is_not_a_status)
{
    harness h;
    harness_init(&h, status_route);
    harness_feed_str(&h, "GET /s HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(status_rcs[0], BERTH_EINVAL);
    CHECK_INT(status_rcs[1], BERTH_EINVAL);
    CHECK_INT(status_rcs[2], BERTH_EINVAL);
    CHECK_INT(status_rcs[3], 0);
    CHECK(strncmp(h.out, "HTTP/1.1 201 ", 13) == 0);
    harness_free(&h);
}

/* ---- the router while a server runs ------------------------------------- */

static void ok_route(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_res_send(res, 200, "text/plain", "ok", 2);
}
static void quiet(const char *m, void *u) { (void)m, (void)u; }

static berth_server *running(berth_router *r)
{
    berth_config cfg;
    berth_config_init(&cfg);
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.threads = 1;
    cfg.backend = "reactor";
    cfg.router = r;
    cfg.log = quiet;
    berth_server *srv = berth_server_new(&cfg);
    if (srv && berth_server_start(srv) != 0) {
        berth_server_free(srv);
        return NULL;
    }
    return srv;
}

TEST(routes_are_fixed_while_a_server_runs)
{
    berth_router *r = berth_router_new();
    CHECK_INT(berth_router_add(r, "GET", "/a", ok_route, NULL), 0);
    berth_server *srv = running(r);
    CHECK(srv != NULL);
    if (!srv)
        return;
    CHECK_INT(berth_server_start(srv), BERTH_ESTATE); /* started already */
    CHECK_INT(berth_router_add(r, "GET", "/b", ok_route, NULL), BERTH_ESTATE);
    CHECK(strstr(berth_router_error(r), "before berth_server_start") != NULL);
    berth_server_stop(srv);
    berth_server_wait(srv);
    CHECK_INT(berth_router_add(r, "GET", "/b", ok_route, NULL), 0); /* stopped: free again */
    berth_server_free(srv);
    berth_router_free(r);
}

TEST(freeing_the_router_of_a_running_server_stops_a_debug_build)
{
#ifdef NDEBUG
    return; /* a release build leaks it instead: nothing to see */
#endif
    pid_t pid = fork();
    if (pid == 0) {
        berth_router *r = berth_router_new();
        berth_router_add(r, "GET", "/a", ok_route, NULL);
        berth_server *srv = running(r);
        if (!srv)
            _exit(3);
        berth_router_free(r); /* aborts here */
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

/* ---- structs within the recorded size ----------------------------------- */

TEST(init_writes_no_byte_beyond_the_callers_size)
{
    /* A caller compiled with a smaller berth_route_opts (an older header):
     * the init macro passes that size, and berth writes only that much. */
    unsigned char buf[sizeof(berth_route_opts) + 16];
    memset(buf, 0xAA, sizeof buf);
    size_t small = offsetof(berth_route_opts, max_body); /* without its last field */
    berth_route_opts_init_sized((berth_route_opts *)buf, small);
    for (size_t i = small; i < sizeof buf; i++)
        CHECK_INT(buf[i], 0xAA);
    size_t size;
    memcpy(&size, buf, sizeof size);
    CHECK_INT((int)size, (int)small);
    berth_config big[2];
    memset(big, 0xAA, sizeof big);
    berth_config_init_sized(big, sizeof big[0] + 8); /* a newer header's: the rest zeroed */
    CHECK_INT((int)big[0].size, (int)(sizeof big[0] + 8));
    CHECK_INT(big[0].port, 8080);
    for (size_t i = 0; i < 8; i++)
        CHECK_INT(((unsigned char *)&big[1])[i], 0);
    CHECK_INT(((unsigned char *)&big[1])[8], 0xAA);
}

TEST(readers_refuse_uninitialised_or_unknown_fields)
{
    berth_router *r = berth_router_new();
    berth_route_opts o;
    memset(&o, 0, sizeof o); /* never initialised: size 0 */
    o.max_body = 5;
    CHECK_INT(berth_router_add_opts(r, "GET", "/a", ok_route, NULL, &o), BERTH_EINVAL);
    CHECK(strstr(berth_router_error(r), "berth_route_opts_init") != NULL);
    /* A newer program's struct: unknown fields left zero are fine, set
     * ones are refused (it asked for something this library cannot do). */
    struct {
        berth_route_opts o;
        uint64_t newer;
    } grown;
    berth_route_opts_init_sized(&grown.o, sizeof grown);
    grown.newer = 0;
    CHECK_INT(berth_router_add_opts(r, "GET", "/b", ok_route, NULL, &grown.o), 0);
    grown.newer = 1;
    CHECK_INT(berth_router_add_opts(r, "GET", "/c", ok_route, NULL, &grown.o), BERTH_EINVAL);
    berth_router_free(r);
    berth_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.router = r;
    cfg.log = quiet;
    CHECK(berth_server_new(&cfg) == NULL);
}
