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
