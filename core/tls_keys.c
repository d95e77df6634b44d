/* The traffic keys of a finished TLS 1.3 handshake, taken out of wolfSSL
 * (tls_layer.h): for kernel TLS (the backend's setsockopt) and for
 * berth's own record layer (tls_record.c). Both want the same thing: per
 * direction the key, the 12-byte IV and the next record number. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <string.h>

#include "tls_layer.h"

static void put_be64(unsigned char *out, word64 v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)v;
}

int tls_export_keys(WOLFSSL *ssl, berth_ktls *k)
{
    if (wolfSSL_version(ssl) != TLS1_3_VERSION)
        return 0;
    int bulk = wolfSSL_GetBulkCipher(ssl), ks = wolfSSL_GetKeySize(ssl), cipher;
    if (bulk == wolfssl_aes_gcm && (ks == 16 || ks == 32))
        cipher = ks == 16 ? BERTH_KTLS_AES_128_GCM : BERTH_KTLS_AES_256_GCM;
    else if (bulk == wolfssl_chacha && ks == 32)
        cipher = BERTH_KTLS_CHACHA20_POLY1305;
    else
        return 0; /* a cipher the kernel does not take (AES-CCM) */
    word64 tx_seq, rx_seq;
    const unsigned char *tx_key = wolfSSL_GetServerWriteKey(ssl);
    const unsigned char *tx_iv = wolfSSL_GetServerWriteIV(ssl);
    const unsigned char *rx_key = wolfSSL_GetClientWriteKey(ssl);
    const unsigned char *rx_iv = wolfSSL_GetClientWriteIV(ssl);
    /* The sequence getters answer !seq: only a negative answer fails. */
    if (!tx_key || !tx_iv || !rx_key || !rx_iv || wolfSSL_GetIVSize(ssl) != 12 ||
        wolfSSL_GetSequenceNumber(ssl, &tx_seq) < 0 ||
        wolfSSL_GetPeerSequenceNumber(ssl, &rx_seq) < 0)
        return 0;
    memset(k, 0, sizeof *k);
    k->cipher = cipher;
    memcpy(k->tx.key, tx_key, (size_t)ks);
    memcpy(k->tx.iv, tx_iv, 12);
    put_be64(k->tx.seq, tx_seq);
    memcpy(k->rx.key, rx_key, (size_t)ks);
    memcpy(k->rx.iv, rx_iv, 12);
    put_be64(k->rx.seq, rx_seq);
    return 1;
}
