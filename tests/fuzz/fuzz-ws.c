/* libFuzzer target: the WebSocket frame parser (core/ws_frame.c) on its own.
 *
 * Input: byte 0 chooses the message limit (bits 0-1: none, 16, 1000, 1 MiB)
 * and whether unmasked frames are accepted (bit 2), and permessage-deflate
 * (bit 3: agreed; bits 4-6: the client's window, 8 + value; bit 7: client
 * no context takeover); byte 1 seeds the sizes of the pieces, then the
 * bytes a client sends. Compressed messages are inflated piece by piece
 * as ws_conn.c does (core/ws_deflate.c), bounded by the limit (1 MiB when
 * there is none). Checks, for any input:
 *   - fed in pieces, the parser reports exactly the messages, control
 *     frames and error it reports fed whole, and a compressed message
 *     inflates to the same bytes (or the same close code). One exception:
 *     with a client window below 15 bits, a back-reference further than
 *     the window (invalid) is refused (1007) when the bytes it names are
 *     gone from zlib's window, and resolved when they are still in the
 *     output of the same inflate call: fed whole and in pieces may then
 *     part there, one side closing with 1007;
 *   - an inflated message is within the limit, and so is the buffer
 *     that held it;
 *   - it never consumes more than it is given, answers MORE only having
 *     taken everything, and reports nothing after an error;
 *   - a message it completes is within the limit, a text message is valid
 *     UTF-8 by a reference check written independently here, a control
 *     payload is at most 125 bytes, and a close code it reports is 1005 or
 *     one a peer may send. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/ws_deflate.h"
#include "../../core/ws_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX = 1 << 16 };

typedef struct run_log {
    unsigned char *log, *msg;
    size_t log_len, msg_len;
    berth_wsd *z;        /* permessage-deflate agreed, or NULL */
    char *zbuf;          /* a compressed message, inflated */
    size_t zlen, zcap;
    size_t closed_at;    /* where the log's 'Z' event begins; SIZE_MAX: none */
    int closed_code;
} run_log;

static uint64_t fnv(const void *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ull;
    return h;
}

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

/* A piece of a compressed message, inflated: 0, or the close code (then
 * logged, as the connection would close with it). */
static int inflate_piece(run_log *r, const berth_wsp_event *ev, uint64_t max)
{
    uint64_t bound = max ? max : 1 << 20;
    if (ev->first)
        r->zlen = 0;
    int code = berth_wsd_inflate(r->z, ev->data, ev->len, ev->last, bound, &r->zbuf, &r->zlen,
                                 &r->zcap);
    if (r->zlen > bound || r->zcap > (bound > 4096 ? bound : 4096)) {
        fprintf(stderr, "fuzz-ws: inflated %zu bytes (buffer %zu) past the bound %llu\n",
                r->zlen, r->zcap, (unsigned long long)bound);
        abort();
    }
    if (!code && ev->last && ev->opcode == BERTH_WS_OP_TEXT &&
        !utf8_valid((const unsigned char *)r->zbuf, r->zlen))
        code = BERTH_WS_CLOSE_BAD_DATA;
    if (code) {
        r->closed_at = r->log_len;
        r->closed_code = code;
        put(r, "Z", 1);
        put(r, &code, sizeof code);
        return code;
    }
    if (ev->last) {
        uint64_t h = fnv(r->zbuf, r->zlen);
        put(r, "D", 1);
        put(r, &ev->opcode, sizeof ev->opcode);
        put(r, &r->zlen, sizeof r->zlen);
        put(r, &h, sizeof h);
    }
    return 0;
}

static void check_and_log(run_log *r, const berth_wsp_event *ev, int res, uint64_t max)
{
    if (res == BERTH_WSP_DATA && ev->compressed) {
        if (!r->z)
            abort(); /* RSV1 passed without the extension */
        return;
    }
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
    p.rsv1_ok = r->z != NULL;
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
            if (res == BERTH_WSP_DATA && ev.compressed && inflate_piece(r, &ev, max) != 0)
                return; /* the connection closes */
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

/* The logs are equal up to an event where one of them closed with 1007
 * after inflating (the exception above). */
static int parted_at_1007(const run_log *a, const run_log *b)
{
    size_t n = a->log_len < b->log_len ? a->log_len : b->log_len, i = 0;
    while (i < n && a->log[i] == b->log[i])
        i++;
    /* The parting is within the event that closed one run with 1007 (its
     * last; the other run may have closed there too, with another code,
     * such as 1009 having inflated further). */
    for (int k = 0; k < 2; k++) {
        const run_log *r = k ? b : a;
        if (r->closed_at <= i && r->closed_code == BERTH_WS_CLOSE_BAD_DATA)
            return 1;
    }
    return 0;
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
    a.closed_at = b.closed_at = SIZE_MAX;
    berth_wsd za, zb;
    a.z = b.z = NULL;
    if (data[0] & 8) {
        berth_wsd_params wp = {15, (uint8_t)(8 + ((data[0] >> 4) & 7)), 0,
                               (uint8_t)(data[0] >> 7), 0, 0};
        berth_wsd_init(&za, &wp, 1);
        berth_wsd_init(&zb, &wp, 1);
        a.z = &za;
        b.z = &zb;
    }
    memcpy(buf, data + 2, n);
    run(&a, buf, n, 1, max, unmasked);
    memcpy(buf, data + 2, n);
    seed = 0x9E3779B9u ^ data[1];
    run(&b, buf, n, 0, max, unmasked);
    if (a.z) {
        berth_wsd_release(&za);
        berth_wsd_release(&zb);
        if (za.held || zb.held)
            abort(); /* zlib's memory all given back */
    }
    /* Each input starts with no buffer, as a connection does: the bound
     * on its size is then checked for this input's messages alone. */
    free(a.zbuf), a.zbuf = NULL, a.zcap = 0;
    free(b.zbuf), b.zbuf = NULL, b.zcap = 0;
    if ((a.log_len != b.log_len || memcmp(a.log, b.log, a.log_len) != 0) &&
        !(a.z && a.z->p.client_bits < 15 && parted_at_1007(&a, &b))) {
        fprintf(stderr, "fuzz-ws: fed in pieces, the parser said something else (%zu against "
                "%zu bytes of events)\n", b.log_len, a.log_len);
        abort();
    }
    return 0;
}
