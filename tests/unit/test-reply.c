/* Reply helpers (core/reply.c): berth_json_escape's table and sizes,
 * berth_res_sendf's bodies of every length (the response's own space, a
 * pool block, past both), its refusals, and berth_res_error_json, all
 * through the engine as a client would read them. */
#include <locale.h>
#include <stdarg.h>
#include <wchar.h>

#include "engine_harness.h"
#include "test.h"

/* ---- berth_json_escape ------------------------------------------------ */

static int escapes_to(const char *in, size_t len, const char *want)
{
    char out[256];
    long n = berth_json_escape(out, sizeof out, in, len);
    long measured = berth_json_escape(NULL, 0, in, len);
    if (n < 0 || (size_t)n != strlen(want) || strcmp(out, want) != 0 || measured != n) {
        fprintf(stderr, "  escape of %zu bytes: got %ld \"%s\" (measured %ld), want \"%s\"\n",
                len, n, n >= 0 ? out : "", measured, want);
        return 0;
    }
    return 1;
}
#define ESC(lit, want) CHECK(escapes_to(lit, sizeof lit - 1, want))

TEST(json_escape_table)
{
    ESC("plain text / with: slash", "plain text / with: slash");
    ESC("\"q\" \\b", "\\\"q\\\" \\\\b");
    ESC("\b\f\n\r\t", "\\b\\f\\n\\r\\t");
    ESC("\0", "\\u0000");
    ESC("\x01\x1f\x0b", "\\u0001\\u001f\\u000b");
    ESC("\x7f", "\\u007f");
    ESC(" ~", " ~");
    /* valid UTF-8 is copied: 2, 3 and 4 bytes, the edges of each range */
    ESC("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    ESC("\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
        "\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
    ESC("\xed\x9f\xbf\xee\x80\x80", "\xed\x9f\xbf\xee\x80\x80"); /* around the surrogates */
    /* JavaScript's line and paragraph separators */
    ESC("a\xe2\x80\xa8" "b\xe2\x80\xa9" "c\xe2\x80\xaa", "a\\u2028b\\u2029c\xe2\x80\xaa");
    /* ill-formed: one U+FFFD per maximal subpart, as Python's
     * bytes.decode("utf-8", "replace") counts them */
    ESC("\x80", "\\ufffd");
    ESC("\xff\xfe\xf5", "\\ufffd\\ufffd\\ufffd");
    ESC("\xc0\xaf", "\\ufffd\\ufffd");                 /* overlong '/' */
    ESC("\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd");      /* overlong */
    ESC("\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd");      /* a surrogate */
    ESC("\xf0\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd");
    ESC("\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"); /* past U+10FFFF */
    ESC("\xe2\x82", "\\ufffd");                        /* cut at the end */
    ESC("\xe2\x82" "A", "\\ufffdA");
    ESC("\xf0\x9f\x98", "\\ufffd");
    ESC("a\xc3", "a\\ufffd");
    ESC("\xc3\xa9\xc3", "\xc3\xa9\\ufffd");
    ESC("\xe1\x80\xe1\x80\x80", "\\ufffd\xe1\x80\x80");
    ESC("\xc3\"", "\\ufffd\\\"");                      /* the quote survives */
    ESC("", "");
}

TEST(json_escape_sizes_as_snprintf)
{
    char out[16];
    /* "a\"b" escapes to 4 bytes: 5 with the NUL fit, 4 do not */
    CHECK_INT(berth_json_escape(NULL, 0, "a\"b", 3), 4);
    CHECK_INT(berth_json_escape(out, 5, "a\"b", 3), 4);
    CHECK(strcmp(out, "a\\\"b") == 0);
    memset(out, 'x', sizeof out);
    CHECK_INT(berth_json_escape(out, 4, "a\"b", 3), BERTH_ENOSPC);
    CHECK_INT(out[0], '\0');
    CHECK_INT(out[4], 'x'); /* nothing written past cap */
    CHECK_INT(berth_json_escape(out, 0, "", 0), BERTH_ENOSPC); /* not even the NUL fits */
    CHECK_INT(berth_json_escape(NULL, 0, NULL, 0), 0);
    CHECK_INT(berth_json_escape(out, sizeof out, NULL, 1), BERTH_EINVAL);
    CHECK_INT(berth_json_escape(NULL, 4, "a", 1), BERTH_EINVAL);
}

/* Every input: the measure is the length written, 6 * len + 1 fits, and
 * the output is printable ASCII or valid UTF-8 with no bare quote. */
TEST(json_escape_random_bytes)
{
    unsigned long long x = 28;
    char in[64], out[6 * 64 + 1];
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(round % 64);
        for (size_t i = 0; i < len; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            /* bias to the interesting bytes */
            unsigned b = (unsigned)(x >> 56);
            in[i] = (char)(round & 1 ? b : (b & 0x3f) | (b & 0x40 ? 0x80 : 0x00) | (b & 0x80 ? 0x40 : 0));
        }
        long n = berth_json_escape(out, 6 * len + 1, in, len);
        CHECK(n >= 0);
        CHECK_INT(berth_json_escape(NULL, 0, in, len), n);
        CHECK_INT(strlen(out), n);
        for (long i = 0; i < n; i++) {
            unsigned char c = (unsigned char)out[i];
            CHECK(c >= 0x20 && c != 0x7f);
            if (c == '\\') {
                CHECK(i + 1 < n && strchr("\"\\bfnrtu", out[i + 1]));
                i++;
            } else {
                CHECK(c != '"');
            }
        }
    }
}

/* ---- berth_res_sendf ---------------------------------------------------- */

static int sendf_rc[8];
static char big_arg[100001];

/* GET /f?n=N: a body of N pattern bytes between two formatted numbers */
static void sendf_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    int64_t n = 0;
    berth_req_query_int(req, "n", &n);
    sendf_rc[0] = berth_res_sendf(res, 201, "text/plain; charset=utf-8", "[%d|%.*s|%x]", (int)n,
                                  (int)n, big_arg, 0xbe27);
}

/* An argument pointing into the body being replaced, of either size. */
static void aliased_route(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    int64_t n = 0;
    berth_req_query_int(req, "n", &n);
    char *old = berth_res_body_reserve(res, (size_t)n);
    memcpy(old, big_arg, (size_t)n);
    sendf_rc[0] = berth_res_sendf(res, 200, NULL, "new:%.*s:%s", (int)n, old, "end");
}

BERTH_PRINTF(2, 3) static int via_va(berth_res *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = berth_res_vsendf(res, 200, "text/csv", fmt, ap);
    va_end(ap);
    return rc;
}

/* vsendf with a format chosen at run time (NULL: refused). */
static int via_fmt(berth_res *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = berth_res_vsendf(res, 200, "text/plain", fmt, ap);
    va_end(ap);
    return rc;
}

/* Each refusal leaves the response as it was: "kept" with 202. */
static void refusals_route(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_res_send(res, 202, "text/x-kept", "kept", 4);
    sendf_rc[0] = berth_res_sendf(res, 99, "text/plain", "x");
    sendf_rc[1] = berth_res_sendf(res, 600, "text/plain", "x");
    sendf_rc[2] = berth_res_sendf(res, 200, "text/plain\r\nX-Evil: 1", "x");
    sendf_rc[3] = via_fmt(res, NULL);
    sendf_rc[4] = berth_res_sendf(NULL, 200, "text/plain", "x");
}

static void va_route(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    sendf_rc[0] = via_va(res, "%s,%d,%.3f,%c,%05u,%%\n", "a", -7, 2.5, 'z', 42u);
}

/* %ls of a character the C locale cannot encode: vsnprintf fails. */
static void encoding_route(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    static const wchar_t euro[] = {0x20AC, 0};
    berth_res_send(res, 202, NULL, "kept", 4);
    sendf_rc[0] = berth_res_sendf(res, 200, "text/plain", "%ls", euro);
}

static void deferred_route(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_stream *s = berth_res_defer(res);
    sendf_rc[0] = berth_res_sendf(res, 200, NULL, "x");
    sendf_rc[1] = berth_res_error_json(res, 500, NULL);
    berth_stream_send(s, 200, "text/plain", "deferred", 8);
}

/* ---- berth_res_error_json ----------------------------------------------- */

static char long_message[20001];

/* GET /j?s=S&m=K: message K (0: NULL, 1: escapes, 2: 20000 bytes) */
static void json_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    int64_t s = 404, m = 0;
    berth_req_query_int(req, "s", &s);
    berth_req_query_int(req, "m", &m);
    berth_res_header(res, "Content-Type", "text/html");
    berth_res_header(res, "Content-Encoding", "gzip");
    berth_res_header(res, "X-Mine", "kept");
    berth_res_body(res, "<p>half", 7);
    const char *msg = m == 0 ? NULL : m == 1 ? "bad \"id\"\n\x01\xff\\" : long_message;
    sendf_rc[0] = berth_res_error_json(res, (int)s, msg);
}

/* berth's own errors as JSON, through the error hook */
static void json_errors(berth_req *req, berth_res *res, int status, void *user)
{
    (void)req, (void)user;
    sendf_rc[1] = berth_res_error_json(res, status, NULL);
}

static void routes(berth_config *c)
{
    berth_router_add(c->router, "GET", "/f", sendf_route, NULL);
    berth_router_add(c->router, "GET", "/aliased", aliased_route, NULL);
    berth_router_add(c->router, "GET", "/refusals", refusals_route, NULL);
    berth_router_add(c->router, "GET", "/va", va_route, NULL);
    berth_router_add(c->router, "GET", "/encoding", encoding_route, NULL);
    berth_router_add(c->router, "GET", "/deferred", deferred_route, NULL);
    berth_router_add(c->router, "GET", "/j", json_route, NULL);
    c->on_error = json_errors;
    for (size_t i = 0; i < sizeof big_arg - 1; i++)
        big_arg[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < sizeof long_message - 1; i++)
        long_message[i] = i % 100 == 99 ? '"' : (char)('A' + i % 26);
}

/* One request on a fresh engine: its status, Content-Type and body (the
 * Content-Length's bytes, checked to be all there is). 0 on a malformed
 * answer. */
static harness h;
static int live;

static int ask(const char *target, char *ctype, size_t ctcap, char **body, size_t *body_len)
{
    if (live)
        harness_free(&h);
    memset(sendf_rc, 0x55, sizeof sendf_rc);
    harness_init(&h, routes);
    live = 1;
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", target);
    harness_feed_str(&h, req);
    int status = 0;
    if (sscanf(h.out, "HTTP/1.1 %d ", &status) != 1)
        return 0;
    char *end = strstr(h.out, "\r\n\r\n"), *cl = strstr(h.out, "Content-Length: ");
    char *ct = strstr(h.out, "Content-Type: ");
    if (!end || !cl || cl > end)
        return 0;
    ctype[0] = '\0';
    if (ct && ct < end) {
        size_t n = strcspn(ct + 14, "\r");
        snprintf(ctype, ctcap, "%.*s", (int)n, ct + 14);
    }
    size_t len = strtoul(cl + 16, NULL, 10);
    if (h.out_len != (size_t)(end + 4 - h.out) + len)
        return 0;
    *body = end + 4;
    *body_len = len;
    return status;
}

TEST(sendf_bodies_of_every_length)
{
    /* the response's own 256 bytes, its edge, a pool block, past the pool
     * block and the copy limit (malloc) */
    static const int sizes[] = {0, 5, 240, 241, 242, 300, 4000, 16000, 70000, 100000};
    char want_head[32], ctype[64], *body;
    size_t len;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int n = sizes[k];
        char target[32];
        snprintf(target, sizeof target, "/f?n=%d", n);
        CHECK_INT(ask(target, ctype, sizeof ctype, &body, &len), 201);
        CHECK_INT(sendf_rc[0], 0);
        CHECK(strcmp(ctype, "text/plain; charset=utf-8") == 0);
        int hl = snprintf(want_head, sizeof want_head, "[%d|", n);
        CHECK_INT(len, (size_t)hl + (size_t)n + 6);
        CHECK(memcmp(body, want_head, (size_t)hl) == 0);
        CHECK(memcmp(body + hl, big_arg, (size_t)n) == 0);
        CHECK(memcmp(body + hl + n, "|be27]", 6) == 0);
    }
}

/* The harness's /sendf, whose keep-alive run tests/alloc counts. */
TEST(sendf_harness_route)
{
    char ctype[64], *body;
    size_t len;
    CHECK_INT(ask("/sendf?n=3000", ctype, sizeof ctype, &body, &len), 200);
    CHECK_INT(len, 33 + 3000);
    CHECK(memcmp(body, "{\"id\":42,\"name\":\"berth\",\"pad\":\"000", 32) == 0);
    CHECK(memcmp(body + len - 4, "00\"}", 4) == 0);
    CHECK_INT(ask("/sendf", ctype, sizeof ctype, &body, &len), 200);
    CHECK(len == 34 && memcmp(body, "{\"id\":42,\"name\":\"berth\",\"pad\":\"0\"}", 34) == 0);
}

TEST(sendf_arguments_may_point_into_the_replaced_body)
{
    char ctype[64], *body;
    size_t len;
    static const int sizes[] = {10, 256, 3000, 40000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        char target[32];
        snprintf(target, sizeof target, "/aliased?n=%d", sizes[k]);
        CHECK_INT(ask(target, ctype, sizeof ctype, &body, &len), 200);
        CHECK_INT(sendf_rc[0], 0);
        CHECK_INT(len, (size_t)sizes[k] + 8);
        CHECK(memcmp(body, "new:", 4) == 0 && memcmp(body + 4, big_arg, (size_t)sizes[k]) == 0);
        CHECK(memcmp(body + 4 + sizes[k], ":end", 4) == 0);
        CHECK(ctype[0] == '\0'); /* NULL: no Content-Type */
    }
}

TEST(vsendf_formats)
{
    char ctype[64], *body;
    size_t len;
    CHECK_INT(ask("/va", ctype, sizeof ctype, &body, &len), 200);
    CHECK_INT(sendf_rc[0], 0);
    CHECK(strcmp(ctype, "text/csv") == 0);
    CHECK_INT(len, strlen("a,-7,2.500,z,00042,%\n"));
    CHECK(memcmp(body, "a,-7,2.500,z,00042,%\n", len) == 0);
}

TEST(sendf_refusals_leave_the_response)
{
    char ctype[64], *body;
    size_t len;
    CHECK_INT(ask("/refusals", ctype, sizeof ctype, &body, &len), 202);
    for (int i = 0; i < 5; i++)
        CHECK_INT(sendf_rc[i], BERTH_EINVAL);
    CHECK(strcmp(ctype, "text/x-kept") == 0);
    CHECK(len == 4 && memcmp(body, "kept", 4) == 0);
    /* an encoding error of vsnprintf's (the C locale has no euro sign) */
    setlocale(LC_CTYPE, "C");
    CHECK_INT(ask("/encoding", ctype, sizeof ctype, &body, &len), 202);
    CHECK_INT(sendf_rc[0], BERTH_EINVAL);
    CHECK(len == 4 && memcmp(body, "kept", 4) == 0);
    CHECK(ctype[0] == '\0');
    /* after berth_res_defer the res is the stream's */
    CHECK_INT(ask("/deferred", ctype, sizeof ctype, &body, &len), 200);
    CHECK_INT(sendf_rc[0], BERTH_ESTATE);
    CHECK_INT(sendf_rc[1], BERTH_ESTATE);
}

TEST(error_json_shape_and_headers)
{
    char ctype[64], *body;
    size_t len;
    CHECK_INT(ask("/j?s=404", ctype, sizeof ctype, &body, &len), 404);
    CHECK_INT(sendf_rc[0], 0);
    CHECK(strcmp(ctype, "application/json") == 0);
    static const char want[] = "{\"error\":{\"status\":404,\"message\":\"Not Found\"}}";
    CHECK(len == sizeof want - 1 && memcmp(body, want, len) == 0);
    /* the old body's Content-Type and Content-Encoding went, X-Mine stayed */
    CHECK_INT(harness_count(&h, "Content-Type:"), 1);
    CHECK_INT(harness_count(&h, "Content-Encoding"), 0);
    CHECK_INT(harness_count(&h, "X-Mine: kept\r\n"), 1);
    CHECK_INT(ask("/j?s=422&m=1", ctype, sizeof ctype, &body, &len), 422);
    static const char want2[] =
        "{\"error\":{\"status\":422,\"message\":\"bad \\\"id\\\"\\n\\u0001\\ufffd\\\\\"}}";
    CHECK(len == sizeof want2 - 1 && memcmp(body, want2, len) == 0);
    /* 20000 bytes (every 100th a quote): longer than any fixed buffer */
    CHECK_INT(ask("/j?s=503&m=2", ctype, sizeof ctype, &body, &len), 503);
    CHECK_INT(len, 34 + 20000 + 200 + 3);
    CHECK(memcmp(body, "{\"error\":{\"status\":503,\"message\":\"ABC", 37) == 0);
    CHECK(memcmp(body + 34 + 99, "\\\"WXY", 5) == 0);
    CHECK(memcmp(body + len - 5, "\\\"\"}}", 5) == 0);
    /* not an error status: refused, the handler's answer stands */
    CHECK_INT(ask("/j?s=200", ctype, sizeof ctype, &body, &len), 200);
    CHECK_INT(sendf_rc[0], BERTH_EINVAL);
    CHECK(strcmp(ctype, "text/html") == 0);
    CHECK(len == 7 && memcmp(body, "<p>half", 7) == 0);
}

TEST(error_json_from_the_error_hook)
{
    char ctype[64], *body;
    size_t len;
    CHECK_INT(ask("/nowhere", ctype, sizeof ctype, &body, &len), 404);
    CHECK_INT(sendf_rc[1], 0);
    CHECK(strcmp(ctype, "application/json") == 0);
    static const char want[] = "{\"error\":{\"status\":404,\"message\":\"Not Found\"}}";
    CHECK(len == sizeof want - 1 && memcmp(body, want, len) == 0);
}
