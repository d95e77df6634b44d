/* Connection addresses: a compact form kept per connection (20 bytes; an
 * idle connection stays small) and the public berth_addr made from it on
 * demand. Data only: no socket is touched here. */
#ifndef BERTH_ADDR_H
#define BERTH_ADDR_H

#include <stdint.h>
#include <sys/socket.h>

#include "berth.h"

typedef struct berth_caddr {
    uint8_t family; /* BERTH_AF_*, 0: unknown */
    uint16_t port;
    uint8_t raw[16];
} berth_caddr;

/* From a socket address (IPv4-mapped IPv6 addresses become IPv4). */
void berth_caddr_set(berth_caddr *a, const struct sockaddr *sa, socklen_t len);
/* 1 and *out if a is known, 0 otherwise. */
int berth_caddr_get(const berth_caddr *a, berth_addr *out);
/* A whole berth_addr from a socket address, a Unix socket's path included.
 * 1, or 0 for an unknown family. */
int berth_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, berth_addr *out);

#endif
