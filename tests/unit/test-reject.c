/* Every rejection: a complete error response, then the connection closes. */
#include "engine_harness.h"
#include "test.h"

/* Feeds s; checks status and that the engine shuts the connection down. */
static int reject_status(const char *s, size_t len)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed(&h, s, len, 0);
    int status = 0;
    if (h.out_len >= 12 && memcmp(h.out, "HTTP/1.1 ", 9) == 0)
        status = atoi(h.out + 9);
    int closed = harness_state(&h) != BERTH_PIPE_OPEN;
    int has_close = strstr(h.out, "\r\nConnection: close\r\n") != NULL;
    int has_length = strstr(h.out, "\r\nContent-Length: ") != NULL;
    harness_free(&h);
    return closed && has_close && has_length ? status : -status;
}

#define REJECT(name, req, status)                                                             \
    TEST(name) { CHECK_INT(reject_status(req, sizeof(req) - 1), status); }

REJECT(reject_cl_with_te, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400)
REJECT(reject_differing_content_lengths, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400)
REJECT(reject_content_length_list_differing, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\nab", 400)
REJECT(reject_content_length_not_digits, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3x\r\n\r\nabc", 400)
REJECT(reject_content_length_negative, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400)
REJECT(reject_content_length_overflow, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400)
REJECT(reject_te_last_not_chunked, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400)
REJECT(reject_te_identity, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400)
REJECT(reject_te_chunked_twice, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400)
REJECT(reject_te_unknown_coding_is_501, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501)
REJECT(reject_te_in_http10, "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)
REJECT(reject_bad_chunk_size, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400)
REJECT(reject_chunk_size_overflow, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n100000000000000000000\r\n", 400)
REJECT(reject_missing_crlf_after_chunk, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", 400)
REJECT(reject_space_before_colon, "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400)
REJECT(reject_obs_fold, "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", 400)
REJECT(reject_bare_cr_in_header, "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400)
REJECT(reject_bare_cr_in_request_line, "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_nul_in_header, "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400)
REJECT(reject_ctl_in_header, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n", 400)
REJECT(reject_del_in_header, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f" "b\r\n\r\n", 400)
REJECT(reject_ctl_in_target, "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_nul_in_method, "G\0T / HTTP/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_invalid_method_token, "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_space_in_target, "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_double_space, "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_missing_host_http11, "GET / HTTP/1.1\r\n\r\n", 400)
REJECT(reject_two_hosts, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)
REJECT(reject_version_lowercase, "GET / http/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_version_garbage, "GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400)
REJECT(reject_version_no_dot, "GET / HTTP/11\r\nHost: a\r\n\r\n", 400)
REJECT(reject_http2_is_505, "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505)
REJECT(reject_expect_other_is_417, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\na", 417)
REJECT(reject_empty_header_name, "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400)
REJECT(reject_bare_cr_before_request, "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400)
/* Bare LF: RFC 9112 2.2 allows accepting it, berth does not (parse.h). */
REJECT(reject_bare_lf_after_request_line, "GET / HTTP/1.1\nHost: a\r\n\r\n", 400)
REJECT(reject_bare_lf_in_field_lines, "POST /echo HTTP/1.1\r\nHost: a\r\nDummy: x\nContent-Length: 23\r\n\r\n", 400)
REJECT(reject_bare_lf_as_final_empty_line, "GET / HTTP/1.1\r\nHost: a\r\n\n", 400)
REJECT(reject_bare_lf_only_head, "GET / HTTP/1.1\nHost: a\n\n", 400)
REJECT(reject_bare_lf_before_head_is_complete, "GET / HTTP/1.1\r\nHost: a\nX: y", 400)
REJECT(reject_bare_lf_before_request, "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_bare_lf_after_crlf_before_request, "\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400)

TEST(reject_long_request_line_is_414)
{
    char buf[9000];
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', sizeof buf - 5);
    CHECK_INT(reject_status(buf, sizeof buf), 414);
}

TEST(reject_large_header_section_is_431)
{
    static char buf[20000];
    int n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(buf + n, 'a', sizeof buf - (size_t)n);
    CHECK_INT(reject_status(buf, sizeof buf), 431);
}

TEST(reject_too_many_fields_is_431)
{
    static char buf[4000];
    int n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 101; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "X%d: v\r\n", i);
    n += snprintf(buf + n, sizeof buf - (size_t)n, "\r\n");
    CHECK_INT(reject_status(buf, (size_t)n), 431);
}

static void small_body(berth_config *c) { c->max_body = 10; }

TEST(reject_content_length_over_limit_is_413)
{
    harness h;
    harness_init(&h, small_body);
    harness_feed_str(&h, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n");
    CHECK(strncmp(h.out, "HTTP/1.1 413 ", 13) == 0);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    harness_free(&h);
}

TEST(reject_chunked_over_limit_is_413)
{
    harness h;
    harness_init(&h, small_body);
    harness_feed_str(&h, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "8\r\n01234567\r\n8\r\n");
    CHECK(strncmp(h.out, "HTTP/1.1 413 ", 13) == 0);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    harness_free(&h);
}

TEST(reject_expect_over_limit_without_reading)
{
    harness h;
    harness_init(&h, small_body);
    harness_feed_str(&h, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 50\r\n\r\n");
    CHECK(strncmp(h.out, "HTTP/1.1 413 ", 13) == 0);
    CHECK_INT(harness_count(&h, "100 Continue"), 0);
    harness_free(&h);
}

TEST(reject_stops_reading_after_error)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "GET / HTTP/1.1\r\nHost : a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(harness_count(&h, "HTTP/1.1 "), 1);
    harness_free(&h);
}

/* RFC 9112 3.2: Host = uri-host [ ":" port ] */
REJECT(reject_host_with_space, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400)
REJECT(reject_host_with_non_numeric_port, "GET / HTTP/1.1\r\nHost: a:xx\r\n\r\n", 400)
REJECT(reject_host_ip_literal_unclosed, "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400)
REJECT(reject_host_with_slash, "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400)
/* RFC 9112 3.2: the request-target forms */
REJECT(reject_asterisk_target_for_get, "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_target_without_slash, "GET health HTTP/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_authority_form_for_get, "GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400)
/* Found by fuzz-head: a "://" after a '?' (or after any byte a scheme may
 * not hold) does not make an absolute-form target (RFC 3986 3.1) */
REJECT(reject_scheme_with_slash_and_query, "GET h/p?a=1&b=%20ttp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_scheme_starting_with_digit, "GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_empty_scheme, "GET ://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400)
/* RFC 9110 4.2.4: no userinfo in an http(s) target */
REJECT(reject_userinfo_in_absolute_target, "GET http://user:pass@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_user_in_absolute_target, "GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_userinfo_in_absolute_target_without_path, "GET http://user@a HTTP/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_userinfo_in_absolute_target_before_query, "GET http://user@a?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", 400)
/* RFC 9112 7.1.1: chunk lines by the chunk-ext grammar (see test-chunked.c) */
REJECT(reject_text_after_chunk_size, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2 erfrferferf\r\nab\r\n0\r\n\r\n", 400)
REJECT(reject_chunk_ext_without_name, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;\r\nab\r\n0\r\n\r\n", 400)
REJECT(reject_space_after_chunk_size, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\na \r\n0123456789\r\n0\r\n\r\n", 400)
REJECT(reject_unterminated_quoted_chunk_ext, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ilovew3=\"abc\";somuchlove=\"def; ghi\r\nhello\r\n0\r\n\r\n", 400)
/* RFC 9112 7.1.2: trailer lines are field lines */
REJECT(reject_trailer_without_colon, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nNoColon\r\n\r\n", 400)
REJECT(reject_trailer_space_before_colon, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-T : 1\r\n\r\n", 400)

TEST(accept_valid_host_forms)
{
    CHECK_INT(harness_status_of("GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"), 200);
    CHECK_INT(harness_status_of("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), 200);
    CHECK_INT(harness_status_of("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 200);
    CHECK_INT(harness_status_of("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 200);
}

TEST(accept_other_target_forms_where_they_belong)
{
    CHECK_INT(harness_status_of("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
    CHECK_INT(harness_status_of("GET http://a/?to=x@y HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
    CHECK_INT(harness_status_of("GET http://a/x@y HTTP/1.1\r\nHost: a\r\n\r\n"), 404);
    CHECK_INT(harness_status_of("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 404);
    CHECK_INT(harness_status_of("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"), 404);
}

TEST(accept_trailer_fields)
{
    CHECK_INT(harness_status_of("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "1\r\nx\r\n0\r\nX-T: 1\r\nY:\r\n\r\n"), 200);
}
REJECT(reject_fragment_in_target, "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_angle_bracket_in_target, "GET /a?b=<c> HTTP/1.1\r\nHost: a\r\n\r\n", 400)
REJECT(reject_quote_in_target, "GET /\"a\" HTTP/1.1\r\nHost: a\r\n\r\n", 400)

TEST(accept_query_bytes_browsers_leave_unencoded)
{
    CHECK_INT(harness_status_of("GET /?f={a|b}^[1]`\\ HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
}

TEST(accept_chunk_extensions_by_the_grammar)
{
    CHECK_INT(harness_status_of("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "5 ; a = b ; c\r\nhello\r\n0;name=\"quoted \\\" str\"\r\n\r\n"), 200);
}
