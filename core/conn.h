/* The sans-I/O connection engine: bytes in, parsed requests, handlers,
 * bytes out. It never touches a socket, so every backend produces the same
 * bytes for the same input.
 *
 * The engine is the bottom of a pipe stack (pipe.h): a backend drives it
 * through berth_conn_pipe, or through a layer stacked on it. The functions
 * below are that pipe's operations, callable directly by tests and by a
 * layer that wraps the engine. */
#ifndef BERTH_CONN_H
#define BERTH_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "engine.h"
#include "pipe.h"

typedef struct berth_conn berth_conn;

/* A new connection of worker w. With refuse set, the connection is over
 * the server's cap: it answers 503 at once and closes, reading nothing. */
berth_conn *berth_conn_new(berth_worker *w, int refuse);
berth_pipe *berth_conn_pipe(berth_conn *c);
/* The wrap of an h2c-only listener (berth_layer, listen option h2c): the
 * connection's own pipe, marked BERTH_PIPE_H2_ONLY. */
berth_pipe *berth_conn_h2c_wrap(void *ctx, berth_conn *c, struct berth_worker *w);

/* The pipe operations (see pipe.h). */
char *berth_conn_read_buf(berth_conn *c, size_t *cap);
void berth_conn_read_done(berth_conn *c, size_t n);
void berth_conn_read_idle(berth_conn *c);
int berth_conn_has_pending(const berth_conn *c);
void berth_conn_pump(berth_conn *c);
int berth_conn_out_segs(const berth_conn *c, berth_seg *segs, int max);
uint64_t berth_conn_out_pending(const berth_conn *c);
void berth_conn_out_done(berth_conn *c, size_t n);
int berth_conn_state(const berth_conn *c); /* enum berth_pipe_state */
uint64_t berth_conn_deadline(const berth_conn *c);
void berth_conn_on_timeout(berth_conn *c);
void berth_conn_drain(berth_conn *c);
void berth_conn_abort(berth_conn *c);
void berth_conn_free(berth_conn *c);

/* 1 if berth_conn_read_buf would offer space (without taking a buffer). */
int berth_conn_wants_input(const berth_conn *c);
/* 1 while a deferred response or a WebSocket is open on a connection that
 * is not closing: it waits for its application as well as its socket. The
 * engine's answer to its pipe's awaits_app (pipe.h), which a backend asks
 * of the top of its stack. */
int berth_conn_waiting(const berth_conn *c);
/* Applies the stream operations other threads queued for c. Backends call
 * it for each connection berth_worker_next_woken returns. */
void berth_conn_apply_streams(berth_conn *c);
/* Bytes arrived on the socket of a pipe that is shutting down: a lingering
 * engine waits linger_ms from the last input, and a layer above it (TLS,
 * after its close_notify) drops that input without passing it down. */
void berth_conn_linger_input(berth_conn *c);

/* The peer's socket address, from accept (berth_req_peer). */
void berth_conn_set_peer(berth_conn *c, const struct sockaddr *sa, socklen_t len);
/* Both ends as a PROXY protocol header reported them (either may be NULL). */
void berth_conn_set_addrs(berth_conn *c, const struct sockaddr *peer, socklen_t peer_len,
                          const struct sockaddr *local, socklen_t local_len);

/* A TLS layer above says what the connection negotiated (berth_req_tls);
 * copied, so it outlives the layer (which steps out for kernel TLS). */
void berth_conn_set_tls(berth_conn *c, const berth_tls_info *info);
/* 1 if the client chose HTTP/2 by ALPN (HTTP/1 hands it over, http1_conn.c). */
int berth_conn_alpn_h2(const berth_conn *c);

/* The transport's handle for this connection (the backend's berth_io): what
 * the worker's transport operations get (transport.h), and how a backend
 * finds its object again from the wake list. */
void *berth_conn_transport(const berth_conn *c);
void berth_conn_set_transport(berth_conn *c, void *transport);

#endif
