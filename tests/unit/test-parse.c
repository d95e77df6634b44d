/* The head scanner and parser, directly. */
#include "../../core/parse.h"
#include "../../core/request.h"
#include "test.h"

static berth_header slots[100];

static int parse(const char *s, berth_head *h)
{
    h->headers = slots;
    h->max_headers = 100;
    return berth_head_parse(s, strlen(s), h);
}

TEST(scan_finds_end_of_crlf_head)
{
    berth_head_scan s;
    berth_head_scan_reset(&s);
    const char *req = "GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT";
    CHECK_INT(berth_head_scan_run(&s, req, strlen(req), 8192, 16384), strlen(req) - 4);
}

/* RFC 9112 2.2 lets a server accept a bare LF; berth does not (parse.h). */
TEST(scan_rejects_bare_lf_head)
{
    berth_head_scan s;
    berth_head_scan_reset(&s);
    const char *req = "GET / HTTP/1.1\nHost: a\n\n";
    CHECK_INT(berth_head_scan_run(&s, req, strlen(req), 8192, 16384), -400);
}

TEST(scan_rejects_bare_lf_before_the_head_is_complete)
{
    berth_head_scan s;
    berth_head_scan_reset(&s);
    const char *req = "GET / HTTP/1.1\r\nDummy: x\nContent-Length: 23\r\n";
    CHECK_INT(berth_head_scan_run(&s, req, strlen(req), 8192, 16384), -400);
}

TEST(scan_rejects_bare_lf_as_final_empty_line)
{
    berth_head_scan s;
    berth_head_scan_reset(&s);
    const char *req = "GET / HTTP/1.1\r\nHost: a\r\n\n";
    CHECK_INT(berth_head_scan_run(&s, req, strlen(req), 8192, 16384), -400);
}

TEST(scan_rejects_bare_lf_arriving_byte_by_byte)
{
    berth_head_scan s;
    berth_head_scan_reset(&s);
    const char *req = "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n";
    size_t lf = strlen("GET / HTTP/1.1\r\nHost: a");
    for (size_t i = 1; i <= lf; i++)
        CHECK_INT(berth_head_scan_run(&s, req, i, 8192, 16384), 0);
    CHECK_INT(berth_head_scan_run(&s, req, lf + 1, 8192, 16384), -400);
}

/* llhttp's content-length:522 and invalid:184: a bare CR inside a head
 * that never ends was answered 408 at the header timeout, not 400 now. */
TEST(scan_rejects_bare_cr_before_the_head_is_complete)
{
    berth_head_scan s;
    berth_head_scan_reset(&s);
    const char *req = "GET / HTTP/1.1\r\nHost: a\rX: y\r\n";
    CHECK_INT(berth_head_scan_run(&s, req, strlen(req), 8192, 16384), -400);
    berth_head_scan_reset(&s);
    const char *line = "GET /\r HTTP/1.1";
    CHECK_INT(berth_head_scan_run(&s, line, strlen(line), 8192, 16384), -400);
}

TEST(scan_rejects_bare_cr_arriving_byte_by_byte)
{
    berth_head_scan s;
    berth_head_scan_reset(&s);
    const char *req = "PUT / HTTP/1.1\r\nContent-Length: 1\r\r\nX: y\r\n\r\n";
    size_t cr = strlen("PUT / HTTP/1.1\r\nContent-Length: 1\r");
    for (size_t i = 1; i <= cr; i++) /* a CR at the end so far may still get its LF */
        CHECK_INT(berth_head_scan_run(&s, req, i, 8192, 16384), 0);
    CHECK_INT(berth_head_scan_run(&s, req, cr + 1, 8192, 16384), -400);
}

TEST(scan_resumes_byte_by_byte)
{
    berth_head_scan s;
    berth_head_scan_reset(&s);
    const char *req = "GET /x HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n";
    size_t len = strlen(req);
    for (size_t i = 1; i < len; i++)
        CHECK_INT(berth_head_scan_run(&s, req, i, 8192, 16384), 0);
    CHECK_INT(berth_head_scan_run(&s, req, len, 8192, 16384), len);
}

TEST(scan_rejects_long_request_line_before_its_end)
{
    berth_head_scan s;
    berth_head_scan_reset(&s);
    char buf[200];
    memset(buf, 'a', sizeof buf);
    CHECK_INT(berth_head_scan_run(&s, buf, sizeof buf, 100, 1000), -414);
}

/* buf: prefix, then 'a' up to end, which closes it; scanned from the start
 * with the line and head limits of these tests (100, 1000). */
static int scan_padded(char *buf, size_t size, const char *prefix, const char *end)
{
    size_t n = strlen(prefix), e = strlen(end);
    memcpy(buf, prefix, n);
    memset(buf + n, 'a', size - n - e);
    memcpy(buf + size - e, end, e);
    berth_head_scan s;
    berth_head_scan_reset(&s);
    return berth_head_scan_run(&s, buf, size, 100, 1000);
}

TEST(scan_rejects_large_header_section)
{
    char buf[3000];
    CHECK_INT(scan_padded(buf, sizeof buf, "GET / HTTP/1.1\r\nX: ", ""), -431);
}

/* The scan looks for a bare CR only when it stops short of a complete head
 * (parse.h): a complete head that holds one is the parser's 400, which
 * comes before what else it would answer (505, 431), as the scan's did. */
TEST(bare_cr_in_a_complete_head_is_a_400)
{
    berth_head_scan s;
    berth_head_scan_reset(&s);
    const char *req = "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n";
    CHECK_INT(berth_head_scan_run(&s, req, strlen(req), 8192, 16384), strlen(req));
    berth_head h;
    CHECK_INT(parse(req, &h), 400);
    CHECK_INT(parse("GET / HTTP/1.1\r\n\r\r\n", &h), 400);
    CHECK_INT(parse("GET / HTTP/1.1\r\r\n\r\n", &h), 400);
    CHECK_INT(parse("GET / HTTP/2.0\r\nA: b\rc\r\n\r\n", &h), 400);
    CHECK_INT(parse("GET / HTTP/2.0\r\nA: bc\r\n\r\n", &h), 505);
    berth_header two[2];
    h.headers = two;
    h.max_headers = 2;
    const char *many = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\r\n\r\n";
    CHECK_INT(berth_head_parse(many, strlen(many), &h), 400);
    const char *many_ok = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    CHECK_INT(berth_head_parse(many_ok, strlen(many_ok), &h), 431);
}

/* A limit passed after a bare CR: the bare CR's 400 first, as bytes come. */
TEST(scan_bare_cr_comes_before_a_limit)
{
    char line[200], head[3000];
    CHECK_INT(scan_padded(line, sizeof line, "GET /\ra", "\r\n"), -400);
    CHECK_INT(scan_padded(head, sizeof head, "GET / HTTP/1.1\r\nX: \ra", "\r\n\r\n"), -400);
    CHECK_INT(scan_padded(head, sizeof head, "GET / HTTP/1.1\r\nX: aa", "\r\n\r\n"), -431);
}

TEST(parse_request_line_and_headers)
{
    berth_head h;
    CHECK_INT(parse("POST /a?b=c HTTP/1.1\r\nHost: x\r\nX-Y:  v w  \r\n\r\n", &h), 0);
    CHECK(h.method.len == 4 && memcmp(h.method.ptr, "POST", 4) == 0);
    CHECK(h.target.len == 6 && memcmp(h.target.ptr, "/a?b=c", 6) == 0);
    CHECK_INT(h.minor, 1);
    CHECK_INT(h.nheaders, 2);
    CHECK(h.headers[1].value.len == 3 && memcmp(h.headers[1].value.ptr, "v w", 3) == 0);
}

TEST(parse_http10)
{
    berth_head h;
    CHECK_INT(parse("GET / HTTP/1.0\r\n\r\n", &h), 0);
    CHECK_INT(h.minor, 0);
}

TEST(parse_higher_minor_is_11)
{
    berth_head h;
    CHECK_INT(parse("GET / HTTP/1.7\r\nHost: a\r\n\r\n", &h), 0);
    CHECK_INT(h.minor, 1);
}

TEST(parse_http2_version_is_505)
{
    berth_head h;
    CHECK_INT(parse("GET / HTTP/2.0\r\n\r\n", &h), 505);
}

TEST(parse_empty_value)
{
    berth_head h;
    CHECK_INT(parse("GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n", &h), 0);
    CHECK_INT(h.headers[1].value.len, 0);
}

TEST(parse_obs_text_in_value_is_kept)
{
    berth_head h;
    CHECK_INT(parse("GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n", &h), 0);
    CHECK_INT(h.headers[1].value.len, 5);
}

TEST(parse_too_many_fields_is_431)
{
    berth_head h;
    berth_header few[2];
    h.headers = few;
    h.max_headers = 2;
    const char *s = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    CHECK_INT(berth_head_parse(s, strlen(s), &h), 431);
}

TEST(scan_rejects_non_token_method_at_once)
{
    berth_head_scan s;
    berth_head_scan_reset(&s);
    CHECK_INT(berth_head_scan_run(&s, "\x16\x03\x01", 3, 8192, 16384), -400);
}

TEST(scan_checks_method_across_reads)
{
    berth_head_scan s;
    berth_head_scan_reset(&s);
    CHECK_INT(berth_head_scan_run(&s, "GE", 2, 8192, 16384), 0);
    CHECK_INT(berth_head_scan_run(&s, "GE(", 3, 8192, 16384), -400);
}

TEST(parse_rejects_bare_lf_after_request_line)
{
    berth_head h;
    CHECK_INT(parse("GET / HTTP/1.1\nHost: a\r\n\r\n", &h), 400);
}

TEST(parse_rejects_bare_lf_after_field_line)
{
    berth_head h;
    CHECK_INT(parse("GET / HTTP/1.1\r\nDummy: x\nContent-Length: 23\r\n\r\n", &h), 400);
}

TEST(parse_rejects_bare_lf_as_final_empty_line)
{
    berth_head h;
    CHECK_INT(parse("GET / HTTP/1.1\r\nHost: a\r\n\n", &h), 400);
}

/* Found by fuzz-query (tests/fuzz/corpus-query): an integer is the whole
 * decoded value; a %00 inside it does not end it early. */
TEST(query_int_is_the_whole_decoded_value)
{
    static struct berth_req req;
    int64_t v = 0;
    const char *cases[] = {"a=5%00x", "a=5%00", "a=%2B5", "a=+5", "a=5%20", "a=0x10", "a=-"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        req.query.ptr = cases[i];
        req.query.len = strlen(cases[i]);
        CHECK_INT(berth_req_query_int(&req, "a", &v), BERTH_EINVAL);
    }
    const char *ok = "b=1&a=-9223372036854775808";
    req.query.ptr = ok;
    req.query.len = strlen(ok);
    CHECK_INT(berth_req_query_int(&req, "a", &v), 0);
    CHECK(v == INT64_MIN);
    CHECK_INT(berth_req_query_int(&req, "c", &v), BERTH_ENOENT);
}

/* fuzz-tls found a head of 11,242 token bytes, then a byte no request line
 * may hold: read whole it was 400 (the method scan ran to the bad byte),
 * read in pieces 414 (a piece over the 8 KiB limit, no LF yet). The method
 * is part of the request line: its scan stops at the line's limit, so the
 * answer is 414 however the bytes arrive. */
TEST(scan_limits_a_method_without_end_the_same_whole_or_in_pieces)
{
    static char req[12000];
    memset(req, 'z', 11242);
    memcpy(req + 11242, "\x9f GET / HTTP/1.1\r\n\r\n", 20);
    size_t len = 11242 + 20;
    berth_head_scan s;
    berth_head_scan_reset(&s);
    CHECK_INT(berth_head_scan_run(&s, req, len, 8192, 16384), -414);
    berth_head_scan_reset(&s);
    long r = 0;
    for (size_t have = 4096; have < len + 4096 && r == 0; have += 4096)
        r = berth_head_scan_run(&s, req, have < len ? have : len, 8192, 16384);
    CHECK_INT(r, -414);
}
