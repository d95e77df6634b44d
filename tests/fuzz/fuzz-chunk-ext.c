/* libFuzzer target: chunk extensions (RFC 9112 7.1.1), the part of a chunk
 * line after its size that berth must read exactly one way (core/chunked.c).
 *
 * Input: byte 0 selects the line (bit 0: the last chunk, "0"; else "5" with
 * data; bit 1: a second chunk line carries the same extension; bit 2: fed
 * one byte at a time), then the extension bytes. The harness frames them
 * as "5<ext>\r\nhello\r\n0\r\n\r\n" (or "0<ext>\r\n\r\n") and checks that
 * berth's decoder agrees with the reference grammar of chunked-ref.h:
 * accepted (the body is "hello", complete) exactly when the extension is
 * valid and at most 4096 bytes, otherwise 400, never anything else. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "chunked-ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t one(void *arg)
{
    (void)arg;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum { MAX = 3 * 4200 };
    if (size < 1 || size - 1 > 4200)
        return 0;
    static unsigned char body[MAX + 64], d_ref[MAX + 64], d_berth[MAX + 64];
    const unsigned char *ext = data + 1;
    size_t elen = size - 1, n = 0;
    int last = data[0] & 1, twice = (data[0] & 2) && !last;
#define ADD(p, k) (memcpy(body + n, (p), (k)), n += (k))
    ADD(last ? "0" : "5", 1);
    ADD(ext, elen);
    if (!last) {
        ADD("\r\nhello\r\n", 9);
        if (twice) {
            ADD("5", 1);
            ADD(ext, elen);
            ADD("\r\nworld\r\n", 9);
        }
        ADD("0", 1);
    }
    ADD("\r\n\r\n", 4);
#undef ADD
    ref_result ref = ref_chunked(body, n, 1 << 20, 16384, d_ref);
    ref_result got = berth_chunked_run(body, n, 1 << 20, 16384, d_berth, data[0] & 4 ? one : NULL, NULL);

    /* The extension alone, by the reference grammar. */
    const unsigned char *cr = NULL;
    int valid = elen <= 4096 && ref_chunk_ext(body + 1, body + 2 + elen, &cr) == REF_OK &&
                cr == body + 1 + elen; /* body[1 + elen] is the line's CR */
    int ok = got.status == ref.status && got.consumed == ref.consumed &&
             got.data_len == ref.data_len && memcmp(d_ref, d_berth, got.data_len) == 0;
    /* A valid extension gives the whole body; an invalid one a 400 (or,
     * when it holds a CRLF of its own, whatever the reference makes of the
     * line it ends). */
    if (ok && valid)
        ok = got.status == BERTH_CHUNKED_DONE && got.consumed == n &&
             got.data_len == (last ? 0 : twice ? 10 : 5);
    else if (ok && !memchr(ext, '\r', elen) && !(elen && isxdigit(ext[0])))
        /* (a hex digit first continues the size: "5a;b" is a 0x5a chunk) */
        ok = got.status == 400;
    if (!ok) {
        fprintf(stderr, "fuzz-chunk-ext: berth %d (consumed %zu, data %zu), reference %d "
                "(consumed %zu, data %zu), extension valid %d\nline: \"", got.status,
                got.consumed, got.data_len, ref.status, ref.consumed, ref.data_len, valid);
        for (size_t i = 0; i < n && i < 5000; i++)
            fprintf(stderr, body[i] >= 0x20 && body[i] < 0x7f && body[i] != '\\' ? "%c" : "\\x%02x",
                    body[i]);
        fprintf(stderr, "\"\n");
        abort();
    }
    return 0;
}
