/* libFuzzer target: the PROXY protocol header (core/proxy.c), its parser
 * on its own and its layer of the pipe over the engine.
 *
 * Input: byte 0 flags (bit 0: EOF after the input; bit 1: a timeout at the
 * end; bits 2-3: reads of 1, 7, 64 bytes or as large as offered), byte 1
 * seeds nothing yet (kept for the layout), then the bytes on the wire: a
 * header (v1 text or v2 binary) and what follows it. Checks, for any input:
 *   - the parser answers consistently as bytes arrive: once a prefix is
 *     refused (-1) every longer one is; a header of h bytes is "need more"
 *     (0) at every shorter prefix and h at every longer one; at most 1040
 *     bytes are ever needed; a header it accepts names AF_INET or AF_INET6
 *     addresses (or none: LOCAL, UNKNOWN, UNSPEC), v1 ports being the
 *     decimal text of the header;
 *   - the layer: with a refused header nothing is written and the
 *     connection closes; an incomplete one writes nothing and closes at EOF
 *     or the header timeout; after a valid header, the layer steps out of
 *     the pipe and the engine answers exactly what an engine given the
 *     bytes after the header (and the header's addresses) answers. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "fuzz-pipe.h"
#include "../../core/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *cur;
static size_t cur_len;

static void fail(const char *what, const fbuf *a, const fbuf *b)
{
    fprintf(stderr, "fuzz-proxy: %s\n", what);
    const struct {
        const char *label;
        const unsigned char *p;
        size_t n;
    } dumps[] = {{"input", cur, cur_len},
                 {"output", a ? a->p : NULL, a ? a->len : 0},
                 {"expected", b ? b->p : NULL, b ? b->len : 0}};
    for (int k = 0; k < 3; k++) {
        if (!dumps[k].p)
            continue;
        fprintf(stderr, "%s (%zu bytes): \"", dumps[k].label, dumps[k].n);
        for (size_t i = 0; i < dumps[k].n && i < 3000; i++)
            fprintf(stderr, dumps[k].p[i] >= 0x20 && dumps[k].p[i] < 0x7f && dumps[k].p[i] != '\\'
                                ? "%c" : "\\x%02x", dumps[k].p[i]);
        fprintf(stderr, "\"\n");
    }
    abort();
}

static berth_router *router;

static void check_parser(const char *in, size_t len, long *whole)
{
    struct sockaddr_storage p, l;
    *whole = berth_proxy_parse(in, len, &p, &l);
    if (*whole > (long)len || *whole < -1)
        fail("the parser answers a length beyond its input", NULL, NULL);
    if (*whole == 0 && len >= 1040)
        fail("the parser wants more than 1040 bytes", NULL, NULL);
    if (*whole > 0) {
        if (p.ss_family != l.ss_family ||
            (p.ss_family != AF_UNSPEC && p.ss_family != AF_INET && p.ss_family != AF_INET6))
            fail("accepted header names odd address families", NULL, NULL);
        if (in[0] == 'P' && p.ss_family != AF_UNSPEC) {
            /* v1: the ports are the 4th and 5th fields, as written */
            const char *f = in, *eol = memchr(in, '\r', (size_t)*whole);
            int sp = 0;
            while (f < eol && sp < 4)
                sp += *f++ == ' ';
            unsigned port = 0;
            for (; f < eol && *f != ' '; f++)
                port = port * 10 + (unsigned)(*f - '0');
            unsigned got = ntohs(p.ss_family == AF_INET ? ((struct sockaddr_in *)&p)->sin_port
                                                        : ((struct sockaddr_in6 *)&p)->sin6_port);
            if (port != got)
                fail("v1 source port is not the header's", NULL, NULL);
        }
    }
    /* Prefixes: consistent with the whole. */
    size_t upto = len < 1100 ? len : 1100;
    int refused = 0;
    for (size_t k = 0; k < upto; k++) {
        long r = berth_proxy_parse(in, k, &p, &l);
        if (refused && r != -1)
            fail("a refused prefix is followed by an accepted one", NULL, NULL);
        refused = r == -1;
        if (*whole > 0 && (k < (size_t)*whole ? r != 0 : r != *whole))
            fail("a header's prefixes do not all say 'need more'", NULL, NULL);
        if (*whole == 0 && r != 0)
            fail("a prefix of an incomplete header is refused or accepted", NULL, NULL);
    }
}

/* The engine alone, given the bytes after the header. */
static void plain_engine(const unsigned char *in, size_t len, const struct sockaddr_storage *peer,
                         const struct sockaddr_storage *local, size_t max_read, int eof,
                         fbuf *out)
{
    fp_env e;
    fp_env_init(&e, router, 0);
    berth_conn *c = berth_conn_new(&e.worker, 0);
    if (peer->ss_family != AF_UNSPEC) {
        socklen_t sl = peer->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                  : sizeof(struct sockaddr_in6);
        berth_conn_set_addrs(c, (const struct sockaddr *)peer, sl, (const struct sockaddr *)local, sl);
    }
    fp_io io = {.pipe = berth_conn_pipe(c)};
    size_t off = 0;
    fp_drive(&io, in, len, &off, max_read, 0);
    if (eof) {
        fp_eof(&io);
        fp_drive(&io, in, len, &off, max_read, 0);
    }
    *out = io.out;
    io.pipe->ops->free(io.pipe);
    fp_env_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!router)
        router = fp_router();
    if (size < 2 || size > 8192)
        return 0;
    cur = data;
    cur_len = size;
    int flags = data[0];
    static const size_t reads[4] = {1, 7, 64, 0};
    size_t max_read = reads[(flags >> 2) & 3];
    const unsigned char *in = data + 2;
    size_t len = size - 2;

    long h;
    check_parser((const char *)in, len, &h);

    fp_env e;
    fp_env_init(&e, router, 0);
    berth_conn *c = berth_conn_new(&e.worker, 0);
    berth_proxy_ctx ctx = {NULL};
    fp_io io = {.pipe = berth_proxy_wrap(&ctx, c, &e.worker)};
    if (!io.pipe)
        abort();
    size_t off = 0;
    fp_drive(&io, in, len, &off, max_read, 0);
    if (flags & 1) {
        fp_eof(&io);
        fp_drive(&io, in, len, &off, max_read, 0);
    }
    if (h < 0 || (h == 0 && (flags & 1))) {
        if (io.out.len)
            fail("bytes written for a connection without a valid header", &io.out, NULL);
        if (!fp_closed(&io))
            fail("a connection without a valid header is not closed", NULL, NULL);
    } else if (h == 0) {
        if (io.out.len || fp_closed(&io))
            fail("an incomplete header was answered or closed early", &io.out, NULL);
    } else {
        if (io.handoffs != 1)
            fail("the layer did not step out after its header", NULL, NULL);
        struct sockaddr_storage p, l;
        berth_proxy_parse((const char *)in, len, &p, &l);
        fbuf want;
        plain_engine(in + h, len - (size_t)h, &p, &l, max_read, flags & 1, &want);
        if (io.out.len != want.len || (want.len && memcmp(io.out.p, want.p, want.len) != 0))
            fail("answered otherwise than the engine given the bytes after the header",
                 &io.out, &want);
        fbuf_free(&want);
    }
    if ((flags & 2) && !fp_closed(&io)) {
        /* Timeouts end any connection here (no deferred responses). */
        for (int i = 0; i < 6 && !fp_closed(&io); i++) {
            fp_timeout(&io, &e);
            fp_drive(&io, in, len, &off, max_read, 0);
        }
        if (!fp_closed(&io))
            fail("the connection survives its timeouts", NULL, NULL);
        if (h == 0 && io.out.len)
            fail("a header timeout wrote bytes", &io.out, NULL);
    }
    io.pipe->ops->free(io.pipe);
    fbuf_free(&io.out);
    fp_env_free(&e);
    return 0;
}
