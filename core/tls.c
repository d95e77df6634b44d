/* The TLS layer of the pipe (tls.h): wolfSSL between the backend's
 * ciphertext buffers and the engine's pipe.
 *
 * Input: the backend reads into `in`; wolfSSL's receive callback takes
 * from it; decrypted bytes go into the buffer the engine offers. Output:
 * the engine's segments (memory, or file ranges read with pread) are
 * encrypted into `out`, which the backend writes. wolfSSL's non-blocking
 * contract holds: WANT_READ just waits for more ciphertext; a write that
 * answers WANT_WRITE is retried with the same bytes (the engine keeps its
 * listed output in place until out_done, file bytes stay in `plain`); the
 * error is read on this thread right after the call. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls.h"

#define RECORD_MAX 16384       /* plaintext per record (and per wolfSSL_write) */
#define LINGER_MS 2000         /* a refused plaintext request: drain this long */

enum { T_HANDSHAKE, T_OPEN, T_PLAIN, T_CLOSED };

typedef struct tls_layer {
    berth_pipe pipe;           /* first: the top of the stack */
    berth_pipe *inner;         /* the engine's pipe */
    berth_conn *engine;
    berth_worker *w;
    berth_tls_ctx *ctx;
    WOLFSSL *ssl;
    int state;
    int peer_eof;              /* the TCP stream ended */
    int aborted;               /* the socket failed: no alert, no more I/O */
    int notify_sent;           /* close_notify is in `out` (or was written) */
    int stalled;               /* decryption waits for more ciphertext */
    int first_seen;            /* the first byte was checked for plaintext */
    int handoff_tried;         /* kernel TLS was tried (or cannot be) */
    /* The record framing of what wolfSSL has taken: where a record ends,
     * wolfSSL holds nothing half read, and the kernel could go on. */
    unsigned char rec_hdr[5];
    size_t rec_hdr_have, rec_left;
    uint64_t t_start;
    /* ciphertext read and not yet taken by wolfSSL */
    char *in;
    size_t in_len, in_off;
    /* ciphertext to write */
    char *out;
    size_t out_len, out_off;
    /* a write wolfSSL asked to retry: the same bytes, again */
    const char *retry_ptr;
    size_t retry_len;
    int retry_file;            /* the bytes are in `plain` (a file segment) */
    char *plain;               /* file bytes pulled with pread */
    berth_tls_info info;
    char sni[256];
} tls_layer;

static const berth_pipe_ops tls_ops;

static size_t block(const tls_layer *t) { return t->w->buf_pool.block_size; }

/* ---- wolfSSL's I/O, on the buffers ------------------------------------- */

static void track_records(tls_layer *t, const char *p, size_t n)
{
    while (n) {
        if (t->rec_left) {
            size_t k = n < t->rec_left ? n : t->rec_left;
            t->rec_left -= k;
            p += k;
            n -= k;
            continue;
        }
        size_t k = 5 - t->rec_hdr_have;
        if (k > n)
            k = n;
        memcpy(t->rec_hdr + t->rec_hdr_have, p, k);
        t->rec_hdr_have += k;
        p += k;
        n -= k;
        if (t->rec_hdr_have == 5) {
            t->rec_left = (size_t)t->rec_hdr[3] << 8 | t->rec_hdr[4];
            t->rec_hdr_have = 0;
        }
    }
}

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
    (void)ssl;
    tls_layer *t = arg;
    size_t avail = t->in_len - t->in_off;
    if (avail == 0)
        return t->peer_eof ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
    size_t n = avail < (size_t)sz ? avail : (size_t)sz;
    memcpy(buf, t->in + t->in_off, n);
    track_records(t, t->in + t->in_off, n);
    t->in_off += n;
    return (int)n;
}

static int io_send(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
    (void)ssl;
    tls_layer *t = arg;
    if (!t->out) {
        t->out = berth_pool_get(&t->w->buf_pool);
        if (!t->out)
            return WOLFSSL_CBIO_ERR_GENERAL;
        t->out_len = t->out_off = 0;
    }
    size_t room = block(t) - t->out_len;
    if (room == 0)
        return WOLFSSL_CBIO_ERR_WANT_WRITE;
    size_t n = room < (size_t)sz ? room : (size_t)sz;
    memcpy(t->out + t->out_len, buf, n);
    t->out_len += n;
    return (int)n;
}

/* ---- the connection's course ------------------------------------------- */

static void fatal(tls_layer *t)
{
    t->state = T_CLOSED;
    t->inner->ops->abort(t->inner); /* a stream learns the client is gone */
}

/* What the handshake settled, for berth_req_tls. */
static void note_info(tls_layer *t)
{
    t->info.version = wolfSSL_get_version(t->ssl);
    int suite = wolfSSL_get_current_cipher_suite(t->ssl);
    t->info.cipher = wolfSSL_get_cipher_name_iana_from_suite((unsigned char)(suite >> 8),
                                                             (unsigned char)suite);
    if (!t->info.cipher)
        t->info.cipher = wolfSSL_get_cipher_name(t->ssl);
    char *alpn = NULL;
    unsigned short alen = 0;
    if (wolfSSL_ALPN_GetProtocol(t->ssl, &alpn, &alen) == WOLFSSL_SUCCESS && alpn) {
        t->info.alpn.ptr = alpn; /* owned by the WOLFSSL object, which outlives requests */
        t->info.alpn.len = alen;
    }
    void *sni = NULL;
    unsigned short slen = wolfSSL_SNI_GetRequest(t->ssl, WOLFSSL_SNI_HOST_NAME, &sni);
    if (sni && slen) {
        if (slen >= sizeof t->sni)
            slen = sizeof t->sni - 1;
        memcpy(t->sni, sni, slen);
        t->info.sni.ptr = t->sni;
        t->info.sni.len = slen;
    }
    t->info.resumed = wolfSSL_session_reused(t->ssl) == 1;
    berth_conn_set_tls(t->engine, &t->info);
}

/* A client that speaks plain HTTP to the TLS port gets a plaintext 400,
 * as nginx answers ("The plain HTTP request was sent to HTTPS port"). */
static void refuse_plaintext(tls_layer *t)
{
    static const char body[] = "This port speaks HTTPS.\n";
    char *p = berth_pool_get(&t->w->buf_pool);
    if (!p) {
        fatal(t);
        return;
    }
    int n = snprintf(p, block(t),
                     "HTTP/1.1 400 Bad Request\r\nServer: berth\r\nDate: %s\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     t->w->clock.date, sizeof body - 1, body);
    t->out = p;
    t->out_len = (size_t)n;
    t->out_off = 0;
    t->state = T_PLAIN;
    t->t_start = t->w->clock.now_ms;
    t->in_off = t->in_len; /* the request is dropped unread */
    t->inner->ops->abort(t->inner);
}

static void handshake(tls_layer *t)
{
    if (!t->first_seen && t->in_off < t->in_len) {
        t->first_seen = 1; /* the connection's very first byte */
        unsigned char first = (unsigned char)t->in[t->in_off];
        if (first != 0x16) { /* not a TLS handshake record */
            if (first >= 'A' && first <= 'Z')
                refuse_plaintext(t);
            else
                fatal(t); /* garbage */
            return;
        }
    }
    int rc = wolfSSL_accept(t->ssl);
    if (rc == WOLFSSL_SUCCESS) {
        t->state = T_OPEN;
        note_info(t);
        return;
    }
    int err = wolfSSL_get_error(t->ssl, rc);
    if (err != WOLFSSL_ERROR_WANT_READ && err != WOLFSSL_ERROR_WANT_WRITE)
        fatal(t); /* a failed handshake, or a client gone in the middle */
}

/* Decrypts into the engine's buffers while it wants input. */
static void decrypt(tls_layer *t)
{
    berth_pipe *in = t->inner;
    while (t->state == T_OPEN && in->ops->wants_input(in)) {
        size_t cap;
        char *buf = in->ops->read_buf(in, &cap);
        if (!buf)
            return;
        int n = wolfSSL_read(t->ssl, buf, cap > (size_t)INT32_MAX ? INT32_MAX : (int)cap);
        if (n > 0) {
            in->ops->read_done(in, (size_t)n);
            continue;
        }
        int err = wolfSSL_get_error(t->ssl, n);
        in->ops->read_idle(in);
        if (err == WOLFSSL_ERROR_WANT_READ) {
            t->stalled = 1;
        } else if (err == WOLFSSL_ERROR_ZERO_RETURN) {
            t->peer_eof = 1; /* close_notify: the client's request stream ended */
            in->ops->read_done(in, 0);
        } else if (t->peer_eof && t->in_off == t->in_len) {
            /* The TCP stream ended without close_notify, between records:
             * taken as a FIN, as HTTP servers do (complete requests are
             * still answered). */
            in->ops->read_done(in, 0);
        } else {
            fatal(t);
        }
        return;
    }
}

/* Kernel TLS can take over when TLS 1.3 is up and nothing is half done
 * here: all ciphertext written, all read given to wolfSSL up to a record's
 * end, no plaintext waiting in wolfSSL. */
static int handoff_possible(tls_layer *t)
{
    return t->state == T_OPEN && !t->handoff_tried && !t->aborted && !t->notify_sent &&
           berth_tls_ctx_ktls(t->ctx) && wolfSSL_version(t->ssl) == TLS1_3_VERSION &&
           (!t->out || t->out_off == t->out_len) && !t->retry_len && t->in_off == t->in_len &&
           !t->rec_left && !t->rec_hdr_have && wolfSSL_pending(t->ssl) == 0;
}

static void check_handoff(tls_layer *t) { t->pipe.handoff_ready = handoff_possible(t); }

static void advance(tls_layer *t)
{
    if (t->state == T_HANDSHAKE)
        handshake(t);
    if (t->state == T_OPEN)
        decrypt(t);
    /* Give back an emptied ciphertext buffer while idle. */
    if (t->in && t->in_off == t->in_len) {
        berth_pool_put(&t->w->buf_pool, t->in);
        t->in = NULL;
        t->in_len = t->in_off = 0;
    }
    check_handoff(t);
}

/* Encrypts the engine's output into `out`, a record per call (records
 * sized to the response: a small response is one record, one write). */
static void encrypt(tls_layer *t)
{
    berth_pipe *in = t->inner;
    if (in->ops->state(in) == BERTH_PIPE_CLOSED)
        return; /* cut: what the engine still had is dropped */
    for (;;) {
        size_t room = t->out ? block(t) - t->out_len : block(t);
        if (room < 2048)
            return; /* out is full enough: write it first */
        size_t most = room - 1024 < RECORD_MAX ? room - 1024 : RECORD_MAX;
        const char *p;
        size_t len;
        int from_file = 0;
        if (t->retry_len) {
            p = t->retry_ptr;
            len = t->retry_len;
            from_file = t->retry_file;
        } else {
            berth_seg seg;
            if (in->ops->out_segs(in, &seg, 1) == 0)
                return;
            len = seg.len < most ? seg.len : most;
            if (seg.ptr) {
                p = seg.ptr;
            } else {
                /* A file range: pulled through userspace to be encrypted. */
                if (!t->plain && !(t->plain = berth_pool_get(&t->w->buf_pool))) {
                    fatal(t);
                    return;
                }
                ssize_t r = pread(seg.fd, t->plain, len, (off_t)seg.off);
                if (r <= 0) {
                    fatal(t); /* the file ended early: the body cannot be completed */
                    return;
                }
                p = t->plain;
                len = (size_t)r;
                from_file = 1;
            }
        }
        int n = wolfSSL_write(t->ssl, p, (int)len);
        if (n <= 0) {
            int err = wolfSSL_get_error(t->ssl, n);
            if (err == WOLFSSL_ERROR_WANT_WRITE) {
                t->retry_ptr = p;
                t->retry_len = len;
                t->retry_file = from_file;
                return;
            }
            fatal(t);
            return;
        }
        t->retry_len = 0;
        in->ops->out_done(in, (size_t)n);
    }
}

/* Once the engine is done with the connection (all written, or cut),
 * say so in TLS. */
static void send_close_notify(tls_layer *t)
{
    if (t->notify_sent || t->state != T_OPEN || t->aborted)
        return;
    int st = t->inner->ops->state(t->inner);
    if (st == BERTH_PIPE_OPEN || t->retry_len ||
        (st == BERTH_PIPE_SHUTDOWN && t->inner->ops->out_segs(t->inner, &(berth_seg){0}, 1)))
        return;
    t->notify_sent = 1;
    wolfSSL_shutdown(t->ssl); /* queues the alert through io_send */
}

/* ---- the pipe ---------------------------------------------------------- */

static int tls_wants_input(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    if (t->state == T_CLOSED || t->peer_eof)
        return 0;
    if (t->in && t->in_len == block(t) && t->in_off == 0)
        return 0; /* full: wolfSSL takes some first */
    if (t->state == T_HANDSHAKE || t->state == T_PLAIN)
        return 1;
    if (t->notify_sent)
        return t->inner->ops->wants_input(t->inner); /* the engine lingers: drained */
    return t->inner->ops->wants_input(t->inner);
}

static char *tls_read_buf(berth_pipe *p, size_t *cap)
{
    tls_layer *t = (tls_layer *)p;
    if (!tls_wants_input(p))
        return NULL;
    if (!t->in) {
        if (!(t->in = berth_pool_get(&t->w->buf_pool)))
            return NULL;
        t->in_len = t->in_off = 0;
    } else if (t->in_off) {
        memmove(t->in, t->in + t->in_off, t->in_len - t->in_off);
        t->in_len -= t->in_off;
        t->in_off = 0;
    }
    *cap = block(t) - t->in_len;
    return t->in + t->in_len;
}

static void tls_read_done(berth_pipe *p, size_t n)
{
    tls_layer *t = (tls_layer *)p;
    if (n == 0)
        t->peer_eof = 1;
    t->in_len += n;
    t->stalled = 0;
    if (t->state == T_PLAIN || t->notify_sent) {
        t->in_off = t->in_len; /* closing: input is dropped */
        if (t->notify_sent && n == 0)
            t->inner->ops->read_done(t->inner, 0);
        else if (t->state == T_PLAIN && n == 0 && t->out_off == t->out_len)
            t->state = T_CLOSED;
    }
    advance(t);
}

static void tls_read_idle(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    if (t->in && t->in_off == t->in_len) {
        berth_pool_put(&t->w->buf_pool, t->in);
        t->in = NULL;
        t->in_len = t->in_off = 0;
    }
}

static int tls_has_pending(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    if (t->state != T_OPEN)
        return 0;
    if (t->inner->ops->has_pending(t->inner))
        return 1;
    /* Plaintext or ciphertext held here, that the engine can take now. */
    return !t->stalled && t->inner->ops->wants_input(t->inner) &&
           (wolfSSL_pending(t->ssl) > 0 || t->in_off < t->in_len);
}

static void tls_pump(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    if (t->inner->ops->has_pending(t->inner))
        t->inner->ops->pump(t->inner);
    advance(t);
}

static int tls_out_segs(berth_pipe *p, berth_seg *segs, int max)
{
    tls_layer *t = (tls_layer *)p;
    if (max < 1)
        return 0;
    if (t->state == T_OPEN && !t->aborted) {
        encrypt(t);
        send_close_notify(t);
    }
    if (!t->out || t->out_off == t->out_len)
        return 0;
    segs[0].ptr = t->out + t->out_off;
    segs[0].fd = -1;
    segs[0].off = 0;
    segs[0].len = t->out_len - t->out_off;
    return 1;
}

static void tls_out_done(berth_pipe *p, size_t n)
{
    tls_layer *t = (tls_layer *)p;
    t->out_off += n;
    if (t->out_off == t->out_len) {
        berth_pool_put(&t->w->buf_pool, t->out);
        t->out = NULL;
        t->out_len = t->out_off = 0;
        if (t->state == T_PLAIN && t->peer_eof)
            t->state = T_CLOSED;
        check_handoff(t);
    }
}

static int tls_state(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    int pending_out = t->out && t->out_off < t->out_len;
    if (t->state == T_CLOSED)
        return BERTH_PIPE_CLOSED;
    if (t->state == T_PLAIN)
        return pending_out ? BERTH_PIPE_OPEN : BERTH_PIPE_SHUTDOWN;
    if (t->state == T_HANDSHAKE)
        return BERTH_PIPE_OPEN;
    int st = t->inner->ops->state(t->inner);
    if (!t->notify_sent && !t->aborted && st != BERTH_PIPE_OPEN)
        return BERTH_PIPE_OPEN; /* close_notify still to be queued (out_segs) */
    if (st == BERTH_PIPE_CLOSED)
        return BERTH_PIPE_CLOSED; /* the alert had its one write; nothing waits for it */
    if (st == BERTH_PIPE_OPEN || pending_out)
        return BERTH_PIPE_OPEN;
    return st;
}

static uint64_t tls_deadline(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    if (t->state == T_HANDSHAKE)
        return t->t_start + berth_tls_ctx_handshake_timeout(t->ctx);
    if (t->state == T_PLAIN)
        return t->t_start + LINGER_MS;
    return t->inner->ops->deadline(t->inner);
}

static void tls_on_timeout(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    if (t->state == T_HANDSHAKE || t->state == T_PLAIN)
        fatal(t); /* a stalled handshake, or a plaintext client that lingers */
    else
        t->inner->ops->on_timeout(t->inner);
}

static void tls_drain(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    if (t->state == T_HANDSHAKE)
        fatal(t); /* no request read yet: nothing to finish */
    else
        t->inner->ops->drain(t->inner);
}

static void tls_abort(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    t->aborted = 1;
    fatal(t);
}

static void tls_free(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    berth_pool *pool = &t->w->buf_pool;
    t->inner->ops->free(t->inner);
    wolfSSL_free(t->ssl);
    berth_pool_put(pool, t->in);
    berth_pool_put(pool, t->out);
    berth_pool_put(pool, t->plain);
    free(t);
}

static void put_be64(unsigned char *out, word64 v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)v;
}

static int tls_handoff(berth_pipe *p, berth_ktls *k)
{
    tls_layer *t = (tls_layer *)p;
    t->pipe.handoff_ready = 0;
    if (!handoff_possible(t))
        return 0;
    int bulk = wolfSSL_GetBulkCipher(t->ssl), ks = wolfSSL_GetKeySize(t->ssl);
    if (bulk == wolfssl_aes_gcm && (ks == 16 || ks == 32))
        k->cipher = ks == 16 ? BERTH_KTLS_AES_128_GCM : BERTH_KTLS_AES_256_GCM;
    else if (bulk == wolfssl_chacha && ks == 32)
        k->cipher = BERTH_KTLS_CHACHA20_POLY1305;
    else
        return t->handoff_tried = 1, 0; /* a cipher the kernel does not take */
    word64 tx_seq, rx_seq;
    const unsigned char *tx_key = wolfSSL_GetServerWriteKey(t->ssl);
    const unsigned char *tx_iv = wolfSSL_GetServerWriteIV(t->ssl);
    const unsigned char *rx_key = wolfSSL_GetClientWriteKey(t->ssl);
    const unsigned char *rx_iv = wolfSSL_GetClientWriteIV(t->ssl);
    /* The sequence getters answer !seq: only a negative answer fails. */
    if (!tx_key || !tx_iv || !rx_key || !rx_iv || wolfSSL_GetIVSize(t->ssl) != 12 ||
        wolfSSL_GetSequenceNumber(t->ssl, &tx_seq) < 0 ||
        wolfSSL_GetPeerSequenceNumber(t->ssl, &rx_seq) < 0)
        return t->handoff_tried = 1, 0;
    memcpy(k->tx.key, tx_key, (size_t)ks);
    memcpy(k->tx.iv, tx_iv, 12);
    put_be64(k->tx.seq, tx_seq);
    memcpy(k->rx.key, rx_key, (size_t)ks);
    memcpy(k->rx.iv, rx_iv, 12);
    put_be64(k->rx.seq, rx_seq);
    return 1;
}

static berth_pipe *tls_handoff_done(berth_pipe *p, int ok)
{
    tls_layer *t = (tls_layer *)p;
    t->handoff_tried = 1;
    if (ok < 0) {
        fatal(t); /* half converted: nothing can be said on this socket */
        return p;
    }
    if (!ok)
        return p; /* no kernel TLS: records stay here */
    /* The kernel has the records: this layer steps out. Its WOLFSSL is
     * stale (sequence numbers) and must do no more I/O: freed quietly. */
    berth_pipe *inner = t->inner;
    berth_pool *pool = &t->w->buf_pool;
    wolfSSL_free(t->ssl);
    berth_pool_put(pool, t->in);
    berth_pool_put(pool, t->out);
    berth_pool_put(pool, t->plain);
    free(t);
    return inner;
}

static const berth_pipe_ops tls_ops = {
    tls_wants_input, tls_read_buf,  tls_read_done, tls_read_idle,  tls_has_pending,
    tls_pump,        tls_out_segs,  tls_out_done,  tls_state,      tls_deadline,
    tls_on_timeout,  tls_drain,     tls_abort,     tls_free,       tls_handoff,
    tls_handoff_done,
};

berth_pipe *berth_tls_wrap(void *ctx, berth_conn *engine, berth_worker *w)
{
    tls_layer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->pipe.ops = &tls_ops;
    t->inner = berth_conn_pipe(engine);
    t->engine = engine;
    t->w = w;
    t->ctx = ctx;
    t->state = T_HANDSHAKE;
    t->t_start = w->clock.now_ms;
    t->ssl = wolfSSL_new(berth_tls_ctx_ssl(ctx));
    if (!t->ssl) {
        free(t);
        return NULL;
    }
    wolfSSL_SSLSetIORecv(t->ssl, io_recv);
    wolfSSL_SSLSetIOSend(t->ssl, io_send);
    wolfSSL_SetIOReadCtx(t->ssl, t);
    wolfSSL_SetIOWriteCtx(t->ssl, t);
    static char alpn[] = "http/1.1";
    wolfSSL_UseALPN(t->ssl, alpn, sizeof alpn - 1, WOLFSSL_ALPN_CONTINUE_ON_MISMATCH);
    /* Record the name the client asks for (SNI), whatever it is. */
    wolfSSL_UseSNI(t->ssl, WOLFSSL_SNI_HOST_NAME, "localhost", 9);
    wolfSSL_SNI_SetOptions(t->ssl, WOLFSSL_SNI_HOST_NAME,
                           WOLFSSL_SNI_CONTINUE_ON_MISMATCH | WOLFSSL_SNI_ANSWER_ON_MISMATCH);
    return &t->pipe;
}
