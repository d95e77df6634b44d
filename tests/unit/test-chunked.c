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
