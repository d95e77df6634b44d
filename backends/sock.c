/* Plaintext socket operations (sock.h). */
#include "sock.h"

#include <errno.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

static ssize_t plain_recv(int fd, void *buf, size_t cap, int dontwait)
{
    return recv(fd, buf, cap, dontwait ? MSG_DONTWAIT : 0);
}

static ssize_t plain_sendv(int fd, const struct iovec *iov, int n)
{
    /* One buffer (the common case): send() skips sendmsg's msghdr copy. */
    if (n == 1)
        return send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = (struct iovec *)iov;
    msg.msg_iovlen = (size_t)n;
    return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

static ssize_t plain_sendfile(int fd, int file, uint64_t *off, size_t len)
{
    off_t o = (off_t)*off;
    ssize_t n = sendfile(fd, file, &o, len);
    if (n > 0)
        *off = (uint64_t)o;
    if (n == 0 && len) {
        errno = EIO; /* the file is shorter than announced: the body cannot be completed */
        return -1;
    }
    return n;
}

static void plain_shutdown(int fd) { shutdown(fd, SHUT_WR); }

const berth_sock_ops berth_sock_plain = {plain_recv, plain_sendv, plain_sendfile, plain_shutdown};
