#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_one(const struct sockaddr *sa, socklen_t len, int nonblock, int reuseport)
{
    int type = SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0);
    int fd = socket(sa->sa_family, type, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if ((reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
        bind(fd, sa, len) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static uint16_t *port_of(struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET6 ? &((struct sockaddr_in6 *)ss)->sin6_port
                                     : &((struct sockaddr_in *)ss)->sin_port;
}

/* berth's listeners share their port through SO_REUSEPORT, which would
 * just as quietly join the SO_REUSEPORT listener of another process on
 * that port and split its traffic. So the port is bound once first
 * without SO_REUSEPORT: that fails whenever any socket holds it. With
 * port 0 the probe also picks the port. The probe is closed before the
 * listeners bind; another process could take the port in between, a
 * window of microseconds. */
static int port_probe(struct sockaddr_storage *ss, socklen_t len)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* TIME_WAIT holds nothing */
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    if (bind(fd, (struct sockaddr *)ss, len) != 0 ||
        getsockname(fd, (struct sockaddr *)&got, &gl) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *port_of(ss) = *port_of(&got);
    close(fd);
    return 0;
}

int berth_listen_open(const char *host, uint16_t port, int count, int nonblock, int reuseport,
                      int *fds, uint16_t *bound_port)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    int rc = getaddrinfo(host && *host ? host : NULL, service, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "berth: cannot resolve listen address '%s': %s\n", host ? host : "",
                gai_strerror(rc));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = (socklen_t)ai->ai_addrlen;
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);

    if (reuseport && port_probe(&ss, len) != 0) {
        fprintf(stderr, "berth: cannot listen on %s:%u: %s\n", host ? host : "*", (unsigned)port,
                strerror(errno));
        return -1;
    }
    for (int i = 0; i < count; i++) {
        /* Without SO_REUSEPORT the workers share one socket. */
        fds[i] = reuseport || i == 0 ? listen_one((struct sockaddr *)&ss, len, nonblock, reuseport)
                                     : fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
        if (fds[i] < 0) {
            fprintf(stderr, "berth: cannot listen on %s:%u: %s\n", host ? host : "*",
                    (unsigned)port, strerror(errno));
            while (i--)
                close(fds[i]);
            return -1;
        }
        if (i == 0) {
            /* With port 0 (and no probe), the others join the port it got. */
            struct sockaddr_storage got;
            socklen_t gl = sizeof got;
            getsockname(fds[0], (struct sockaddr *)&got, &gl);
            *port_of(&ss) = *port_of(&got);
            *bound_port = ntohs(*port_of(&got));
        }
    }
    return 0;
}

void berth_socket_tune(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
