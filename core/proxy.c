#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "ascii.h"
#include "http1.h"

#define HEADER_MAX 1040 /* v1: 107; v2: 16 + addresses and TLVs we accept */

static const char v2_sig[12] = "\r\n\r\n\0\r\nQUIT\n";

typedef struct proxy_layer {
    berth_pipe pipe;     /* first: the top of the stack */
    berth_pipe *inner;
    berth_conn *engine;
    berth_worker *w;
    char *buf;           /* the header's bytes; NULL once passed */
    size_t len;
    int failed;
    int drain_pending;   /* the stop came before the header: the engine drains after it */
    uint64_t t_start;
    uint64_t t_drain;    /* when the stop came */
} proxy_layer;

/* ---- parsing --------------------------------------------------------------- */

static int set_inet(struct sockaddr_storage *ss, int family, const char *text, size_t tlen,
                    const char *port, size_t plen)
{
    char a[64];
    if (tlen == 0 || tlen >= sizeof a || plen == 0 || plen > 5)
        return -1;
    /* inet_pton reads up to a NUL: "::1\0junk" would pass as "::1" */
    for (size_t i = 0; i < tlen; i++)
        if (!berth_is_hexdig((unsigned char)text[i]) && text[i] != '.' && text[i] != ':')
            return -1;
    memcpy(a, text, tlen);
    a[tlen] = '\0';
    unsigned p = 0;
    for (size_t i = 0; i < plen; i++) {
        if (port[i] < '0' || port[i] > '9' || (i == 0 && port[i] == '0' && plen > 1))
            return -1;
        p = p * 10 + (unsigned)(port[i] - '0');
    }
    if (p > 65535)
        return -1;
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)p);
        return inet_pton(AF_INET, a, &in->sin_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)p);
    return inet_pton(AF_INET6, a, &in6->sin6_addr) == 1 ? 0 : -1;
}

/* "PROXY TCP4 src dst sport dport\r\n", "PROXY TCP6 ...", "PROXY UNKNOWN ...\r\n". */
static long parse_v1(const char *buf, size_t len, struct sockaddr_storage *peer,
                     struct sockaddr_storage *local)
{
    size_t check = len < 6 ? len : 6;
    if (memcmp(buf, "PROXY ", check) != 0)
        return -1;
    const char *eol = memchr(buf, '\n', len < 108 ? len : 108);
    if (!eol)
        return len >= 108 ? -1 : 0;
    if (eol == buf || eol[-1] != '\r')
        return -1;
    long hlen = eol - buf + 1;
    const char *f[6];
    size_t fl[6];
    int n = 0;
    for (const char *p = buf + 6; p < eol - 1 && n < 6;) {
        const char *sp = memchr(p, ' ', (size_t)(eol - 1 - p));
        const char *e = sp ? sp : eol - 1;
        f[n] = p;
        fl[n++] = (size_t)(e - p);
        p = sp ? sp + 1 : eol;
    }
    if (n >= 1 && fl[0] == 7 && memcmp(f[0], "UNKNOWN", 7) == 0)
        return hlen; /* the proxy does not know: the socket's addresses stand */
    if (n != 5 || fl[0] != 4 || memcmp(f[0], "TCP", 3) != 0 || (f[0][3] != '4' && f[0][3] != '6'))
        return -1;
    int fam = f[0][3] == '4' ? AF_INET : AF_INET6;
    if (set_inet(peer, fam, f[1], fl[1], f[3], fl[3]) != 0 ||
        set_inet(local, fam, f[2], fl[2], f[4], fl[4]) != 0)
        return -1;
    return hlen;
}

/* An address from network-order bytes. */
static void put_addr(struct sockaddr_storage *ss, int family, const unsigned char *addr,
                     const unsigned char *port)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, addr, 4);
        memcpy(&in->sin_port, port, 2);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, addr, 16);
        memcpy(&in6->sin6_port, port, 2);
    }
}

static long parse_v2(const unsigned char *b, size_t len, struct sockaddr_storage *peer,
                     struct sockaddr_storage *local)
{
    if (len < 16)
        return 0;
    size_t alen = (size_t)b[14] << 8 | b[15], hlen = 16 + alen;
    int cmd = b[12] & 0x0f, fam = b[13];
    if ((b[12] & 0xf0) != 0x20 || cmd > 1 || hlen > HEADER_MAX)
        return -1;
    if (len < hlen)
        return 0;
    if (cmd == 0)
        return (long)hlen; /* LOCAL: the proxy's own connection (a health check) */
    if (fam == 0x11 && alen >= 12) { /* TCP over IPv4: src, dst, sport, dport */
        put_addr(peer, AF_INET, b + 16, b + 24);
        put_addr(local, AF_INET, b + 20, b + 26);
    } else if (fam == 0x21 && alen >= 36) { /* TCP over IPv6 */
        put_addr(peer, AF_INET6, b + 16, b + 48);
        put_addr(local, AF_INET6, b + 32, b + 50);
    } else if (fam != 0x00 && fam != 0x31 && fam != 0x12 && fam != 0x22 && fam != 0x32) {
        return -1; /* UNSPEC, Unix and UDP name nothing berth reports */
    }
    return (long)hlen;
}

long berth_proxy_parse(const char *buf, size_t len, struct sockaddr_storage *peer,
                       struct sockaddr_storage *local)
{
    peer->ss_family = local->ss_family = AF_UNSPEC;
    if (len == 0)
        return 0;
    if (buf[0] == 'P')
        return parse_v1(buf, len, peer, local);
    size_t check = len < 12 ? len : 12;
    if (memcmp(buf, v2_sig, check) != 0)
        return -1;
    return parse_v2((const unsigned char *)buf, len, peer, local);
}

/* ---- the layer ------------------------------------------------------------- */

static const berth_pipe_ops proxy_ops;

/* Hands n bytes that followed the header to the pipe above. */
static void pass_up(proxy_layer *t, const char *p, size_t n)
{
    while (n && !t->failed) {
        size_t cap;
        char *dst = t->inner->ops->read_buf(t->inner, &cap);
        if (!dst) {
            t->failed = 1; /* cannot happen before a request was read; close */
            return;
        }
        size_t k = n < cap ? n : cap;
        memcpy(dst, p, k);
        t->inner->ops->read_done(t->inner, k);
        p += k;
        n -= k;
    }
}

static int x_wants_input(berth_pipe *p)
{
    proxy_layer *t = (proxy_layer *)p;
    return t->buf ? !t->failed : t->inner->ops->wants_input(t->inner);
}

static char *x_read_buf(berth_pipe *p, size_t *cap)
{
    proxy_layer *t = (proxy_layer *)p;
    if (!t->buf)
        return t->inner->ops->read_buf(t->inner, cap);
    if (t->failed)
        return NULL;
    *cap = HEADER_MAX - t->len;
    return t->buf + t->len;
}

static void x_read_done(berth_pipe *p, size_t n)
{
    proxy_layer *t = (proxy_layer *)p;
    if (!t->buf) {
        t->inner->ops->read_done(t->inner, n);
        return;
    }
    if (n == 0) {
        t->failed = 1; /* gone before its header */
        return;
    }
    t->len += n;
    struct sockaddr_storage peer, local;
    long h = berth_proxy_parse(t->buf, t->len, &peer, &local);
    if (h == 0 && t->len < HEADER_MAX)
        return;
    if (h <= 0) {
        t->failed = 1;
        return;
    }
    socklen_t sl = peer.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (peer.ss_family != AF_UNSPEC)
        berth_conn_set_addrs(t->engine, (struct sockaddr *)&peer, sl, (struct sockaddr *)&local, sl);
    char *buf = t->buf;
    t->buf = NULL; /* from now on: pass through, until the backend takes us out */
    if (t->drain_pending) {
        /* Before the request the header came with: answered, the last
         * (Connection: close), the grace counted from now. */
        berth_h1_touch(t->engine);
        t->inner->ops->drain(t->inner);
    }
    pass_up(t, buf + h, t->len - (size_t)h);
    free(buf);
    t->pipe.handoff_ready = !t->failed;
}

static void x_read_idle(berth_pipe *p)
{
    proxy_layer *t = (proxy_layer *)p;
    if (!t->buf)
        t->inner->ops->read_idle(t->inner);
}

static int x_has_pending(berth_pipe *p)
{
    proxy_layer *t = (proxy_layer *)p;
    return !t->buf && !t->failed && t->inner->ops->has_pending(t->inner);
}

static void x_pump(berth_pipe *p)
{
    proxy_layer *t = (proxy_layer *)p;
    t->inner->ops->pump(t->inner);
}

static int x_out_segs(berth_pipe *p, berth_seg *segs, int max)
{
    proxy_layer *t = (proxy_layer *)p;
    return t->inner->ops->out_segs(t->inner, segs, max);
}

static void x_out_done(berth_pipe *p, size_t n)
{
    proxy_layer *t = (proxy_layer *)p;
    t->inner->ops->out_done(t->inner, n);
}

static int x_state(berth_pipe *p)
{
    proxy_layer *t = (proxy_layer *)p;
    return t->failed ? BERTH_PIPE_CLOSED : t->inner->ops->state(t->inner);
}

/* The header's deadline; once the stop came, stop_grace_ms from it: a
 * connection accepted as the stop came has its header (a load balancer's
 * comes with the request) on its way or in the socket, not yet read. */
static uint64_t header_deadline(const proxy_layer *t)
{
    const berth_engine *e = t->w->engine;
    uint64_t end = t->t_start + e->header_timeout_ms;
    uint64_t grace = t->t_drain + e->stop_grace_ms;
    return t->drain_pending && grace < end ? grace : end;
}

static uint64_t x_deadline(berth_pipe *p)
{
    proxy_layer *t = (proxy_layer *)p;
    if (t->buf)
        return header_deadline(t);
    return t->inner->ops->deadline(t->inner);
}

static void x_on_timeout(berth_pipe *p)
{
    proxy_layer *t = (proxy_layer *)p;
    if (t->buf)
        t->failed = 1; /* no header in time */
    else
        t->inner->ops->on_timeout(t->inner);
}

static void x_drain(berth_pipe *p)
{
    proxy_layer *t = (proxy_layer *)p;
    if (!t->buf) {
        t->inner->ops->drain(t->inner);
        return;
    }
    /* No header yet: it is read (then the engine drains) if it comes
     * within the grace (header_deadline), rather than reset now. */
    t->drain_pending = 1;
    t->t_drain = t->w->clock.now_ms;
}

static void x_abort(berth_pipe *p)
{
    proxy_layer *t = (proxy_layer *)p;
    t->failed = 1;
    t->inner->ops->abort(t->inner);
}

static void x_free(berth_pipe *p)
{
    proxy_layer *t = (proxy_layer *)p;
    t->inner->ops->free(t->inner);
    free(t->buf);
    free(t);
}

/* Once the header is read, the layer steps out of the pipe. */
static enum berth_handoff_offer x_handoff(berth_pipe *p, struct berth_ktls *keys)
{
    (void)keys;
    proxy_layer *t = (proxy_layer *)p;
    t->pipe.handoff_ready = 0;
    return !t->buf && !t->failed ? BERTH_HANDOFF_TRANSPARENT : BERTH_HANDOFF_NONE;
}

static berth_pipe *x_handoff_done(berth_pipe *p, enum berth_handoff_result how)
{
    proxy_layer *t = (proxy_layer *)p;
    if (how != BERTH_HANDOFF_DONE)
        return p;
    berth_pipe *inner = t->inner;
    free(t);
    return inner;
}

/* The layers above or the engine below answer (pipe.h). */
static int x_awaits_app(berth_pipe *p)
{
    proxy_layer *t = (proxy_layer *)p;
    return !t->failed && berth_pipe_awaits_app(t->inner);
}

static const berth_pipe_ops proxy_ops = {
    x_wants_input, x_read_buf, x_read_done, x_read_idle,  x_has_pending, x_pump,
    x_out_segs,    x_out_done, x_state,     x_deadline,   x_on_timeout,  x_drain,
    x_abort,       x_free,     x_handoff,   x_handoff_done,
    .awaits_app = x_awaits_app,
};

berth_pipe *berth_proxy_wrap(void *ctx, berth_conn *engine, berth_worker *w)
{
    const berth_proxy_ctx *pc = ctx;
    proxy_layer *t = calloc(1, sizeof *t);
    if (!t || !(t->buf = malloc(HEADER_MAX))) {
        free(t);
        return NULL;
    }
    t->inner = pc->inner ? pc->inner->wrap(pc->inner->ctx, engine, w) : berth_conn_pipe(engine);
    if (!t->inner) {
        free(t->buf);
        free(t);
        return NULL;
    }
    t->pipe.ops = &proxy_ops;
    t->engine = engine;
    t->w = w;
    t->t_start = w->clock.now_ms;
    return &t->pipe;
}

void berth_proxy_thread_exit(void *ctx)
{
    const berth_proxy_ctx *pc = ctx;
    if (pc->inner && pc->inner->thread_exit)
        pc->inner->thread_exit(pc->inner->ctx);
}
