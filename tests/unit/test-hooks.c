/* Request lifetime (data, completion), hooks around requests, berth's
 * error answers through the error hook, Server and Date. */
#include "engine_harness.h"
#include "test.h"

static int dones, last_outcome, last_status, after_calls;
static void *last_data;
static char last_line[200];
static uint64_t last_bytes, last_received;

static void on_done(const berth_done *d, void *arg)
{
    (void)arg;
    dones++;
    last_outcome = d->outcome;
    last_status = d->status;
    last_data = d->data;
    last_bytes = d->bytes_sent;
    last_received = d->body_received;
    snprintf(last_line, sizeof last_line, "%.*s %.*s", (int)d->method.len, d->method.ptr,
             (int)d->target.len, d->target.ptr);
}

static void after(const berth_done *d, void *user)
{
    (void)user;
    after_calls++;
    on_done(d, NULL);
    dones--; /* counted apart */
}

static void reset(void)
{
    dones = after_calls = last_outcome = last_status = 0;
    last_data = NULL;
    last_line[0] = '\0';
    last_bytes = last_received = 0;
}

static int piece_first[8], pieces;
static int reject_with;

static int body_piece(berth_req *req, const char *data, size_t len, void *user)
{
    (void)data, (void)len, (void)user;
    if (berth_req_body_first(req)) {
        berth_req_set_data(req, (void *)0x1234);
        berth_req_on_done(req, on_done, NULL);
    }
    if (pieces < 8)
        piece_first[pieces++] = berth_req_body_first(req);
    return reject_with;
}

static void upload_done(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char out[32];
    int n = snprintf(out, sizeof out, "%p", berth_req_data(req));
    berth_res_send(res, 201, "text/plain", out, (size_t)n);
}

static void tracked(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_req_set_data(req, (void *)0x77);
    berth_req_on_done(req, on_done, NULL);
    berth_res_send(res, 200, "text/plain", "hello", 5);
}

static berth_stream *deferred;
static void tracked_defer(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_req_on_done(req, on_done, NULL);
    deferred = berth_res_defer(res);
}

static void own_server(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_res_header(res, "Server", "mine/1.0");
    berth_res_header(res, "X-Gone", "1");
    berth_res_header_remove(res, "x-gone");
    berth_res_header_remove(res, "Date");
    berth_res_send(res, 200, "text/plain", "s", 1);
}

static void small_routes(berth_config *c)
{
    berth_router *r = c->router;
    berth_route_opts up;
    berth_route_opts_init(&up);
    up.on_body = body_piece;
    up.max_body = 1000;
    berth_router_add_opts(r, "POST", "/up", upload_done, NULL, &up);
    berth_route_opts big;
    berth_route_opts_init(&big);
    big.stream_body = 1;
    big.max_body = 1u << 30;
    berth_router_add_opts(r, "POST", "/big-up", upload_done, NULL, &big);
    berth_router_add(r, "GET", "/tracked", tracked, NULL);
    berth_router_add(r, "GET", "/tracked-defer", tracked_defer, NULL);
    berth_router_add(r, "GET", "/own-server", own_server, NULL);
    c->max_body = 10;
}

static void setup(harness *h, void (*extra)(berth_config *))
{
    reset();
    pieces = 0;
    reject_with = 0;
    harness_init(h, extra);
}

TEST(done_runs_once_with_data_after_a_plain_response)
{
    harness h;
    setup(&h, small_routes);
    harness_feed_str(&h, "GET /tracked HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(dones, 1);
    CHECK_INT(last_outcome, BERTH_DONE_COMPLETED);
    CHECK_INT(last_status, 200);
    CHECK(last_data == (void *)0x77);
    CHECK_INT(last_bytes, 5);
    CHECK(strcmp(last_line, "GET /tracked") == 0);
    harness_free(&h);
    CHECK_INT(dones, 1); /* not again when the connection goes */
}

TEST(on_body_knows_its_first_piece_and_data_reaches_the_handler)
{
    harness h;
    setup(&h, small_routes);
    harness_feed(&h, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 30\r\n\r\n"
                     "aaaaaaaaaabbbbbbbbbbcccccccccc", 81, 10);
    CHECK(pieces >= 2);
    CHECK_INT(piece_first[0], 1);
    CHECK_INT(piece_first[1], 0);
    CHECK(strstr(h.out, "HTTP/1.1 201") != NULL);
    CHECK(strstr(h.out, "0x1234") != NULL);
    CHECK_INT(dones, 1);
    CHECK_INT(last_outcome, BERTH_DONE_COMPLETED);
    CHECK_INT(last_received, 30);
    harness_free(&h);
}

TEST(on_body_rejects_with_its_own_status)
{
    harness h;
    setup(&h, small_routes);
    reject_with = 415;
    harness_feed_str(&h, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc");
    CHECK(strncmp(h.out, "HTTP/1.1 415 ", 13) == 0);
    CHECK(strstr(h.out, "Connection: close") != NULL);
    CHECK_INT(dones, 1);
    CHECK_INT(last_outcome, BERTH_DONE_REJECTED);
    CHECK_INT(last_status, 415);
    harness_free(&h);
}

TEST(on_body_other_nonzero_is_400)
{
    harness h;
    setup(&h, small_routes);
    reject_with = 7;
    harness_feed_str(&h, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc");
    CHECK(strncmp(h.out, "HTTP/1.1 400 ", 13) == 0);
    harness_free(&h);
}

TEST(client_gone_mid_body_is_aborted_once)
{
    harness h;
    setup(&h, small_routes);
    harness_feed_str(&h, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nhalf");
    CHECK_INT(dones, 0);
    harness_eof(&h);
    CHECK_INT(dones, 1);
    CHECK_INT(last_outcome, BERTH_DONE_ABORTED);
    CHECK(last_data == (void *)0x1234);
    harness_free(&h);
    CHECK_INT(dones, 1);
}

TEST(connection_freed_mid_body_is_aborted_once)
{
    harness h;
    setup(&h, small_routes);
    harness_feed_str(&h, "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "4\r\nabcd\r\n");
    CHECK_INT(dones, 0);
    harness_free(&h); /* a reset: the backend frees the connection */
    CHECK_INT(dones, 1);
    CHECK_INT(last_outcome, BERTH_DONE_ABORTED);
}

TEST(route_body_limit_below_the_server_limit)
{
    harness h;
    setup(&h, small_routes);
    harness_feed_str(&h, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n");
    CHECK(strncmp(h.out, "HTTP/1.1 413 ", 13) == 0);
    harness_free(&h);
}

TEST(route_body_limit_above_the_server_limit)
{
    harness h;
    setup(&h, small_routes); /* server max_body 10 */
    harness_feed_str(&h, "POST /big-up HTTP/1.1\r\nHost: a\r\nContent-Length: 50\r\n\r\n"
                         "0123456789012345678901234567890123456789012345678\n");
    CHECK(strncmp(h.out, "HTTP/1.1 201 ", 13) == 0);
    harness_free(&h);
    harness h2;
    setup(&h2, small_routes);
    harness_feed_str(&h2, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n");
    CHECK(strncmp(h2.out, "HTTP/1.1 413 ", 13) == 0);
    harness_free(&h2);
}

TEST(route_body_limit_holds_for_chunked_bodies)
{
    harness h;
    setup(&h, small_routes);
    harness_feed_str(&h, "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "3e9\r\n");
    CHECK(strncmp(h.out, "HTTP/1.1 413 ", 13) == 0);
    harness_free(&h);
}

TEST(done_of_a_deferred_response_runs_after_the_stream_ends_not_inside)
{
    harness h;
    setup(&h, small_routes);
    harness_feed_str(&h, "GET /tracked-defer HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(dones, 0);
    CHECK_INT(berth_stream_send(deferred, 202, "text/plain", "later", 5), 0);
    CHECK_INT(dones, 0); /* not inside berth_stream_send */
    harness_pump(&h);
    CHECK_INT(dones, 1);
    CHECK_INT(last_outcome, BERTH_DONE_COMPLETED);
    CHECK_INT(last_status, 202);
    CHECK_INT(last_bytes, 5);
    CHECK(strcmp(last_line, "GET /tracked-defer") == 0);
    harness_free(&h);
    CHECK_INT(dones, 1);
}

TEST(done_of_a_deferred_response_whose_client_left_is_aborted)
{
    harness h;
    setup(&h, small_routes);
    harness_feed_str(&h, "GET /tracked-defer HTTP/1.1\r\nHost: a\r\n\r\n");
    harness_eof(&h);
    CHECK_INT(dones, 0);
    harness_free(&h);
    CHECK_INT(dones, 1);
    CHECK_INT(last_outcome, BERTH_DONE_ABORTED);
    CHECK(strcmp(last_line, "GET /tracked-defer") == 0);
    berth_stream_end(deferred); /* the handle stays the application's until ended */
}

TEST(handler_replaces_server_and_omits_date)
{
    harness h;
    setup(&h, small_routes);
    harness_feed_str(&h, "GET /own-server HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(harness_count(&h, "Server:"), 1);
    CHECK(strstr(h.out, "Server: mine/1.0\r\n") != NULL);
    CHECK(strstr(h.out, "Date:") == NULL);
    CHECK(strstr(h.out, "X-Gone") == NULL);
    harness_free(&h);
}

/* ---- hooks ---------------------------------------------------------------- */

static int before(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_res_header(res, "X-Request-Id", "r1");
    if (berth_str_eq_bytes(berth_req_method(req), "OPTIONS")) {
        berth_res_status(res, 204);
        berth_res_header(res, "Access-Control-Allow-Methods", "GET, POST");
        return 1;
    }
    return 0;
}

static void json_errors(berth_req *req, berth_res *res, int status, void *user)
{
    (void)user;
    char body[100];
    int n = snprintf(body, sizeof body, "{\"error\":%d,\"req\":%s}", status, req ? "true" : "false");
    berth_res_header(res, "Access-Control-Allow-Origin", "*");
    berth_res_header(res, "Content-Type", "application/json");
    berth_res_body(res, body, (size_t)n);
}

static void with_hooks(berth_config *c)
{
    small_routes(c);
    c->before = before;
    c->on_error = json_errors;
    c->after = after;
}

TEST(before_hook_answers_a_preflight_without_a_route)
{
    harness h;
    setup(&h, with_hooks);
    harness_feed_str(&h, "OPTIONS /anything HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(strncmp(h.out, "HTTP/1.1 204 ", 13) == 0);
    CHECK(strstr(h.out, "Access-Control-Allow-Methods: GET, POST\r\n") != NULL);
    CHECK(strstr(h.out, "Connection: keep-alive") != NULL);
    CHECK_INT(after_calls, 1);
    CHECK_INT(last_outcome, BERTH_DONE_COMPLETED);
    harness_free(&h);
}

TEST(before_hook_headers_stay_on_the_handlers_response)
{
    harness h;
    setup(&h, with_hooks);
    harness_feed_str(&h, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(strstr(h.out, "X-Request-Id: r1\r\n") != NULL);
    CHECK(strstr(h.out, "\r\n\r\nhello") != NULL);
    harness_free(&h);
}

TEST(error_hook_gives_404_a_json_body)
{
    harness h;
    setup(&h, with_hooks);
    harness_feed_str(&h, "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(strncmp(h.out, "HTTP/1.1 404 ", 13) == 0);
    CHECK(strstr(h.out, "Content-Type: application/json\r\n") != NULL);
    CHECK(strstr(h.out, "{\"error\":404,\"req\":true}") != NULL);
    CHECK(strstr(h.out, "X-Request-Id: r1") != NULL); /* the before hook ran first */
    CHECK_INT(after_calls, 1);
    CHECK_INT(last_outcome, BERTH_DONE_REJECTED);
    harness_free(&h);
}

TEST(error_hook_gives_405_a_json_body_and_keeps_allow)
{
    harness h;
    setup(&h, with_hooks);
    harness_feed_str(&h, "DELETE /echo HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(strncmp(h.out, "HTTP/1.1 405 ", 13) == 0);
    CHECK(strstr(h.out, "Allow: POST\r\n") != NULL);
    CHECK(strstr(h.out, "{\"error\":405") != NULL);
    harness_free(&h);
}

TEST(error_hook_gives_413_cors_headers)
{
    harness h;
    setup(&h, with_hooks);
    harness_feed_str(&h, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n");
    CHECK(strncmp(h.out, "HTTP/1.1 413 ", 13) == 0);
    CHECK(strstr(h.out, "Access-Control-Allow-Origin: *\r\n") != NULL);
    CHECK(strstr(h.out, "{\"error\":413,\"req\":true}") != NULL);
    CHECK(strstr(h.out, "Connection: close") != NULL);
    CHECK_INT(after_calls, 1);
    CHECK_INT(last_status, 413);
    harness_free(&h);
}

TEST(error_hook_without_a_request_for_a_bad_head)
{
    harness h;
    setup(&h, with_hooks);
    harness_feed_str(&h, "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n");
    CHECK(strncmp(h.out, "HTTP/1.1 400 ", 13) == 0);
    CHECK(strstr(h.out, "{\"error\":400,\"req\":false}") != NULL);
    CHECK_INT(after_calls, 1);
    CHECK_INT(last_outcome, BERTH_DONE_REJECTED);
    CHECK_INT(last_status, 400);
    harness_free(&h);
}

TEST(error_hook_for_431_and_the_after_hook_hears_of_it)
{
    harness h;
    setup(&h, with_hooks);
    char req[20000];
    int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(req + n, 'a', 17000);
    strcpy(req + n + 17000, "\r\n\r\n");
    harness_feed_str(&h, req);
    CHECK(strncmp(h.out, "HTTP/1.1 431 ", 13) == 0);
    CHECK(strstr(h.out, "{\"error\":431,\"req\":false}") != NULL);
    CHECK_INT(after_calls, 1);
    CHECK_INT(strlen(last_line), 1); /* no method, no target: " " */
    harness_free(&h);
}

TEST(after_hook_runs_once_per_pipelined_request)
{
    harness h;
    setup(&h, with_hooks);
    harness_feed_str(&h, "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /item/7 HTTP/1.1\r\nHost: a\r\n\r\n"
                         "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(after_calls, 3);
    CHECK(strcmp(last_line, "HEAD /") == 0);
    CHECK_INT(last_bytes, 0); /* HEAD: no body sent */
    harness_free(&h);
    CHECK_INT(after_calls, 3);
}

TEST(no_error_hook_keeps_the_plain_text_answer)
{
    harness h;
    setup(&h, small_routes);
    harness_feed_str(&h, "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(strstr(h.out, "Content-Type: text/plain; charset=utf-8\r\n") != NULL);
    CHECK(strstr(h.out, "\r\n\r\nNot Found\n") != NULL);
    harness_free(&h);
}
