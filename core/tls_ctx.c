/* The server's TLS context (tls.h): certificate and key, or a self-signed
 * pair made in memory; versions, ciphers. Built once, before the workers
 * start, then only read. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tls.h"

/* The server picks, in this order, by what the linked wolfSSL does fast
 * (docs/BENCHMARKS.md, "TLS", has the measurements). Debian's build has no
 * AES-NI: there ChaCha20-Poly1305 costs 2.5x less than AES-GCM per byte,
 * and json over TLS about 1.4x less CPU per request. A build with AES-NI
 * (scripts/build-wolfssl.sh) turns it round: AES-128-GCM is 3.5x cheaper
 * than ChaCha20 in crypto, 1.2x per request. */
#define CHACHA_SUITES "TLS13-CHACHA20-POLY1305-SHA256:"
#define AES_SUITES "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"
#define CHACHA_12 "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
#define AES_12                                                                                \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                             \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
#ifdef WOLFSSL_AESNI
#define DEFAULT_CIPHERS AES_SUITES CHACHA_SUITES AES_12 CHACHA_12
#else
#define DEFAULT_CIPHERS CHACHA_SUITES AES_SUITES CHACHA_12 AES_12
#endif

struct berth_tls_ctx {
    WOLFSSL_CTX *ssl_ctx;
    unsigned handshake_timeout_ms;
    int ktls;
};

void berth_tls_config_init(berth_tls_config *t)
{
    memset(t, 0, sizeof *t);
    t->port = 8443;
    t->min_version = 12;
    t->handshake_timeout_ms = 10000;
    const char *k = getenv("BERTH_KTLS");
    t->ktls = !(k && strcmp(k, "off") == 0);
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void library_init(void) { wolfSSL_Init(); }

/* A self-signed ECDSA P-256 certificate for localhost and 127.0.0.1. */
static int self_signed(WOLFSSL_CTX *ctx)
{
    WC_RNG rng;
    ecc_key key;
    Cert cert;
    unsigned char der[2048], key_der[256];
    int rc = -1, der_len = 0, key_len = 0;
    if (wc_InitRng(&rng) != 0)
        return -1;
    if (wc_ecc_init(&key) == 0) {
        if (wc_ecc_make_key_ex(&rng, 32, &key, ECC_SECP256R1) == 0 && wc_InitCert(&cert) == 0) {
            strncpy(cert.subject.commonName, "localhost", CTC_NAME_SIZE - 1);
            strncpy(cert.subject.org, "berth self-signed", CTC_NAME_SIZE - 1);
            cert.sigType = CTC_SHA256wECDSA;
            cert.daysValid = 365;
            cert.isCA = 0;
            /* subjectAltName: dNSName localhost, iPAddress 127.0.0.1 */
            static const unsigned char san[] = {0x30, 0x11, 0x82, 0x09, 'l', 'o', 'c', 'a', 'l',
                                                'h',  'o',  's',  't',  0x87, 0x04, 127, 0,   0,
                                                1};
            memcpy(cert.altNames, san, sizeof san);
            cert.altNamesSz = (int)sizeof san;
            der_len = wc_MakeCert_ex(&cert, der, sizeof der, ECC_TYPE, &key, &rng);
            if (der_len > 0)
                der_len = wc_SignCert_ex(cert.bodySz, cert.sigType, der, sizeof der, ECC_TYPE,
                                         &key, &rng);
            key_len = wc_EccKeyToDer(&key, key_der, sizeof key_der);
        }
        wc_ecc_free(&key);
    }
    wc_FreeRng(&rng);
    wc_ecc_fp_free(); /* this thread's ECC cache: it serves no connection */
    if (der_len > 0 && key_len > 0 &&
        wolfSSL_CTX_use_certificate_buffer(ctx, der, der_len, WOLFSSL_FILETYPE_ASN1) ==
            WOLFSSL_SUCCESS &&
        wolfSSL_CTX_use_PrivateKey_buffer(ctx, key_der, key_len, WOLFSSL_FILETYPE_ASN1) ==
            WOLFSSL_SUCCESS)
        rc = 0;
    return rc;
}

static int fail(berth_tls_ctx *t, const char *what, const char *detail)
{
    berth_logf("berth: tls: %s%s%s", what, detail ? ": " : "", detail ? detail : "");
    berth_tls_ctx_free(t);
    return 0;
}

/* Certificate and key from files, PEM text, or made up. 1 or 0. */
static int load_identity(berth_tls_ctx *t, const berth_tls_config *cfg)
{
    WOLFSSL_CTX *ctx = t->ssl_ctx;
    int have_cert = cfg->cert_file || cfg->cert_pem, have_key = cfg->key_file || cfg->key_pem;
    if (!have_cert && !have_key) {
        if (self_signed(ctx) != 0)
            return fail(t, "cannot make a self-signed certificate", NULL);
        berth_logf("berth: tls: no certificate given: serving a self-signed one for "
                   "localhost (clients will not trust it)");
        return 1;
    }
    if (!have_cert)
        return fail(t, "a key without its certificate", cfg->key_file);
    if (!have_key)
        return fail(t, "a certificate without its key", cfg->cert_file);
    int rc = cfg->cert_file
                 ? wolfSSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file)
                 : wolfSSL_CTX_use_certificate_chain_buffer(
                       ctx, (const unsigned char *)cfg->cert_pem, (long)strlen(cfg->cert_pem));
    if (rc != WOLFSSL_SUCCESS)
        return fail(t, "cannot read the certificate (PEM)", cfg->cert_file);
    rc = cfg->key_file ? wolfSSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, WOLFSSL_FILETYPE_PEM)
                       : wolfSSL_CTX_use_PrivateKey_buffer(ctx, (const unsigned char *)cfg->key_pem,
                                                           (long)strlen(cfg->key_pem),
                                                           WOLFSSL_FILETYPE_PEM);
    if (rc != WOLFSSL_SUCCESS)
        return fail(t, "cannot read the private key (PEM)", cfg->key_file);
    if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS)
        return fail(t, "the private key does not match the certificate", cfg->key_file);
    return 1;
}

berth_tls_ctx *berth_tls_ctx_new(const berth_tls_config *cfg)
{
    pthread_once(&init_once, library_init);
    berth_tls_ctx *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->handshake_timeout_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : 10000;
    t->ktls = cfg->ktls;
    t->ssl_ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
    if (!t->ssl_ctx) {
        fail(t, "cannot create a context", NULL);
        return NULL;
    }
    if (cfg->min_version != 12 && cfg->min_version != 13 && cfg->min_version != 0) {
        fail(t, "min_version must be 12 or 13", NULL);
        return NULL;
    }
    if (wolfSSL_CTX_SetMinVersion(t->ssl_ctx, cfg->min_version == 13 ? WOLFSSL_TLSV1_3
                                                                      : WOLFSSL_TLSV1_2) !=
        WOLFSSL_SUCCESS) {
        fail(t, "cannot set the minimum version", NULL);
        return NULL;
    }
    const char *ciphers = cfg->ciphers ? cfg->ciphers : DEFAULT_CIPHERS;
    if (wolfSSL_CTX_set_cipher_list(t->ssl_ctx, ciphers) != WOLFSSL_SUCCESS) {
        fail(t, "no usable cipher in the list", ciphers);
        return NULL;
    }
    /* The server's order decides (the ciphers' speed differs a lot here). */
    wolfSSL_CTX_set_options(t->ssl_ctx, WOLFSSL_OP_CIPHER_SERVER_PREFERENCE);
    if (!load_identity(t, cfg))
        return NULL;
    return t;
}

void berth_tls_ctx_free(berth_tls_ctx *t)
{
    if (!t)
        return;
    if (t->ssl_ctx)
        wolfSSL_CTX_free(t->ssl_ctx);
    free(t);
}

void berth_tls_thread_exit(void *ctx)
{
    (void)ctx;
    wc_ecc_fp_free(); /* thread-local in wolfSSL: freed by the thread itself */
}

struct WOLFSSL_CTX *berth_tls_ctx_ssl(berth_tls_ctx *t) { return t->ssl_ctx; }
unsigned berth_tls_ctx_handshake_timeout(const berth_tls_ctx *t) { return t->handshake_timeout_ms; }
int berth_tls_ctx_ktls(const berth_tls_ctx *t) { return t->ktls; }
