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

static int listen_one(const struct sockaddr *sa, socklen_t len, int nonblock)
{
    int type = SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0);
    int fd = socket(sa->sa_family, type, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(fd, sa, len) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int berth_listen_open(const char *host, uint16_t port, int count, int nonblock, int *fds,
                      uint16_t *bound_port)
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

    for (int i = 0; i < count; i++) {
        fds[i] = listen_one((struct sockaddr *)&ss, len, nonblock);
        if (fds[i] < 0) {
            fprintf(stderr, "berth: cannot listen on %s:%u: %s\n", host ? host : "*",
                    (unsigned)port, strerror(errno));
            while (i--)
                close(fds[i]);
            return -1;
        }
        if (i == 0) {
            /* With port 0, the others must join the port the first got. */
            struct sockaddr_storage got;
            socklen_t gl = sizeof got;
            getsockname(fds[0], (struct sockaddr *)&got, &gl);
            uint16_t p = got.ss_family == AF_INET6
                             ? ((struct sockaddr_in6 *)&got)->sin6_port
                             : ((struct sockaddr_in *)&got)->sin_port;
            if (ss.ss_family == AF_INET6)
                ((struct sockaddr_in6 *)&ss)->sin6_port = p;
            else
                ((struct sockaddr_in *)&ss)->sin_port = p;
            *bound_port = ntohs(p);
        }
    }
    return 0;
}

void berth_socket_tune(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
