/* berth_res_error: a handler's (or a before hook's) error answered as
 * berth's own, through the error hook; and the calls it refuses. */
#include "engine_harness.h"
#include "test.h"

static int rc_seen, hook_rc, hook_calls, done_outcome, done_status;

static void json_errors(berth_req *req, berth_res *res, int status, void *user)
{
    (void)user;
    hook_calls++;
    hook_rc = berth_res_error(res, 500); /* refused: no recursion */
    char body[100];
    int n = snprintf(body, sizeof body, "{\"error\":%d,\"req\":%s}", status, req ? "true" : "false");
    berth_res_header(res, "Content-Type", "application/json");
    berth_res_body(res, body, (size_t)n);
}

static void on_done(const berth_done *d, void *arg)
{
    (void)arg;
    done_outcome = d->outcome;
    done_status = d->status;
}

/* Sets up a page, then finds it has to fail. */
static void fails_late(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_req_on_done(req, on_done, NULL);
    berth_res_header(res, "Content-Type", "text/html");
    berth_res_header(res, "Content-Encoding", "gzip");
    berth_res_header(res, "X-Mine", "kept");
    berth_res_body(res, "<p>half", 7);
    rc_seen = berth_res_error(res, 404);
}

static void refuses(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    int a = berth_res_error(res, 200), b = berth_res_error(res, 399), c = berth_res_error(res, 600);
    rc_seen = a == BERTH_EINVAL && b == BERTH_EINVAL && c == BERTH_EINVAL ? BERTH_EINVAL : 0;
    berth_res_send(res, 200, "text/plain", "fine", 4);
}

static void after_defer(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_stream *s = berth_res_defer(res);
    rc_seen = berth_res_error(res, 500);
    berth_stream_send(s, 200, "text/plain", "deferred", 8);
}

static int before(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_str v;
    if (berth_req_header(req, "X-Token", &v) != 0) {
        rc_seen = berth_res_error(res, 401);
        return 1;
    }
    return 0;
}

static void routes(berth_config *c)
{
    berth_router_add(c->router, "GET", "/fails-late", fails_late, NULL);
    berth_router_add(c->router, "GET", "/refuses", refuses, NULL);
    berth_router_add(c->router, "GET", "/after-defer", after_defer, NULL);
}

static void routes_and_hook(berth_config *c)
{
    routes(c);
    c->on_error = json_errors;
}

static void routes_hook_and_before(berth_config *c)
{
    routes_and_hook(c);
    c->before = before;
}

static void setup(harness *h, void (*tweak)(berth_config *))
{
    rc_seen = hook_rc = hook_calls = done_outcome = done_status = 0;
    harness_init(h, tweak);
}

TEST(res_error_goes_through_the_error_hook)
{
    harness h;
    setup(&h, routes_and_hook);
    harness_feed_str(&h, "GET /fails-late HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(rc_seen, 0);
    CHECK(strncmp(h.out, "HTTP/1.1 404 ", 13) == 0);
    CHECK(strstr(h.out, "{\"error\":404,\"req\":true}") != NULL);
    CHECK_INT(harness_count(&h, "Content-Type:"), 1); /* text/html went with its body */
    CHECK(strstr(h.out, "Content-Type: application/json\r\n") != NULL);
    CHECK_INT(harness_count(&h, "Content-Encoding"), 0);
    CHECK(strstr(h.out, "X-Mine: kept\r\n") != NULL);
    CHECK(strstr(h.out, "<p>half") == NULL);
    CHECK_INT(hook_calls, 1);
    CHECK_INT(hook_rc, BERTH_ESTATE);
    CHECK_INT(done_outcome, BERTH_DONE_COMPLETED); /* its handler answered */
    CHECK_INT(done_status, 404);
    CHECK(strstr(h.out, "keep-alive") != NULL);
    harness_free(&h);
}

TEST(res_error_without_a_hook_is_berths_text)
{
    harness h;
    setup(&h, routes);
    harness_feed_str(&h, "GET /fails-late HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(strncmp(h.out, "HTTP/1.1 404 ", 13) == 0);
    CHECK_INT(harness_count(&h, "Content-Type:"), 1);
    CHECK(strstr(h.out, "Content-Type: text/plain; charset=utf-8\r\n") != NULL);
    CHECK(strstr(h.out, "\r\n\r\nNot Found\n") != NULL);
    harness_free(&h);
}

TEST(res_error_refuses_other_statuses_and_deferred_responses)
{
    harness h;
    setup(&h, routes_and_hook);
    harness_feed_str(&h, "GET /refuses HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(rc_seen, BERTH_EINVAL);
    CHECK(strstr(h.out, "\r\n\r\nfine") != NULL);
    CHECK_INT(hook_calls, 0);
    harness_free(&h);
    setup(&h, routes_and_hook);
    harness_feed_str(&h, "GET /after-defer HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(rc_seen, BERTH_ESTATE);
    CHECK(strncmp(h.out, "HTTP/1.1 200 ", 13) == 0);
    CHECK(strstr(h.out, "\r\n\r\ndeferred") != NULL);
    harness_free(&h);
}

TEST(res_error_from_a_before_hook)
{
    harness h;
    setup(&h, routes_hook_and_before);
    harness_feed_str(&h, "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nX-Token: t\r\n\r\n");
    CHECK_INT(rc_seen, 0);
    CHECK(strncmp(h.out, "HTTP/1.1 401 ", 13) == 0);
    CHECK(strstr(h.out, "{\"error\":401,\"req\":true}") != NULL);
    CHECK(strstr(h.out, "HTTP/1.1 200 ") != NULL); /* the next request goes on */
    harness_free(&h);
}
