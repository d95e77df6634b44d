/* What a connection's transport does for the engine when asked: the one
 * way the engine reaches the backend that carries its bytes, other than
 * the pipe (pipe.h), which the backend drives from below.
 *
 * The backend sets the table on each worker it runs (berth_worker.transport,
 * the same for every connection of a thread) and gives each connection a
 * handle (berth_conn_set_transport: its berth_io), which the operations get
 * back. The engine knows neither socket nor backend: it calls the table,
 * the way h2o's protocol code asks its socket through the connection's
 * callbacks (h2o_conn_callbacks_t: get_sockname, get_peername) set by
 * whoever made the connection. Nothing here is on a request's path unless a
 * handler asks for the local address or streams from a blocking handler.
 *
 * A worker without a table (the engine's tests) has neither service: the
 * local address is unknown, and output waits for the loop. */
#ifndef BERTH_TRANSPORT_H
#define BERTH_TRANSPORT_H

#include "berth.h"

typedef struct berth_transport_ops {
    /* The local address of the connection's socket: 0 and *out, or a
     * negative berth_err. Asked only when a handler wants it (it costs a
     * system call; nothing asks it per connection). A PROXY header's local
     * address, when there is one, is the engine's and is used instead. */
    int (*local_addr)(void *transport, berth_addr *out);
    /* Writes the connection's pending output before returning, where a
     * handler may block (fast): a stream call made on the connection's own
     * thread outside the drive then sends before it returns. Only writes:
     * it never reads nor runs a handler. NULL: output waits for the loop,
     * which the engine wakes (berth_worker_notify). */
    void (*flush)(void *transport);
} berth_transport_ops;

#endif
