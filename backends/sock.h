/* Socket operations: the one place where berth reads from, writes to and
 * shuts a connection's socket. A table per kind of socket, so the drive
 * loop knows none of them: plaintext here; kernel TLS needs its own recv
 * (recvmsg with the record type) and close (close_notify). */
#ifndef BERTH_SOCK_H
#define BERTH_SOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct berth_sock_ops {
    /* > 0 bytes read, 0 at EOF, -1 with errno (EAGAIN: nothing now, or a
     * blocking socket's timeout passed; EINTR: a signal). dontwait: do not
     * block even on a blocking socket. */
    ssize_t (*recv)(int fd, void *buf, size_t cap, int dontwait);
    /* Writes from n buffers: bytes written, or -1 with errno. */
    ssize_t (*sendv)(int fd, const struct iovec *iov, int n);
    /* Writes len bytes of the file from *off and advances it: bytes
     * written, or -1 with errno (EIO when the file ended early). */
    ssize_t (*sendfile)(int fd, int file, uint64_t *off, size_t len);
    /* Shuts the write side (FIN). */
    void (*shutdown)(int fd);
} berth_sock_ops;

extern const berth_sock_ops berth_sock_plain;

#endif
