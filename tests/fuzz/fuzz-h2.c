/* libFuzzer target: HTTP/2 over the engine (core/h2_conn.c, h2_stream.c,
 * nghttp2 underneath): a plaintext connection gets the client preface,
 * then the fuzzer's bytes as frames, through the same pipe a backend
 * drives (fuzz-pipe.h), with the test routes (buffered, echo, a borrowed
 * 40000-byte body, a file).
 *
 * Input: byte 0 flags (bit 0: EOF after the input; bit 1: timeouts at the
 * end; bits 2-3: reads of 1, 7, 64 bytes or as large as offered; bits 4-5:
 * writes of at most 1, 100, 4096 bytes or whole; bit 6: an h2c-only
 * listener's connection (berth_conn_new's BERTH_CONN_H2), the input then being the
 * whole of what the client sends, the preface included or not), then the
 * bytes after the preface. make-h2-corpus.py writes seeds (requests made with Python's h2).
 * Checks, for any input:
 *   - no crash, leak or undefined behaviour (ASan + UBSan builds);
 *   - the output is a sequence of whole HTTP/2 frames, the first the
 *     server's SETTINGS; a frame on stream 0 is SETTINGS, PING, GOAWAY or
 *     WINDOW_UPDATE; HEADERS, DATA and RST_STREAM name an odd (client)
 *     stream; no PUSH_PROMISE; nothing but frames after a GOAWAY that
 *     raise no stream above its last stream id;
 *   - every response header block decodes (HPACK, nghttp2's inflater) and
 *     begins with a 3-digit :status; names are lowercase, with no
 *     connection-specific field (connection, keep-alive,
 *     transfer-encoding, upgrade, proxy-connection);
 *   - a stream that ends has as many DATA bytes as its content-length
 *     (or none: HEAD);
 *   - after EOF and the timeouts, the connection is closed. */
#include <nghttp2/nghttp2.h>

#include "fuzz-pipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *cur;
static size_t cur_len;
static berth_router *router;

static void fail(const char *what, const fbuf *out)
{
    fprintf(stderr, "fuzz-h2: %s\n", what);
    const unsigned char *p[2] = {cur, out ? out->p : NULL};
    size_t n[2] = {cur_len, out ? out->len : 0};
    const char *label[2] = {"input", "output"};
    for (int k = 0; k < 2; k++) {
        if (!p[k])
            continue;
        fprintf(stderr, "%s (%zu bytes): \"", label[k], n[k]);
        for (size_t i = 0; i < n[k] && i < 3000; i++)
            fprintf(stderr, p[k][i] >= 0x20 && p[k][i] < 0x7f && p[k][i] != '\\' ? "%c" : "\\x%02x",
                    p[k][i]);
        fprintf(stderr, "\"\n");
    }
    abort();
}

#define MAX_TRACK 64
typedef struct stream_seen {
    int32_t id;
    long long clen;     /* -1: none */
    unsigned long long data;
    int headers, ended;
} stream_seen;

typedef struct check {
    const fbuf *out;
    nghttp2_hd_inflater *inf;
    stream_seen st[MAX_TRACK];
    int nst;
    unsigned char block[65536];
    size_t block_len;
    int32_t block_stream;
    int in_block, end_stream_after_block;
    int goaway;
    int32_t last_id;
} check;

static stream_seen *seen(check *k, int32_t id)
{
    for (int i = 0; i < k->nst; i++)
        if (k->st[i].id == id)
            return &k->st[i];
    if (k->nst == MAX_TRACK)
        return NULL;
    stream_seen *s = &k->st[k->nst++];
    memset(s, 0, sizeof *s);
    s->id = id;
    s->clen = -1;
    return s;
}

static void stream_end(check *k, stream_seen *s)
{
    if (!s)
        return;
    s->ended = 1;
    if (s->clen >= 0 && s->data != 0 && s->data != (unsigned long long)s->clen)
        fail("a stream's DATA bytes differ from its content-length", k->out);
}

/* A complete header block: decoded, its fields checked. */
static void header_block(check *k)
{
    stream_seen *s = seen(k, k->block_stream);
    const uint8_t *in = k->block;
    size_t left = k->block_len;
    int first = 1;
    for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t r = nghttp2_hd_inflate_hd2(k->inf, &nv, &flags, in, left, 1);
        if (r < 0)
            fail("a header block does not decode", k->out);
        in += r;
        left -= (size_t)r;
        if (flags & NGHTTP2_HD_INFLATE_EMIT) {
            if (first) {
                if (nv.namelen != 7 || memcmp(nv.name, ":status", 7) != 0 || nv.valuelen != 3 ||
                    nv.value[0] < '1' || nv.value[0] > '5')
                    fail("a response does not begin with a 3-digit :status", k->out);
            } else if (nv.namelen && nv.name[0] == ':') {
                fail("a pseudo-header after the first field", k->out);
            }
            for (size_t i = 0; i < nv.namelen; i++)
                if (nv.name[i] >= 'A' && nv.name[i] <= 'Z')
                    fail("an uppercase field name", k->out);
            static const char *const banned[] = {"connection", "keep-alive", "transfer-encoding",
                                                 "upgrade", "proxy-connection"};
            for (size_t b = 0; b < sizeof banned / sizeof banned[0]; b++)
                if (nv.namelen == strlen(banned[b]) && memcmp(nv.name, banned[b], nv.namelen) == 0)
                    fail("a connection-specific field in a response", k->out);
            if (s && nv.namelen == 14 && memcmp(nv.name, "content-length", 14) == 0) {
                long long v = 0;
                for (size_t i = 0; i < nv.valuelen; i++)
                    v = v * 10 + (nv.value[i] - '0');
                s->clen = v;
            }
            first = 0;
        }
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(k->inf);
            break;
        }
        if (r == 0 && left == 0)
            fail("a header block ends inside a field", k->out);
    }
    if (first)
        fail("an empty response header block", k->out);
    if (s)
        s->headers++;
    if (k->end_stream_after_block)
        stream_end(k, s);
}

static uint32_t u24(const unsigned char *p) { return (uint32_t)p[0] << 16 | p[1] << 8 | p[2]; }
static uint32_t u31(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]) & 0x7fffffffu;
}

static void check_output(const fbuf *out)
{
    check *k = calloc(1, sizeof *k);
    if (!k || nghttp2_hd_inflate_new(&k->inf) != 0)
        abort();
    k->out = out;
    size_t pos = 0;
    int nframes = 0;
    while (pos < out->len) {
        if (out->len - pos < 9)
            fail("the output ends inside a frame header", out);
        const unsigned char *h = out->p + pos;
        uint32_t len = u24(h);
        uint8_t type = h[3], flags = h[4];
        int32_t sid = (int32_t)u31(h + 5);
        if (out->len - pos - 9 < len)
            fail("the output ends inside a frame", out);
        const unsigned char *pl = h + 9;
        pos += 9 + len;
        if (getenv("FUZZ_H2_SHOW")) /* what the server sent, frame by frame */
            fprintf(stderr, "  frame type %u flags %#x stream %d length %u\n", type, flags, sid,
                    len);
        if (nframes++ == 0 && (type != NGHTTP2_SETTINGS || (flags & NGHTTP2_FLAG_ACK)))
            fail("the first frame is not the server's SETTINGS", out);
        if (k->in_block && type != NGHTTP2_CONTINUATION)
            fail("a frame inside a header block", out);
        switch (type) {
        case NGHTTP2_SETTINGS:
        case NGHTTP2_PING:
        case NGHTTP2_GOAWAY:
            if (sid != 0)
                fail("a connection frame on a stream", out);
            if (type == NGHTTP2_GOAWAY) {
                if (len < 8)
                    fail("a short GOAWAY", out);
                int32_t last = (int32_t)u31(pl);
                if (k->goaway && last > k->last_id)
                    fail("a later GOAWAY raises the last stream id", out);
                k->goaway = 1;
                k->last_id = last;
            }
            break;
        case NGHTTP2_WINDOW_UPDATE:
        case NGHTTP2_PRIORITY:
            break;
        case NGHTTP2_HEADERS:
        case NGHTTP2_DATA:
        case NGHTTP2_RST_STREAM: {
            if (sid == 0 || !(sid & 1))
                fail("a stream frame on stream 0 or a server stream", out);
            if (k->goaway && sid > k->last_id && type != NGHTTP2_RST_STREAM)
                fail("a response on a stream above GOAWAY's last stream id", out);
            size_t off = 0, n = len;
            if ((type == NGHTTP2_HEADERS || type == NGHTTP2_DATA) && (flags & NGHTTP2_FLAG_PADDED)) {
                if (!n || pl[0] >= n)
                    fail("bad padding", out);
                n -= 1u + pl[0];
                off = 1;
            }
            if (type == NGHTTP2_HEADERS && (flags & NGHTTP2_FLAG_PRIORITY)) {
                if (n < 5)
                    fail("short HEADERS priority", out);
                off += 5;
                n -= 5;
            }
            if (type == NGHTTP2_DATA) {
                stream_seen *s = seen(k, sid);
                if (s) {
                    if (!s->headers)
                        fail("DATA before the response's HEADERS", out);
                    if (s->ended)
                        fail("DATA after the stream ended", out);
                    s->data += n;
                    if (flags & NGHTTP2_FLAG_END_STREAM)
                        stream_end(k, s);
                }
            } else if (type == NGHTTP2_HEADERS) {
                if (n > sizeof k->block)
                    fail("a huge header block", out);
                memcpy(k->block, pl + off, n);
                k->block_len = n;
                k->block_stream = sid;
                k->end_stream_after_block = (flags & NGHTTP2_FLAG_END_STREAM) != 0;
                if (flags & NGHTTP2_FLAG_END_HEADERS)
                    header_block(k);
                else
                    k->in_block = 1;
            } else if (len != 4) {
                fail("RST_STREAM of the wrong length", out);
            }
            break;
        }
        case NGHTTP2_CONTINUATION:
            if (!k->in_block || sid != k->block_stream)
                fail("CONTINUATION out of a header block", out);
            if (k->block_len + len > sizeof k->block)
                fail("a huge header block", out);
            memcpy(k->block + k->block_len, pl, len);
            k->block_len += len;
            if (flags & NGHTTP2_FLAG_END_HEADERS) {
                k->in_block = 0;
                header_block(k);
            }
            break;
        default:
            fail("a frame type a server does not send (PUSH_PROMISE, unknown)", out);
        }
    }
    if (out->len && k->in_block)
        fail("the output ends inside a header block", out);
    nghttp2_hd_inflate_del(k->inf);
    free(k);
}

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!router)
        router = fp_router();
    if (size < 1 || size > 65536)
        return 0;
    cur = data;
    cur_len = size;
    int flags = data[0];
    static const size_t reads[4] = {1, 7, 64, 0}, writes[4] = {1, 100, 4096, 0};
    size_t max_read = reads[(flags >> 2) & 3], max_write = writes[(flags >> 4) & 3];
    int h2_only = (flags & 0x40) != 0;
    size_t pre = h2_only ? 0 : sizeof preface - 1;
    size_t len = pre + size - 1;
    unsigned char *in = malloc(len + 1);
    if (!in)
        abort();
    memcpy(in, preface, pre);
    memcpy(in + pre, data + 1, size - 1);

    fp_env e;
    fp_env_init(&e, router, 0);
    berth_conn *c = berth_conn_new(&e.worker, h2_only ? BERTH_CONN_H2 : 0);
    fp_io io = {.pipe = berth_conn_pipe(c)};
    size_t off = 0;
    fp_drive(&io, in, len, &off, max_read, max_write);
    if (flags & 1) {
        fp_eof(&io);
        fp_drive(&io, in, len, &off, max_read, max_write);
    }
    if (flags & 2) {
        for (int i = 0; i < 8 && !fp_closed(&io); i++) {
            fp_timeout(&io, &e);
            fp_drive(&io, in, len, &off, max_read, max_write);
        }
        if (!fp_closed(&io))
            fail("the connection survives its timeouts", &io.out);
    }
    check_output(&io.out);
    io.pipe->ops->free(io.pipe);
    fbuf_free(&io.out);
    fp_env_free(&e);
    free(in);
    return 0;
}
