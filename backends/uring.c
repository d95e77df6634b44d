/* The io_uring backend (HTTP_BACKEND=uring): N threads like the reactor,
 * each with its own ring and its own SO_REUSEPORT listener, accepting with
 * a multishot accept and serving connections by completion (uring_conn.h). Each
 * loop turn submits every operation it queued and waits for the next
 * completions in one io_uring_enter, with the worker's earliest deadline as
 * its timeout (no timeout operation per connection).
 *
 * Where io_uring cannot be used (kernel.io_uring_disabled, a seccomp
 * profile that refuses it as Docker's default does, a kernel older than
 * 6.0), the server says so once and runs the reactor instead. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "platform.h"
#include "uring_conn.h"
#include "../core/log.h"

#define URING_ENTRIES 1024
/* Waiting at the end for the kernel to let go of closed connections. */
#define URING_EXIT_WAIT_MS 2000

static const berth_loop_ops uring_loop;

static void arm_accept(uring_worker *uw, int k)
{
    berth_listener *li = &uw->base.listeners[k];
    if (li->fd < 0 || uw->accept_armed[k])
        return;
    struct io_uring_sqe *sqe = uring_sqe(uw);
    io_uring_prep_multishot_accept(sqe, li->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, uring_ud(li, URING_ACCEPT));
    uw->accept_armed[k] = 1;
}

static void arm_wake(uring_worker *uw)
{
    struct io_uring_sqe *sqe = uring_sqe(uw);
    io_uring_prep_read(sqe, uw->wake.rfd, &uw->wake_val, sizeof uw->wake_val, 0);
    io_uring_sqe_set_data64(sqe, uring_ud(uw, URING_WAKE));
}

static void accepted(uring_worker *uw, berth_listener *li, const struct io_uring_cqe *cqe)
{
    int k = (int)(li - uw->base.listeners);
    if (!(cqe->flags & IORING_CQE_F_MORE) && cqe->res != -ECANCELED) { /* cancelled: replaced, or the end */
        uw->accept_armed[k] = 0;
        int e = -cqe->res;
        if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
            uw->accept_paused = 1; /* accepts again at the next sweep */
        else if (!uw->base.stopping)
            arm_accept(uw, k);
    }
    if (cqe->res < 0)
        return;
    int fd = cqe->res;
    /* Accepted as the listener closed (the cancel not yet done): served
     * all the same, drained as it is adopted (berth_loop_adopt). Closing
     * it would reset a client whose connection the kernel had taken,
     * which on a socket handed to another process (an upgrade) would
     * otherwise have been served there. */
    /* A multishot accept has no address per connection: asked here. */
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    if (getpeername(fd, (struct sockaddr *)&peer, &plen) != 0)
        plen = 0;
    berth_loop_adopt(&uw->base, &uring_loop, li, fd, plen ? (struct sockaddr *)&peer : NULL, plen);
}

static void complete(uring_worker *uw, const struct io_uring_cqe *cqe)
{
    unsigned tag = (unsigned)(cqe->user_data & URING_TAG_MASK);
    void *p = (void *)(uintptr_t)(cqe->user_data & ~(uint64_t)URING_TAG_MASK);
    switch (tag) {
    case URING_HANGUP: /* URING_IGNORE with no connection */
        if (p)
            uring_conn_complete(uw, p, tag, cqe);
        break;
    case URING_RECV:
    case URING_SEND:
    case URING_POLL_IN:
    case URING_POLL_OUT:
        uring_conn_complete(uw, p, tag, cqe);
        break;
    case URING_ACCEPT:
        accepted(uw, p, cqe);
        break;
    case URING_WAKE:
        if (cqe->res != -ECANCELED)
            arm_wake(uw);
        berth_ioset_run_woken(&uw->base.conns, &uw->base.w);
        break;
    case URING_STOP:
        if (cqe->res > 0 || cqe->res == -ECANCELED) /* POLLIN, or the end */
            uw->stop_asked = 1;
        break;
    default:
        break;
    }
}

/* Submits what is queued and waits up to timeout_ms for a completion, then
 * handles every completion there is. */
static void turn(uring_worker *uw, int timeout_ms)
{
    struct __kernel_timespec ts = {timeout_ms / 1000, (long long)(timeout_ms % 1000) * 1000000};
    struct io_uring_cqe *cqe;
    int rc = io_uring_submit_and_wait_timeout(&uw->ring, &cqe, 1, &ts, NULL);
    uw->nmsgs = 0;
    uw->submits++;
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
        /* Not expected of a working ring (EFAULT, EBADF...): said once;
         * the worker goes on with its timers and deadlines, as the
         * reactor's does when its poller fails. */
        if (!uw->wait_failed) {
            uw->wait_failed = 1;
            berth_logf(uw->base.w.engine->log, "berth: uring: waiting for completions failed: %s (the worker "
                       "goes on with its timers and deadlines)", strerror(-rc));
        }
        struct timespec sl = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};
        nanosleep(&sl, NULL);
    }
    berth_clock_update(&uw->base.w.clock);
    unsigned head, n = 0;
    io_uring_for_each_cqe(&uw->ring, head, cqe)
    {
        complete(uw, cqe);
        n++;
        if (URING_BENCH(URING_BENCH_NO_BATCH)) {
            uring_flush(uw);
            if (io_uring_sq_ready(&uw->ring))
                uring_submit(uw);
        }
    }
    io_uring_cq_advance(&uw->ring, n);
}

static void stop_listening(uring_worker *uw)
{
    for (int k = 0; k < uw->base.nlisteners; k++) {
        berth_listener *li = &uw->base.listeners[k];
        if (li->fd < 0)
            continue;
        if (uw->accept_armed[k]) {
            /* The ring holds the socket while an accept is armed: the
             * cancel goes in before the close, so the port closes now. */
            struct io_uring_sqe *sqe = uring_sqe(uw);
            io_uring_prep_cancel_fd(sqe, li->fd, IORING_ASYNC_CANCEL_ALL);
            io_uring_sqe_set_data64(sqe, uring_ud(NULL, URING_IGNORE));
            uring_submit(uw);
        }
        close(li->fd);
        li->fd = -1;
    }
}

static void wake(berth_worker *w)
{
    uring_worker *uw = w->backend;
    berth_wake_signal(&uw->wake);
}

/* A multishot accept takes the descriptor limit from when it was armed:
 * after a change (prlimit on the running server, setrlimit by the
 * application) the accepts are armed afresh, within a sweep. */
static void accept_limit_check(uring_worker *uw)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == uw->nofile)
        return;
    uw->nofile = rl.rlim_cur;
    for (int k = 0; k < uw->base.nlisteners; k++) {
        if (!uw->accept_armed[k])
            continue;
        struct io_uring_sqe *sqe = uring_sqe(uw);
        io_uring_prep_cancel64(sqe, uring_ud(&uw->base.listeners[k], URING_ACCEPT), 0);
        io_uring_sqe_set_data64(sqe, uring_ud(NULL, URING_IGNORE));
        uw->accept_armed[k] = 0;
        arm_accept(uw, k); /* after the cancel, which meets only the old one */
    }
}

static void accept_pause(berth_loop *l) { ((uring_worker *)l)->accept_paused = 1; }

static void *worker_main(void *arg)
{
    uring_worker *uw = arg;
    uw->base.w.owner = pthread_self();
    berth_clock_update(&uw->base.w.clock);
    berth_sock_thread_init(); /* SIGPIPE blocked: sendfile (sock.c) */
    /* This thread is the ring's one issuer. (liburing 2.3's library has no
     * io_uring_enable_rings, though its header names it.) */
    if (uw->enable)
        syscall(__NR_io_uring_register, uw->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    if (URING_BENCH(URING_BENCH_RING_FD))
        io_uring_register_ring_fd(&uw->ring);
    struct rlimit rl;
    uw->nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 0;
    for (int k = 0; k < uw->base.nlisteners; k++)
        arm_accept(uw, k);
    struct io_uring_sqe *sqe = uring_sqe(uw);
    io_uring_prep_poll_add(sqe, uw->base.srv->stop.rfd, POLLIN);
    io_uring_sqe_set_data64(sqe, uring_ud(uw, URING_STOP));
    arm_wake(uw);

    uint64_t next_sweep = uw->base.w.clock.now_ms + BERTH_SWEEP_MAX_MS;
    uint64_t next_timer = UINT64_MAX;
    for (;;) {
        uint64_t now = uw->base.w.clock.now_ms;
        uint64_t due = next_timer < next_sweep ? next_timer : next_sweep;
        int timeout = due <= now || berth_ioset_has_ready(&uw->base.conns) ? 0 : (int)(due - now);
        uring_flush(uw);
        turn(uw, timeout);
        if (uw->stop_asked && !uw->base.stopping) {
            stop_listening(uw);
            berth_loop_stop(&uw->base);
        }
        next_timer = berth_worker_run_timers(&uw->base.w);
        berth_ioset_run_woken(&uw->base.conns, &uw->base.w);
        berth_ioset_run_ready(&uw->base.conns);
        uring_conns_unstarve(uw);
        if (uw->base.w.clock.now_ms >= next_sweep) {
            uint64_t d = berth_ioset_sweep(&uw->base.conns, uw->base.w.clock.now_ms);
            next_sweep = berth_sweep_next(d, uw->base.w.clock.now_ms, BERTH_SWEEP_MAX_MS);
            if (!uw->base.stopping)
                accept_limit_check(uw);
            if (uw->accept_paused && !uw->base.stopping) {
                uw->accept_paused = 0;
                for (int k = 0; k < uw->base.nlisteners; k++)
                    arm_accept(uw, k);
            }
        }
        if (berth_loop_drained(&uw->base))
            break;
    }
    while (uw->base.conns.count) {
        berth_io *io = uw->base.conns.head.next;
        const uring_conn *uc = (const uring_conn *)io;
        /* Said, as a connection the drain waited for in vain may be one
         * whose operations the kernel never completed (a receive armed on
         * a socket the peer had reset, before the hangup poll: uring_conn.c). */
        berth_logf(uw->base.w.engine->log, "berth: uring: the drain's deadline cuts a connection (fd %d: receive %s, "
                   "polls in/out %u/%u, send %s, %u bytes queued, %u operations in the kernel)", io->s.fd,
                   uc->recv_armed ? "armed" : "not armed", uc->poll_in, uc->poll_out,
                   uc->send_busy ? "in the kernel" : "none", uc->queued, uc->inflight);
        io->pipe->ops->abort(io->pipe); /* cut: a stream learns the client is gone */
        uring_conn_close(uw, (uring_conn *)io);
    }
    stop_listening(uw);
    /* The kernel lets go of the closed connections' sockets and bytes. */
    uring_flush(uw);
    uint64_t until = uw->base.w.clock.now_ms + URING_EXIT_WAIT_MS;
    while (uw->zombies && uw->base.w.clock.now_ms < until)
        turn(uw, 10);
    berth_listeners_thread_exit(uw->base.listeners, uw->base.nlisteners);
    return NULL;
}

/* The ring with the setup flags this kernel has: one issuer whose task
 * work waits for its next wait (6.1), else cooperative task work (5.19),
 * else none. */
static int ring_init(uring_worker *uw)
{
    static const unsigned tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int rc = -EINVAL;
    size_t first = URING_BENCH(URING_BENCH_NO_FLAGS) ? 2 : URING_BENCH(URING_BENCH_COOP) ? 1 : 0;
    for (size_t i = first; i < sizeof tries / sizeof tries[0]; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i];
        rc = io_uring_queue_init_params(URING_ENTRIES, &uw->ring, &p);
        if (rc == 0) {
            uw->enable = (tries[i] & IORING_SETUP_R_DISABLED) != 0;
            return 0;
        }
        if (rc != -EINVAL)
            break;
    }
    errno = -rc;
    return -1;
}

/* The provided-buffer ring (group 0), every buffer in it. */
static int bufs_init(uring_worker *uw)
{
    size_t size = URING_BUFS * sizeof(struct io_uring_buf);
    void *br = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (br == MAP_FAILED)
        return -1;
    uw->br = br;
    uw->bufs = malloc((size_t)URING_BUFS * URING_BUF_SIZE);
    if (!uw->bufs)
        return -1;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)br;
    reg.ring_entries = URING_BUFS;
    reg.bgid = 0;
    int rc = io_uring_register_buf_ring(&uw->ring, &reg, 0);
    if (rc != 0) {
        errno = -rc;
        return -1;
    }
    uw->br_ok = 1;
    io_uring_buf_ring_init(uw->br);
    for (unsigned i = 0; i < URING_BUFS; i++)
        io_uring_buf_ring_add(uw->br, uw->bufs + (size_t)i * URING_BUF_SIZE, URING_BUF_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(URING_BUFS), (int)i);
    io_uring_buf_ring_advance(uw->br, URING_BUFS);
    return 0;
}

static int setup(berth_loop *l)
{
    uring_worker *uw = (uring_worker *)l;
    uw->ops = &uring_loop;
    const char *what = "its ring";
    int ok = ring_init(uw) == 0;
    uw->ring_ok = ok;
    if (ok && (what = "its receive buffers", bufs_init(uw) != 0))
        ok = 0;
    if (ok && (what = "its wake descriptor", berth_wake_open(&uw->wake) != 0))
        ok = 0;
    uw->wake_ok = ok;
    if (ok && (what = "its listeners' state", !(uw->accept_armed = calloc((size_t)l->nlisteners, 1))))
        ok = 0;
    if (!ok)
        berth_logf(&l->srv->log, "berth: uring: cannot set up a worker, %s: %s", what, strerror(errno));
    return ok ? 0 : -1;
}

static void cleanup(berth_loop *l)
{
    uring_worker *uw = (uring_worker *)l;
    if (uw->ring_ok)
        io_uring_queue_exit(&uw->ring); /* before the buffers it may still name */
    while (uw->zombies) { /* left after URING_EXIT_WAIT_MS: the ring is gone now */
        uring_conn *uc = uw->zombies;
        uw->zombies = uc->next;
        uc->inflight = 0;
        uc->queued = 0;
        berth_loop_conn_free(&uw->base, &uring_loop, &uc->io);
    }
    if (uw->br)
        munmap(uw->br, URING_BUFS * sizeof(struct io_uring_buf));
    free(uw->bufs);
    free(uw->accept_armed);
    if (uw->wake_ok)
        berth_wake_close(&uw->wake);
}

static const berth_loop_ops uring_loop = {
    .name = "uring", .worker_size = sizeof(uring_worker), .main = worker_main, .wake = wake,
    .driven = uring_conn_driven, .setup = setup, .cleanup = cleanup, .conn_size = sizeof(uring_conn),
    .io_offset = 0, .watch = uring_conn_watch, .accept_pause = accept_pause,
};

/* Why this process cannot serve with io_uring, or NULL. */
static const char *unusable(char *why, size_t cap)
{
    struct utsname u;
    int major = 0, minor = 0;
    if (uname(&u) == 0 && sscanf(u.release, "%d.%d", &major, &minor) == 2 && major < 6) {
        snprintf(why, cap, "Linux %d.%d has no multishot receive (6.0 or later)", major, minor);
        return why;
    }
    struct io_uring r;
    int rc = io_uring_queue_init(2, &r, 0);
    if (rc != 0) {
        snprintf(why, cap, "io_uring_setup: %s%s", strerror(-rc),
                 rc == -EPERM || rc == -ENOSYS ? " (kernel.io_uring_disabled, or a seccomp profile such as "
                                                 "Docker's default)" : "");
        return why;
    }
    io_uring_queue_exit(&r);
    return NULL;
}

static int uring_start(berth_server *srv)
{
    char why[160];
    if (unusable(why, sizeof why)) {
        berth_logf(&srv->log, "berth: uring: io_uring cannot be used here (%s): serving with the reactor "
                   "instead", why);
        srv->ops = &berth_backend_reactor;
        snprintf(srv->backend_name, sizeof srv->backend_name, "%s", srv->ops->name);
        return srv->ops->start(srv);
    }
    return berth_loop_start(srv, &uring_loop);
}

static void uring_join(berth_server *srv) { berth_loop_join(srv, &uring_loop); }

const berth_backend_ops berth_backend_uring = {"uring", uring_start, uring_join};
