/* berth's TLS 1.3 record layer (core/tls_record.c) against wolfSSL's own:
 * a wolfSSL client and a server made by berth's context finish a
 * handshake in memory; the server's traffic keys are exported as for the
 * hand-over (tls_keys.c), and records then go between berth's layer and
 * the wolfSSL client, both ways, for each of the three AEADs. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "../../core/tls.h"
#include "../../core/tls_layer.h"
#include "../../core/tls_record.h"
#include "test.h"

typedef struct pipe_buf {
    unsigned char data[65536];
    size_t len, off;
} pipe_buf;

static pipe_buf c2s, s2c; /* client to server, server to client */

static int buf_recv(pipe_buf *b, char *out, int sz)
{
    size_t avail = b->len - b->off;
    if (!avail)
        return WOLFSSL_CBIO_ERR_WANT_READ;
    size_t n = avail < (size_t)sz ? avail : (size_t)sz;
    memcpy(out, b->data + b->off, n);
    b->off += n;
    if (b->off == b->len)
        b->off = b->len = 0;
    return (int)n;
}

static int buf_send(pipe_buf *b, const char *in, int sz)
{
    if (b->len + (size_t)sz > sizeof b->data)
        return WOLFSSL_CBIO_ERR_WANT_WRITE;
    memcpy(b->data + b->len, in, (size_t)sz);
    b->len += (size_t)sz;
    return sz;
}

static int c_recv(WOLFSSL *s, char *b, int sz, void *a) { (void)s, (void)a; return buf_recv(&s2c, b, sz); }
static int c_send(WOLFSSL *s, char *b, int sz, void *a) { (void)s, (void)a; return buf_send(&c2s, b, sz); }
static int s_recv(WOLFSSL *s, char *b, int sz, void *a) { (void)s, (void)a; return buf_recv(&c2s, b, sz); }
static int s_send(WOLFSSL *s, char *b, int sz, void *a) { (void)s, (void)a; return buf_send(&s2c, b, sz); }

typedef struct pair {
    berth_tls_ctx *sctx;
    WOLFSSL_CTX *cctx;
    WOLFSSL *client, *server;
    berth_tls_rec *rec; /* the server's side, after the hand-over */
} pair;

static void pair_free(pair *p)
{
    berth_tls_rec_free(p->rec);
    if (p->server)
        wolfSSL_free(p->server);
    if (p->client)
        wolfSSL_free(p->client);
    if (p->cctx)
        wolfSSL_CTX_free(p->cctx);
    berth_tls_ctx_free(p->sctx);
}

/* A finished TLS 1.3 handshake with `suite`; 1 on success. */
static int pair_new(pair *p, const char *suite)
{
    memset(p, 0, sizeof *p);
    c2s.len = c2s.off = s2c.len = s2c.off = 0;
    berth_tls_config cfg;
    berth_tls_config_init(&cfg); /* no certificate: a self-signed one */
    if (!(p->sctx = berth_tls_ctx_new(&cfg, NULL)) || !(p->server = berth_tls_ctx_new_ssl(p->sctx, 0)))
        return 0;
    p->cctx = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
    if (!p->cctx || wolfSSL_CTX_set_cipher_list(p->cctx, suite) != WOLFSSL_SUCCESS)
        return 0;
    wolfSSL_CTX_set_verify(p->cctx, WOLFSSL_VERIFY_NONE, NULL);
    if (!(p->client = wolfSSL_new(p->cctx)))
        return 0;
    wolfSSL_SSLSetIORecv(p->client, c_recv);
    wolfSSL_SSLSetIOSend(p->client, c_send);
    wolfSSL_SSLSetIORecv(p->server, s_recv);
    wolfSSL_SSLSetIOSend(p->server, s_send);
    int cdone = 0, sdone = 0;
    for (int round = 0; round < 20 && !(cdone && sdone); round++) {
        if (!cdone) {
            int rc = wolfSSL_connect(p->client);
            if (rc == WOLFSSL_SUCCESS)
                cdone = 1;
            else if (wolfSSL_get_error(p->client, rc) != WOLFSSL_ERROR_WANT_READ)
                return 0;
        }
        if (!sdone) {
            int rc = wolfSSL_accept(p->server);
            if (rc == WOLFSSL_SUCCESS)
                sdone = 1;
            else if (wolfSSL_get_error(p->server, rc) != WOLFSSL_ERROR_WANT_READ)
                return 0;
        }
    }
    if (!cdone || !sdone)
        return 0;
    /* The client takes the session ticket now, so what follows is records
     * of data only. */
    char tmp[16];
    if (wolfSSL_read(p->client, tmp, sizeof tmp) > 0 || s2c.len != 0)
        return 0;
    berth_ktls k;
    if (!tls_export_keys(p->server, &k))
        return 0;
    p->rec = berth_tls_rec_new(&k);
    return p->rec != NULL;
}

static const char *const suites[] = {"TLS13-CHACHA20-POLY1305-SHA256", "TLS13-AES128-GCM-SHA256",
                                     "TLS13-AES256-GCM-SHA384"};

TEST(tls_record_opens_what_wolfssl_seals_and_back)
{
    for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++) {
        pair p;
        int ok = pair_new(&p, suites[s]);
        if (!ok)
            fprintf(stderr, "  handshake with %s failed\n", suites[s]);
        CHECK(ok);
        for (int i = 0; i < 3; i++) {
            /* client -> berth: a record of wolfSSL's, opened by berth */
            char msg[3000];
            for (size_t j = 0; j < sizeof msg; j++)
                msg[j] = (char)(j * 7 + i + s);
            int len = 100 + i * 1000;
            CHECK_INT(wolfSSL_write(p.client, msg, len), len);
            int type = 0;
            size_t clen = 0;
            long r = berth_tls_rec_open(p.rec, c2s.data, c2s.len - 1, &type, &clen);
            CHECK_INT(r, 0); /* one byte short: incomplete */
            r = berth_tls_rec_open(p.rec, c2s.data, c2s.len, &type, &clen);
            CHECK_INT(r, (long)c2s.len);
            CHECK_INT(type, BERTH_REC_DATA);
            CHECK_INT(clen, len);
            CHECK(memcmp(c2s.data + BERTH_REC_HEADER, msg, (size_t)len) == 0);
            c2s.len = 0;
            /* berth -> client: sealed by berth, read by wolfSSL */
            unsigned char rec[4000];
            memcpy(rec + BERTH_REC_HEADER, msg, (size_t)len);
            size_t size = berth_tls_rec_seal(p.rec, rec, (size_t)len, BERTH_REC_DATA);
            CHECK_INT(size, len + BERTH_REC_OVERHEAD);
            memcpy(s2c.data, rec, size);
            s2c.len = size;
            char got[4000];
            CHECK_INT(wolfSSL_read(p.client, got, sizeof got), len);
            CHECK(memcmp(got, msg, (size_t)len) == 0);
        }
        /* berth's close_notify ends the client's reading cleanly */
        unsigned char rec[64] = {0};
        rec[BERTH_REC_HEADER] = 1;
        rec[BERTH_REC_HEADER + 1] = 0;
        size_t size = berth_tls_rec_seal(p.rec, rec, 2, BERTH_REC_ALERT);
        memcpy(s2c.data, rec, size);
        s2c.len = size;
        char got[16];
        CHECK_INT(wolfSSL_read(p.client, got, sizeof got), 0);
        CHECK_INT(wolfSSL_get_error(p.client, 0), WOLFSSL_ERROR_ZERO_RETURN);
        /* and the client's reaches berth as an alert record */
        wolfSSL_shutdown(p.client);
        int type = 0;
        size_t clen = 0;
        long r = berth_tls_rec_open(p.rec, c2s.data, c2s.len, &type, &clen);
        CHECK(r > 0);
        CHECK_INT(type, BERTH_REC_ALERT);
        CHECK_INT(clen, 2);
        CHECK_INT(c2s.data[BERTH_REC_HEADER + 1], 0);
        pair_free(&p);
    }
}

TEST(tls_record_refuses_what_does_not_open)
{
    pair p;
    CHECK(pair_new(&p, suites[0]));
    CHECK_INT(wolfSSL_write(p.client, "GET / HTTP/1.1\r\n\r\n", 18), 18);
    unsigned char copy[256];
    size_t n = c2s.len;
    memcpy(copy, c2s.data, n);
    int type = 0;
    size_t clen = 0;
    /* a flipped bit in the ciphertext */
    c2s.data[BERTH_REC_HEADER + 3] ^= 0x10;
    CHECK_INT(berth_tls_rec_open(p.rec, c2s.data, n, &type, &clen), BERTH_REC_BAD_MAC);
    pair_free(&p);
    /* the header (the additional data) changed: the length seen by the
     * tag is the real one, so only the type can differ while framing holds */
    CHECK(pair_new(&p, suites[0]));
    CHECK_INT(wolfSSL_write(p.client, "GET / HTTP/1.1\r\n\r\n", 18), 18);
    memcpy(copy, c2s.data, c2s.len);
    n = c2s.len;
    copy[2] = 1; /* legacy version 3.1: authenticated, so refused */
    CHECK_INT(berth_tls_rec_open(p.rec, copy, n, &type, &clen), BERTH_REC_BAD_MAC);
    /* a record that is not application_data outside */
    copy[0] = 21;
    CHECK_INT(berth_tls_rec_open(p.rec, copy, n, &type, &clen), BERTH_REC_BAD_FRAME);
    copy[0] = 20; /* change_cipher_spec: no longer allowed */
    CHECK_INT(berth_tls_rec_open(p.rec, copy, n, &type, &clen), BERTH_REC_BAD_FRAME);
    /* longer than a peer may send, decided from the header alone */
    unsigned char big[5] = {23, 3, 3, (BERTH_REC_CIPHER_MAX + 1) >> 8,
                            (BERTH_REC_CIPHER_MAX + 1) & 0xff};
    CHECK_INT(berth_tls_rec_open(p.rec, big, sizeof big, &type, &clen), BERTH_REC_BAD_FRAME);
    unsigned char tiny[5 + 16] = {23, 3, 3, 0, 16};
    CHECK_INT(berth_tls_rec_open(p.rec, tiny, sizeof tiny, &type, &clen), BERTH_REC_BAD_FRAME);
    /* a replayed record: its number is past */
    memcpy(copy, c2s.data, n);
    CHECK_INT(berth_tls_rec_open(p.rec, c2s.data, n, &type, &clen), (long)n);
    CHECK_INT(berth_tls_rec_open(p.rec, copy, n, &type, &clen), BERTH_REC_BAD_MAC);
    pair_free(&p);
}

TEST(tls_record_padding_and_inner_type)
{
    /* The client's side sealed by a second berth layer with the keys
     * swapped: its content can end in zeros, which must read as padding. */
    pair p;
    CHECK(pair_new(&p, suites[1]));
    berth_ktls k, swapped;
    CHECK(tls_export_keys(p.server, &k));
    swapped = k;
    swapped.tx = k.rx;
    swapped.rx = k.tx;
    berth_tls_rec *client = berth_tls_rec_new(&swapped);
    CHECK(client != NULL);
    unsigned char rec[128];
    /* "abc", inner type data, three zeros of padding: sealed with type 0 */
    memcpy(rec + BERTH_REC_HEADER, "abc\x17\0\0", 6);
    size_t size = berth_tls_rec_seal(client, rec, 6, 0);
    int type = 0;
    size_t clen = 0;
    CHECK_INT(berth_tls_rec_open(p.rec, rec, size, &type, &clen), (long)size);
    CHECK_INT(type, BERTH_REC_DATA);
    CHECK_INT(clen, 3);
    CHECK(memcmp(rec + BERTH_REC_HEADER, "abc", 3) == 0);
    /* all zeros: no content type at all */
    memset(rec + BERTH_REC_HEADER, 0, 8);
    size = berth_tls_rec_seal(client, rec, 8, 0);
    CHECK_INT(berth_tls_rec_open(p.rec, rec, size, &type, &clen), BERTH_REC_BAD_INNER);
    berth_tls_rec_free(client);
    pair_free(&p);
}
