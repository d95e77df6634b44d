/* The TLS layer's connection state, shared by the files that make it up
 * (nothing outside core/tls*.c includes this):
 *
 *   tls.c            the pipe operations and the connection's course
 *   tls_wolfssl_io.c records through wolfSSL: its I/O callbacks on the
 *                    layer's buffers, wolfSSL_read and wolfSSL_write
 *   tls_record_io.c  records through berth (tls_record.c) once a TLS 1.3
 *                    handshake is over and wolfSSL's object is freed
 *   tls_keys.c       the traffic keys taken out of wolfSSL, for kernel TLS
 *                    and for berth's records
 *
 * A connection starts in wolfSSL. After a TLS 1.3 handshake, at a point
 * where nothing is half done (tickets written, every byte read given to
 * wolfSSL up to a record's end), the keys go to the kernel (kTLS) or, where
 * the kernel has no TLS or kTLS is off, to berth's own record layer; either
 * way the WOLFSSL object (about 55 KiB in Debian's build, most of it its
 * session) is freed, and an idle connection keeps a few hundred bytes. */
#ifndef BERTH_TLS_LAYER_H
#define BERTH_TLS_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "http1.h"
#include "ktls.h"
#include "tls.h"
#include "tls_record.h"

struct WOLFSSL;

#define TLS_RECORD_MAX 16384 /* plaintext per record (and per wolfSSL_write) */

/* T_PASS: plain HTTP came instead of a handshake; the layer forwards to
 * the engine until the backend takes it out (tls.c, step_aside). */
enum { T_HANDSHAKE, T_OPEN, T_PASS, T_CLOSED };

typedef struct tls_layer {
    berth_pipe pipe;           /* first: the top of the stack */
    berth_pipe *inner;         /* the engine's pipe */
    berth_conn *engine;
    berth_worker *w;
    berth_tls_ctx *ctx;
    struct WOLFSSL *ssl;       /* NULL once berth's records (rec) took over */
    berth_tls_rec *rec;        /* berth's record layer, after the hand-over */
    int state;
    int peer_eof;              /* the TCP stream ended, or the client's close_notify */
    int aborted;               /* the socket failed: no alert, no more I/O */
    int notify_sent;           /* close_notify is in `out` (or was written) */
    int stalled;               /* decryption waits for more ciphertext */
    int first_seen;            /* the first byte was checked for plaintext */
    int settled;               /* the handshake completed, or the layer stepped aside
                                  (a TLS connection freed before: a failed one) */
    int handoff_tried;         /* the keys left wolfSSL, or never will */
    /* The record framing of what wolfSSL has taken: where a record ends,
     * wolfSSL holds nothing half read, and the kernel (or berth's records)
     * can go on from there. */
    unsigned char rec_hdr[5];
    size_t rec_hdr_have, rec_left;
    uint64_t t_start;
    int drain_pending;         /* the stop came before the first request's
                                * bytes: the engine drains once they are
                                * passed up (or stop_grace_ms after the
                                * handshake) */
    int plain_seen;            /* plaintext was passed to the engine
                                * (tls_plaintext_first) */
    uint64_t t_open;           /* when the handshake ended */
    uint64_t t_drain;          /* when the stop came (drain_pending) */
    /* ciphertext read and not yet taken */
    char *in;
    size_t in_len, in_off;
    /* berth's records: plaintext opened in place in `in`, not yet taken
     * by the engine */
    size_t pend_off, pend_len;
    /* ciphertext to write */
    char *out;
    size_t out_len, out_off;
    /* a write wolfSSL asked to retry: the same bytes, again */
    const char *retry_ptr;
    size_t retry_len;
    int retry_file;            /* the bytes are in `plain` (a file segment) */
    char *plain;               /* file bytes pulled with pread (wolfSSL's path) */
} tls_layer;

static inline size_t tls_block(const tls_layer *t) { return t->w->buf_pool.block_size; }

/* tls.c */
/* Closed at once; the engine learns the client is gone. (Inline: tls.c and
 * both record movers use it, which sit below tls.c.) */
static inline void tls_fatal(tls_layer *t)
{
    t->state = T_CLOSED;
    t->pend_len = 0;
    if (!t->aborted)
        t->inner->abort_reason = BERTH_REASON_TLS; /* not a reset from below */
    t->inner->ops->abort(t->inner); /* a stream learns the client is gone */
}

/* Takes `out` if needed and says how much room it has; 0: out of memory. */
static inline int tls_out_room(tls_layer *t, size_t *room)
{
    if (!t->out) {
        t->out = berth_pool_get(&t->w->buf_pool);
        if (!t->out)
            return 0;
        t->out_len = t->out_off = 0;
    }
    *room = tls_block(t) - t->out_len;
    return 1;
}

/* tls_wolfssl_io.c */
void tls_wolfssl_bind(tls_layer *t);   /* I/O callbacks on the layer's buffers */
void tls_wolfssl_decrypt(tls_layer *t);
void tls_wolfssl_encrypt(tls_layer *t);
void tls_wolfssl_close_notify(tls_layer *t);
int tls_wolfssl_pending(tls_layer *t); /* decrypted bytes held by wolfSSL */

/* tls_record_io.c */
int tls_records_engage(tls_layer *t);  /* wolfSSL hands over; 1 if berth's records took over */
void tls_records_decrypt(tls_layer *t);
void tls_records_encrypt(tls_layer *t);
void tls_records_close_notify(tls_layer *t);
int tls_records_pending(const tls_layer *t); /* plaintext or a whole record held */

/* tls_keys.c: the traffic keys of a finished TLS 1.3 handshake and the
 * next record numbers. 1, or 0 for a cipher neither the kernel nor
 * berth's records take (or keys wolfSSL will not give). */
int tls_export_keys(struct WOLFSSL *ssl, berth_ktls *k);

/* Before plaintext is first passed to the engine (tls_wolfssl_io.c,
 * tls_record_io.c): a stop that came before it (tls.c's tls_drain) reaches
 * the engine now, before its first request is read: that request is
 * answered, the last (Connection: close), its grace counted from now. */
static inline void tls_plaintext_first(tls_layer *t)
{
    t->plain_seen = 1;
    if (t->drain_pending) {
        t->drain_pending = 0;
        berth_h1_touch(t->engine);
        t->inner->ops->drain(t->inner);
    }
}

#endif
