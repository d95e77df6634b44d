/* Records through wolfSSL (tls_layer.h): during the handshake, for TLS
 * 1.2, and for TLS 1.3 until the hand-over point.
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

#include <string.h>
#include <unistd.h>

#include "tls_layer.h"

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
    size_t room;
    if (!tls_out_room(t, &room))
        return WOLFSSL_CBIO_ERR_GENERAL;
    if (room == 0)
        return WOLFSSL_CBIO_ERR_WANT_WRITE;
    size_t n = room < (size_t)sz ? room : (size_t)sz;
    memcpy(t->out + t->out_len, buf, n);
    t->out_len += n;
    return (int)n;
}

void tls_wolfssl_bind(tls_layer *t)
{
    wolfSSL_SSLSetIORecv(t->ssl, io_recv);
    wolfSSL_SSLSetIOSend(t->ssl, io_send);
    wolfSSL_SetIOReadCtx(t->ssl, t);
    wolfSSL_SetIOWriteCtx(t->ssl, t);
}

int tls_wolfssl_pending(tls_layer *t) { return wolfSSL_pending(t->ssl) > 0; }

/* ---- data -------------------------------------------------------------- */

/* Decrypts into the engine's buffers while it wants input. */
void tls_wolfssl_decrypt(tls_layer *t)
{
    berth_pipe *in = t->inner;
    while (t->state == T_OPEN && in->ops->wants_input(in)) {
        size_t cap;
        char *buf = in->ops->read_buf(in, &cap);
        if (!buf)
            return;
        int n = wolfSSL_read(t->ssl, buf, cap > (size_t)INT32_MAX ? INT32_MAX : (int)cap);
        if (n > 0) {
            if (!t->plain_seen)
                tls_plaintext_first(t);
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
            tls_fatal(t);
        }
        return;
    }
}

/* Encrypts the engine's output into `out`, a record per call (records
 * sized to the response: a small response is one record, one write). */
void tls_wolfssl_encrypt(tls_layer *t)
{
    berth_pipe *in = t->inner;
    for (;;) {
        size_t room = t->out ? tls_block(t) - t->out_len : tls_block(t);
        if (room < 2048)
            return; /* out is full enough: write it first */
        size_t most = room - 1024 < TLS_RECORD_MAX ? room - 1024 : TLS_RECORD_MAX;
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
                    tls_fatal(t);
                    return;
                }
                ssize_t r = pread(seg.fd, t->plain, len, (off_t)seg.off);
                if (r <= 0) {
                    tls_fatal(t); /* the file ended early: the body cannot be completed */
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
            tls_fatal(t);
            return;
        }
        t->retry_len = 0;
        in->ops->out_done(in, (size_t)n);
    }
}

void tls_wolfssl_close_notify(tls_layer *t)
{
    t->notify_sent = 1;
    wolfSSL_shutdown(t->ssl); /* queues the alert through io_send */
}
