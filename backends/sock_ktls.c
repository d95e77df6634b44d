/* Kernel TLS (Linux's TCP_ULP "tls"): the socket operations once the
 * kernel holds the record keys. Built on Linux only; elsewhere
 * sock_ktls_none.c reports kTLS unavailable (docs/PLATFORMS.md). */
#include "sock.h"

#include "platform.h"
#include "../core/ktls.h"

#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

enum { REC_ALERT = 21, REC_HANDSHAKE = 22, REC_DATA = 23 };

/* A read that tells application data from the records the kernel passes
 * up as they are: an alert (close_notify ends the stream), a handshake
 * message (a KeyUpdate, which a 6.1 kernel cannot follow: the next record
 * would fail with EBADMSG, so the stream ends here, cleanly). */
static ssize_t ktls_recv(berth_sock *s, void *buf, size_t cap, int dontwait)
{
    if (s->dead)
        return 0;
    char ctrl[CMSG_SPACE(sizeof(unsigned char))];
    struct iovec iov = {buf, cap};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl;
    msg.msg_controllen = sizeof ctrl;
    ssize_t n = recvmsg(s->fd, &msg, dontwait ? MSG_DONTWAIT : 0);
    if (n < 0) {
        if (errno == EBADMSG || errno == EIO) {
            s->dead = 1; /* out of sync: no alert can follow either */
            errno = ECONNRESET;
        }
        return -1;
    }
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (n == 0 || !c || c->cmsg_level != SOL_TLS || c->cmsg_type != TLS_GET_RECORD_TYPE)
        return n; /* EOF, or data (no record type: application data) */
    unsigned char type = *CMSG_DATA(c);
    if (type == REC_DATA)
        return n;
    if (type == REC_ALERT && n >= 2 && ((unsigned char *)buf)[1] == 0)
        return 0; /* close_notify */
    /* Another alert, or a handshake record: the stream ends here. A
     * fatal alert leaves nothing to say; a KeyUpdate still lets us send
     * close_notify with our unchanged keys. */
    if (type == REC_ALERT)
        s->notified = 1;
    return 0;
}

/* Sends one record of the given type through the kernel. */
static ssize_t ktls_send_record(berth_sock *s, unsigned char type, const void *data, size_t len)
{
    char ctrl[CMSG_SPACE(sizeof type)];
    struct iovec iov = {(void *)data, len};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl;
    msg.msg_controllen = sizeof ctrl;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_TLS;
    c->cmsg_type = TLS_SET_RECORD_TYPE;
    c->cmsg_len = CMSG_LEN(sizeof type);
    *CMSG_DATA(c) = type;
    return sendmsg(s->fd, &msg, BERTH_MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void ktls_close_notify(berth_sock *s)
{
    if (s->dead || s->notified)
        return;
    static const unsigned char close_notify[2] = {1, 0}; /* warning, close_notify */
    s->notified = 1;
    ssize_t n = ktls_send_record(s, REC_ALERT, close_notify, sizeof close_notify);
    (void)n; /* a peer that is gone needs no goodbye */
}

static void ktls_shutdown(berth_sock *s)
{
    ktls_close_notify(s);
    shutdown(s->fd, SHUT_WR);
}

const berth_sock_ops berth_sock_ktls = {ktls_recv, berth_sock_plain_sendv, berth_sock_plain_sendfile,
                                        ktls_shutdown, ktls_close_notify};

/* The kernel's crypto_info for one direction of a TLS 1.3 connection. */
static int ktls_set(int fd, int dir, const berth_ktls *k, const berth_ktls_dir *d)
{
    union {
        struct tls12_crypto_info_aes_gcm_128 g128;
        struct tls12_crypto_info_aes_gcm_256 g256;
        struct tls12_crypto_info_chacha20_poly1305 cc;
    } u;
    memset(&u, 0, sizeof u);
    socklen_t len;
    switch (k->cipher) {
    case BERTH_KTLS_AES_128_GCM:
        u.g128.info.version = TLS_1_3_VERSION;
        u.g128.info.cipher_type = TLS_CIPHER_AES_GCM_128;
        memcpy(u.g128.salt, d->iv, 4); /* TLS 1.3: the 12-byte IV is salt + iv */
        memcpy(u.g128.iv, d->iv + 4, 8);
        memcpy(u.g128.key, d->key, 16);
        memcpy(u.g128.rec_seq, d->seq, 8);
        len = sizeof u.g128;
        break;
    case BERTH_KTLS_AES_256_GCM:
        u.g256.info.version = TLS_1_3_VERSION;
        u.g256.info.cipher_type = TLS_CIPHER_AES_GCM_256;
        memcpy(u.g256.salt, d->iv, 4);
        memcpy(u.g256.iv, d->iv + 4, 8);
        memcpy(u.g256.key, d->key, 32);
        memcpy(u.g256.rec_seq, d->seq, 8);
        len = sizeof u.g256;
        break;
    default: /* BERTH_KTLS_CHACHA20_POLY1305 */
        u.cc.info.version = TLS_1_3_VERSION;
        u.cc.info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
        memcpy(u.cc.iv, d->iv, 12); /* no salt: the whole IV */
        memcpy(u.cc.key, d->key, 32);
        memcpy(u.cc.rec_seq, d->seq, 8);
        len = sizeof u.cc;
        break;
    }
    int rc = setsockopt(fd, SOL_TLS, dir, &u, len);
    memset(&u, 0, sizeof u); /* keys do not linger on the stack */
    return rc;
}

enum berth_ktls_start berth_sock_ktls_start(berth_sock *s, const berth_ktls *k)
{
    if (setsockopt(s->fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof "tls") != 0)
        return BERTH_KTLS_UNAVAILABLE; /* no tls module (ENOENT), or not TCP */
    if (ktls_set(s->fd, TLS_TX, k, &k->tx) != 0 || ktls_set(s->fd, TLS_RX, k, &k->rx) != 0)
        return BERTH_KTLS_FAILED;
    return BERTH_KTLS_OK;
}
