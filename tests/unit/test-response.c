/* Response serialization and the header setters. */
#include "../../core/clock.h"
#include "../../core/request.h"
#include "test.h"

TEST(response_rejects_crlf_in_header_value)
{
    struct berth_res res;
    berth_res_init(&res, NULL, NULL);
    CHECK_INT(berth_res_header(&res, "X", "a\r\nSet-Cookie: evil"), BERTH_EINVAL);
    CHECK_INT(berth_res_header(&res, "X", "a\nb"), BERTH_EINVAL);
    CHECK_INT(res.hdr_len, 0);
    berth_res_release(&res);
}

TEST(response_rejects_nul_in_header_value)
{
    struct berth_res res;
    berth_res_init(&res, NULL, NULL);
    CHECK_INT(berth_res_header_n(&res, "X", 1, "a\0b", 3), BERTH_EINVAL);
    berth_res_release(&res);
}

/* The value check reads eight bytes at a time: a CR, LF or NUL is found at
 * every offset of values up to 40 bytes long, and bytes below 0x10 that are
 * none of them (HTAB, 0x01, 0x0f) do not refuse a value. */
TEST(response_header_value_breaks_found_at_every_offset)
{
    static const char bad[] = {'\r', '\n', '\0'};
    static const char fine[] = {'\t', 0x01, 0x0f, 0x10, 0x7f, (char)0x80, (char)0xff};
    char v[40];
    for (size_t len = 1; len <= sizeof v; len++) {
        for (size_t at = 0; at < len; at++) {
            for (size_t k = 0; k < sizeof bad + sizeof fine; k++) {
                memset(v, 'a', sizeof v);
                v[at] = k < sizeof bad ? bad[k] : fine[k - sizeof bad];
                int kind = berth_header_check("X-Y", 3, v, len);
                CHECK_INT(kind, k < sizeof bad ? BERTH_HDR_INVALID : BERTH_HDR_KEEP);
            }
        }
    }
    /* a name's bytes, four at a time and the rest: one bad byte anywhere */
    char n[11];
    for (size_t len = 1; len <= sizeof n; len++) {
        for (size_t at = 0; at < len; at++) {
            memset(n, 'n', sizeof n);
            n[at] = ':';
            CHECK_INT(berth_header_check(n, len, "v", 1), BERTH_HDR_INVALID);
            n[at] = '~';
            CHECK_INT(berth_header_check(n, len, "v", 1), BERTH_HDR_KEEP);
        }
    }
    CHECK_INT(berth_header_check("DATE", 4, "x", 1), BERTH_HDR_DROP);
    CHECK_INT(berth_header_check("Dote", 4, "x", 1), BERTH_HDR_KEEP);
    CHECK_INT(berth_header_check("Server", 6, "x", 1), BERTH_HDR_SERVER);
    CHECK_INT(berth_header_check("Content-Length", 14, "1", 1), BERTH_HDR_DROP);
    CHECK_INT(berth_header_check("Content-Lengths", 15, "1", 1), BERTH_HDR_KEEP);
    CHECK_INT(berth_header_check("Transfer-Encoding", 17, "gzip", 4), BERTH_HDR_DROP);
    CHECK_INT(berth_header_check("connection", 10, "Close", 5), BERTH_HDR_CLOSE);
    CHECK_INT(berth_header_check("connection", 10, "keep-alive", 10), BERTH_HDR_DROP);
}

TEST(response_rejects_bad_header_name)
{
    struct berth_res res;
    berth_res_init(&res, NULL, NULL);
    CHECK_INT(berth_res_header(&res, "X Y", "v"), BERTH_EINVAL);
    CHECK_INT(berth_res_header(&res, "X:", "v"), BERTH_EINVAL);
    CHECK_INT(berth_res_header(&res, "", "v"), BERTH_EINVAL);
    berth_res_release(&res);
}

TEST(response_ignores_framing_headers)
{
    struct berth_res res;
    berth_res_init(&res, NULL, NULL);
    CHECK_INT(berth_res_header(&res, "Content-Length", "99"), 0);
    CHECK_INT(berth_res_header(&res, "transfer-encoding", "chunked"), 0);
    CHECK_INT(res.hdr_len, 0);
    berth_res_release(&res);
}

TEST(response_connection_close_sets_close)
{
    struct berth_res res;
    berth_res_init(&res, NULL, NULL);
    CHECK_INT(berth_res_header(&res, "Connection", "close"), 0);
    CHECK_INT(res.close, 1);
    CHECK_INT(res.hdr_len, 0);
    berth_res_release(&res);
}

TEST(response_connection_close_is_a_list_token)
{
    struct berth_res res;
    berth_res_init(&res, NULL, NULL);
    CHECK_INT(berth_res_header(&res, "Connection", "closed"), 0);
    CHECK_INT(res.close, 0);
    CHECK_INT(berth_res_header(&res, "Connection", "upgrade, Close "), 0);
    CHECK_INT(res.close, 1);
    berth_res_release(&res);
}

TEST(response_headers_grow_past_inline_space)
{
    struct berth_res res;
    berth_res_init(&res, NULL, NULL);
    char v[600];
    memset(v, 'v', sizeof v - 1);
    v[sizeof v - 1] = '\0';
    for (int i = 0; i < 10; i++)
        CHECK_INT(berth_res_header(&res, "X-Long", v), 0);
    CHECK(res.hdr_len == 10 * (6 + 2 + 599 + 2));
    berth_res_release(&res);
}

TEST(response_large_body_is_copied)
{
    struct berth_res res;
    berth_res_init(&res, NULL, NULL);
    char *big = malloc(100000);
    memset(big, 'z', 100000);
    CHECK_INT(berth_res_body(&res, big, 100000), 0);
    big[0] = 'a';
    CHECK(res.body[0] == 'z' && res.body_len == 100000);
    free(big);
    berth_res_release(&res);
}

TEST(date_is_imf_fixdate)
{
    char out[32];
    berth_clock_format_date(784111777, out);
    CHECK(strcmp(out, "Sun, 06 Nov 1994 08:49:37 GMT") == 0);
}

TEST(url_decode_handles_escapes_and_plus)
{
    char out[32];
    CHECK_INT(berth_url_decode("a%20b+c", 7, out, sizeof out, 1), 5);
    CHECK(strcmp(out, "a b c") == 0);
    CHECK_INT(berth_url_decode("%zz", 3, out, sizeof out, 1), BERTH_EINVAL);
    CHECK_INT(berth_url_decode("%4", 2, out, sizeof out, 1), BERTH_EINVAL);
    CHECK_INT(berth_url_decode("abcdef", 6, out, 4, 1), BERTH_ENOSPC);
}
