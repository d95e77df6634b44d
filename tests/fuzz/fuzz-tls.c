/* libFuzzer target: the TLS layer (core/tls.c) and its record handling,
 * over memory buffers, against a wolfSSL client in the same process.
 *
 * The server side is berth's own: berth_tls_ctx_new with a fixed test
 * certificate and key (ECDSA P-256, below), berth_tls_wrap over an engine
 * connection, moved by the in-memory drive loop of fuzz-pipe.h (reads of
 * chosen sizes, partial writes, handoff offers answered "no kernel TLS",
 * timeouts on a fixed clock, drain, abort). The client is a wolfSSL object
 * whose I/O callbacks write to and read from those buffers.
 *
 * Deterministic: wolfSSL's entropy (wc_GenerateSeed, called through the
 * PLT) is replaced below by a counter-based stream restarted for every
 * input, so both sides' keys, randoms and nonces, and so every byte the
 * client sends, repeat; the engine's clock is fixed. What remains of the
 * wall clock is inside the server's session tickets (their key is made
 * once per process, their contents hold the time): the client stores them
 * and never sends them back.
 *
 * Input: byte 0 flags, byte 1 schedule length (low nibble + 1), the
 * schedule, then the plaintext the client sends (HTTP requests). Flags:
 *   1 TLS 1.2 (else 1.3)        2 raw: the rest is ciphertext from no client
 *   4 32 KiB engine buffers     8 close_notify from the client at the end
 *  16 EOF at the end           32 server drain at the end
 *  64 AES-GCM only (else ChaCha20-Poly1305 first)  128 ALPN and SNI offered
 * Schedule bytes (op = b >> 5, arg = b & 31), used in turn:
 *   0 deliver arg+1 bytes of ciphertext to the server, 1 deliver (arg+1)*61,
 *   2 deliver all, 3 server writes at most (arg+1)*17 bytes then the client
 *   reads, 4 the client writes (arg+1)*13 bytes of the plaintext,
 *   5 flip bit arg&7 of the (arg>>3)th undelivered ciphertext byte,
 *   6 advance the clock arg*100 ms (the deadline fires if due),
 *   7 misc: arg&7 = 0 client handshake step, 1 EOF, 2 drain, 3 abort,
 *     4 close_notify, 5 read_idle, 6/7 the client reads.
 * Checks, for any input:
 *   - no crash, leak or undefined behaviour (ASan, UBSan);
 *   - a run without corruption, timeouts, drain or abort: the plaintext the
 *     client decrypts is exactly what an engine fed the same plaintext
 *     directly answers (100 Continue aside), however the records were cut,
 *     whatever the reads and writes; file bodies (pread through the layer)
 *     and 40 KB bodies (several records) included;
 *   - raw mode: a first byte that is an upper-case letter is answered by
 *     the engine (the layer steps aside) with one plaintext 400 (414, 431
 *     for a head over the limits) by the client's EOF at the latest, and a
 *     close; another byte that is not a handshake
 *     record is closed without a byte written;
 *   - every connection ends: at EOF, or after a few timeouts. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/random.h>

#include "fuzz-pipe.h"
#include "../../core/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- deterministic entropy ------------------------------------------------ */

static uint64_t seed_state;

static uint64_t splitmix(void)
{
    uint64_t z = (seed_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Replaces wolfSSL's (/dev/urandom): the DRBG's seed, hence all its output. */
int wc_GenerateSeed(OS_Seed *os, byte *seed, word32 sz)
{
    (void)os;
    for (word32 i = 0; i < sz; i += 8) {
        uint64_t v = splitmix();
        memcpy(seed + i, &v, sz - i < 8 ? sz - i : 8);
    }
    return 0;
}

/* ---- the fixed identity ----------------------------------------------------- */

static const char test_key[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIAy6UIv7vsvUyshcPbyObe51w+p+wJjsQkbvZrqxl8FPoAoGCCqGSM49\n"
    "AwEHoUQDQgAE3XX+O9Vyha2/cApnOvPcqdA1xHI8T8liXRZXmK6hN7NdD3ce+vPj\n"
    "dRC1Jw0fZ9PcsnrRTVq8rbCkTt9AsUZ7Ig==\n"
    "-----END EC PRIVATE KEY-----\n";
static const char test_cert[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBqTCCAU+gAwIBAgIUKtesPlsyn2s/euGBKgRyqefc8qwwCgYIKoZIzj0EAwIw\n"
    "KTESMBAGA1UEAwwJbG9jYWxob3N0MRMwEQYDVQQKDApiZXJ0aCBmdXp6MCAXDTI2\n"
    "MTEyMzIyNTg1MVoYDzIxMjYxMDMwMjI1ODUxWjApMRIwEAYDVQQDDAlsb2NhbGhv\n"
    "c3QxEzARBgNVBAoMCmJlcnRoIGZ1enowWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC\n"
    "AATddf471XKFrb9wCmc689yp0DXEcjxPyWJdFleYrqE3s10Pdx768+N1ELUnDR9n\n"
    "09yyetFNWrytsKRO30CxRnsio1MwUTAdBgNVHQ4EFgQULgjv1Z8I8tDpagO8f5Uo\n"
    "E3K9tgMwHwYDVR0jBBgwFoAULgjv1Z8I8tDpagO8f5UoE3K9tgMwDwYDVR0TAQH/\n"
    "BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBoFAVMSTskuuW8BpBjg+rm/hdvqFM9\n"
    "QPp0CRwXrYG/SAIhAPT+zaNa6db8YXYUxtSSvmJSKdgNKFjy4tYv570y0U58\n"
    "-----END CERTIFICATE-----\n";

/* ---- one connection ----------------------------------------------------------- */

enum {
    FL_TLS12 = 1, FL_RAW = 2, FL_SMALLBUF = 4, FL_NOTIFY = 8, FL_EOF = 16, FL_DRAIN = 32,
    FL_AES = 64, FL_ALPN = 128,
};

typedef struct run {
    fp_env env;
    fp_io io;          /* the server's pipe; io.out is what it wrote */
    WOLFSSL *cl;       /* the client (NULL in raw mode) */
    fbuf c2s;          /* ciphertext the client wrote */
    size_t c2s_off;    /* delivered to the server so far */
    size_t s2c_off;    /* taken by the client so far */
    fbuf plain_in;     /* what the client decrypted */
    size_t sent;       /* plaintext bytes the client has written */
    int hs_done, cl_dead;
    int odd;           /* corruption, timeout, drain, abort: no comparison */
    int eof_sent;
    int notify_sent;   /* the client's close_notify, by schedule */
} run;

static const uint8_t *cur;
static size_t cur_len;
static berth_tls_ctx *server_ctx;
static WOLFSSL_CTX *client_ctx, *client_ctx12;
static berth_router *router;
static int verbose; /* FUZZ_TLS_VERBOSE: what each run did */

static uint64_t fnv(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void dump(const char *label, const unsigned char *p, size_t n)
{
    fprintf(stderr, "%s (%zu bytes): \"", label, n);
    for (size_t i = 0; i < n && i < 4000; i++)
        fprintf(stderr, p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' ? "%c" : "\\x%02x", p[i]);
    fprintf(stderr, "\"\n");
}

static void fail(const char *what, const fbuf *a, const fbuf *b)
{
    fprintf(stderr, "fuzz-tls: invariant violated: %s\n", what);
    dump("input", cur, cur_len);
    if (a)
        dump("client decrypted", a->p, a->len);
    if (b)
        dump("engine alone", b->p, b->len);
    abort();
}

static int cl_recv(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
    (void)ssl;
    run *r = arg;
    size_t avail = r->io.out.len - r->s2c_off;
    if (avail == 0)
        return fp_closed(&r->io) ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
    size_t n = avail < (size_t)sz ? avail : (size_t)sz;
    memcpy(buf, r->io.out.p + r->s2c_off, n);
    r->s2c_off += n;
    return (int)n;
}

static int cl_send(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
    (void)ssl;
    run *r = arg;
    if (r->eof_sent || fp_closed(&r->io))
        return WOLFSSL_CBIO_ERR_CONN_CLOSE;
    fbuf_add(&r->c2s, buf, (size_t)sz);
    return sz;
}

/* Client: finish the handshake if it can, then read what has arrived. */
static void client_step(run *r)
{
    if (!r->cl || r->cl_dead)
        return;
    if (!r->hs_done) {
        int rc = wolfSSL_connect(r->cl);
        if (rc == WOLFSSL_SUCCESS) {
            r->hs_done = 1;
        } else {
            int err = wolfSSL_get_error(r->cl, rc);
            if (err != WOLFSSL_ERROR_WANT_READ && err != WOLFSSL_ERROR_WANT_WRITE) {
                if (verbose)
                    fprintf(stderr, "client handshake failed: %d %s\n", err,
                            wolfSSL_ERR_reason_error_string((unsigned long)err));
                r->cl_dead = 1;
            }
            return;
        }
    }
    char buf[16384];
    for (;;) {
        int n = wolfSSL_read(r->cl, buf, sizeof buf);
        if (n > 0) {
            fbuf_add(&r->plain_in, buf, (size_t)n);
            continue;
        }
        int err = wolfSSL_get_error(r->cl, n);
        if (err != WOLFSSL_ERROR_WANT_READ && err != WOLFSSL_ERROR_WANT_WRITE)
            r->cl_dead = 1; /* close_notify, or the server went away */
        return;
    }
}

static void client_write(run *r, const unsigned char *plain, size_t len, size_t want)
{
    if (!r->cl || r->cl_dead || !r->hs_done || r->sent >= len)
        return;
    if (want > len - r->sent)
        want = len - r->sent;
    int n = wolfSSL_write(r->cl, plain + r->sent, (int)want);
    if (n > 0)
        r->sent += (size_t)n;
    else
        r->cl_dead = 1;
}

/* Server: one drive over the ciphertext delivered so far, reads of at most
 * max_read (the rest stays "in the socket"). */
static void server_drive(run *r, size_t deliver, size_t max_write)
{
    size_t upto = deliver > r->c2s.len - r->c2s_off ? r->c2s.len : r->c2s_off + deliver;
    fp_drive(&r->io, r->c2s.p, upto, &r->c2s_off, 0, max_write);
}

static void run_init(run *r, unsigned flags)
{
    memset(r, 0, sizeof *r);
    seed_state = 0x62657274680a; /* every input starts from the same entropy */
    fp_env_init(&r->env, router, flags & FL_SMALLBUF);
    berth_conn *c = berth_conn_new(&r->env.worker, 0);
    r->io.pipe = berth_tls_wrap(server_ctx, c, &r->env.worker);
    if (!r->io.pipe)
        abort();
    if (flags & FL_RAW)
        return;
    r->cl = wolfSSL_new(flags & FL_TLS12 ? client_ctx12 : client_ctx);
    if (!r->cl)
        abort();
    wolfSSL_SSLSetIORecv(r->cl, cl_recv);
    wolfSSL_SSLSetIOSend(r->cl, cl_send);
    wolfSSL_SetIOReadCtx(r->cl, r);
    wolfSSL_SetIOWriteCtx(r->cl, r);
    wolfSSL_set_cipher_list(r->cl, flags & FL_AES
        ? "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256"
        : "TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:"
          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384");
    if (flags & FL_ALPN) {
        static char alpn[] = "http/1.1";
        wolfSSL_UseALPN(r->cl, alpn, sizeof alpn - 1, WOLFSSL_ALPN_CONTINUE_ON_MISMATCH);
        wolfSSL_UseSNI(r->cl, WOLFSSL_SNI_HOST_NAME, "fuzz.example", 12);
    }
}

static void run_free(run *r)
{
    if (r->cl)
        wolfSSL_free(r->cl);
    r->io.pipe->ops->free(r->io.pipe);
    fp_env_free(&r->env);
    fbuf_free(&r->io.out);
    fbuf_free(&r->c2s);
    fbuf_free(&r->plain_in);
}

static void server_eof(run *r)
{
    if (r->eof_sent)
        return;
    fp_eof(&r->io);
    r->eof_sent = r->io.eof;
}

/* Everything still in flight, both ways, until neither side moves. */
static void settle(run *r, const unsigned char *plain, size_t plen)
{
    for (int guard = 0; guard < 10000; guard++) {
        size_t before = r->c2s_off + r->io.out.len + r->s2c_off + r->sent + r->c2s.len;
        client_step(r);
        if (r->hs_done)
            client_write(r, plain, plen, plen);
        server_drive(r, SIZE_MAX, 0);
        client_step(r);
        size_t after = r->c2s_off + r->io.out.len + r->s2c_off + r->sent + r->c2s.len;
        if (after == before)
            return;
    }
    fail("the connection never settles", NULL, NULL);
}

/* The engine alone, fed the plaintext the client sent. */
static void engine_alone(const unsigned char *plain, size_t len, unsigned flags, int eof, fbuf *out)
{
    fp_env e;
    fp_env_init(&e, router, flags & FL_SMALLBUF);
    berth_conn *c = berth_conn_new(&e.worker, 0);
    /* What the TLS layer reports to the engine (GET /peer shows it). */
    berth_tls_info info = {.version = flags & FL_TLS12 ? "TLSv1.2" : "TLSv1.3"};
    berth_conn_set_tls(c, &info);
    fp_io io = {.pipe = berth_conn_pipe(c)};
    size_t off = 0;
    fp_drive(&io, plain, len, &off, 0, 0);
    if (eof) {
        fp_eof(&io);
        fp_drive(&io, plain, len, &off, 0, 0);
    }
    *out = io.out;
    io.pipe->ops->free(io.pipe);
    fp_env_free(&e);
}

static void strip_continue(fbuf *b)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    size_t k = sizeof cont - 1, o = 0;
    for (size_t i = 0; i < b->len;) {
        if (b->len - i >= k && memcmp(b->p + i, cont, k) == 0) {
            i += k;
            continue;
        }
        b->p[o++] = b->p[i++];
    }
    b->len = o;
}

static void init_once(void)
{
    if (server_ctx)
        return;
    router = fp_router();
    verbose = getenv("FUZZ_TLS_VERBOSE") != NULL;
    berth_tls_config cfg;
    berth_tls_config_init(&cfg);
    cfg.cert_pem = test_cert;
    cfg.key_pem = test_key;
    cfg.ktls = 1; /* the handoff is offered (and answered "unavailable") */
    cfg.handshake_timeout_ms = 5000;
    server_ctx = berth_tls_ctx_new(&cfg, NULL);
    client_ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
    client_ctx12 = wolfSSL_CTX_new(wolfTLSv1_2_client_method());
    if (!server_ctx || !client_ctx || !client_ctx12)
        abort();
    wolfSSL_CTX_set_verify(client_ctx, WOLFSSL_VERIFY_NONE, NULL);
    wolfSSL_CTX_set_verify(client_ctx12, WOLFSSL_VERIFY_NONE, NULL);
    /* One connection of each version first: what wolfSSL makes once per
     * context (the session ticket key) draws on the entropy, and must not
     * do so inside the first input only. */
    static const char warm[] = "\x00\x00\x40GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    unsigned char w[sizeof warm - 1];
    memcpy(w, warm, sizeof w);
    int v = verbose;
    verbose = 0;
    LLVMFuzzerTestOneInput(w, sizeof w);
    w[0] = FL_TLS12;
    LLVMFuzzerTestOneInput(w, sizeof w);
    verbose = v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    if (size < 3 || size > 65536)
        return 0;
    cur = data;
    cur_len = size;
    unsigned flags = data[0];
    size_t nsched = (data[1] & 15u) + 1;
    if (size < 2 + nsched)
        return 0;
    const uint8_t *sched = data + 2;
    const unsigned char *plain = data + 2 + nsched;
    size_t plen = size - 2 - nsched;

    static run r;
    run_init(&r, flags);
    if (flags & FL_RAW) {
        /* Bytes from no client: the first byte decides, then wolfSSL. */
        fbuf_add(&r.c2s, plain, plen);
        size_t step = (sched[0] & 31) + 1;
        while (r.c2s_off < r.c2s.len && !fp_closed(&r.io)) {
            size_t before = r.c2s_off;
            server_drive(&r, step, 0);
            if (r.c2s_off == before)
                break;
        }
        if (plen) {
            unsigned char first = plain[0];
            if (first >= 'A' && first <= 'Z') {
                /* Plain HTTP: the engine answers it (at the latest at the
                 * client's EOF), once, in plaintext, and closes. */
                server_eof(&r);
                server_drive(&r, 0, 0);
                const fbuf *o = &r.io.out;
                static const char *const answers[] = {"HTTP/1.1 400 ", "HTTP/1.1 414 ",
                                                      "HTTP/1.1 431 "};
                int known = 0, heads = 0;
                for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++)
                    known |= o->len >= 13 && memcmp(o->p, answers[i], 13) == 0;
                for (size_t i = 0; i + 9 <= o->len; i++)
                    heads += memcmp(o->p + i, "HTTP/1.1 ", 9) == 0;
                if (!known || heads != 1)
                    fail("plaintext on the TLS port is not refused with one 400 (or 414, 431)",
                         &r.io.out, NULL);
                if (!fp_closed(&r.io) && !r.io.shut)
                    fail("plaintext on the TLS port: the connection stays open", &r.io.out, NULL);
            } else if (first != 0x16) {
                if (r.io.out.len || !fp_closed(&r.io))
                    fail("garbage on the TLS port is not closed unanswered", &r.io.out, NULL);
            }
        }
    } else {
        size_t steps = 4 * plen + 64;
        for (size_t i = 0; i < steps && !fp_closed(&r.io); i++) {
            unsigned b = sched[i % nsched], op = b >> 5, arg = b & 31;
            client_step(&r);
            switch (op) {
            case 0: server_drive(&r, arg + 1, 0); break;
            case 1: server_drive(&r, (arg + 1) * 61, 0); break;
            case 2: server_drive(&r, SIZE_MAX, 0); break;
            case 3:
                fp_write(&r.io, (arg + 1) * 17, 1);
                client_step(&r);
                break;
            case 4: client_write(&r, plain, plen, (arg + 1) * 13); break;
            case 5: {
                size_t at = r.c2s_off + (arg >> 3);
                if (at < r.c2s.len) {
                    r.c2s.p[at] ^= (unsigned char)(1u << (arg & 7));
                    r.odd = 1;
                }
                break;
            }
            case 6:
                r.env.worker.clock.now_ms += arg * 100u;
                if (r.io.pipe->ops->deadline(r.io.pipe) <= r.env.worker.clock.now_ms) {
                    r.odd = 1;
                    fp_timeout(&r.io, &r.env);
                    server_drive(&r, 0, 0);
                }
                break;
            case 7:
                switch (arg & 7) {
                case 1:
                    server_drive(&r, SIZE_MAX, 0);
                    server_eof(&r);
                    server_drive(&r, 0, 0);
                    break;
                case 2:
                    r.odd = 1;
                    r.io.pipe->ops->drain(r.io.pipe);
                    server_drive(&r, 0, 0);
                    break;
                case 3:
                    r.odd = 1;
                    r.io.pipe->ops->abort(r.io.pipe);
                    break;
                case 4:
                    if (r.hs_done && !r.cl_dead && r.sent == plen) {
                        wolfSSL_shutdown(r.cl);
                        r.notify_sent = 1;
                    }
                    break;
                case 5: {
                    size_t cap;
                    if (!fp_closed(&r.io) && r.io.pipe->ops->read_buf(r.io.pipe, &cap))
                        r.io.pipe->ops->read_idle(r.io.pipe);
                    break;
                }
                default:
                    client_step(&r);
                }
                break;
            }
            if (i >= nsched && r.sent == plen && r.hs_done)
                break;
        }
        settle(&r, plain, plen);
        int comparable = !r.odd && r.hs_done && r.sent == plen;
        if (verbose)
            fprintf(stderr, "handshake %d, plaintext sent %zu/%zu, ciphertext %zu/%zu delivered "
                    "(fnv %016llx), %zu/%zu read (fnv %016llx), decrypted %zu; odd %d\n",
                    r.hs_done, r.sent, plen, r.c2s_off, r.c2s.len,
                    (unsigned long long)fnv(r.c2s.p, r.c2s.len), r.s2c_off, r.io.out.len,
                    (unsigned long long)fnv(r.io.out.p, r.io.out.len), r.plain_in.len, r.odd);
        size_t sent = r.sent;
        if (flags & FL_NOTIFY && r.hs_done && !r.cl_dead) {
            wolfSSL_shutdown(r.cl);
            settle(&r, plain, plen);
        }
        if (flags & FL_EOF) {
            server_drive(&r, SIZE_MAX, 0);
            server_eof(&r);
            settle(&r, plain, plen);
        }
        if (comparable) {
            fbuf want;
            /* The engine saw an end (close_notify or a FIN) if the client
             * sent one, by flag or by schedule (found by fuzz-tls: "T"
             * then a FIN is a 400 both ways) */
            int eof = (flags & (FL_NOTIFY | FL_EOF)) || r.eof_sent || r.notify_sent;
            engine_alone(plain, sent, flags, eof, &want);
            strip_continue(&want);
            strip_continue(&r.plain_in);
            if (want.len != r.plain_in.len || (want.len && memcmp(want.p, r.plain_in.p, want.len) != 0))
                fail("the client decrypted other bytes than the engine answers", &r.plain_in, &want);
            fbuf_free(&want);
            /* A TLS 1.3 connection offers its keys at most once (pipe.h,
             * BERTH_HANDOFF_KTLS; not if it closed first), answered
             * BERTH_HANDOFF_DECLINED here: berth's records went on, as the
             * comparison shows. */
            if (r.io.ktls_offers > 1)
                fail("a TLS 1.3 connection offered its keys twice", &r.plain_in, NULL);
            if ((flags & FL_TLS12) && r.io.ktls_offers != 0)
                fail("a TLS 1.2 connection offered keys", &r.plain_in, NULL);
        }
        if (flags & FL_DRAIN) {
            r.io.pipe->ops->drain(r.io.pipe);
            settle(&r, plain, plen);
        }
    }
    /* Every connection ends, at the latest after a few timeouts. */
    for (int i = 0; i < 8 && !fp_closed(&r.io); i++) {
        fp_timeout(&r.io, &r.env);
        server_drive(&r, SIZE_MAX, 0);
        client_step(&r);
    }
    if (!fp_closed(&r.io))
        fail("the connection survives its timeouts", NULL, NULL);
    run_free(&r);
    return 0;
}
