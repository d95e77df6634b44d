/* The calls that differ between Linux, FreeBSD and macOS (platform.h). */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if BERTH_OS_LINUX
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#elif BERTH_OS_FREEBSD
#include <sys/param.h>
#include <sys/cpuset.h>
#include <sys/uio.h>
#elif defined(__APPLE__)
#include <sys/uio.h>
#endif

/* socket's and accept4's SOCK_CLOEXEC and SOCK_NONBLOCK flags: Linux and
 * FreeBSD; elsewhere fcntl after the call (no exec happens in between in
 * berth's own threads; an application forking and executing from another
 * thread at that moment could leak the descriptor to its child). */
#define HAVE_SOCK_FLAGS (BERTH_OS_LINUX || BERTH_OS_FREEBSD)

#if !BERTH_OS_LINUX /* the wake pipe and the fallbacks of socket and accept */
static int set_flags(int fd, int nonblock)
{
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
        (nonblock && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}
#endif

int berth_socket(int domain, int type, int nonblock)
{
#if HAVE_SOCK_FLAGS
    return socket(domain, type | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
#else
    int fd = socket(domain, type, 0);
    return fd < 0 ? -1 : set_flags(fd, nonblock);
#endif
}

int berth_accept(int lfd, struct sockaddr *peer, socklen_t *len, int nonblock)
{
#if HAVE_SOCK_FLAGS
    return accept4(lfd, peer, len, SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0));
#else
    /* BSD's accept hands out a socket with the listener's O_NONBLOCK,
     * Linux's without: say it either way. */
    int fd = accept(lfd, peer, len);
    if (fd < 0)
        return -1;
    if (!nonblock && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        close(fd);
        return -1;
    }
#ifdef SO_NOSIGPIPE
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    return set_flags(fd, nonblock);
#endif
}

int berth_reuseport_option(void)
{
#if BERTH_OS_LINUX
    return SO_REUSEPORT;
#elif BERTH_OS_FREEBSD
    return SO_REUSEPORT_LB;
#else
    return -1;
#endif
}

ssize_t berth_sendfile(int sock, int file, uint64_t *off, size_t len)
{
    if (len == 0)
        return 0; /* BSD's sendfile reads a length of 0 as "to the end" */
#if BERTH_OS_LINUX
    off_t o = (off_t)*off;
    ssize_t n = sendfile(sock, file, &o, len);
    if (n > 0)
        *off = (uint64_t)o;
    return n;
#elif BERTH_OS_FREEBSD
    /* A non-blocking socket that fills part-way: -1 with EAGAIN, and the
     * bytes that went in sbytes. */
    off_t sent = 0;
    int rc = sendfile(file, sock, (off_t)*off, len, NULL, &sent, 0);
    if (sent > 0) {
        *off += (uint64_t)sent;
        return (ssize_t)sent;
    }
    return rc < 0 ? -1 : 0;
#elif defined(__APPLE__)
    off_t sent = (off_t)len; /* in: how much; out: how much went */
    int rc = sendfile(file, sock, (off_t)*off, &sent, NULL, 0);
    if (sent > 0) {
        *off += (uint64_t)sent;
        return (ssize_t)sent;
    }
    return rc < 0 ? -1 : 0;
#else
    /* A copy through userspace: what the rest of berth does for TLS. */
    char buf[16384];
    ssize_t r = pread(file, buf, len < sizeof buf ? len : sizeof buf, (off_t)*off);
    if (r <= 0)
        return r;
    ssize_t n = send(sock, buf, (size_t)r, BERTH_MSG_NOSIGNAL);
    if (n > 0)
        *off += (uint64_t)n;
    return n;
#endif
}

/* ---- wake-up descriptors --------------------------------------------- */

int berth_wake_open(berth_wake *w)
{
#if BERTH_OS_LINUX
    w->rfd = w->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return w->rfd < 0 ? -1 : 0;
#else
    int p[2];
    if (pipe(p) != 0)
        return -1;
    if (set_flags(p[0], 1) < 0) {
        close(p[1]);
        return -1;
    }
    if (set_flags(p[1], 1) < 0) {
        close(p[0]);
        return -1;
    }
    w->rfd = p[0];
    w->wfd = p[1];
    return 0;
#endif
}

void berth_wake_signal(const berth_wake *w)
{
    /* A full pipe or a saturated counter is already readable: nothing is
     * lost by a write that fails. */
#if BERTH_OS_LINUX
    uint64_t one = 1;
    ssize_t n = write(w->wfd, &one, sizeof one);
#else
    char one = 1;
    ssize_t n = write(w->wfd, &one, 1);
#endif
    (void)n;
}

void berth_wake_drain(const berth_wake *w)
{
#if BERTH_OS_LINUX
    uint64_t v;
    ssize_t n = read(w->rfd, &v, sizeof v);
    (void)n;
#else
    char buf[64];
    while (read(w->rfd, buf, sizeof buf) == (ssize_t)sizeof buf)
        ;
#endif
}

void berth_wake_close(berth_wake *w)
{
    if (w->rfd >= 0)
        close(w->rfd);
    if (w->wfd >= 0 && w->wfd != w->rfd)
        close(w->wfd);
    w->rfd = w->wfd = -1;
}

int berth_cpu_count(void)
{
#if BERTH_OS_LINUX
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
#elif BERTH_OS_FREEBSD
    cpuset_t set;
    if (cpuset_getaffinity(CPU_LEVEL_WHICH, CPU_WHICH_PID, -1, sizeof set, &set) == 0 &&
        CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void berth_sigpipe_take(void)
{
    int saved = errno;
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
#if BERTH_OS_LINUX || BERTH_OS_FREEBSD
    struct timespec now = {0, 0};
    while (sigtimedwait(&pipe, NULL, &now) < 0 && errno == EINTR)
        ;
#else
    /* No sigtimedwait (macOS): sigwait only once it is known pending,
     * where it returns at once. */
    sigset_t pending;
    int sig;
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE))
        sigwait(&pipe, &sig);
#endif
    errno = saved;
}
