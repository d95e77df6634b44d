/* libFuzzer target: the chunked decoder (core/chunked.c) on its own.
 *
 * Input: byte 0 limits (bits 0-1 the body limit: 1 MiB, 16, 1000, 2^64-1;
 * bits 2-3 the trailer limit: 16 KiB, 0, 8, 100), byte 1 seeds the sizes of
 * the pieces the decoder is fed, then a chunked body. Checks, for any input:
 *   - berth's decoder says what the reference reading (chunked-ref.h, the
 *     same grammar written as a whole-buffer parser) says: DONE with the
 *     same bytes consumed, MORE, or the same error status; and decodes the
 *     same data;
 *   - fed in pieces it says and decodes exactly what it does fed whole;
 *   - it never consumes more than it was given, hands out data only from
 *     what it consumed, and answers MORE only having taken everything. */
#include <stdio.h>
#include <stdlib.h>

#include "chunked-ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t seed;

static size_t piece(void *arg)
{
    (void)arg;
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    return 1 + seed % 40;
}

static void fail(const char *what, const ref_result *a, const ref_result *b, const uint8_t *d,
                 size_t n)
{
    fprintf(stderr, "fuzz-chunked: %s: berth status %d consumed %zu data %zu; "
            "other %d consumed %zu data %zu\ninput: \"", what, a->status, a->consumed,
            a->data_len, b->status, b->consumed, b->data_len);
    for (size_t i = 0; i < n && i < 3000; i++)
        fprintf(stderr, d[i] >= 0x20 && d[i] < 0x7f && d[i] != '\\' ? "%c" : "\\x%02x", d[i]);
    fprintf(stderr, "\"\n");
    abort();
}

static int same(const ref_result *a, const unsigned char *da, const ref_result *b,
                const unsigned char *db)
{
    return a->status == b->status && a->consumed == b->consumed && a->data_len == b->data_len &&
           (a->data_len == 0 || memcmp(da, db, a->data_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char *d_ref, *d_whole, *d_piece;
    enum { MAX = 1 << 16 };
    if (!d_ref && !((d_ref = malloc(MAX)) && (d_whole = malloc(MAX)) && (d_piece = malloc(MAX))))
        abort();
    if (size < 2 || size - 2 > MAX)
        return 0;
    static const uint64_t bodies[4] = {1 << 20, 16, 1000, UINT64_MAX};
    static const size_t trailers[4] = {16384, 0, 8, 100};
    uint64_t max_body = bodies[data[0] & 3];
    size_t max_trailer = trailers[(data[0] >> 2) & 3];
    const unsigned char *in = data + 2;
    size_t len = size - 2;

    ref_result ref = ref_chunked(in, len, max_body, max_trailer, d_ref);
    ref_result whole = berth_chunked_run(in, len, max_body, max_trailer, d_whole, NULL, NULL);
    seed = data[1] * 2654435761u + 1;
    ref_result pieces = berth_chunked_run(in, len, max_body, max_trailer, d_piece, piece, NULL);
    if (whole.status < 0)
        fail("decoder broke its contract (fed whole)", &whole, &ref, in, len);
    if (pieces.status < 0)
        fail("decoder broke its contract (fed in pieces)", &pieces, &ref, in, len);
    if (!same(&whole, d_whole, &ref, d_ref))
        fail("decoder and reference disagree", &whole, &ref, in, len);
    if (!same(&pieces, d_piece, &whole, d_whole))
        fail("the result depends on how the bytes arrive", &pieces, &whole, in, len);
    return 0;
}
