#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "poller.h"

#define MAX_BATCH 256

struct berth_poller {
    int epfd;
    struct epoll_event events[MAX_BATCH];
};

berth_poller *berth_poller_new(void)
{
    berth_poller *p = malloc(sizeof *p);
    if (!p)
        return NULL;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        free(p);
        return NULL;
    }
    return p;
}

void berth_poller_free(berth_poller *p)
{
    if (!p)
        return;
    close(p->epfd);
    free(p);
}

int berth_poller_add(berth_poller *p, int fd, unsigned events, void *ptr)
{
    struct epoll_event ev;
    ev.events = EPOLLRDHUP | EPOLLET | (events & BERTH_POLL_IN ? EPOLLIN : 0u) |
                (events & BERTH_POLL_OUT ? EPOLLOUT : 0u);
    ev.data.ptr = ptr;
    return epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int berth_poller_del(berth_poller *p, int fd)
{
    return epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
}

int berth_poller_wait(berth_poller *p, berth_poll_event *out, int max, int timeout_ms)
{
    if (max > MAX_BATCH)
        max = MAX_BATCH;
    int n = epoll_wait(p->epfd, p->events, max, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        unsigned e = p->events[i].events, r = 0;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
            r |= BERTH_POLL_IN;
        if (e & EPOLLOUT)
            r |= BERTH_POLL_OUT;
        if (e & EPOLLERR)
            r |= BERTH_POLL_ERR | BERTH_POLL_IN;
        if (e & (EPOLLRDHUP | EPOLLHUP))
            r |= BERTH_POLL_HUP;
        out[i].ptr = p->events[i].data.ptr;
        out[i].events = r;
    }
    return n;
}
