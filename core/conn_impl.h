/* The engine's connection object, shared by the files that implement it:
 * the connection core (conn.c: the pipe end, buffers, mailbox, lingering
 * close; conn_info.c: addresses, TLS), the protocol that owns it for now
 * (proto.h: HTTP/1 in http1*.c, WebSocket in ws_conn.c) and wake.c (the
 * wake list). */
#ifndef BERTH_CONN_IMPL_H
#define BERTH_CONN_IMPL_H

#include <stddef.h>

#include "addr.h"
#include "conn.h"
#include "outq.h"
#include "proto.h"
#include "stream.h"

/* The connection's phase. P_LINGER and P_CLOSED are the core's; the
 * others belong to the protocol that owns the connection:
 * HTTP/1 (http1_conn.c): P_HEAD, P_BODY, and P_WAIT (the handler deferred its
 * response; input is held, not parsed);
 * WebSocket (ws_conn.c): P_WS, after its 101 (input is frames). */
enum berth_conn_phase { P_HEAD, P_BODY, P_WAIT, P_WS, P_LINGER, P_CLOSED };

struct berth_conn {
    berth_pipe pipe;        /* first: the engine is the bottom of a pipe stack */
    berth_worker *w;
    const berth_proto *proto; /* what the bytes mean now */
    void *proto_state;      /* a protocol's own state (WebSocket), or NULL */
    /* input */
    char *in;
    size_t in_len, in_off;
    uint64_t t_linger;
    uint64_t t_linger_read;  /* the last input while lingering */
    /* output */
    berth_outq out;
    /* the mailbox: a deferred response's or a WebSocket's handle */
    berth_stream *stream;
    struct berth_conn *wake_next;
    int in_pinned;          /* the protocol points into `in` (a request's head) */
    int phase;
    unsigned char peer_eof;
    unsigned char draining;
    unsigned char protos;   /* BERTH_CONN_H1 | BERTH_CONN_H2: what its listener
                               serves (berth_conn_new's flags) */
    int reason;             /* enum berth_reason: why it ended, if a layer or
                               the write timeout said so */
    int dispatching;        /* inside a handler */
    int busy;               /* inside process(): no re-entry */
    int woken;              /* on the worker's wake list */
    void *transport;        /* the transport's handle (its berth_io), for
                               w->transport's operations and the wake list */
    struct conn_tls *tls;   /* what a TLS layer above negotiated, or NULL */
    berth_caddr peer, local; /* local: unknown until asked, or from PROXY */
    /* The first protocol's state (HTTP/1's, http1.h), in the same block
     * (aligned for its pointers and 64-bit counters). */
    _Alignas(void *) _Alignas(uint64_t) unsigned char area[];
};

/* The connection core (conn.c), for the protocols: */
/* A new connection of worker w speaking proto, with area_size bytes
 * (zeroed) of that protocol's state in c->area; proto->start is not run:
 * the caller sets the first protocol up. NULL if out of memory. */
berth_conn *berth_conn_make(berth_worker *w, const berth_proto *proto, size_t area_size);
/* Hands c to another protocol (after HTTP/1's 101): state is the new
 * protocol's; its start runs now, its input once the current one returns. */
void berth_conn_switch(berth_conn *c, const berth_proto *to, void *state);
/* Lingers and closes once the output is written, if the protocol is
 * finished; call after anything that may finish it. */
void berth_conn_settle(berth_conn *c);
/* The connection failed: closes, and tells a stream it is gone. */
void berth_conn_kill(berth_conn *c);
/* New output from the owner thread outside the loop's own processing:
 * written at once where handlers may block (fast), else by the loop. */
void berth_conn_output(berth_conn *c);
/* 1 while the output backlog holds input back: too much output waits,
 * so no further request is parsed until it drains. */
static inline int berth_conn_backlog(const berth_conn *c)
{
    return c->out.pending > c->w->engine->out_high_water;
}
/* 1 if c's transport writes output at once (a backend whose handlers may
 * block: fast), after doing so; 0 if output waits for the loop. */
static inline int berth_conn_flush(berth_conn *c)
{
    const berth_transport_ops *t = c->w->transport;
    if (!t || !t->flush)
        return 0;
    t->flush(c->transport);
    return 1;
}
/* Any thread: queues c for its owner's loop (a stream sink's notify). */
void berth_conn_notify(berth_conn *c);
/* A mailbox operation could not be applied (out of memory): logged, and
 * the connection closed. */
void berth_conn_mailbox_fail(berth_conn *c);
/* The mailbox closes for good: the stream detached (on_close if it had
 * not ended), c off the wake list. */
void berth_conn_mailbox_close(berth_conn *c);

/* error.c: berth's answer to an error, in res: the error hook's headers
 * and body, or the reason as text; the status stays `status`. req is NULL
 * when no head was read. Also behind berth_res_error. */
void berth_error_fill(berth_conn *c, struct berth_req *req, struct berth_res *res, int status);

#endif
