/* The chunked decoder, directly. */
#include "../../core/chunked.h"
#include "test.h"

/* Decodes all of in, feeding step bytes at a time; returns the final status
 * (DONE, MORE, or an error) and the decoded data in out. */
static int decode(const char *in, size_t step, char *out, size_t *out_len, uint64_t max_body)
{
    berth_chunked d;
    berth_chunked_init(&d);
    size_t len = strlen(in), off = 0, avail = 0;
    *out_len = 0;
    for (;;) {
        avail = avail + (step ? step : len);
        if (avail > len)
            avail = len;
        for (;;) {
            size_t used = 0, dlen = 0;
            const char *data = NULL;
            int rc = berth_chunked_next(&d, in + off, avail - off, &used, &data, &dlen, max_body,
                                        1000);
            off += used;
            if (rc == BERTH_CHUNKED_DATA) {
                memcpy(out + *out_len, data, dlen);
                *out_len += dlen;
                continue;
            }
            if (rc != BERTH_CHUNKED_MORE)
                return rc;
            break;
        }
        if (avail == len)
            return BERTH_CHUNKED_MORE;
    }
}

TEST(chunked_decodes_chunks)
{
    char out[64];
    size_t n;
    CHECK_INT(decode("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 0, out, &n, 100), BERTH_CHUNKED_DONE);
    CHECK(n == 5 && memcmp(out, "abcde", 5) == 0);
}

TEST(chunked_decodes_byte_by_byte)
{
    char out[64];
    size_t n;
    CHECK_INT(decode("A\r\n0123456789\r\n0\r\n\r\n", 1, out, &n, 100), BERTH_CHUNKED_DONE);
    CHECK(n == 10 && memcmp(out, "0123456789", 10) == 0);
}

TEST(chunked_drops_extensions_and_trailers)
{
    char out[64];
    size_t n;
    CHECK_INT(decode("3;a=b;c=\"d e\"\r\nabc\r\n0;x\r\nT: v\r\nU: w\r\n\r\n", 0, out, &n, 100),
              BERTH_CHUNKED_DONE);
    CHECK(n == 3 && memcmp(out, "abc", 3) == 0);
}

TEST(chunked_needs_more_when_incomplete)
{
    char out[64];
    size_t n;
    CHECK_INT(decode("3\r\nabc\r\n", 0, out, &n, 100), BERTH_CHUNKED_MORE);
}

TEST(chunked_rejects_non_hex_size)
{
    char out[64];
    size_t n;
    CHECK_INT(decode("zz\r\n", 0, out, &n, 100), 400);
}

TEST(chunked_rejects_empty_size)
{
    char out[64];
    size_t n;
    CHECK_INT(decode("\r\nabc\r\n", 0, out, &n, 100), 400);
}

TEST(chunked_rejects_overflowing_size)
{
    char out[64];
    size_t n;
    CHECK_INT(decode("fffffffffffffffffff\r\n", 0, out, &n, UINT64_MAX), 400);
}

TEST(chunked_rejects_size_with_sign)
{
    char out[64];
    size_t n;
    CHECK_INT(decode("+3\r\nabc\r\n0\r\n\r\n", 0, out, &n, 100), 400);
}

TEST(chunked_rejects_missing_crlf_after_data)
{
    char out[64];
    size_t n;
    CHECK_INT(decode("3\r\nabcX\r\n0\r\n\r\n", 0, out, &n, 100), 400);
}

TEST(chunked_rejects_bare_lf_after_size)
{
    char out[64];
    size_t n;
    CHECK_INT(decode("3\nabc\r\n0\r\n\r\n", 0, out, &n, 100), 400);
}

TEST(chunked_rejects_body_over_limit)
{
    char out[64];
    size_t n;
    CHECK_INT(decode("8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n", 0, out, &n, 10), 413);
}

TEST(chunked_rejects_control_byte_in_extension)
{
    char out[64];
    size_t n;
    CHECK_INT(decode("3;a\x01\r\nabc\r\n0\r\n\r\n", 0, out, &n, 100), 400);
}

TEST(chunked_rejects_obs_fold_in_trailer)
{
    char out[64];
    size_t n;
    CHECK_INT(decode("0\r\nT: v\r\n folded\r\n\r\n", 0, out, &n, 100), 400);
}

/* Decodes in whole and in steps of every size (1: split at every byte);
 * returns the status if every way gives the same status and data, else -1. */
static int decode_every_way(const char *in, char *out, size_t *out_len, uint64_t max_body)
{
    int rc = decode(in, 0, out, out_len, max_body);
    for (size_t step = 1; step <= strlen(in); step++) {
        static char other[8192];
        size_t n;
        if (decode(in, step, other, &n, max_body) != rc || n != *out_len ||
            memcmp(other, out, n) != 0)
            return -1;
    }
    return rc;
}

/* A chunk line before "hello": decoded the same, whole or split anywhere. */
#define CHUNK_LINE_OK(name, line)                                                             \
    TEST(name)                                                                                \
    {                                                                                         \
        char out[64];                                                                         \
        size_t n;                                                                             \
        CHECK_INT(decode_every_way(line "\r\nhello\r\n0\r\n\r\n", out, &n, 100),              \
                  BERTH_CHUNKED_DONE);                                                        \
        CHECK(n == 5 && memcmp(out, "hello", 5) == 0);                                        \
    }

/* A body that is valid but for one chunk line: 400 however split, and no
 * data of that chunk comes out. */
#define CHUNKED_BAD(name, body)                                                               \
    TEST(name)                                                                                \
    {                                                                                         \
        char out[64];                                                                         \
        size_t n;                                                                             \
        CHECK_INT(decode_every_way(body, out, &n, 100), 400);                                 \
        CHECK_INT(n, 0);                                                                      \
    }

/* RFC 9112 7.1.1: chunk-size *( BWS ";" BWS token [ BWS "=" BWS value ] ) */
CHUNK_LINE_OK(chunked_accepts_extension_with_token_value, "5;a=b")
CHUNK_LINE_OK(chunked_accepts_extension_without_value, "5;a")
CHUNK_LINE_OK(chunked_accepts_bws_around_extension_parts, "5 ; a = b ; c")
CHUNK_LINE_OK(chunked_accepts_tabs_as_bws, "5\t;\ta\t=\tb")
CHUNK_LINE_OK(chunked_accepts_quoted_pair_in_extension, "5;name=\"quoted \\\" str\"")
CHUNK_LINE_OK(chunked_accepts_several_extensions, "5;a=b;c;d=\"e;f g\";h=i")
CHUNK_LINE_OK(chunked_accepts_obs_text_in_quoted_extension, "5;a=\"caf\xc3\xa9\"")
CHUNK_LINE_OK(chunked_accepts_empty_quoted_extension, "5;a=\"\"")
/* The llhttp corpus's examples. */
CHUNKED_BAD(chunked_rejects_text_after_size, "2 erfrferferf\r\nab\r\n0\r\n\r\n")
CHUNKED_BAD(chunked_rejects_semicolon_without_extension_name, "2;\r\nab\r\n0\r\n\r\n")
CHUNKED_BAD(chunked_rejects_space_after_size_without_semicolon, "a \r\n0123456789\r\n0\r\n\r\n")
CHUNKED_BAD(chunked_rejects_unterminated_quoted_extension,
            "5;ilovew3=\"abc\";somuchlove=\"def; ghi\r\nhello\r\n0\r\n\r\n")
/* More lines off the grammar. */
CHUNKED_BAD(chunked_rejects_extension_name_not_token, "5;@\r\nhello\r\n0\r\n\r\n")
CHUNKED_BAD(chunked_rejects_equals_without_value, "5;a=\r\nhello\r\n0\r\n\r\n")
CHUNKED_BAD(chunked_rejects_value_without_name, "5;=b\r\nhello\r\n0\r\n\r\n")
CHUNKED_BAD(chunked_rejects_two_semicolons, "5;;a\r\nhello\r\n0\r\n\r\n")
CHUNKED_BAD(chunked_rejects_whitespace_before_line_end, "5;a=b \r\nhello\r\n0\r\n\r\n")
CHUNKED_BAD(chunked_rejects_whitespace_inside_token_value, "5;a=b c\r\nhello\r\n0\r\n\r\n")
CHUNKED_BAD(chunked_rejects_text_after_quoted_value, "5;a=\"b\"c\r\nhello\r\n0\r\n\r\n")
CHUNKED_BAD(chunked_rejects_control_byte_in_quoted_value, "5;a=\"b\x01\"\r\nhello\r\n0\r\n\r\n")
CHUNKED_BAD(chunked_rejects_del_after_backslash, "5;a=\"b\\\x7f\"\r\nhello\r\n0\r\n\r\n")
CHUNKED_BAD(chunked_rejects_bad_extension_on_last_chunk, "0;\r\n\r\n")

TEST(chunked_accepts_extension_on_last_chunk)
{
    char out[64];
    size_t n;
    CHECK_INT(decode_every_way("5\r\nhello\r\n0;a=\"b\"\r\n\r\n", out, &n, 100),
              BERTH_CHUNKED_DONE);
    CHECK(n == 5 && memcmp(out, "hello", 5) == 0);
}

/* Builds "5;" followed by ext_len - 1 name bytes and the rest of a body. */
static const char *long_extension(size_t ext_len)
{
    static char buf[8192];
    buf[0] = '5';
    memset(buf + 1, 'n', ext_len);
    buf[1] = ';';
    strcpy(buf + 1 + ext_len, "\r\nhello\r\n0\r\n\r\n");
    return buf;
}

TEST(chunked_accepts_4096_bytes_of_extensions)
{
    char out[64];
    size_t n;
    CHECK_INT(decode(long_extension(4096), 0, out, &n, 100), BERTH_CHUNKED_DONE);
    CHECK_INT(decode(long_extension(4096), 1, out, &n, 100), BERTH_CHUNKED_DONE);
}

TEST(chunked_rejects_4097_bytes_of_extensions)
{
    char out[64];
    size_t n;
    CHECK_INT(decode(long_extension(4097), 0, out, &n, 100), 400);
    CHECK_INT(decode(long_extension(4097), 1, out, &n, 100), 400);
}
