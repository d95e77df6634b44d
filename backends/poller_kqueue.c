/* The poller on kqueue (FreeBSD, macOS; libkqueue on Linux for tests).
 *
 * Each direction is a filter of its own (EVFILT_READ, EVFILT_WRITE), both
 * EV_CLEAR, kqueue's edge trigger, added in one kevent call. kevent then
 * reports a descriptor once per filter: a socket that became readable and
 * writable comes back as two events, maybe far apart in the batch. The
 * reactor frees a connection inside the handling of its event, so the
 * events of one wait are merged per descriptor first (poller.h: one
 * event per descriptor per wait), through a small table keyed by the
 * pointer, valid for one wait (a generation number, never cleared).
 *
 * On Linux this file runs on libkqueue (tests only: -Dpoller=kqueue).
 * libkqueue 2.7 keeps one epoll registration per descriptor, turns each
 * epoll event into one kevent per filter, and when that overflows the
 * caller's array it drops the rest of the epoll events it fetched: with
 * edge triggers, those are lost for good (requests left unread, seen as
 * stalls under load). So there the write filter watches a duplicate of the
 * descriptor, its own epoll registration, and each epoll event makes at
 * most one kevent. Real kqueue keeps what did not fit for the next call. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#include <unistd.h>

#include "poller.h"

#define MAX_BATCH 256
#define MERGE_SLOTS 512 /* a power of two, twice MAX_BATCH: short probes */

typedef struct merge_slot {
    void *ptr;
    uint32_t gen;
    int index; /* in the caller's output */
} merge_slot;

#ifdef __linux__
#define SPLIT_WRITE 1
#else
#define SPLIT_WRITE 0
#endif

struct berth_poller {
    int kq;
    uint32_t gen;
    int *dup_of; /* SPLIT_WRITE: per descriptor, its duplicate + 1 (0: none) */
    int ndup;
    struct kevent events[MAX_BATCH];
    merge_slot slots[MERGE_SLOTS];
};

berth_poller *berth_poller_new(void)
{
    berth_poller *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->kq = kqueue();
    if (p->kq < 0 || fcntl(p->kq, F_SETFD, FD_CLOEXEC) != 0) {
        if (p->kq >= 0)
            close(p->kq);
        free(p);
        return NULL;
    }
    return p;
}

void berth_poller_free(berth_poller *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->ndup; i++)
        if (p->dup_of[i])
            close(p->dup_of[i] - 1);
    free(p->dup_of);
    close(p->kq);
    free(p);
}

/* SPLIT_WRITE: the descriptor the write filter watches for fd, made on
 * the first call; -1 with errno. */
static int write_fd(berth_poller *p, int fd)
{
    if (!SPLIT_WRITE)
        return fd;
    if (fd >= p->ndup) {
        int n = p->ndup ? p->ndup : 64;
        while (n <= fd)
            n *= 2;
        int *d = realloc(p->dup_of, (size_t)n * sizeof *d);
        if (!d)
            return -1;
        memset(d + p->ndup, 0, (size_t)(n - p->ndup) * sizeof *d);
        p->dup_of = d;
        p->ndup = n;
    }
    if (!p->dup_of[fd]) {
        int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (d < 0)
            return -1;
        p->dup_of[fd] = d + 1;
    }
    return p->dup_of[fd] - 1;
}

/* Applies n changes; each answers in its own receipt (EV_RECEIPT), so one
 * failing change neither hides nor stops the others. The first error, or
 * 0; ENOENT (a filter that was not there) is no error when deleting. */
static int apply(berth_poller *p, struct kevent *ch, int n, int deleting)
{
    struct kevent got[2];
    int r = kevent(p->kq, ch, n, got, n, NULL);
    if (r < 0)
        return -1;
    for (int i = 0; i < r; i++) {
        if ((got[i].flags & EV_ERROR) && got[i].data != 0 &&
            !(deleting && got[i].data == ENOENT)) {
            errno = (int)got[i].data;
            return -1;
        }
    }
    return 0;
}

int berth_poller_add(berth_poller *p, int fd, unsigned events, void *ptr)
{
    struct kevent ch[2];
    int n = 0;
    if (events & BERTH_POLL_IN)
        EV_SET(&ch[n++], (uintptr_t)fd, EVFILT_READ, EV_ADD | EV_CLEAR | EV_RECEIPT, 0, 0, ptr);
    if (events & BERTH_POLL_OUT) {
        int wfd = write_fd(p, fd);
        if (wfd < 0)
            return -1;
        EV_SET(&ch[n++], (uintptr_t)wfd, EVFILT_WRITE, EV_ADD | EV_CLEAR | EV_RECEIPT, 0, 0, ptr);
    }
    if (apply(p, ch, n, 0) == 0)
        return 0;
    /* Each change stands alone: one filter may be in place with ptr, which
     * the caller is about to free. Take back whatever was added (and the
     * duplicate, which close(fd) would not remove), or its next event
     * would reach freed memory. */
    int e = errno;
    berth_poller_del(p, fd);
    errno = e;
    return -1;
}

int berth_poller_del(berth_poller *p, int fd)
{
    struct kevent ch[2];
    int wfd = fd;
    if (SPLIT_WRITE)
        wfd = fd < p->ndup && p->dup_of[fd] ? p->dup_of[fd] - 1 : -1;
    int n = 0;
    EV_SET(&ch[n++], (uintptr_t)fd, EVFILT_READ, EV_DELETE | EV_RECEIPT, 0, 0, NULL);
    if (wfd >= 0)
        EV_SET(&ch[n++], (uintptr_t)wfd, EVFILT_WRITE, EV_DELETE | EV_RECEIPT, 0, 0, NULL);
    int rc = apply(p, ch, n, 1);
    if (SPLIT_WRITE && wfd >= 0) {
        close(wfd);
        p->dup_of[fd] = 0;
    }
    return rc;
}

/* What one kevent says, in the poller's words. EV_EOF on the read filter
 * is the peer's FIN (its fflags carry a socket error, if any); on the write
 * filter, the peer can take no more: the next read says why. */
static unsigned translate(const struct kevent *k)
{
    unsigned r = 0;
    if (k->flags & EV_ERROR)
        return BERTH_POLL_ERR | BERTH_POLL_IN;
    if (k->filter == EVFILT_READ) {
        r |= BERTH_POLL_IN;
        if (k->flags & EV_EOF)
            r |= BERTH_POLL_HUP | (k->fflags ? BERTH_POLL_ERR : 0u);
    } else if (k->filter == EVFILT_WRITE) {
        r |= BERTH_POLL_OUT;
        if (k->flags & EV_EOF)
            r |= BERTH_POLL_HUP | BERTH_POLL_IN | (k->fflags ? BERTH_POLL_ERR : 0u);
    }
    return r;
}

static size_t slot_of(const void *ptr)
{
    uintptr_t h = (uintptr_t)ptr;
    h ^= h >> 17; /* allocations are aligned: mix the high bits in */
    h *= (uintptr_t)0x9e3779b97f4a7c15ull;
    return (size_t)(h >> (sizeof h * 8 - 9)) & (MERGE_SLOTS - 1);
}

int berth_poller_wait(berth_poller *p, berth_poll_event *out, int max, int timeout_ms)
{
    if (max > MAX_BATCH)
        max = MAX_BATCH;
    struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
    int n = kevent(p->kq, NULL, 0, p->events, max, timeout_ms < 0 ? NULL : &ts);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    if (++p->gen == 0) { /* wrapped: old marks could look current */
        memset(p->slots, 0, sizeof p->slots);
        p->gen = 1;
    }
    int m = 0;
    for (int i = 0; i < n; i++) {
        void *ptr = p->events[i].udata;
        unsigned ev = translate(&p->events[i]);
        size_t s = slot_of(ptr);
        while (p->slots[s].gen == p->gen && p->slots[s].ptr != ptr)
            s = (s + 1) & (MERGE_SLOTS - 1);
        if (p->slots[s].gen == p->gen) {
            out[p->slots[s].index].events |= ev; /* the descriptor's other filter */
            continue;
        }
        p->slots[s] = (merge_slot){ptr, p->gen, m};
        out[m].ptr = ptr;
        out[m].events = ev;
        m++;
    }
    return m;
}
