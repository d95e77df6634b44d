/* The readiness poller behind the reactor: epoll on Linux (poller_epoll.c);
 * a kqueue file with the same functions serves BSD and macOS. Every
 * registration is edge-triggered for both directions, so a connection is
 * registered once and never modified. */
#ifndef BERTH_POLLER_H
#define BERTH_POLLER_H

typedef struct berth_poller berth_poller;

/* HUP: the peer closed its side; a short read then does not mean the
 * socket is drained, the EOF is still to be read. */
enum { BERTH_POLL_IN = 1, BERTH_POLL_OUT = 2, BERTH_POLL_ERR = 4, BERTH_POLL_HUP = 8 };

typedef struct berth_poll_event {
    void *ptr;
    unsigned events;
} berth_poll_event;

berth_poller *berth_poller_new(void);
void berth_poller_free(berth_poller *p);
int berth_poller_add(berth_poller *p, int fd, void *ptr);
int berth_poller_del(berth_poller *p, int fd);
/* Waits up to timeout_ms (-1: forever); returns the number of events. */
int berth_poller_wait(berth_poller *p, berth_poll_event *ev, int max, int timeout_ms);

#endif
