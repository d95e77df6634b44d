/* A protocol over the connection core (conn.c): what the bytes of a
 * connection mean. The core keeps the pipe end, the input buffer, the
 * output queue, the mailbox other threads post to, the lingering close
 * and the write deadline; a protocol reads the input, writes the output
 * and says when it is done. HTTP/1 is one (http1_conn.c); after a 101 it hands
 * the connection to the next one (WebSocket, ws_conn.c) with
 * berth_conn_switch, the way kTLS and PROXY hand the pipe over one level
 * down. Calls go through the table: the core never names a protocol. */
#ifndef BERTH_PROTO_H
#define BERTH_PROTO_H

#include <stdint.h>

struct berth_conn;
struct berth_res;
struct berth_stream;

typedef struct berth_proto {
    const char *name;
    /* The connection was handed to this protocol (berth_conn_switch), or
     * NULL: set its phase, its mailbox. */
    void (*start)(struct berth_conn *c);
    /* Parses and answers what the input buffer holds (the core keeps it
     * from re-entering). After a hand-over it returns: the core runs the
     * next protocol's input on what is left. */
    void (*input)(struct berth_conn *c);
    /* The peer closed its side (peer_eof is set): 1 if the protocol ended
     * the connection, 0 to parse what input remains. */
    int (*peer_closed)(struct berth_conn *c);
    /* 1 while input waits: nothing more is answered, or the output backlog
     * holds it back (berth_conn_backlog). */
    int (*input_held)(const struct berth_conn *c);
    /* 1 if it has work to do without new input (the backend pumps). */
    int (*has_pending)(const struct berth_conn *c);
    /* 1 if it writes nothing more: once the output is written, the core
     * shuts the write side, lingers and closes. */
    int (*finished)(const struct berth_conn *c);
    /* Its deadline while no output waits (the core keeps the write and
     * linger deadlines), and what happens when it passes. */
    uint64_t (*deadline)(const struct berth_conn *c);
    void (*timeout)(struct berth_conn *c);
    /* The server stops (c->draining is set): end gracefully. */
    void (*drain)(struct berth_conn *c);
    /* The connection is being freed: callbacks owed run, state goes. */
    void (*free)(struct berth_conn *c);
    /* Optional (NULL: none of these), for a protocol with many responses
     * in flight, each with a handle of its own (HTTP/2, h2_output.c); the
     * core's one mailbox (c->stream) is HTTP/1's and WebSocket's. defer:
     * berth_res_defer on one of its requests (NULL if it cannot);
     * apply_streams: the operations other threads queued on its handles
     * (berth_conn_apply_streams); awaits_app: 1 while one of them waits
     * for its application (berth_conn_waiting). */
    struct berth_stream *(*defer)(struct berth_conn *c, struct berth_res *res);
    void (*apply_streams)(struct berth_conn *c);
    int (*awaits_app)(const struct berth_conn *c);
    /* Its connections' index in the counters (stats.h: BERTH_CP_*). */
    int metric;
} berth_proto;

#endif
