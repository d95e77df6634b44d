/* libFuzzer target: the WebSocket frame parser (core/ws_frame.c) on its own.
 *
 * Input: byte 0 chooses the message limit (bits 0-1: none, 16, 1000, 1 MiB)
 * and whether unmasked frames are accepted (bit 2), byte 1 seeds the sizes
 * of the pieces, then the bytes a client sends. Checks, for any input:
 *   - fed in pieces, the parser reports exactly the messages, control
 *     frames and error it reports fed whole;
 *   - it never consumes more than it is given, answers MORE only having
 *     taken everything, and reports nothing after an error;
 *   - a message it completes is within the limit, a text message is valid
 *     UTF-8 by a reference check written independently here, a control
 *     payload is at most 125 bytes, and a close code it reports is 1005 or
 *     one a peer may send. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/ws_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX = 1 << 16 };

typedef struct run_log {
    unsigned char *log, *msg;
    size_t log_len, msg_len;
} run_log;

static uint32_t seed;

static size_t piece(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    return 1 + seed % 40;
}

/* RFC 3629 by its table, for the text check. */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            if (c == 0xE0)
                lo = 0xA0;
            if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        } else {
            return 0;
        }
        if (i + k >= n)
            return 0; /* cut short */
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t j = 2; j <= k; j++)
            if (s[i + j] < 0x80 || s[i + j] > 0xBF)
                return 0;
        i += k + 1;
    }
    return 1;
}

static void put(run_log *r, const void *p, size_t n)
{
    if (r->log_len + n > 4 * MAX)
        abort();
    memcpy(r->log + r->log_len, p, n);
    r->log_len += n;
}

static void check_and_log(run_log *r, const berth_wsp_event *ev, int res, uint64_t max)
{
    if (res == BERTH_WSP_DATA) {
        if (ev->first)
            r->msg_len = 0;
        if (r->msg_len + ev->len > MAX)
            abort();
        memcpy(r->msg + r->msg_len, ev->data, ev->len);
        r->msg_len += ev->len;
        if (!ev->last)
            return;
        if (max && r->msg_len > max) {
            fprintf(stderr, "fuzz-ws: a message of %zu bytes over the limit %llu\n", r->msg_len,
                    (unsigned long long)max);
            abort();
        }
        if (ev->opcode == BERTH_WS_OP_TEXT && !utf8_valid(r->msg, r->msg_len)) {
            fprintf(stderr, "fuzz-ws: invalid UTF-8 text handed out\n");
            abort();
        }
        put(r, "M", 1);
        put(r, &ev->opcode, sizeof ev->opcode);
        put(r, &r->msg_len, sizeof r->msg_len);
        put(r, r->msg, r->msg_len);
    } else if (res == BERTH_WSP_CONTROL) {
        if (ev->len > 125 || (ev->opcode == BERTH_WS_OP_CLOSE && ev->code != 1005 &&
                              !berth_ws_code_valid(ev->code)))
            abort();
        if (ev->opcode == BERTH_WS_OP_CLOSE && !utf8_valid((const unsigned char *)ev->reason,
                                                           ev->reason_len))
            abort();
        put(r, "C", 1);
        put(r, &ev->opcode, sizeof ev->opcode);
        put(r, &ev->code, sizeof ev->code);
        put(r, &ev->len, sizeof ev->len);
        put(r, ev->data, ev->len);
    } else {
        put(r, "X", 1);
        put(r, &ev->code, sizeof ev->code);
    }
}

/* Feeds buf[0..n) whole, or in pieces of 1 to 40 bytes. */
static void run(run_log *r, char *buf, size_t n, int whole, uint64_t max, int unmasked)
{
    berth_wsp p;
    berth_wsp_init(&p, max);
    p.accept_unmasked = unmasked;
    size_t pos = 0;
    while (pos < n) {
        size_t end = whole ? n : pos + piece();
        if (end > n)
            end = n;
        while (pos < end) {
            size_t used = 0;
            berth_wsp_event ev;
            memset(&ev, 0, sizeof ev);
            int res = berth_wsp_run(&p, buf + pos, end - pos, &used, &ev);
            if (used > end - pos)
                abort();
            pos += used;
            if (res == BERTH_WSP_MORE) {
                if (pos != end)
                    abort();
                break;
            }
            check_and_log(r, &ev, res, max);
            if (res == BERTH_WSP_ERROR) {
                /* Nothing more is read after an error. */
                res = berth_wsp_run(&p, buf + pos, n - pos, &used, &ev);
                if (res == BERTH_WSP_DATA || res == BERTH_WSP_CONTROL) {
                    fprintf(stderr, "fuzz-ws: read on after an error\n");
                    abort();
                }
                return;
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static run_log a, b;
    static char *buf;
    if (!buf) {
        buf = malloc(MAX);
        a.log = malloc(4 * MAX), a.msg = malloc(MAX);
        b.log = malloc(4 * MAX), b.msg = malloc(MAX);
        if (!buf || !a.log || !a.msg || !b.log || !b.msg)
            abort();
    }
    if (size < 2 || size - 2 > MAX)
        return 0;
    static const uint64_t limits[4] = {0, 16, 1000, 1 << 20};
    uint64_t max = limits[data[0] & 3];
    int unmasked = (data[0] >> 2) & 1;
    size_t n = size - 2;
    a.log_len = b.log_len = 0;
    memcpy(buf, data + 2, n);
    run(&a, buf, n, 1, max, unmasked);
    memcpy(buf, data + 2, n);
    seed = 0x9E3779B9u ^ data[1];
    run(&b, buf, n, 0, max, unmasked);
    if (a.log_len != b.log_len || memcmp(a.log, b.log, a.log_len) != 0) {
        fprintf(stderr, "fuzz-ws: fed in pieces, the parser said something else (%zu against "
                "%zu bytes of events)\n", b.log_len, a.log_len);
        abort();
    }
    return 0;
}
