/* What differs between the systems berth runs on (Linux, FreeBSD, macOS),
 * behind a few functions and macros, so the backends say what they mean
 * once (libuv's src/unix/ and lwan's missing-*.c are the models).
 *
 * Linux has every call berth would like: accept4, eventfd, sendfile,
 * MSG_MORE, ppoll, sched_getaffinity, abstract Unix sockets and kTLS.
 * FreeBSD has most of them under other names or signatures; macOS has the
 * fewest. A build with -Dportable=true (meson defines BERTH_PORTABLE) takes
 * the fallbacks on Linux too, so the suite tests them on this machine:
 * pipes for eventfds, accept + fcntl, pread + send for sendfile, no
 * MSG_MORE, no ppoll, one shared listener instead of SO_REUSEPORT
 * balancing, no abstract sockets, a restartless SIGURG handler. kTLS is
 * Linux's (sock_ktls.c); FreeBSD's kernel TLS is another interface, not
 * used (docs/PLATFORMS.md). */
#ifndef BERTH_PLATFORM_H
#define BERTH_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#if defined(__linux__) && !defined(BERTH_PORTABLE)
#define BERTH_OS_LINUX 1
#else
#define BERTH_OS_LINUX 0
#endif
#if defined(__FreeBSD__) && !defined(BERTH_PORTABLE)
#define BERTH_OS_FREEBSD 1
#else
#define BERTH_OS_FREEBSD 0
#endif

/* ppoll with a signal mask: Linux and FreeBSD. Without it (macOS), fast's
 * connection threads are woken through a descriptor each, never SIGURG. */
#define BERTH_HAVE_PPOLL (BERTH_OS_LINUX || BERTH_OS_FREEBSD)

/* Abstract Unix sockets ("@name"): Linux only; elsewhere a listen string
 * naming one is a configuration error. */
#define BERTH_HAVE_ABSTRACT_UNIX BERTH_OS_LINUX

/* Linux's recv on a socket with SO_RCVTIMEO is never restarted after a
 * handled signal; BSD's is, under SA_RESTART. fast's stop interrupts
 * blocked reads with SIGURG, so elsewhere its handler is installed
 * without SA_RESTART (it is signalled only at threads inside berth's own
 * I/O calls, which all retry on EINTR). */
#define BERTH_SIGURG_RESTARTS BERTH_OS_LINUX

/* send flags: the head leaves with the body that follows (Linux's
 * MSG_MORE; BSD's TCP_NOPUSH would cost two setsockopt calls a response,
 * so there the head may leave in a segment of its own), and no SIGPIPE
 * (macOS has no MSG_NOSIGNAL: SO_NOSIGPIPE is set on each socket
 * instead, by berth_accept). */
#if BERTH_OS_LINUX
#define BERTH_MSG_MORE MSG_MORE
#else
#define BERTH_MSG_MORE 0
#endif
#ifdef MSG_NOSIGNAL
#define BERTH_MSG_NOSIGNAL MSG_NOSIGNAL
#else
#define BERTH_MSG_NOSIGNAL 0
#endif

/* A socket with close-on-exec, non-blocking if asked. */
int berth_socket(int domain, int type, int nonblock);
/* accept with close-on-exec, non-blocking if asked (and on macOS with
 * SO_NOSIGPIPE); -1 and errno. */
int berth_accept(int lfd, struct sockaddr *peer, socklen_t *len, int nonblock);

/* The socket option that spreads a port's connections over several
 * listeners (SO_REUSEPORT on Linux, SO_REUSEPORT_LB on FreeBSD), or -1
 * where there is none (macOS: SO_REUSEPORT there lets sockets share a port
 * but one of them gets every connection): the workers then share one
 * listening socket. */
int berth_reuseport_option(void);

/* Up to len bytes of file from *off to the socket, *off advanced; the
 * bytes sent, or -1 with errno (EAGAIN on a full socket). Linux's and
 * the BSDs' sendfile, or pread and send where neither is used. */
ssize_t berth_sendfile(int sock, int file, uint64_t *off, size_t len);

/* A wake-up descriptor: readable once signalled, until drained. An
 * eventfd on Linux (rfd == wfd), a pipe elsewhere; both non-blocking and
 * close-on-exec. An unopened one has rfd = wfd = -1. */
typedef struct berth_wake {
    int rfd, wfd;
} berth_wake;
#define BERTH_WAKE_NONE {-1, -1}

int berth_wake_open(berth_wake *w);
void berth_wake_signal(const berth_wake *w);
void berth_wake_drain(const berth_wake *w);
void berth_wake_close(berth_wake *w);

/* The CPUs this process may run on (its affinity mask where the system
 * has one), at least 1. */
int berth_cpu_count(void);

/* Takes a SIGPIPE left pending on this thread, if any (sock.c says why);
 * errno is kept. */
void berth_sigpipe_take(void);

#endif
