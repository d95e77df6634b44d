/* Routes that answer through berth_res_sendf and berth_res_error_json as
 * an application would, so that tests/e2e/test_reply.py can compare what
 * real clients receive with what it asked for:
 *
 *   GET /sendf?n=N          "[N|" N pattern bytes ('a' + i % 26) "|end]",
 *                           formatted by berth_res_sendf (N up to 4 MiB);
 *                           &status=S (200), &type=T (text/plain;
 *                           charset=utf-8; "none": no Content-Type)
 *   GET /error-json         berth_res_error_json(res, status, msg): ?status=S
 *                           (404), &msg=M percent-decoded (absent: NULL);
 *                           a refusal is answered 500 "refused: <why>" */
#include "reply-routes.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PATTERN_MAX (4 << 20)
static char pattern[PATTERN_MAX];
static pthread_once_t pattern_once = PTHREAD_ONCE_INIT;

static void pattern_fill(void)
{
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (char)('a' + i % 26);
}

/* GET /sendf */
static void sendf_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    int64_t n = 0, status = 200;
    char type[128] = "text/plain; charset=utf-8";
    berth_req_query_int(req, "n", &n);
    berth_req_query_int(req, "status", &status);
    berth_req_query(req, "type", type, sizeof type);
    if (n < 0 || n > PATTERN_MAX) {
        berth_res_error(res, 400);
        return;
    }
    pthread_once(&pattern_once, pattern_fill);
    int rc = berth_res_sendf(res, (int)status, strcmp(type, "none") ? type : NULL, "[%d|%.*s|end]",
                             (int)n, (int)n, pattern);
    if (rc != 0)
        berth_res_sendf(res, 500, "text/plain", "refused: %s\n", berth_strerror(rc));
}

/* GET /error-json */
static void error_json_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    int64_t status = 404;
    berth_req_query_int(req, "status", &status);
    static _Thread_local char msg[64 * 1024];
    long n = berth_req_query(req, "msg", msg, sizeof msg);
    if (n < 0 && n != BERTH_ENOENT) {
        berth_res_error(res, 400);
        return;
    }
    int rc = berth_res_error_json(res, (int)status, n >= 0 ? msg : NULL);
    if (rc != 0)
        berth_res_sendf(res, 500, "text/plain", "refused: %s\n", berth_strerror(rc));
}

void reply_routes_add(berth_router *r)
{
    berth_router_add(r, "GET", "/sendf", sendf_route, NULL);
    berth_router_add(r, "GET", "/error-json", error_json_route, NULL);
}
