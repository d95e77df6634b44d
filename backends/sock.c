/* Socket operations (sock.h): plaintext; kernel TLS's are in sock_ktls.c. */
#include "sock.h"

#include "platform.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>

/* SIGPIPE. A write to a socket whose peer has reset raises it, and its
 * default action ends the process. Sends say MSG_NOSIGNAL; sendfile(2)
 * cannot, so the threads that send files block SIGPIPE in their own mask
 * (berth_sock_thread_init), which leaves the process's disposition alone,
 * and a failed sendfile takes the signal it left pending on its thread:
 * standing pending, it would kill the process the moment a handler opened
 * its mask. The signal is directed at the thread (the kernel's send_sig to
 * the caller), so berth_sigpipe_take finds it there first. */
void berth_sock_thread_init(void)
{
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
}

static ssize_t plain_recv(berth_sock *s, void *buf, size_t cap, int dontwait)
{
    return recv(s->fd, buf, cap, dontwait ? MSG_DONTWAIT : 0);
}

ssize_t berth_sock_plain_sendv(berth_sock *s, const struct iovec *iov, int n, int more, int dontwait)
{
    int flags = BERTH_MSG_NOSIGNAL | (more ? BERTH_MSG_MORE : 0) | (dontwait ? MSG_DONTWAIT : 0);
    /* One buffer (the common case): send() skips sendmsg's msghdr copy. */
    if (n == 1)
        return send(s->fd, iov[0].iov_base, iov[0].iov_len, flags);
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = (struct iovec *)iov;
    msg.msg_iovlen = (size_t)n;
    return sendmsg(s->fd, &msg, flags);
}

ssize_t berth_sock_plain_sendfile(berth_sock *s, int file, uint64_t *off, size_t len)
{
    ssize_t n = berth_sendfile(s->fd, file, off, len);
    if (n < 0 && errno == EPIPE)
        berth_sigpipe_take();
    if (n == 0 && len) {
        errno = EIO; /* the file is shorter than announced: the body cannot be completed */
        return -1;
    }
    return n;
}

static void plain_shutdown(berth_sock *s) { shutdown(s->fd, SHUT_WR); }
static void plain_finish(berth_sock *s) { (void)s; }

const berth_sock_ops berth_sock_plain = {plain_recv, berth_sock_plain_sendv, berth_sock_plain_sendfile,
                                         plain_shutdown, plain_finish};
