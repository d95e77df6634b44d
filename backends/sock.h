/* Socket operations: the one place where berth reads from, writes to and
 * shuts a connection's socket. A table per kind of socket, so the drive
 * loop knows none of them: plaintext, and kernel TLS, whose reads must
 * tell data from alerts and handshake records (recvmsg with the record
 * type) and whose close says close_notify. */
#ifndef BERTH_SOCK_H
#define BERTH_SOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "../core/pipe.h"

typedef struct berth_sock {
    int fd;
    unsigned dead : 1;     /* kernel TLS lost sync (EBADMSG): no more records */
    unsigned notified : 1; /* close_notify went out */
} berth_sock;

typedef struct berth_sock_ops {
    /* > 0 bytes read, 0 at EOF (or the peer's close_notify), -1 with errno
     * (EAGAIN: nothing now, or a blocking socket's timeout passed; EINTR:
     * a signal). dontwait: do not block even on a blocking socket. */
    ssize_t (*recv)(berth_sock *s, void *buf, size_t cap, int dontwait);
    /* Writes from n buffers: bytes written, or -1 with errno. more: file
     * data follows at once (MSG_MORE: a response head leaves in the same
     * packet as the start of its file, as nginx's tcp_nopush does);
     * dontwait: do not block even on a blocking socket (fast, between its
     * blocking drives). */
    ssize_t (*sendv)(berth_sock *s, const struct iovec *iov, int n, int more, int dontwait);
    /* Writes len bytes of the file from *off and advances it: bytes
     * written, or -1 with errno (EIO when the file ended early). */
    ssize_t (*sendfile)(berth_sock *s, int file, uint64_t *off, size_t len);
    /* Shuts the write side (kernel TLS: after close_notify). */
    void (*shutdown)(berth_sock *s);
    /* The last word before the socket is closed (kernel TLS: close_notify). */
    void (*finish)(berth_sock *s);
} berth_sock_ops;

extern const berth_sock_ops berth_sock_plain;
extern const berth_sock_ops berth_sock_ktls; /* sock_ktls.c */

/* The plaintext sends, which kernel TLS shares (sock_ktls.c). */
ssize_t berth_sock_plain_sendv(berth_sock *s, const struct iovec *iov, int n, int more, int dontwait);
ssize_t berth_sock_plain_sendfile(berth_sock *s, int file, uint64_t *off, size_t len);

/* Blocks SIGPIPE in the calling thread's signal mask (not the process's
 * disposition): every thread that drives connections calls it first, since
 * sendfile cannot say MSG_NOSIGNAL (sock.c). Handlers run on these threads
 * and see the mask: their own writes to a closed pipe or socket fail with
 * EPIPE instead of raising the signal. */
void berth_sock_thread_init(void);

struct berth_ktls; /* core/ktls.h */

/* What berth_sock_ktls_start did. */
enum berth_ktls_start {
    BERTH_KTLS_OK,          /* the kernel has both directions' records */
    BERTH_KTLS_UNAVAILABLE, /* the kernel has no tls module (or refuses the
                               cipher before anything changed): the socket
                               is as it was */
    BERTH_KTLS_FAILED,      /* the socket is half converted and must be closed */
};
/* Hands TX and RX record protection to the kernel (TCP_ULP "tls"). */
enum berth_ktls_start berth_sock_ktls_start(berth_sock *s, const struct berth_ktls *k);

#endif
