/* Listening sockets: one per worker with SO_REUSEPORT, so the kernel
 * spreads connections and no accept lock is shared; or, without it, one
 * socket that every worker accepts from. */
#ifndef BERTH_LISTEN_H
#define BERTH_LISTEN_H

#include <stdint.h>

/* Opens count listeners on host:port (port 0: one ephemeral port shared by
 * all): SO_REUSEPORT sockets, or with reuseport 0 one socket and count-1
 * duplicates of it. A port that another socket holds is an error either
 * way. Fills fds[] and *bound_port. Returns 0, or -1 with a message on
 * stderr. Non-blocking when nonblock is set. */
int berth_listen_open(const char *host, uint16_t port, int count, int nonblock, int reuseport,
                      int *fds, uint16_t *bound_port);
/* Sets TCP_NODELAY on an accepted socket. */
void berth_socket_tune(int fd);

#endif
