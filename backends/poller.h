/* The readiness poller behind the reactor: epoll on Linux (poller_epoll.c),
 * kqueue on FreeBSD and macOS (poller_kqueue.c; on Linux through libkqueue
 * with -Dpoller=kqueue, for testing). meson picks one. Every registration
 * is edge-triggered, so a connection is registered once, for both
 * directions, and never modified.
 *
 * What the drive loop relies on, from either: one event per descriptor
 * per wait (a handler of an event may close and free what a later event
 * of the same batch would point to); after a read that left input behind,
 * no new event until more arrives (the loop reads until a short read);
 * HUP once the peer's FIN is in, ERR with IN on an error (the next read
 * says which). */
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
/* Watches fd for events (BERTH_POLL_IN, BERTH_POLL_OUT or both), edge-
 * triggered, reported with ptr. */
int berth_poller_add(berth_poller *p, int fd, unsigned events, void *ptr);
int berth_poller_del(berth_poller *p, int fd);
/* Waits up to timeout_ms (-1: forever); returns the number of events. */
int berth_poller_wait(berth_poller *p, berth_poll_event *ev, int max, int timeout_ms);

#endif
