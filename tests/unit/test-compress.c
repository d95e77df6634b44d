/* On-the-fly compression in the engine: the decision, the headers, the
 * bytes (decompressed with libdeflate), the type lists, the configuration. */
#include <libdeflate.h>

#include "../../core/compress.h"
#include "engine_harness.h"
#include "test.h"

static char text[200000];   /* compressible */
static char noise[4000];    /* not */

static void fill(void)
{
    uint32_t x = 7;
    for (size_t i = 0; i < sizeof text; i++) {
        x = x * 1103515245u + 12345u;
        text[i] = "berth quay tide keel {}\n"[(x >> 16) % 24];
    }
    for (size_t i = 0; i < sizeof noise; i++) {
        x = x * 1103515245u + 12345u;
        noise[i] = (char)(x >> 23);
    }
}

/* GET /r?n=&type=&ce=&etag=&status=&off=1&noise=1 */
static void route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    int64_t n = 3000, status = 200, v;
    char type[64] = "text/plain", buf[64];
    berth_req_query_int(req, "n", &n);
    berth_req_query_int(req, "status", &status);
    berth_req_query(req, "type", type, sizeof type);
    berth_res_status(res, (int)status);
    if (type[0] != '-')
        berth_res_header(res, "Content-Type", type);
    if (berth_req_query(req, "ce", buf, sizeof buf) > 0)
        berth_res_header(res, "Content-Encoding", buf);
    if (berth_req_query(req, "etag", buf, sizeof buf) > 0)
        berth_res_header(res, "ETag", buf);
    if (berth_req_query(req, "vary", buf, sizeof buf) > 0)
        berth_res_header(res, "Vary", buf);
    if (berth_req_query_int(req, "off", &v) == 0)
        berth_res_compress(res, 0);
    if (berth_req_query_int(req, "noise", &v) == 0)
        berth_res_body(res, noise, (size_t)n);
    else
        berth_res_body_borrow(res, text, (size_t)n);
}

static berth_router *router;
static size_t min_size = 1024;
static int enabled = 1;

static void tweak(berth_config *cfg)
{
    router = berth_router_new();
    berth_router_add(router, "GET", "/r", route, NULL);
    cfg->router = router;
    cfg->compress = enabled;
    cfg->compress_min = min_size;
}

typedef struct reply {
    int status;
    int gzip, vary;
    char etag[64];
    long length;        /* Content-Length, -1 if none */
    size_t body_len;    /* bytes after the head */
    int same;           /* the decompressed (or plain) body equals the text */
} reply;

static const char *find_hdr(const char *head, const char *name)
{
    const char *p = strcasestr(head, name);
    return p ? p + strlen(name) : NULL;
}

/* One request through a fresh engine; what came back. */
static reply ask(const char *target, const char *extra, int head_req)
{
    fill();
    harness h;
    harness_init(&h, tweak);
    char rq[512];
    snprintf(rq, sizeof rq, "%s %s HTTP/1.1\r\nHost: a\r\n%s\r\n", head_req ? "HEAD" : "GET",
             target, extra);
    harness_feed_str(&h, rq);
    reply r = {0};
    r.length = -1;
    char *end = strstr(h.out, "\r\n\r\n");
    if (end) {
        *end = '\0';
        r.status = atoi(h.out + 9);
        r.gzip = strstr(h.out, "\r\nContent-Encoding: gzip") != NULL;
        r.vary = harness_count(&h, "\r\nVary: Accept-Encoding");
        const char *v = find_hdr(h.out, "\r\nContent-Length: ");
        r.length = v ? atol(v) : -1;
        v = find_hdr(h.out, "\r\nETag: ");
        if (v)
            snprintf(r.etag, sizeof r.etag, "%.*s", (int)strcspn(v, "\r"), v);
        const char *body = end + 4;
        r.body_len = h.out_len - (size_t)(body - h.out);
        int64_t n = 3000;
        const char *q = strstr(target, "n=");
        if (q)
            n = atol(q + 2);
        const char *want = strstr(target, "noise") ? noise : text;
        if (r.gzip && r.body_len) {
            static char out[sizeof text];
            size_t got = 0;
            struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
            r.same = libdeflate_gzip_decompress(d, body, r.body_len, out, sizeof out, &got) ==
                         LIBDEFLATE_SUCCESS &&
                     got == (size_t)n && memcmp(out, want, got) == 0;
            libdeflate_free_decompressor(d);
        } else {
            r.same = r.body_len == (size_t)n && memcmp(body, want, r.body_len) == 0;
        }
    }
    harness_free(&h);
    berth_router_free(router);
    return r;
}

TEST(compress_when_the_client_accepts_gzip)
{
    reply r = ask("/r?n=3000", "Accept-Encoding: gzip\r\n", 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.gzip, 1);
    CHECK_INT(r.vary, 1);
    CHECK(r.length > 0 && r.length < 3000);
    CHECK_INT(r.body_len, r.length);
    CHECK_INT(r.same, 1);
}

TEST(compress_not_without_accept_encoding_but_vary)
{
    reply r = ask("/r?n=3000", "", 0);
    CHECK_INT(r.gzip, 0);
    CHECK_INT(r.vary, 1);
    CHECK_INT(r.length, 3000);
    CHECK_INT(r.same, 1);
}

TEST(compress_refusals)
{
    const char *no[] = {"Accept-Encoding: gzip;q=0\r\n", "Accept-Encoding: identity\r\n",
                        "Accept-Encoding: br, deflate\r\n", "Accept-Encoding: *;q=0\r\n",
                        "Accept-Encoding: gzip;q=0, *\r\n", "Accept-Encoding:\r\n"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        reply r = ask("/r?n=3000", no[i], 0);
        CHECK_INT(r.gzip, 0);
        CHECK_INT(r.vary, 1);
        CHECK_INT(r.same, 1);
    }
}

TEST(compress_star_and_weights)
{
    const char *yes[] = {"Accept-Encoding: *\r\n", "Accept-Encoding: br;q=1, gzip;q=0.1\r\n",
                         "Accept-Encoding: x-gzip\r\n", "Accept-Encoding: identity, *;q=0.5\r\n"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        reply r = ask("/r?n=3000", yes[i], 0);
        CHECK_INT(r.gzip, 1);
        CHECK_INT(r.same, 1);
    }
}

TEST(compress_threshold)
{
    reply r = ask("/r?n=1023", "Accept-Encoding: gzip\r\n", 0);
    CHECK_INT(r.gzip, 0);
    CHECK_INT(r.vary, 0); /* below the threshold the client's answer does not matter */
    CHECK_INT(r.same, 1);
    r = ask("/r?n=1024", "Accept-Encoding: gzip\r\n", 0);
    CHECK_INT(r.gzip, 1);
    CHECK_INT(r.same, 1);
    min_size = 0;
    r = ask("/r?n=0", "Accept-Encoding: gzip\r\n", 0); /* empty: nothing to gain */
    min_size = 1024;
    CHECK_INT(r.gzip, 0);
    CHECK_INT(r.length, 0);
}

TEST(compress_types)
{
    reply r = ask("/r?type=image%2Fpng", "Accept-Encoding: gzip\r\n", 0);
    CHECK_INT(r.gzip + r.vary, 0);
    r = ask("/r?type=-", "Accept-Encoding: gzip\r\n", 0); /* no Content-Type */
    CHECK_INT(r.gzip + r.vary, 0);
    r = ask("/r?type=application%2Fjson%3B%20charset%3Dutf-8", "Accept-Encoding: gzip\r\n", 0);
    CHECK_INT(r.gzip, 1);
    r = ask("/r?type=application%2Fvnd.api%2Bjson", "Accept-Encoding: gzip\r\n", 0);
    CHECK_INT(r.gzip, 1);
}

/* One worker remembers the last Content-Type's verdict: types of the same
 * length, alternating, each get their own answer. */
TEST(compress_types_alternating_on_one_worker)
{
    fill();
    harness h;
    harness_init(&h, tweak);
    const char *types[] = {"image%2Fpng", "text%2Fhtml", "image%2Fpng", "image%2Fpnh",
                           "text%2Fhtml", "font%2Fttf", "font%2Fttf", "image%2Fpng"};
    char rq[4096];
    size_t len = 0;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        len += (size_t)snprintf(rq + len, sizeof rq - len,
                                "GET /r?type=%s HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n",
                                types[i]);
    harness_feed_str(&h, rq);
    CHECK_INT(harness_count(&h, "HTTP/1.1 200"), 8);
    CHECK_INT(harness_count(&h, "\r\nContent-Encoding: gzip"), 4);
    CHECK_INT(harness_count(&h, "\r\nVary: Accept-Encoding"), 4);
    harness_free(&h);
    berth_router_free(router);
}

TEST(compress_handler_content_encoding_and_opt_out)
{
    reply r = ask("/r?ce=br", "Accept-Encoding: gzip\r\n", 0);
    CHECK_INT(r.gzip + r.vary, 0);
    CHECK_INT(r.same, 1);
    r = ask("/r?off=1", "Accept-Encoding: gzip\r\n", 0);
    CHECK_INT(r.gzip + r.vary, 0);
    CHECK_INT(r.same, 1);
}

TEST(compress_off_in_the_config)
{
    enabled = 0;
    reply r = ask("/r", "Accept-Encoding: gzip\r\n", 0);
    enabled = 1;
    CHECK_INT(r.gzip + r.vary, 0);
    CHECK_INT(r.same, 1);
}

TEST(compress_head_gets_get_headers_without_body)
{
    reply g = ask("/r?n=5000", "Accept-Encoding: gzip\r\n", 0);
    reply r = ask("/r?n=5000", "Accept-Encoding: gzip\r\n", 1);
    CHECK_INT(r.gzip, 1);
    CHECK_INT(r.vary, 1);
    CHECK_INT(r.length, g.length);
    CHECK_INT(r.body_len, 0);
}

TEST(compress_bodyless_statuses)
{
    reply r = ask("/r?status=204", "Accept-Encoding: gzip\r\n", 0);
    CHECK_INT(r.gzip + r.vary, 0);
    CHECK_INT(r.body_len, 0);
    r = ask("/r?status=304&etag=%22t%22", "Accept-Encoding: gzip\r\n", 0);
    CHECK_INT(r.gzip, 0);
    CHECK_INT(r.vary, 1);
    CHECK(strcmp(r.etag, "W/\"t\"") == 0);
    CHECK_INT(r.body_len, 0);
    r = ask("/r?status=304&etag=%22t%22", "", 0);
    CHECK(strcmp(r.etag, "\"t\"") == 0);
    /* a handler that varies on Accept-Encoding picks its own tags */
    r = ask("/r?status=304&etag=%22t-gz%22&vary=Accept-Encoding", "Accept-Encoding: gzip\r\n", 0);
    CHECK_INT(r.vary, 1);
    CHECK(strcmp(r.etag, "\"t-gz\"") == 0);
    /* ...but a body berth compresses is not the one the tag names */
    r = ask("/r?etag=%22t%22&vary=Accept-Encoding", "Accept-Encoding: gzip\r\n", 0);
    CHECK_INT(r.gzip, 1);
    CHECK_INT(r.vary, 1);
    CHECK(strcmp(r.etag, "W/\"t\"") == 0);
    r = ask("/r?status=206", "Accept-Encoding: gzip\r\n", 0);
    CHECK_INT(r.gzip + r.vary, 0);
}

TEST(compress_etag)
{
    reply r = ask("/r?etag=%22v%22", "Accept-Encoding: gzip\r\n", 0);
    CHECK(strcmp(r.etag, "W/\"v\"") == 0);
    r = ask("/r?etag=%22v%22", "", 0);
    CHECK(strcmp(r.etag, "\"v\"") == 0);
    r = ask("/r?etag=W%2F%22v%22", "Accept-Encoding: gzip\r\n", 0);
    CHECK(strcmp(r.etag, "W/\"v\"") == 0);
}

TEST(compress_incompressible_body_is_sent_as_is)
{
    reply r = ask("/r?n=4000&noise=1", "Accept-Encoding: gzip\r\n", 0);
    CHECK_INT(r.gzip, 0);
    CHECK_INT(r.vary, 1);
    CHECK_INT(r.length, 4000);
    CHECK_INT(r.same, 1);
}

TEST(compress_large_body)
{
    reply r = ask("/r?n=200000", "Accept-Encoding: gzip\r\n", 0);
    CHECK_INT(r.gzip, 1);
    CHECK_INT(r.same, 1);
}

TEST(compress_type_lists)
{
    const char *l = berth_comp_default_types;
    CHECK(berth_comp_type_matches(l, "text/html", 9));
    CHECK(berth_comp_type_matches(l, " Text/CSS ; charset=x", 21));
    CHECK(berth_comp_type_matches(l, "image/svg+xml", 13));
    CHECK(berth_comp_type_matches(l, "application/ld+json", 19));
    CHECK(!berth_comp_type_matches(l, "application/json5", 17));
    CHECK(!berth_comp_type_matches(l, "image/png", 9));
    CHECK(!berth_comp_type_matches(l, "text", 4));
    CHECK(!berth_comp_type_matches(l, "text/", 5));
    CHECK(!berth_comp_type_matches(l, "/json", 5));
    CHECK(!berth_comp_type_matches(l, "", 0));
    CHECK(!berth_comp_type_matches(l, "application/+json", 17));
    CHECK(berth_comp_type_matches("*/*", "a/b", 3));
    CHECK(!berth_comp_type_matches("", "a/b", 3));
    CHECK_INT(berth_comp_types_check(l), -1);
    CHECK_INT(berth_comp_types_check(""), -1);
    CHECK_INT(berth_comp_types_check("text/*, */*, a/*+b"), -1);
    CHECK_INT(berth_comp_types_check("text/plain, json"), 12);
    CHECK_INT(berth_comp_types_check("text/p*"), 0);
    CHECK_INT(berth_comp_types_check("*+x/y"), 0);
    CHECK_INT(berth_comp_types_check("a/ b"), 0);
    CHECK_INT(berth_comp_types_check("a/b,,"), -1);
}

static void h0(berth_req *req, berth_res *res, void *user) { (void)req, (void)res, (void)user; }

static void quiet(const char *m, void *u) { (void)m, (void)u; }

TEST(compress_config_is_checked)
{
    berth_config c;
    berth_config_init(&c);
    CHECK_INT(c.compress, 1);
    CHECK_INT(c.gzip_level, 1);
    CHECK_INT(c.compress_min, 1024);
    c.handler = h0;
    c.backend = "reactor";
    c.log = quiet;
    int bad_levels[] = {0, 13, -1};
    for (int i = 0; i < 3; i++) {
        c.gzip_level = bad_levels[i];
        CHECK(berth_server_new(&c) == NULL);
    }
    c.gzip_level = 12;
    c.compress = 2;
    CHECK(berth_server_new(&c) == NULL);
    c.compress = 1;
    c.compress_types = "text/plain; q=1";
    CHECK(berth_server_new(&c) == NULL);
    c.compress = 0;
    c.gzip_level = 0; /* not looked at when off */
    c.compress_types = NULL;
    berth_server *s = berth_server_new(&c);
    CHECK(s != NULL);
    berth_server_free(s);
}
