/* bench-floor-uring: bench-floor (floor.c) on io_uring -- the same routes,
 * canned answers and parsing (floor_common.c), so that the two floors
 * differ only in how bytes reach and leave the sockets.
 *
 *     bench-floor-uring PORT ROUTES
 *
 * One thread, one ring (liburing). The listener has one multishot accept;
 * each connection one multishot recv into a ring of provided buffers (one
 * group, registered with io_uring_register_buf_ring: liburing 2.3 has no
 * io_uring_setup_buf_ring). A buffer goes back to the ring as soon as its
 * bytes are parsed (answers are copied out of the canned ones, an
 * incomplete head into the connection's own buffer). Answers go out with
 * IORING_OP_SEND, one send in flight per connection: answers made while it
 * is in flight wait in the connection's buffer and leave together after
 * it. Every SQE of a loop turn (sends, re-armed receives, buffers given
 * back) goes to the kernel with the one io_uring_submit_and_wait that also
 * waits for the next completions. SIGTERM/SIGINT come through a signalfd
 * read on the ring. As floor.c stops reading while answers wait, a
 * connection whose unsent answers pass OUT_PAUSE has its receive cancelled
 * until they are sent.
 *
 * The ring asks for IORING_SETUP_SINGLE_ISSUER|IORING_SETUP_DEFER_TASKRUN
 * (the kernel's completion work runs when this thread waits for
 * completions, not whenever it crosses into the kernel), and
 * falls back to IORING_SETUP_COOP_TASKRUN, then to no flag, when the kernel
 * says EINVAL; stderr says which. Prints "listening on
 * http://127.0.0.1:PORT backend=floor-uring threads=1" once it accepts
 * connections (PORT 0: any free port); exits 0 on SIGTERM/SIGINT, writing
 * to stderr how often receives had to be armed again and were paused.
 */
#include "floor_common.h"

#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    SQ_ENTRIES = 4096,
    CQ_ENTRIES = 16384,
    BUF_COUNT = 256,          /* a power of two (the buffer ring's size) */
    BUF_SIZE = 16 * 1024,
    BGID = 0,
    OUT_PAUSE = 1 << 20,
};

/* user_data: a connection's address with the operation in its low bits
 * (calloc aligns to 16); the accept is 0, the signalfd's read UD_SIGNAL. */
enum { OP_ACCEPT = 0, OP_RECV = 1, OP_SEND = 2, OP_CANCEL = 3, OP_MASK = 3 };
#define UD_SIGNAL (~(uint64_t)0)

typedef struct conn {
    int fd;
    floor_stream s;           /* s.out: answers made and not yet handed to a send */
    char *wire;               /* the bytes of the send in flight (wire_off: sent) */
    size_t wire_len, wire_off, wire_cap;
    int recv_armed, sending, cancelling, paused, closing;
    int dirty;                /* in the list of connections to look at this turn */
    struct conn *next_dirty;
} conn;

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static unsigned bufs_given;  /* buffers given back since the last advance */
static conn *dirty;
static int lfd;
static unsigned long long rearms, nobufs, pauses;

static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
        /* more SQEs in one turn than the ring holds: hand over what is
         * there (the only submission besides the turn's own) */
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
        if (!sqe) {
            fprintf(stderr, "bench-floor-uring: no free SQE\n");
            exit(1);
        }
    }
    return sqe;
}

static void mark(conn *c)
{
    if (!c->dirty) {
        c->dirty = 1;
        c->next_dirty = dirty;
        dirty = c;
    }
}

static void arm_accept(void)
{
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, OP_ACCEPT);
}

static void arm_recv(conn *c)
{
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data64(sqe, (uintptr_t)c | OP_RECV);
    c->recv_armed = 1;
}

static void cancel_recv(conn *c)
{
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_cancel64(sqe, (uintptr_t)c | OP_RECV, 0);
    io_uring_sqe_set_data64(sqe, OP_CANCEL);
    c->cancelling = 1;
}

static void give_back(unsigned bid)
{
    io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(BUF_COUNT), (int)bufs_given++);
}

static size_t unsent(const conn *c)
{
    return c->s.out_len + (c->wire_len - c->wire_off);
}

/* What a connection needs after this turn's completions: its next send,
 * its receive armed again, paused or cancelled, or closing it once no
 * operation of it is left in the kernel. */
static void settle(conn *c)
{
    if (c->closing) {
        if (c->recv_armed && !c->cancelling)
            cancel_recv(c);
        if (!c->recv_armed && !c->sending) {
            close(c->fd);
            floor_stream_free(&c->s);
            free(c->wire);
            free(c);
        }
        return;
    }
    if (!c->sending) {
        if (c->wire_off == c->wire_len && c->s.out_len) {
            /* swap the buffers: no copy, and s.out may grow again */
            char *w = c->wire;
            size_t cap = c->wire_cap;
            c->wire = c->s.out;
            c->wire_cap = c->s.out_cap;
            c->wire_len = c->s.out_len;
            c->wire_off = 0;
            c->s.out = w;
            c->s.out_cap = cap;
            c->s.out_len = 0;
        }
        if (c->wire_off < c->wire_len) {
            struct io_uring_sqe *sqe = sqe_get();
            io_uring_prep_send(sqe, c->fd, c->wire + c->wire_off, c->wire_len - c->wire_off,
                               MSG_NOSIGNAL);
            io_uring_sqe_set_data64(sqe, (uintptr_t)c | OP_SEND);
            c->sending = 1;
        }
    }
    if (c->recv_armed && !c->cancelling && unsent(c) > OUT_PAUSE) {
        c->paused = 1;
        pauses++;
        cancel_recv(c);
    } else if (!c->recv_armed && (!c->paused || unsent(c) == 0)) {
        c->paused = 0;
        arm_recv(c);
    }
}

static void on_accept(struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE))
        arm_accept(); /* the multishot accept ended (an error, or the CQ overflowed) */
    if (cqe->res < 0)
        return;
    int one = 1;
    setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = calloc(1, sizeof *c);
    if (!c)
        floor_die("calloc");
    c->fd = cqe->res;
    mark(c); /* settle() arms its receive */
}

static void on_recv(conn *c, struct io_uring_cqe *cqe)
{
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (cqe->res > 0 && !c->closing &&
            floor_feed(&c->s, bufs + (size_t)bid * BUF_SIZE, (size_t)cqe->res) < 0)
            c->closing = 1;
        give_back(bid);
    }
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        c->recv_armed = 0;
        c->cancelling = 0;
        if (cqe->res == -ENOBUFS)
            nobufs++;
        else if (cqe->res == 0 || (cqe->res < 0 && cqe->res != -ECANCELED))
            c->closing = 1; /* the peer closed, or an error */
        if (!c->closing && !c->paused)
            rearms++;
    }
    mark(c);
}

static void on_send(conn *c, struct io_uring_cqe *cqe)
{
    c->sending = 0;
    if (cqe->res <= 0)
        c->closing = 1;
    else
        c->wire_off += (size_t)cqe->res;
    if (c->wire_off == c->wire_len)
        c->wire_off = c->wire_len = 0;
    mark(c);
}

/* SIGTERM and SIGINT arrive as the completion of a read of a signalfd, a
 * completion like any other: a handler's flag set while a turn runs would
 * be seen only after the next completion -- on an idle floor, never
 * (floor.c's epoll_wait has a 1 s timeout instead). Waiting with a signal
 * mask (io_uring_submit_and_wait_timeout) does not do: liburing 2.3 then
 * enters again, without returning, when the interrupted enter had
 * submitted SQEs. */
static void watch_stop_signals(void)
{
    static struct signalfd_siginfo info;
    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &stop_sigs, NULL);
    int sfd = signalfd(-1, &stop_sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        floor_die("signalfd");
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_read(sqe, sfd, &info, sizeof info, 0);
    io_uring_sqe_set_data64(sqe, UD_SIGNAL);
}

static void setup_ring(void)
{
    static const struct {
        unsigned flags;
        const char *name;
    } tries[] = {
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "single_issuer|defer_taskrun"},
        {IORING_SETUP_COOP_TASKRUN, "coop_taskrun"},
        {0, "none"},
    };
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i].flags | IORING_SETUP_CQSIZE;
        p.cq_entries = CQ_ENTRIES;
        rc = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
        if (rc == 0) {
            fprintf(stderr, "bench-floor-uring: ring flags %s\n", tries[i].name);
            break;
        }
        if (rc != -EINVAL)
            break;
    }
    if (rc != 0) {
        fprintf(stderr, "bench-floor-uring: io_uring_queue_init_params: %s\n", strerror(-rc));
        exit(1);
    }

    /* the buffer ring: io_uring_buf entries in page-aligned memory of ours */
    size_t ring_size = BUF_COUNT * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bufs = mmap(NULL, (size_t)BUF_COUNT * BUF_SIZE, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED || bufs == MAP_FAILED)
        floor_die("mmap");
    br = mem;
    io_uring_buf_ring_init(br);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (unsigned long)(uintptr_t)br;
    reg.ring_entries = BUF_COUNT;
    reg.bgid = BGID;
    rc = io_uring_register_buf_ring(&ring, &reg, 0);
    if (rc != 0) {
        fprintf(stderr, "bench-floor-uring: io_uring_register_buf_ring: %s\n", strerror(-rc));
        exit(1);
    }
    for (unsigned i = 0; i < BUF_COUNT; i++)
        give_back(i);
    io_uring_buf_ring_advance(br, (int)bufs_given);
    bufs_given = 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench-floor-uring PORT ROUTES\n");
        return 2;
    }
    floor_load_routes("bench-floor-uring", argv[2]);
    floor_process_setup();
    unsigned port;
    lfd = floor_listen(argv[1], &port);
    setup_ring();
    arm_accept();
    watch_stop_signals();
    floor_say_listening(port, "floor-uring");

    while (!floor_stop) {
        while (dirty) {
            conn *c = dirty;
            dirty = c->next_dirty;
            c->dirty = 0;
            settle(c);
        }
        if (bufs_given) {
            io_uring_buf_ring_advance(br, (int)bufs_given);
            bufs_given = 0;
        }
        int rc = io_uring_submit_and_wait(&ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            fprintf(stderr, "bench-floor-uring: io_uring_submit_and_wait: %s\n", strerror(-rc));
            return 1;
        }
        floor_set_date();
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            uint64_t d = io_uring_cqe_get_data64(cqe);
            if (d == UD_SIGNAL) {
                floor_stop = 1;
                seen++;
                continue;
            }
            conn *c = (conn *)(uintptr_t)(d & ~(uint64_t)OP_MASK);
            switch (d & OP_MASK) {
            case OP_ACCEPT:
                on_accept(cqe);
                break;
            case OP_RECV:
                on_recv(c, cqe);
                break;
            case OP_SEND:
                on_send(c, cqe);
                break;
            default:
                break; /* a cancel's own completion: the receive's tells */
            }
            seen++;
        }
        io_uring_cq_advance(&ring, seen);
    }
    fprintf(stderr, "bench-floor-uring: receives armed again: %llu (%llu for want of a buffer), "
            "paused for unsent answers: %llu\n", rearms, nobufs, pauses);
    return 0;
}
