/* The server's TLS context (tls.h): certificate and key, or a self-signed
 * pair made in memory; the policy (versions, ciphers, groups, ALPN) and
 * its reasons are in docs/TLS.md. Built once, before the workers start,
 * then only read. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "conn.h" /* BERTH_CONN_H1, BERTH_CONN_H2 */
#include "log.h"
#include "tls.h"
#include "tls_seed.h"

/* The server picks, in this order, by what the linked wolfSSL does fast
 * (docs/BENCHMARKS.md, "TLS", has the measurements). Debian's build has no
 * AES-NI: there ChaCha20-Poly1305 costs 2.5x less than AES-GCM per byte,
 * and json over TLS about 1.4x less CPU per request. A build with AES-NI
 * (scripts/build-wolfssl.sh) turns it round: AES-128-GCM is 3.5x cheaper
 * than ChaCha20 in crypto, 1.2x per request. AEADs with a 16-byte tag and
 * ECDHE only: no CBC, no static RSA, no AES-CCM (CCM_8's 8-byte tag is
 * "not recommended" by IANA; OpenSSL and nginx leave CCM out too). */
#define CHACHA_SUITES "TLS13-CHACHA20-POLY1305-SHA256"
#define AES_SUITES "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384"
#define CHACHA_12 "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define AES_12                                                                                \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                             \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
#ifdef WOLFSSL_AESNI
#define DEFAULT_CIPHERS AES_SUITES ":" CHACHA_SUITES ":" AES_12 ":" CHACHA_12
#else
#define DEFAULT_CIPHERS CHACHA_SUITES ":" AES_SUITES ":" CHACHA_12 ":" AES_12
#endif

/* Key exchange groups, in the server's order: what nginx offers with
 * OpenSSL's defaults, X25519 first, and nothing else (no secp256k1, no
 * brainpool, no FFDHE). */
#define GROUPS "X25519:P-256:P-384"

/* The application protocols berth speaks, and the list offered when
 * berth_tls_config.alpn is NULL. HTTP/2 ("h2") when berth is built with
 * nghttp2 (docs/HTTP2.md), first: the server's order decides (alpn_select),
 * so a client that offers both gets h2 whatever its order. */
#ifdef BERTH_HAVE_NGHTTP2
static const char *const alpn_known[] = {"h2", "http/1.1"};
#define ALPN_DEFAULT "h2,http/1.1"
#else
static const char *const alpn_known[] = {"http/1.1"};
#define ALPN_DEFAULT "http/1.1"
#endif

struct berth_tls_ctx {
    WOLFSSL_CTX *ssl_ctx;
    unsigned handshake_timeout_ms;
    int ktls;
    int alpn_lenient;
    char alpn[64];            /* the protocols offered, comma-separated for wolfSSL_UseALPN */
    unsigned char alpn_wire[64]; /* the same in the wire's form (length, name)... */
    size_t alpn_wire_len;
    berth_log *log;           /* the server's, while the context is made */
};

void berth_tls_config_init_sized(berth_tls_config *tls, size_t size)
{
    berth_tls_config d, *t = &d;
    memset(t, 0, sizeof *t);
    t->size = sizeof *t;
    t->port = 8443;
    t->min_version = 12;
    t->handshake_timeout_ms = 10000;
    t->ktls = 1;
    berth_abi_init(tls, size, t, sizeof *t);
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
    berth_logf(t->log, "berth: tls: %s%s%s", what, detail ? ": " : "", detail ? detail : "");
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
        berth_logf(t->log, "berth: tls: no certificate given: serving a self-signed one for "
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

/* The suite a name stands for (OpenSSL's, wolfSSL's or IANA's name). */
static int suite_of(const char *name, unsigned char suite[2])
{
    int flags = 0;
    return wolfSSL_get_cipher_suite_from_name(name, &suite[0], &suite[1], &flags) == 0;
}

/* Sets the ciphers to exactly the names in `list` (':'-separated, in the
 * server's order): empty entries are dropped (wolfSSL reads an empty last
 * entry as "and TLS_AES_128_CCM_8_SHA256 too"), a name wolfSSL does not
 * know is an error, and the result is checked: a WOLFSSL made from the
 * context may offer nothing that is not in the list. 1, or 0 with a
 * message. */
/* The next entry of a list separated by sep at *p: [*a, *b) with the
 * blanks around it trimmed (empty: *a == *b), *p moved past it and its
 * separator. 0 once the list is done. Cipher and ALPN lists share it. */
static int next_entry(const char **p, char sep, const char **a, const char **b)
{
    if (!**p)
        return 0;
    const char *s = *p, *e = strchr(s, sep);
    if (!e)
        e = s + strlen(s);
    *p = *e ? e + 1 : e;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *a = s;
    *b = e;
    return 1;
}

static int set_ciphers(berth_tls_ctx *t, const char *list)
{
    char clean[1024], name[128];
    unsigned char want[64][2];
    size_t len = 0, nwant = 0;
    const char *p = list, *a, *b;
    while (next_entry(&p, ':', &a, &b)) {
        if (a == b)
            continue;
        if ((size_t)(b - a) >= sizeof name || len + (size_t)(b - a) + 2 > sizeof clean ||
            nwant == sizeof want / sizeof want[0])
            return fail(t, "the cipher list is too long", list);
        memcpy(name, a, (size_t)(b - a));
        name[b - a] = 0;
        if (!suite_of(name, want[nwant]))
            return fail(t, "unknown cipher", name);
        nwant++;
        len += (size_t)snprintf(clean + len, sizeof clean - len, "%s%s", len ? ":" : "", name);
    }
    if (!nwant)
        return fail(t, "no cipher in the list", list);
    if (wolfSSL_CTX_set_cipher_list(t->ssl_ctx, clean) != WOLFSSL_SUCCESS)
        return fail(t, "no usable cipher in the list", list);
    WOLFSSL *probe = wolfSSL_new(t->ssl_ctx);
    if (!probe)
        return fail(t, "cannot check the cipher list", NULL);
    const char *extra = NULL;
    WOLF_STACK_OF(WOLFSSL_CIPHER) *sk = wolfSSL_get_ciphers_compat(probe);
    for (int i = 0; sk && i < wolfSSL_sk_SSL_CIPHER_num(sk) && !extra; i++) {
        const char *got = wolfSSL_CIPHER_get_name(wolfSSL_sk_SSL_CIPHER_value(sk, i));
        unsigned char s[2];
        size_t k = 0;
        if (got && suite_of(got, s))
            while (k < nwant && memcmp(want[k], s, 2) != 0)
                k++;
        if (!got || k == nwant)
            extra = got ? got : "(unnamed)";
    }
    if (extra) {
        snprintf(name, sizeof name, "%s", extra); /* the probe owns the name */
        wolfSSL_free(probe);
        return fail(t, "wolfSSL would negotiate a cipher outside the list", name);
    }
    wolfSSL_free(probe);
    return 1;
}

/* The protocols offered (berth_tls_config.alpn): ','-separated names of
 * alpn_known, blanks around them ignored, in the server's order, each
 * once. An unknown name (or "h2" in a build without nghttp2) is an error
 * rather than a protocol silently not offered. 1, or 0 with a message. */
static int alpn_list(berth_tls_ctx *t, const char *list)
{
    size_t len = 0, n_names = 0;
    const char *p = list, *a, *b;
    while (next_entry(&p, ',', &a, &b)) {
        if (a == b)
            continue;
        char name[32];
        if ((size_t)(b - a) >= sizeof name)
            return fail(t, "unknown ALPN protocol (berth speaks " ALPN_DEFAULT ")", list);
        memcpy(name, a, (size_t)(b - a));
        name[b - a] = 0;
        size_t k = 0;
        while (k < sizeof alpn_known / sizeof alpn_known[0] && strcmp(alpn_known[k], name) != 0)
            k++;
        if (k == sizeof alpn_known / sizeof alpn_known[0])
            return fail(t,
                        strcmp(name, "h2") == 0
                            ? "ALPN protocol h2 needs berth built with nghttp2 (-Dhttp2)"
                            : "unknown ALPN protocol (berth speaks " ALPN_DEFAULT ")",
                        name);
        size_t nlen = strlen(name);
        int dup = 0; /* the same name twice: the first says its rank */
        for (size_t i = 0; i < t->alpn_wire_len; i += 1u + t->alpn_wire[i])
            dup |= t->alpn_wire[i] == nlen && memcmp(t->alpn_wire + i + 1, name, nlen) == 0;
        if (dup)
            continue;
        int w = snprintf(t->alpn + len, sizeof t->alpn - len, "%s%s", len ? "," : "", name);
        if (w < 0 || (size_t)w >= sizeof t->alpn - len ||
            t->alpn_wire_len + 1 + nlen > sizeof t->alpn_wire)
            return fail(t, "the ALPN list is too long", list);
        len += (size_t)w;
        t->alpn_wire[t->alpn_wire_len++] = (unsigned char)nlen;
        memcpy(t->alpn_wire + t->alpn_wire_len, name, nlen);
        t->alpn_wire_len += nlen;
        n_names++;
    }
    if (!n_names)
        return fail(t, "no protocol in the ALPN list", list);
    return 1;
}

/* The server's order decides (wolfSSL on its own takes the first of the
 * client's offer that it has): the first protocol of berth's list that
 * the client offers. None: NOACK, and wolfSSL's mismatch rule
 * (wolfSSL_UseALPN's options) answers no_application_protocol, or goes on
 * without ALPN when lenient. Only what the connection's listener serves
 * (its listen options h1, h2: ssl's app data, berth_tls_ctx_new_ssl) is
 * chosen. */
static int alpn_select(WOLFSSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    const berth_tls_ctx *t = arg;
    const unsigned char *serves = wolfSSL_get_app_data(ssl);
    unsigned protos = serves ? *serves : 0;
    for (size_t i = 0; i < t->alpn_wire_len; i += 1 + t->alpn_wire[i]) {
        const unsigned char *ours = t->alpn_wire + i;
        int h2 = ours[0] == 2 && memcmp(ours + 1, "h2", 2) == 0;
        if (protos && !(protos & (h2 ? BERTH_CONN_H2 : BERTH_CONN_H1)))
            continue;
        for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
            if (j + 1u + in[j] > inlen)
                break; /* a malformed offer: no match in it */
            if (in[j] == ours[0] && memcmp(in + j + 1, ours + 1, ours[0]) == 0) {
                *out = ours + 1;
                *outlen = ours[0];
                return 0; /* SSL_TLSEXT_ERR_OK */
            }
        }
    }
    return noack_return; /* SSL_TLSEXT_ERR_NOACK */
}

berth_tls_ctx *berth_tls_ctx_new(const berth_tls_config *cfg, berth_log *log)
{
    pthread_once(&init_once, library_init);
    berth_tls_ctx *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->log = log;
    t->handshake_timeout_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms : 10000;
    t->ktls = cfg->ktls;
    t->alpn_lenient = cfg->alpn_lenient != 0;
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
    if (!load_identity(t, cfg))
        return NULL;
    /* Random generators seed from getrandom (tls_seed.c): set after the
     * key is loaded, so that the key stays a software one. */
    int dev = berth_tls_seed_device();
    if (dev != INVALID_DEVID)
        wolfSSL_CTX_SetDevId(t->ssl_ctx, dev);
    if (!set_ciphers(t, cfg->ciphers ? cfg->ciphers : DEFAULT_CIPHERS))
        return NULL;
    /* The server's order decides (the ciphers' speed differs a lot here). */
    wolfSSL_CTX_set_options(t->ssl_ctx, WOLFSSL_OP_CIPHER_SERVER_PREFERENCE);
    /* TLS 1.3 key shares are ranked in this order; in TLS 1.2 the other
     * groups are refused and the client's order decides among these. */
    if (wolfSSL_CTX_set1_curves_list(t->ssl_ctx, GROUPS) != WOLFSSL_SUCCESS) {
        fail(t, "cannot set the key exchange groups", GROUPS);
        return NULL;
    }
    if (!alpn_list(t, cfg->alpn ? cfg->alpn : ALPN_DEFAULT))
        return NULL;
    wolfSSL_CTX_set_alpn_select_cb(t->ssl_ctx, alpn_select, t);
    return t;
}

/* The ALPN offer of a listener that serves protos (BERTH_CONN_H1 and/or
 * BERTH_CONN_H2; 0: both): t->alpn without what it leaves out, in out
 * (cap bytes). Its length; 0 when nothing is left. */
static size_t alpn_for(const berth_tls_ctx *t, unsigned protos, char *out, size_t cap)
{
    size_t len = 0;
    const char *p = t->alpn, *a, *b;
    while (next_entry(&p, ',', &a, &b)) {
        size_t n = (size_t)(b - a);
        int h2 = n == 2 && memcmp(a, "h2", 2) == 0;
        if (!protos || (protos & (h2 ? BERTH_CONN_H2 : BERTH_CONN_H1))) {
            if (len + (len > 0) + n >= cap)
                break;
            if (len)
                out[len++] = ',';
            memcpy(out + len, a, n);
            len += n;
        }
    }
    out[len] = '\0';
    return len;
}

int berth_tls_ctx_offers(const berth_tls_ctx *t, unsigned protos)
{
    char list[sizeof t->alpn];
    return alpn_for(t, protos, list, sizeof list) > 0;
}

struct WOLFSSL *berth_tls_ctx_new_ssl(berth_tls_ctx *t, unsigned protos)
{
    char alpn[sizeof t->alpn];
    if (alpn_for(t, protos, alpn, sizeof alpn) == 0)
        return NULL; /* berth_server_new refused such a listener */
    WOLFSSL *ssl = wolfSSL_new(t->ssl_ctx); /* its generator seeded through the device */
    if (!ssl)
        return NULL;
    /* Everything else (key exchange, signatures, record ciphers) in
     * software, without asking the device first. */
    wolfSSL_SetDevId(ssl, INVALID_DEVID);
    /* What the listener serves, for alpn_select: a pointer to a constant
     * (the app data slot holds a pointer). */
    static const unsigned char protos_of[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    if (wolfSSL_set_app_data(ssl, (void *)&protos_of[protos & BERTH_CONN_PROTOS]) !=
        WOLFSSL_SUCCESS) {
        wolfSSL_free(ssl);
        return NULL;
    }
    /* No protocol in common: the no_application_protocol alert (RFC 7301
     * 3.2), unless lenient; a client that offers no ALPN goes on. */
    if (wolfSSL_UseALPN(ssl, alpn, (unsigned)strlen(alpn),
                        t->alpn_lenient ? WOLFSSL_ALPN_CONTINUE_ON_MISMATCH
                                        : WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS) {
        wolfSSL_free(ssl);
        return NULL;
    }
    /* Record the name the client asks for (SNI), whatever it is. */
    wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, "localhost", 9);
    wolfSSL_SNI_SetOptions(ssl, WOLFSSL_SNI_HOST_NAME,
                           WOLFSSL_SNI_CONTINUE_ON_MISMATCH | WOLFSSL_SNI_ANSWER_ON_MISMATCH);
    return ssl;
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

unsigned berth_tls_ctx_handshake_timeout(const berth_tls_ctx *t) { return t->handshake_timeout_ms; }
int berth_tls_ctx_ktls(const berth_tls_ctx *t) { return t->ktls; }
