/* A reference reading of the chunked coding, for fuzz-chunked.c and
 * fuzz-chunk-ext.c: the grammar of core/chunked.h written the other way
 * round (a whole-buffer recursive-descent reader instead of a byte-at-a-time
 * state machine), so that the two can be compared on any input.
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-size   = 1*16HEXDIG                  (no sign, space, overflow)
 *   chunk-ext    = *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
 *                  at most 4096 bytes
 *   trailer      = *( token ":" *field-byte CRLF ), counted against max_trailer
 *
 * The result is what berth_chunked_next must say after all of the input:
 * DONE (with the bytes consumed), MORE (a valid prefix), or the status of
 * the first error (400, 413 for a size over the body limit, 431 for
 * trailers over theirs). */
#ifndef FUZZ_CHUNKED_REF_H
#define FUZZ_CHUNKED_REF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../core/chunked.h"
#include "../../core/parse.h"

enum { REF_OK = 1, REF_MORE = 0, REF_BAD = -1 };

static int ref_ws(unsigned char c) { return c == ' ' || c == '\t'; }
static int ref_text(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

/* Reads a chunk-ext from p up to its CR: REF_OK with *end at the CR,
 * REF_MORE if the input ends inside a valid prefix, REF_BAD. */
static int ref_chunk_ext(const unsigned char *p, const unsigned char *e, const unsigned char **end)
{
    int ws = 0; /* whitespace just skipped: it must lead to ';' (or '=') */
    for (;;) {
        while (p < e && ref_ws(*p))
            p++, ws = 1;
        if (p == e)
            return REF_MORE;
        if (*p == '\r' && !ws) {
            *end = p;
            return REF_OK;
        }
        if (*p++ != ';')
            return REF_BAD;
        while (p < e && ref_ws(*p))
            p++;
        if (p == e)
            return REF_MORE;
        if (!berth_is_tchar(*p))
            return REF_BAD;
        while (p < e && berth_is_tchar(*p))
            p++;
        ws = 0;
        while (p < e && ref_ws(*p))
            p++, ws = 1;
        if (p == e)
            return REF_MORE;
        if (*p != '=')
            continue; /* CR (if no BWS), ';' or an error, decided above */
        p++;
        while (p < e && ref_ws(*p))
            p++;
        if (p == e)
            return REF_MORE;
        if (*p == '"') {
            for (p++;; p++) {
                if (p == e)
                    return REF_MORE;
                if (*p == '"')
                    break;
                if (*p == '\\' && ++p == e)
                    return REF_MORE;
                if (!ref_text(*p))
                    return REF_BAD;
            }
            p++;
        } else {
            if (!berth_is_tchar(*p))
                return REF_BAD;
            while (p < e && berth_is_tchar(*p))
                p++;
        }
        ws = 0;
    }
}

typedef struct ref_result {
    int status;      /* BERTH_CHUNKED_DONE, BERTH_CHUNKED_MORE, or an HTTP status */
    size_t consumed; /* for DONE: bytes through the final CRLF */
    size_t data_len; /* data bytes decoded (copied to the caller's buffer) */
} ref_result;

#define REF_MAX_EXT 4096

static ref_result ref_chunked(const unsigned char *buf, size_t len, uint64_t max_body,
                              size_t max_trailer, unsigned char *data_out)
{
    ref_result r = {BERTH_CHUNKED_MORE, 0, 0};
    const unsigned char *p = buf, *e = buf + len;
    uint64_t total = 0;
    for (;;) {
        /* chunk-size */
        uint64_t size = 0;
        int digits = 0;
        while (p < e) {
            int v = *p >= '0' && *p <= '9' ? *p - '0'
                    : (*p | 0x20) >= 'a' && (*p | 0x20) <= 'f' ? (*p | 0x20) - 'a' + 10 : -1;
            if (v < 0)
                break;
            if (digits == 16 || (size >> 60)) {
                r.status = 400;
                return r;
            }
            size = size << 4 | (uint64_t)v;
            digits++;
            p++;
        }
        if (p == e)
            return r;
        if (!digits) {
            r.status = 400;
            return r;
        }
        if (size > max_body || total + size > max_body) {
            r.status = 413;
            return r;
        }
        /* chunk-ext, bounded */
        const unsigned char *cr = NULL;
        size_t avail = (size_t)(e - p);
        int x = ref_chunk_ext(p, avail > REF_MAX_EXT + 1 ? p + REF_MAX_EXT + 1 : e, &cr);
        if (x == REF_BAD || (x == REF_MORE && avail > REF_MAX_EXT) ||
            (x == REF_OK && cr - p > REF_MAX_EXT)) {
            r.status = 400;
            return r;
        }
        if (x == REF_MORE)
            return r;
        p = cr + 1;
        if (p == e)
            return r;
        if (*p++ != '\n') {
            r.status = 400;
            return r;
        }
        if (size == 0)
            break;
        /* chunk-data CRLF */
        size_t have = (size_t)(e - p);
        size_t n = have < size ? have : (size_t)size;
        memcpy(data_out + r.data_len, p, n);
        r.data_len += n;
        total += n;
        p += n;
        if (n < size)
            return r;
        if (p == e)
            return r;
        if (*p++ != '\r') {
            r.status = 400;
            return r;
        }
        if (p == e)
            return r;
        if (*p++ != '\n') {
            r.status = 400;
            return r;
        }
    }
    /* trailer-section CRLF */
    size_t tbytes = 0;
    for (;;) {
        if (p == e)
            return r;
        if (*p == '\r') {
            if (++p == e)
                return r;
            if (*p != '\n') {
                r.status = 400;
                return r;
            }
            r.status = BERTH_CHUNKED_DONE;
            r.consumed = (size_t)(p + 1 - buf);
            return r;
        }
        if (!berth_is_tchar(*p)) {
            r.status = 400;
            return r;
        }
        /* name ":" (each byte counted), value bytes and the CR (counted) */
        for (;; p++) {
            if (p == e)
                return r;
            if (*p != ':' && !berth_is_tchar(*p)) {
                r.status = 400;
                return r;
            }
            if (++tbytes > max_trailer) {
                r.status = 431;
                return r;
            }
            if (*p == ':')
                break;
        }
        for (p++;; p++) {
            if (p == e)
                return r;
            if (*p != '\r' && !ref_text(*p)) {
                r.status = 400;
                return r;
            }
            if (++tbytes > max_trailer) {
                r.status = 431;
                return r;
            }
            if (*p == '\r')
                break;
        }
        if (++p == e)
            return r;
        if (*p++ != '\n') {
            r.status = 400;
            return r;
        }
    }
}

/* berth's decoder over buf, fed in pieces: avail grows by the sizes
 * next_piece gives (0: all at once), as the engine's buffer fills. */
static ref_result berth_chunked_run(const unsigned char *buf, size_t len, uint64_t max_body,
                                    size_t max_trailer, unsigned char *data_out,
                                    size_t (*next_piece)(void *), void *arg)
{
    berth_chunked d;
    berth_chunked_init(&d);
    ref_result r = {BERTH_CHUNKED_MORE, 0, 0};
    size_t off = 0, avail = 0;
    for (;;) {
        size_t piece = next_piece ? next_piece(arg) : len;
        avail = avail + piece > len ? len : avail + piece;
        for (;;) {
            size_t used = 0, dlen = 0;
            const char *data = NULL;
            int rc = berth_chunked_next(&d, (const char *)buf + off, avail - off, &used, &data,
                                        &dlen, max_body, max_trailer);
            if (used > avail - off)
                return (ref_result){-1, 0, 0}; /* consumed more than given */
            off += used;
            if (rc == BERTH_CHUNKED_DATA) {
                if (data < (const char *)buf || data + dlen > (const char *)buf + off)
                    return (ref_result){-2, 0, 0}; /* data outside what was consumed */
                memcpy(data_out + r.data_len, data, dlen);
                r.data_len += dlen;
                if (d.total != r.data_len)
                    return (ref_result){-3, 0, 0};
                continue;
            }
            if (rc == BERTH_CHUNKED_DONE) {
                r.status = rc;
                r.consumed = off;
                return r;
            }
            if (rc != BERTH_CHUNKED_MORE) {
                r.status = rc;
                return r;
            }
            if (off != avail)
                return (ref_result){-4, 0, 0}; /* MORE without taking everything */
            break;
        }
        if (avail == len)
            return r;
    }
}

#endif
