/* TLS 1.3 record protection (RFC 8446, 5.2 and 5.3) with traffic keys
 * taken out of wolfSSL after the handshake: what kernel TLS does in the
 * kernel, done in userspace with wolfCrypt's AEAD functions, so that a
 * connection past its handshake needs no WOLFSSL object (tls_layer.h).
 *
 * Sans-I/O: records are sealed and opened in place in the caller's
 * buffers. The AEADs are AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305,
 * with the 12-byte IV XORed with the record number as nonce and the
 * record header as additional data. */
#ifndef BERTH_TLS_RECORD_H
#define BERTH_TLS_RECORD_H

#include <stddef.h>
#include <string.h>
#include <strings.h> /* FreeBSD's explicit_bzero */

#include "ktls.h" /* the keys it starts from */

enum {
    BERTH_REC_HEADER = 5,
    BERTH_REC_TAG = 16,
    BERTH_REC_OVERHEAD = BERTH_REC_HEADER + 1 + BERTH_REC_TAG, /* header, inner type, tag */
    BERTH_REC_PLAIN_MAX = 16384,
    BERTH_REC_CIPHER_MAX = 16384 + 256, /* the most a peer may send (RFC 8446 5.2) */
};

/* Content types (the inner one, under encryption). */
enum { BERTH_REC_ALERT = 21, BERTH_REC_HANDSHAKE = 22, BERTH_REC_DATA = 23 };

/* berth_tls_rec_open's failures. */
enum {
    BERTH_REC_BAD_FRAME = -1, /* not an application_data record, or too long */
    BERTH_REC_BAD_MAC = -2,   /* authentication failed */
    BERTH_REC_BAD_INNER = -3, /* no content type under the padding, or too long */
};

typedef struct berth_tls_rec berth_tls_rec;

/* Record protection for the keys in *k (k->tx: what we send). NULL on an
 * unknown cipher or without memory. */
berth_tls_rec *berth_tls_rec_new(const berth_ktls *k);
/* Wipes the keys and frees. NULL is fine. */
void berth_tls_rec_free(berth_tls_rec *r);

/* Seals one record in place: rec + BERTH_REC_HEADER holds the n content
 * bytes (n <= BERTH_REC_PLAIN_MAX) and rec has room for
 * n + BERTH_REC_OVERHEAD bytes. Writes the header, the inner type and the
 * tag around them and encrypts. Returns the record's size, or 0 (a crypto
 * failure, or the record numbers are used up). */
size_t berth_tls_rec_seal(berth_tls_rec *r, unsigned char *rec, size_t n, int type);

/* Opens the record at the start of buf (len bytes there), in place.
 * Returns the record's size once it is all there, with *type and
 * *content_len (the content starts at buf + BERTH_REC_HEADER); 0 while it
 * is incomplete; a negative BERTH_REC_BAD_* when it cannot be opened. */
long berth_tls_rec_open(berth_tls_rec *r, unsigned char *buf, size_t len, int *type,
                        size_t *content_len);

/* Zeroes key material with stores the compiler may not drop: explicit_bzero
 * (glibc, FreeBSD), else through a volatile pointer (macOS has none). */
static inline void berth_wipe(void *p, size_t n)
{
#ifdef __APPLE__
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
#else
    explicit_bzero(p, n);
#endif
}

#endif
