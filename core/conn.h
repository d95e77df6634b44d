/* The sans-I/O connection engine.
 *
 * A backend owns a socket and a berth_conn. It reads into the buffer that
 * berth_conn_read_buf hands out and reports how much arrived; the engine
 * parses, runs handlers and queues response bytes; the backend writes what
 * berth_conn_out_iov lists and reports progress. The engine never touches a
 * socket, so every backend produces the same bytes for the same input.
 *
 * After every call the backend checks berth_conn_state:
 *   OPEN      go on reading (if a read buffer is offered) and writing;
 *   SHUTDOWN  everything is written and no response will follow: shut the
 *             socket's write side, keep reading (input is discarded) until
 *             EOF or the deadline, so the client sees the last response
 *             instead of a reset;
 *   CLOSED    close the socket and free the connection.
 * berth_conn_deadline gives the monotonic millisecond time (worker clock)
 * at which berth_conn_on_timeout must be called. */
#ifndef BERTH_CONN_H
#define BERTH_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "engine.h"

typedef struct berth_conn berth_conn;

enum berth_conn_state { BERTH_CONN_OPEN, BERTH_CONN_SHUTDOWN, BERTH_CONN_CLOSED };

berth_conn *berth_conn_new(berth_worker *worker);
void berth_conn_free(berth_conn *c);

/* Where to read input to, and how much; NULL when the engine wants no
 * input now (output backlog, or no further request will be read). */
char *berth_conn_read_buf(berth_conn *c, size_t *cap);
/* 1 if berth_conn_read_buf would offer space (without taking a buffer). */
int berth_conn_wants_input(const berth_conn *c);
/* A read offered by berth_conn_read_buf found nothing: lets an empty
 * buffer go back to the pool, so idle connections hold none. */
void berth_conn_read_idle(berth_conn *c);
/* n bytes were read into the buffer; n == 0 means the peer closed its
 * write side. Parses and dispatches every complete request. */
void berth_conn_read_done(berth_conn *c, size_t n);

/* Fills up to max iovecs with pending output; returns how many. The bytes
 * stay valid and in place until berth_conn_out_done covers them, even if
 * more output is queued meanwhile (asynchronous writes rely on it). */
int berth_conn_out_iov(berth_conn *c, struct iovec *iov, int max);
size_t berth_conn_out_pending(const berth_conn *c);
/* n bytes of the pending output were written. */
void berth_conn_out_done(berth_conn *c, size_t n);

int berth_conn_state(const berth_conn *c);
uint64_t berth_conn_deadline(const berth_conn *c);
void berth_conn_on_timeout(berth_conn *c);
/* The server is stopping: finish the request in flight, then close. */
void berth_conn_drain(berth_conn *c);

/* The backend's object for this connection (for the wake list). */
void *berth_conn_backend_data(const berth_conn *c);
void berth_conn_set_backend_data(berth_conn *c, void *data);
/* Closes the connection at once (a write failed). */
void berth_conn_abort(berth_conn *c);
/* 1 while a deferred response is outstanding (input is held, not parsed). */
int berth_conn_waiting(const berth_conn *c);
/* A block of the worker's buffer pool (at least BERTH_RES_COPY_MAX bytes)
 * for a response body, and its return. */
char *berth_conn_block_get(berth_conn *c);
void berth_conn_block_put(berth_conn *c, char *block);
/* Applies the stream operations queued for c by other threads. */
void berth_conn_pump(berth_conn *c);

#endif
