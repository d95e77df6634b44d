/* The reactor's poller (backends/poller.h), whichever this build has (epoll,
 * or kqueue: libkqueue on Linux), on real loopback TCP sockets: what the
 * drive loop relies on. An edge per arrival, none for bytes left unread;
 * one event per descriptor per wait, however many filters fired (the
 * reactor frees a connection inside its event); the peer's FIN as HUP, a
 * reset as an input event with ERR or a failing read; nothing after a delete; and no
 * event lost when more descriptors are ready than a wait returns (libkqueue
 * 2.7 dropped those when a descriptor's read and write events overflowed
 * the array: issue 25). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../backends/poller.h"
#include "test.h"

typedef struct pair {
    int server, client; /* the accepted end (non-blocking), the client's */
} pair;

static int listener(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 512) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

static int connect_pair(int lfd, uint16_t port, pair *p)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    p->client = socket(AF_INET, SOCK_STREAM, 0);
    if (p->client < 0 || connect(p->client, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    p->server = accept(lfd, NULL, NULL);
    if (p->server < 0)
        return -1;
    return fcntl(p->server, F_SETFL, fcntl(p->server, F_GETFL) | O_NONBLOCK);
}

static void close_pair(pair *p)
{
    close(p->client);
    close(p->server);
}

/* Waits up to ms for events; the events reported for tag (0: none), and
 * how many events carried it (more than 1 breaks the contract). */
static unsigned events_for(berth_poller *pl, void *tag, int ms, int *times)
{
    berth_poll_event ev[256];
    unsigned got = 0;
    *times = 0;
    int n = berth_poller_wait(pl, ev, 256, ms);
    for (int i = 0; i < n; i++) {
        if (ev[i].ptr == tag) {
            got |= ev[i].events;
            (*times)++;
        }
    }
    return got;
}

/* One accepted connection watched in both directions with tag. */
typedef struct watched {
    int lfd;
    pair p;
    berth_poller *pl;
} watched;

static int watch_one(watched *w, void *tag)
{
    uint16_t port;
    w->pl = NULL;
    w->lfd = listener(&port);
    if (w->lfd < 0 || connect_pair(w->lfd, port, &w->p) != 0)
        return -1;
    w->pl = berth_poller_new();
    return w->pl && berth_poller_add(w->pl, w->p.server, BERTH_POLL_IN | BERTH_POLL_OUT, tag) == 0
               ? 0
               : -1;
}

static void watched_free(watched *w)
{
    berth_poller_free(w->pl);
    close_pair(&w->p);
    close(w->lfd);
}

TEST(poller_an_edge_per_arrival_none_for_bytes_left_unread)
{
    char tag;
    watched w;
    CHECK(watch_one(&w, &tag) == 0);
    berth_poller *pl = w.pl;
    pair p = w.p;
    int times;
    unsigned e = events_for(pl, &tag, 1000, &times); /* writable from the start */
    CHECK(e & BERTH_POLL_OUT);
    CHECK_INT(times, 1);
    CHECK_INT(events_for(pl, &tag, 20, &times), 0); /* no new edge */

    CHECK_INT(send(p.client, "0123456789", 10, 0), 10);
    e = events_for(pl, &tag, 1000, &times);
    CHECK(e & BERTH_POLL_IN);
    CHECK(!(e & (BERTH_POLL_HUP | BERTH_POLL_ERR)));
    CHECK_INT(times, 1); /* readable and writable: one event */
    char buf[64];
    CHECK_INT(recv(p.server, buf, 4, 0), 4); /* 6 bytes left unread */
    CHECK_INT(events_for(pl, &tag, 20, &times), 0);

    CHECK_INT(send(p.client, "ab", 2, 0), 2); /* a new arrival: a new edge */
    CHECK(events_for(pl, &tag, 1000, &times) & BERTH_POLL_IN);
    CHECK_INT(recv(p.server, buf, sizeof buf, 0), 8);
    watched_free(&w);
}

TEST(poller_fin_is_hup_and_reset_is_input_that_fails)
{
    uint16_t port;
    int lfd = listener(&port);
    pair fin, rst;
    CHECK(lfd >= 0 && connect_pair(lfd, port, &fin) == 0 && connect_pair(lfd, port, &rst) == 0);
    berth_poller *pl = berth_poller_new();
    CHECK(pl != NULL);
    char tag_fin, tag_rst;
    CHECK(berth_poller_add(pl, fin.server, BERTH_POLL_IN | BERTH_POLL_OUT, &tag_fin) == 0);
    CHECK(berth_poller_add(pl, rst.server, BERTH_POLL_IN | BERTH_POLL_OUT, &tag_rst) == 0);
    int times;
    events_for(pl, NULL, 100, &times); /* the first writable edges */

    CHECK_INT(send(fin.client, "last", 4, 0), 4);
    CHECK(shutdown(fin.client, SHUT_WR) == 0);
    unsigned e = events_for(pl, &tag_fin, 1000, &times);
    CHECK(e & BERTH_POLL_IN);
    CHECK(e & BERTH_POLL_HUP);
    char buf[16];
    CHECK_INT(recv(fin.server, buf, sizeof buf, 0), 4); /* the data, then the EOF */
    CHECK_INT(recv(fin.server, buf, sizeof buf, 0), 0);

    struct linger l = {1, 0};
    CHECK(setsockopt(rst.client, SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0);
    close(rst.client);
    rst.client = -1;
    e = events_for(pl, &tag_rst, 1000, &times);
    CHECK(e & BERTH_POLL_IN);
    CHECK(e & (BERTH_POLL_HUP | BERTH_POLL_ERR));
    /* The reset, told by the event (ERR) or by the read. libkqueue reads
     * the socket's error to fill the event (SO_ERROR, which clears it), so
     * there the read then sees an EOF; the connection ends either way. */
    errno = 0;
    ssize_t r = recv(rst.server, buf, sizeof buf, 0);
    CHECK(r <= 0);
    CHECK((e & BERTH_POLL_ERR) || (r < 0 && errno == ECONNRESET));
    berth_poller_free(pl);
    close_pair(&fin);
    close(rst.server);
    close(lfd);
}

TEST(poller_nothing_after_a_delete)
{
    char tag;
    watched w;
    CHECK(watch_one(&w, &tag) == 0);
    berth_poller *pl = w.pl;
    pair p = w.p;
    CHECK(berth_poller_del(pl, p.server) == 0);
    CHECK_INT(send(p.client, "x", 1, 0), 1);
    int times;
    CHECK_INT(events_for(pl, &tag, 50, &times), 0);
    CHECK_INT(times, 0);
    watched_free(&w);
}

/* 300 connections, each readable and writable at once, against waits of
 * at most 64 events: every connection is reported, once per wait, none
 * is lost. */
TEST(poller_loses_no_event_beyond_a_full_batch)
{
    enum { N = 300, BATCH = 64 };
    struct rlimit rl; /* 2 descriptors a connection, 3 on libkqueue: macOS allows 256 */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4 * N) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 4 * N ? 4 * N : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    uint16_t port;
    int lfd = listener(&port);
    CHECK(lfd >= 0);
    static pair p[N];
    static char tags[N];
    static int seen[N];
    memset(seen, 0, sizeof seen);
    berth_poller *pl = berth_poller_new();
    CHECK(pl != NULL);
    int made = 0;
    for (; made < N; made++) {
        if (connect_pair(lfd, port, &p[made]) != 0 ||
            berth_poller_add(pl, p[made].server, BERTH_POLL_IN | BERTH_POLL_OUT, &tags[made]) != 0)
            break;
    }
    if (made < N) {
        for (int i = 0; i < made; i++)
            close_pair(&p[i]);
        berth_poller_free(pl);
        close(lfd);
        CHECK_INT(made, N);
    }
    berth_poll_event ev[BATCH];
    while (berth_poller_wait(pl, ev, BATCH, 50) > 0) /* the first writable edges */
        ;
    for (int i = 0; i < N; i++)
        CHECK_INT(send(p[i].client, "r", 1, 0), 1);
    int reported = 0, waits = 0;
    while (reported < N && waits < 100) {
        int n = berth_poller_wait(pl, ev, BATCH, 1000);
        CHECK(n >= 0 && n <= BATCH);
        waits++;
        for (int i = 0; i < n; i++) {
            int k = (int)((char *)ev[i].ptr - tags);
            CHECK(k >= 0 && k < N);
            CHECK_INT(seen[k], 0); /* once: its data is read below */
            CHECK(ev[i].events & BERTH_POLL_IN);
            seen[k] = 1;
            reported++;
            char c;
            CHECK_INT(recv(p[k].server, &c, 1, 0), 1);
        }
    }
    CHECK_INT(reported, N);
    CHECK(waits >= N / BATCH);
    for (int i = 0; i < N; i++)
        close_pair(&p[i]);
    berth_poller_free(pl);
    close(lfd);
}
