/* The backends' side of core/transport.h: what a connection's socket
 * answers for the engine, shared by every backend. */
#ifndef BERTH_TRANSPORT_OPS_H
#define BERTH_TRANSPORT_OPS_H

#include "../core/transport.h"

/* The local address of the socket of transport (a berth_io), by
 * getsockname: only when a handler asks (core/conn_info.c). */
int berth_io_local_addr(void *transport, berth_addr *out);

/* The event loops' transport: the local address; output waits for the
 * loop (no flush). */
extern const berth_transport_ops berth_loop_transport;

#endif
