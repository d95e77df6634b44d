/* Listening sockets: one per worker with SO_REUSEPORT, so the kernel
 * spreads connections and no accept lock is shared; or, without it, one
 * socket that every worker accepts from (always so for Unix sockets and
 * sockets handed over: fd:N, systemd). And the berth_config.listen list. */
#ifndef BERTH_LISTEN_H
#define BERTH_LISTEN_H

#include <stdint.h>

#include "berth.h"
#include "../core/log.h"

enum { BERTH_LS_TCP, BERTH_LS_UNIX, BERTH_LS_FD };

/* One entry of berth_config.listen (systemd expands to one per socket). */
typedef struct berth_listen_spec {
    int kind;
    char *host;        /* TCP; NULL: all IPv4 addresses */
    unsigned port;
    char *path;        /* UNIX; "@name": the abstract namespace */
    int fd;            /* FD: the socket handed over (berth uses duplicates) */
    int *group;        /* FD: SO_REUSEPORT sockets of one address (a server's
                        * per-thread listeners handed over, berth-serve's
                        * upgrade), ngroup of them: thread i serves group[i %
                        * ngroup]; NULL: fd alone */
    int ngroup;
    int *socks;        /* once open: the distinct sockets (nsocks), for
                        * berth_server_listen_fds */
    int nsocks;
    int tls, proxy;
    int h1, h2;        /* options h1, h2: only that protocol (neither: both) */
    int made_path;     /* berth created the socket file: removed at the end */
    berth_addr bound;  /* once open */
} berth_listen_spec;

/* Messages go to log (the server's). */

/* Parses a listen list into a new array of *n entries. 0, or -1 with a
 * message naming the entry. Consecutive systemd sockets bound to one
 * address with SO_REUSEPORT make one entry of up to `threads` sockets. */
int berth_listen_parse(berth_log *log, const char *list, int threads, berth_listen_spec **specs,
                       int *n);
void berth_listen_specs_free(berth_listen_spec *specs, int n);
/* Opens count listening sockets for spec (fds[]), fills spec->bound. 0, or
 * -1 with a message. Non-blocking when nonblock is set. */
int berth_listen_spec_open(berth_log *log, berth_listen_spec *spec, int count, int nonblock,
                           int reuseport, int *fds);

/* Opens count listeners on host:port (port 0: one ephemeral port shared by
 * all): SO_REUSEPORT sockets, or with reuseport 0 one socket and count-1
 * duplicates of it. A port that another socket holds is an error either
 * way. Fills fds[] and *bound_port. Returns 0, or -1 with a message.
 * Non-blocking when nonblock is set. */
int berth_listen_open(berth_log *log, const char *host, uint16_t port, int count, int nonblock,
                      int reuseport, int *fds, uint16_t *bound_port);
/* Warns (berth_logf) when systemd passed sockets to this process
 * (LISTEN_PID is ours, LISTEN_FDS > 0) and none of specs is one of them:
 * those sockets would wait unserved and their clients hang. */
void berth_listen_systemd_check(berth_log *log, const berth_listen_spec *specs, int n);
/* Sets TCP_NODELAY on an accepted socket. */
void berth_socket_tune(int fd);

#endif
