/* TLS 1.3 record protection (tls_record.h). */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls_record.h"

typedef struct rec_dir {
    unsigned char key[32];
    unsigned char iv[12];
    uint64_t seq;   /* the next record's number */
    Aes *aes;       /* the key schedule, for AES-GCM (NULL for ChaCha20) */
} rec_dir;

struct berth_tls_rec {
    int cipher;
    rec_dir tx, rx;
    Aes aes[];      /* tx's and rx's, for AES-GCM */
};

berth_tls_rec *berth_tls_rec_new(const berth_ktls *k)
{
    int aes = k->cipher == BERTH_KTLS_AES_128_GCM || k->cipher == BERTH_KTLS_AES_256_GCM;
    if (!aes && k->cipher != BERTH_KTLS_CHACHA20_POLY1305)
        return NULL;
    berth_tls_rec *r = calloc(1, sizeof *r + (aes ? 2 * sizeof(Aes) : 0));
    if (!r)
        return NULL;
    r->cipher = k->cipher;
    const berth_ktls_dir *src[2] = {&k->tx, &k->rx};
    rec_dir *dst[2] = {&r->tx, &r->rx};
    word32 key_len = k->cipher == BERTH_KTLS_AES_128_GCM ? 16 : 32;
    for (int i = 0; i < 2; i++) {
        memcpy(dst[i]->key, src[i]->key, key_len);
        memcpy(dst[i]->iv, src[i]->iv, sizeof dst[i]->iv);
        for (int b = 0; b < 8; b++)
            dst[i]->seq = dst[i]->seq << 8 | src[i]->seq[b];
        if (aes) {
            dst[i]->aes = &r->aes[i];
            if (wc_AesInit(dst[i]->aes, NULL, INVALID_DEVID) != 0 ||
                wc_AesGcmSetKey(dst[i]->aes, dst[i]->key, key_len) != 0) {
                if (i == 1)
                    wc_AesFree(r->tx.aes);
                berth_wipe(r, sizeof *r + 2 * sizeof(Aes));
                free(r);
                return NULL;
            }
        }
    }
    return r;
}

void berth_tls_rec_free(berth_tls_rec *r)
{
    if (!r)
        return;
    int aes = r->tx.aes != NULL;
    if (aes) {
        wc_AesFree(r->tx.aes);
        wc_AesFree(r->rx.aes);
    }
    berth_wipe(r, sizeof *r + (aes ? 2 * sizeof(Aes) : 0));
    free(r);
}

/* The per-record nonce: the IV with the record number XORed into its
 * last 8 bytes (RFC 8446 5.3). */
static void nonce(const rec_dir *d, unsigned char out[12])
{
    memcpy(out, d->iv, 12);
    for (int b = 0; b < 8; b++)
        out[11 - b] ^= (unsigned char)(d->seq >> (8 * b));
}

size_t berth_tls_rec_seal(berth_tls_rec *r, unsigned char *rec, size_t n, int type)
{
    rec_dir *d = &r->tx;
    if (n > BERTH_REC_PLAIN_MAX || d->seq == UINT64_MAX)
        return 0; /* never reached in practice: 2^64 records */
    size_t body = n + 1; /* content and inner type, no padding */
    size_t len = body + BERTH_REC_TAG;
    rec[0] = BERTH_REC_DATA; /* the outer type of every protected record */
    rec[1] = 3;
    rec[2] = 3;
    rec[3] = (unsigned char)(len >> 8);
    rec[4] = (unsigned char)len;
    unsigned char *p = rec + BERTH_REC_HEADER;
    p[n] = (unsigned char)type;
    unsigned char iv[12];
    nonce(d, iv);
    int rc = d->aes ? wc_AesGcmEncrypt(d->aes, p, p, (word32)body, iv, sizeof iv, p + body,
                                       BERTH_REC_TAG, rec, BERTH_REC_HEADER)
                    : wc_ChaCha20Poly1305_Encrypt(d->key, iv, rec, BERTH_REC_HEADER, p,
                                                  (word32)body, p, p + body);
    if (rc != 0)
        return 0;
    d->seq++;
    return BERTH_REC_HEADER + len;
}

long berth_tls_rec_open(berth_tls_rec *r, unsigned char *buf, size_t len, int *type,
                        size_t *content_len)
{
    if (len < BERTH_REC_HEADER)
        return 0;
    /* After the handshake every record is protected and says
     * application_data outside (a change_cipher_spec is no longer
     * allowed either: RFC 8446 5). */
    if (buf[0] != BERTH_REC_DATA)
        return BERTH_REC_BAD_FRAME;
    size_t rlen = (size_t)buf[3] << 8 | buf[4];
    if (rlen > BERTH_REC_CIPHER_MAX || rlen < 1 + BERTH_REC_TAG)
        return BERTH_REC_BAD_FRAME;
    if (len < BERTH_REC_HEADER + rlen)
        return 0;
    rec_dir *d = &r->rx;
    if (d->seq == UINT64_MAX)
        return BERTH_REC_BAD_FRAME;
    unsigned char *p = buf + BERTH_REC_HEADER;
    size_t body = rlen - BERTH_REC_TAG;
    unsigned char iv[12];
    nonce(d, iv);
    int rc = d->aes ? wc_AesGcmDecrypt(d->aes, p, p, (word32)body, iv, sizeof iv, p + body,
                                       BERTH_REC_TAG, buf, BERTH_REC_HEADER)
                    : wc_ChaCha20Poly1305_Decrypt(d->key, iv, buf, BERTH_REC_HEADER, p,
                                                  (word32)body, p + body, p);
    if (rc != 0)
        return BERTH_REC_BAD_MAC;
    d->seq++;
    /* The content type is the last non-zero byte; zeros after it are
     * padding (RFC 8446 5.4). */
    size_t i = body;
    while (i > 0 && p[i - 1] == 0)
        i--;
    if (i == 0 || i - 1 > BERTH_REC_PLAIN_MAX)
        return BERTH_REC_BAD_INNER;
    *type = p[i - 1];
    *content_len = i - 1;
    return (long)(BERTH_REC_HEADER + rlen);
}
