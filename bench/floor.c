/* bench-floor: the floor of bench/run.py -- the least an HTTP/1.1 server on
 * this kernel can do per request, to tell whether berth is near the cost of
 * the TCP path itself or only near nginx.
 *
 *     bench-floor PORT ROUTES
 *
 * One thread, level-triggered epoll, non-blocking sockets with TCP_NODELAY
 * (as berth and nginx). It parses nothing beyond finding where requests end:
 * the end of the head ("\r\n\r\n"), the request target (to pick a canned
 * answer), and a Content-Length header (its body is skipped, so uploads and
 * POSTs keep the connection in sync). It understands neither chunked bodies
 * nor "Connection: close"; clients that close are simply closed.
 *
 * ROUTES has one route a line, fields separated by tabs:
 *     TARGET  CONTENT-TYPE  BODY-FILE
 *     TARGET  CONTENT-TYPE  @length
 * TARGET is the exact request target ("/json/1?m=3") or "*" for any other.
 * "@length" answers the request's Content-Length as decimal text, once the
 * whole body has been read (what berth-serve's /upload counts). Each answer
 * is canned: status line, Server, Date (rewritten once a second),
 * Content-Type, Content-Length and Connection: keep-alive -- the header set
 * berth sends. Unknown targets get 404.
 *
 * Pipelined requests found in one read are answered with one write; while
 * answers wait for the socket to drain, nothing more is read. Prints
 * "listening on http://127.0.0.1:PORT backend=floor threads=1" once it
 * accepts connections (PORT 0: any free port); exits 0 on SIGTERM/SIGINT.
 *
 * The routes, answers and parsing are floor_common.c's, shared with
 * bench-floor-uring (floor_uring.c), the same floor on io_uring.
 */
#include "floor_common.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { READ_BUF = 256 * 1024, MAX_EVENTS = 256 };

typedef struct conn {
    int fd;
    floor_stream s;
    int writing;             /* waiting for EPOLLOUT */
} conn;

static char rbuf[READ_BUF];

static void close_conn(conn *c)
{
    close(c->fd);
    floor_stream_free(&c->s);
    free(c);
}

/* Writes what it can; returns -1 on error. */
static int flush(int ep, conn *c)
{
    floor_stream *s = &c->s;
    while (s->out_off < s->out_len) {
        ssize_t n = send(c->fd, s->out + s->out_off, s->out_len - s->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            s->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (!c->writing) {
                struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                c->writing = 1;
            }
            return 0;
        }
        return -1;
    }
    s->out_off = s->out_len = 0;
    if (c->writing) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->writing = 0;
    }
    return 0;
}

/* Reads until the socket is drained or answers wait; returns -1 to close. */
static int on_readable(int ep, conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
        if (n == 0)
            return -1;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            return -1;
        }
        if (floor_feed(&c->s, rbuf, (size_t)n) < 0)
            return -1;
        if ((size_t)n < sizeof rbuf)
            break; /* most likely drained; level-triggered epoll tells otherwise */
    }
    if (c->s.out_len && flush(ep, c) < 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench-floor PORT ROUTES\n");
        return 2;
    }
    floor_load_routes("bench-floor", argv[2]);
    floor_process_setup();
    unsigned port;
    int lfd = floor_listen(argv[1], &port);
    int one = 1;

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        floor_die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    floor_say_listening(port, "floor");

    struct epoll_event evs[MAX_EVENTS];
    while (!floor_stop) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, 1000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            floor_die("epoll_wait");
        }
        floor_set_date();
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c = calloc(1, sizeof *c);
                    if (!c)
                        floor_die("calloc");
                    c->fd = fd;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
                        close_conn(c);
                }
                continue;
            }
            int rc;
            if (c->writing)
                rc = (evs[i].events & (EPOLLERR | EPOLLHUP)) ? -1 : flush(ep, c);
            else
                rc = on_readable(ep, c);
            if (rc < 0)
                close_conn(c);
        }
    }
    return 0;
}
