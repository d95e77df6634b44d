/* Small pieces every backend shares. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../core/conn.h"
#include "backend.h"

void berth_backend_refuse(int fd)
{
    static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\n"
                              "Content-Type: text/plain; charset=utf-8\r\n"
                              "Content-Length: 20\r\nConnection: close\r\n\r\n"
                              "Service Unavailable\n";
    ssize_t n = send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    shutdown(fd, SHUT_WR);
    close(fd);
}

int berth_backend_admit(berth_server *srv)
{
    unsigned n = atomic_fetch_add_explicit(&srv->connections, 1, memory_order_relaxed);
    if (n >= srv->config.max_connections) {
        atomic_fetch_sub_explicit(&srv->connections, 1, memory_order_relaxed);
        return 0;
    }
    return 1;
}

void berth_backend_release(berth_server *srv)
{
    atomic_fetch_sub_explicit(&srv->connections, 1, memory_order_relaxed);
}

long berth_backend_write(int fd, struct berth_conn *c)
{
    struct iovec iov[16];
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)berth_conn_out_iov(c, iov, 16);
    for (;;) {
        /* One buffer (the common case): send() skips sendmsg's msghdr copy. */
        ssize_t n = msg.msg_iovlen == 1 ? send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL)
                                        : sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n >= 0) {
            berth_conn_out_done(c, (size_t)n);
            return n;
        }
        /* EINTR: a blocking write (fast) interrupted by a stop; the
         * caller loops after checking it. Non-blocking writes never get it. */
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        return -1;
    }
}
