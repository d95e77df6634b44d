/* The io_uring backend's connections (uring_conn.h): their socket operations,
 * their completions and their end. */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>

#include "platform.h"
#include "uring_conn.h"

static uring_conn *conn_of(berth_sock *s) { return (uring_conn *)((char *)s - offsetof(uring_conn, io.s)); }

static void zombie_done(uring_worker *uw, uring_conn *uc);

static char *buf_at(uring_worker *uw, unsigned bid) { return uw->bufs + (size_t)bid * URING_BUF_SIZE; }

/* A buffer the connection is done with goes back to the kernel's ring. */
static void buf_return(uring_worker *uw, unsigned bid)
{
    io_uring_buf_ring_add(uw->br, buf_at(uw, bid), URING_BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(URING_BUFS), 0);
    io_uring_buf_ring_advance(uw->br, 1);
    uw->bufs_out--;
}

static void queue_drop(uring_conn *uc)
{
    while (uc->queued) {
        unsigned bid = uc->q_head;
        uc->queued -= uc->uw->buf_len[bid] - uc->q_off;
        uc->q_off = 0;
        uc->q_head = uc->uw->buf_next[bid];
        buf_return(uc->uw, bid);
    }
}

/* The bytes received so far, as many as fit: the drive loop reads the
 * socket until a read comes back short, so this empties the queue before
 * it says "short". A connection whose receive ended for want of buffers
 * (every buffer held by connections whose handlers do not take input now)
 * reads the socket itself, on a poll's word, until buffers come back:
 * a shared ring run dry must not stop the others. */
static ssize_t uring_recv(berth_sock *s, void *buf, size_t cap, int dontwait)
{
    (void)dontwait;
    uring_conn *uc = conn_of(s);
    uring_worker *uw = uc->uw;
    size_t got = 0;
    while (uc->queued && got < cap) {
        unsigned bid = uc->q_head;
        size_t have = uw->buf_len[bid] - uc->q_off, n = have < cap - got ? have : cap - got;
        memcpy((char *)buf + got, buf_at(uw, bid) + uc->q_off, n);
        got += n;
        uc->queued -= (uint32_t)n;
        if (n == have) {
            uc->q_off = 0;
            uc->q_head = uw->buf_next[bid];
            buf_return(uw, bid);
        } else {
            uc->q_off += (uint32_t)n;
        }
    }
    if (got)
        return (ssize_t)got;
    if (uc->starved && !uc->recv_err && !uc->recv_eof)
        return recv(s->fd, buf, cap, MSG_DONTWAIT); /* the ring ran dry: read as the reactor does */
    if (uc->recv_err) {
        errno = uc->recv_err;
        return -1;
    }
    if (uc->recv_eof)
        return 0;
    errno = EAGAIN;
    return -1;
}

/* 1 (errno set) when no send can start now: one failed, or one is in the
 * kernel and the bytes must keep their order. */
static int send_held(const uring_conn *uc)
{
    if (uc->send_err || uc->send_busy) {
        errno = uc->send_err ? uc->send_err : EAGAIN;
        return 1;
    }
    return 0;
}

/* Memory bytes: a head before a file range leaves at once, as on the
 * reactor (the file follows by sendfile in the same drive, MSG_MORE keeps
 * them in one packet); other bytes wait for the end of the loop turn
 * (uring_flush), when one send takes all the turn produced (the answers to
 * a pipelined batch, say), and the drive hears EAGAIN meanwhile. */
static ssize_t uring_sendv(berth_sock *s, const struct iovec *iov, int n, int more, int dontwait)
{
    uring_conn *uc = conn_of(s);
    if (send_held(uc))
        return -1;
    if (more)
        return berth_sock_plain_sendv(s, iov, n, more, dontwait);
    if (!uc->flush_queued) {
        uc->flush_queued = 1;
        uc->inflight++; /* the connection outlives the list */
        uc->next_flush = uc->uw->flushing;
        uc->uw->flushing = uc;
    }
    errno = EAGAIN;
    return -1;
}

/* One send of everything the pipe lists in memory (up to a file range). */
static void send_queue(uring_worker *uw, uring_conn *uc)
{
    berth_pipe *p = uc->io.pipe;
    berth_seg segs[URING_IOV_MAX];
    int n = p->ops->out_segs(p, segs, URING_IOV_MAX);
    if (n == 0 || !segs[0].ptr)
        return; /* nothing, or a file range first: the drive sends it */
    struct io_uring_sqe *sqe;
    if (n == 1 || !segs[1].ptr) {
        sqe = uring_sqe(uw);
        io_uring_prep_send(sqe, uc->io.s.fd, segs[0].ptr, segs[0].len,
                           BERTH_MSG_NOSIGNAL | (n > 1 ? BERTH_MSG_MORE : 0));
    } else {
        if (uw->nmsgs == URING_MSGS)
            uring_submit(uw); /* the kernel copies the headers so far */
        sqe = uring_sqe(uw); /* first: a full ring submits, and frees every header */
        uring_msg *m = &uw->msgs[uw->nmsgs++];
        int k = berth_segs_iov(segs, n, m->iov);
        memset(&m->h, 0, sizeof m->h);
        m->h.msg_iov = m->iov;
        m->h.msg_iovlen = (size_t)k;
        io_uring_prep_sendmsg(sqe, uc->io.s.fd, &m->h, (unsigned)(BERTH_MSG_NOSIGNAL | (k < n ? BERTH_MSG_MORE : 0)));
    }
    io_uring_sqe_set_data64(sqe, uring_ud(uc, URING_SEND));
    uc->send_busy = 1;
    uc->inflight++;
}

void uring_flush(uring_worker *uw)
{
    uring_conn *uc;
    while ((uc = uw->flushing)) {
        uw->flushing = uc->next_flush;
        uc->flush_queued = 0;
        uc->inflight--;
        if (uc->closing)
            zombie_done(uw, uc);
        else if (!uc->send_busy && !uc->send_err)
            send_queue(uw, uc);
    }
}

/* A file range goes out with sendfile, as on the reactor, when no send is
 * in the kernel (the order of the bytes); EAGAIN waits for a poll. */
static ssize_t uring_sendfile(berth_sock *s, int file, uint64_t *off, size_t len)
{
    return send_held(conn_of(s)) ? -1 : berth_sock_plain_sendfile(s, file, off, len);
}

static void uring_shutdown(berth_sock *s) { berth_sock_plain.shutdown(s); }
static void uring_finish(berth_sock *s) { (void)s; }

const berth_sock_ops berth_sock_uring = {uring_recv, uring_sendv, uring_sendfile, uring_shutdown, uring_finish};

/* A closed connection waiting for the kernel to let go of it may still be
 * driven (stream work queued for it before it closed): its socket is no
 * longer touched. */
static ssize_t closed_recv(berth_sock *s, void *buf, size_t cap, int dontwait)
{
    (void)s, (void)buf, (void)cap, (void)dontwait;
    return 0;
}
static ssize_t closed_sendv(berth_sock *s, const struct iovec *iov, int n, int more, int dontwait)
{
    (void)s, (void)iov, (void)n, (void)more, (void)dontwait;
    errno = EPIPE;
    return -1;
}
static ssize_t closed_sendfile(berth_sock *s, int file, uint64_t *off, size_t len)
{
    (void)s, (void)file, (void)off, (void)len;
    errno = EPIPE;
    return -1;
}
static void closed_none(berth_sock *s) { (void)s; }

static const berth_sock_ops sock_closed = {closed_recv, closed_sendv, closed_sendfile, closed_none, closed_none};

static void arm_recv(uring_worker *uw, uring_conn *uc)
{
    struct io_uring_sqe *sqe = uring_sqe(uw);
    if (URING_BENCH(URING_BENCH_ONESHOT_RECV))
        io_uring_prep_recv(sqe, uc->io.s.fd, NULL, 0, 0);
    else
        io_uring_prep_recv_multishot(sqe, uc->io.s.fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_sqe_set_data64(sqe, uring_ud(uc, URING_RECV));
    uc->recv_armed = 1;
    uc->inflight++;
}

/* A one-shot poll for input (POLLIN with the peer's FIN) or for room to
 * write, unless one is armed already. */
static void arm_poll(uring_worker *uw, uring_conn *uc, unsigned tag)
{
    if (tag == URING_POLL_IN ? uc->poll_in : uc->poll_out)
        return;
    struct io_uring_sqe *sqe = uring_sqe(uw);
    io_uring_prep_poll_add(sqe, uc->io.s.fd, tag == URING_POLL_IN ? POLLIN | POLLRDHUP : POLLOUT);
    io_uring_sqe_set_data64(sqe, uring_ud(uc, tag));
    if (tag == URING_POLL_IN)
        uc->poll_in = 1;
    else
        uc->poll_out = 1;
    uc->inflight++;
}

/* The hangup poll: a receive armed as the peer's reset (or FIN) came
 * may deliver the bytes before it and then wait on, never completing (seen
 * on Linux 6.18: two data completions with IORING_CQE_F_MORE after the
 * reset, then nothing, in about 1 of 100 TSan runs of e2e-hostile's random resets).
 * A poll of its own, armed once per connection, checks the socket's state
 * as it is armed and fires at its end: the receive is then cancelled and
 * armed again, and the new one meets the reset or the end of input. One
 * more submission and completion a connection, none a request. */
static void arm_hangup(uring_worker *uw, uring_conn *uc)
{
    struct io_uring_sqe *sqe = uring_sqe(uw);
    io_uring_prep_poll_add(sqe, uc->io.s.fd, POLLRDHUP); /* POLLERR and POLLHUP always */
    io_uring_sqe_set_data64(sqe, uring_ud(uc, URING_HANGUP));
    uc->hangup_armed = 1;
    uc->inflight++;
}

static void recv_cancel(uring_worker *uw, uring_conn *uc)
{
    if (uc->recv_cancelling)
        return;
    struct io_uring_sqe *sqe = uring_sqe(uw);
    io_uring_prep_cancel64(sqe, uring_ud(uc, URING_RECV), 0);
    io_uring_sqe_set_data64(sqe, uring_ud(NULL, URING_IGNORE));
    uc->recv_cancelling = 1;
}

int uring_conn_watch(berth_loop *l, berth_io *io, const berth_listener *li)
{
    uring_conn *uc = (uring_conn *)io;
    uc->uw = (uring_worker *)l;
    uc->completion = !(li->layer && li->layer->exact_reads);
    if (uc->completion) {
        io->sock = &berth_sock_uring;
        arm_hangup(uc->uw, uc); /* connections served by polls see the end in them */
    }
    return 0;
}

void uring_conn_driven(berth_io *io, int result, void *worker)
{
    uring_worker *uw = worker;
    uring_conn *uc = (uring_conn *)io;
    if (uc->closing)
        return; /* driven after it closed (sock_closed) */
    if (result & BERTH_IO_CLOSED) {
        uring_conn_close(uw, uc);
        return;
    }
    if (result & BERTH_IO_MORE)
        berth_ioset_ready(&uw->base.conns, io);
    if (uc->completion) {
        if (result & BERTH_IO_WANT_READ) {
            if (uc->starved)
                arm_poll(uw, uc, URING_POLL_IN);
            else if (!uc->recv_armed && !uc->recv_eof && !uc->recv_err && uc->queued < URING_QUEUE_MAX)
                arm_recv(uw, uc);
        } else if (uc->recv_armed) {
            recv_cancel(uw, uc); /* the pipe takes no input now: the kernel keeps it */
        }
        if ((result & BERTH_IO_WANT_WRITE) && !uc->send_busy && !uc->flush_queued)
            arm_poll(uw, uc, URING_POLL_OUT); /* a file range, or a head before one, found it full */
        return;
    }
    if (result & BERTH_IO_WANT_READ)
        arm_poll(uw, uc, URING_POLL_IN);
    if (result & BERTH_IO_WANT_WRITE)
        arm_poll(uw, uc, URING_POLL_OUT);
}

static void drive(uring_worker *uw, uring_conn *uc)
{
    berth_clock_update(&uw->base.w.clock); /* a head's timeout counts from its first byte */
    berth_ioset_driven(&uw->base.conns, &uc->io, berth_io_drive(&uc->io));
}

static void conn_free(uring_worker *uw, uring_conn *uc)
{
    /* Its cancellation (uring_conn_close) names its descriptor: submitted
     * before the descriptor closes, or it would meet the next connection
     * given that number. */
    if (uc->closing && uc->cancel_turn == uw->submits)
        uring_submit(uw);
    queue_drop(uc);
    if (uc->sock_open)
        uc->io.sock = uc->sock_open; /* its last word (kernel TLS: close_notify) */
    berth_loop_conn_free(&uw->base, uw->ops, &uc->io);
}

static void zombie_done(uring_worker *uw, uring_conn *uc)
{
    if (uc->inflight)
        return;
    for (uring_conn **pp = &uw->zombies; *pp; pp = &(*pp)->next) {
        if (*pp == uc) {
            *pp = uc->next;
            break;
        }
    }
    conn_free(uw, uc);
}

static void recv_complete(uring_worker *uw, uring_conn *uc, const struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        uc->recv_armed = uc->recv_cancelling = 0;
        uc->inflight--;
    }
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        uw->bufs_out++;
        if (uc->closing || cqe->res <= 0) {
            buf_return(uw, bid);
        } else {
            uw->buf_len[bid] = (uint32_t)cqe->res;
            if (uc->queued)
                uw->buf_next[uc->q_tail] = (uint16_t)bid;
            else
                uc->q_head = (uint16_t)bid, uc->q_off = 0;
            uc->q_tail = (uint16_t)bid;
            uc->queued += (uint32_t)cqe->res;
        }
    }
    if (uc->closing) {
        zombie_done(uw, uc);
        return;
    }
    if (cqe->res == 0) {
        uc->recv_eof = 1;
        uc->io.hup = 1;
    } else if (cqe->res == -ENOBUFS) {
        if (!uc->starved) { /* reads by itself until buffers come back */
            uc->starved = 1;
            uc->next = uw->starved;
            uw->starved = uc;
        }
    } else if (cqe->res < 0 && cqe->res != -ECANCELED) {
        uc->recv_err = -cqe->res;
    }
    if (uc->recv_armed && uc->queued >= URING_QUEUE_MAX)
        recv_cancel(uw, uc); /* enough waits for the pipe: the kernel keeps the rest */
    uc->io.readable = 1;
    drive(uw, uc);
}

/* A drive may free the connection: it comes last, and a closing one is
 * only counted down. */
void uring_conn_complete(uring_worker *uw, uring_conn *uc, unsigned tag, const struct io_uring_cqe *cqe)
{
    if (tag == URING_RECV) {
        recv_complete(uw, uc, cqe);
        return;
    }
    if (tag == URING_SEND) {
        uc->send_busy = 0;
        uc->inflight--;
        if (uc->closing) {
            zombie_done(uw, uc);
            return;
        }
        if (cqe->res > 0)
            uc->io.pipe->ops->out_done(uc->io.pipe, (size_t)cqe->res);
        else if (cqe->res != -ECANCELED) /* cancelled (see below): nothing sent, sent again */
            uc->send_err = cqe->res < 0 ? -cqe->res : EPIPE;
        drive(uw, uc);
        return;
    }
    if (tag == URING_HANGUP) {
        uc->hangup_armed = 0;
        uc->inflight--;
        if (uc->closing) {
            zombie_done(uw, uc);
        } else if (cqe->res == -ECANCELED) {
            arm_hangup(uw, uc); /* a cancellation meant for the connection before it (below) */
        } else if (uc->recv_armed) {
            recv_cancel(uw, uc); /* its completion drives, which arms a receive that meets the end */
        }
        return;
    }
    /* URING_POLL_IN, URING_POLL_OUT */
    if (tag == URING_POLL_IN)
        uc->poll_in = 0;
    else
        uc->poll_out = 0;
    uc->inflight--;
    if (uc->closing) {
        zombie_done(uw, uc);
        return;
    }
    /* A live connection's operation is cancelled only by a cancellation
     * meant for the one before it at the same descriptor or address (freed
     * in the turn it was queued): it is driven, which arms what it waits
     * for again. */
    int ev = cqe->res == -ECANCELED ? 0 : cqe->res < 0 ? POLLERR | POLLHUP : cqe->res;
    if (ev & (POLLIN | POLLERR | POLLHUP | POLLRDHUP))
        uc->io.readable = 1; /* an error shows on the next read */
    if (ev & (POLLHUP | POLLRDHUP))
        uc->io.hup = 1;
    drive(uw, uc);
}

void uring_conn_close(uring_worker *uw, uring_conn *uc)
{
    if (uc->closing)
        return;
    berth_ioset_remove(&uw->base.conns, &uc->io);
    if (uc->starved) {
        for (uring_conn **pp = &uw->starved; *pp; pp = &(*pp)->next) {
            if (*pp == uc) {
                *pp = uc->next;
                break;
            }
        }
        uc->starved = 0;
    }
    if (!uc->inflight) {
        conn_free(uw, uc);
        return;
    }
    /* The kernel still has operations on its socket and, for a send, on
     * its pipe's bytes: they are cancelled, and the connection is freed
     * with their last completion. */
    uc->closing = 1;
    uc->sock_open = uc->io.sock;
    uc->io.sock = &sock_closed;
    struct io_uring_sqe *sqe = uring_sqe(uw);
    io_uring_prep_cancel_fd(sqe, uc->io.s.fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, uring_ud(NULL, URING_IGNORE));
    uc->cancel_turn = uw->submits;
    uc->next = uw->zombies;
    uw->zombies = uc;
}

void uring_conns_unstarve(uring_worker *uw)
{
    while (uw->starved && uw->bufs_out <= URING_BUFS / 2) {
        uring_conn *uc = uw->starved;
        uw->starved = uc->next;
        uc->starved = 0;
        if (!uc->recv_armed && !uc->recv_eof && !uc->recv_err)
            arm_recv(uw, uc);
    }
}
