/* The engine's connection object, shared by the files that implement it:
 * conn.c (request lifecycle and the pipe), conn_stream.c (deferred and
 * streamed responses, built on conn.c) and wake.c (the wake list). */
#ifndef BERTH_CONN_IMPL_H
#define BERTH_CONN_IMPL_H

#include "addr.h"
#include "conn.h"
#include "done.h"
#include "outq.h"
#include "parse.h"
#include "request.h"
#include "stream.h"

/* The request in progress, from its head's arrival until it is over (its
 * response queued whole, or the request ended otherwise): what completion
 * callbacks (berth_req_on_done, the after hook) are told. A connection has
 * one at a time: the next request is not parsed before the last is over. */
typedef struct berth_exch {
    unsigned live : 1;      /* a request is in progress */
    unsigned due : 1;       /* its deferred response completed: report at the next pump */
    int status;             /* the status sent or started */
    berth_done_fn fn;       /* berth_req_on_done */
    void *arg;
    void *data;             /* berth_req_data */
    uint64_t t0_us;         /* when it began, if a callback wants a duration */
    uint64_t bytes;         /* body bytes queued */
    uint64_t body_received;
    int minor;
    berth_req_kept *kept;   /* method, target, headers: for a deferred response */
    char *res_hdr;          /* a deferred response's header lines (conn_stream.c) */
    size_t res_hdr_len;
    int reason;             /* enum berth_reason, when known before the end */
} berth_exch;

/* P_WAIT: the handler deferred its response; input is held, not parsed. */
/* P_WS: a WebSocket after its 101: input is frames (ws_conn.c). */
enum berth_conn_phase { P_HEAD, P_BODY, P_WAIT, P_LINGER, P_CLOSED, P_WS };

struct berth_conn {
    berth_pipe pipe;        /* first: the engine is the bottom of a pipe stack */
    berth_worker *w;
    /* input */
    char *in;
    size_t in_len, in_off;
    berth_head_scan scan;
    int head_started;       /* bytes of the next head have arrived */
    struct berth_req *req;  /* request in progress */
    size_t head_end;        /* offset in `in` where the body starts */
    size_t body_pos;        /* offset in `in` of unconsumed body bytes */
    int body_in_place;      /* Content-Length body waits whole in `in` */
    int phase;
    int held;               /* complete input waits for the output backlog */
    int no_more;            /* respond to nothing more: close after output */
    int peer_eof;
    int draining;
    uint64_t t_phase, t_idle, t_linger;
    uint64_t t_linger_read;  /* the last input while lingering */
    /* output */
    berth_outq out;
    /* deferred or streamed response */
    berth_stream *stream;
    int dispatching;        /* inside a handler */
    int busy;               /* inside process(): no re-entry */
    int woken;              /* on the worker's wake list */
    struct berth_conn *wake_next;
    void *backend_data;
    struct conn_tls *tls;   /* what a TLS layer above negotiated, or NULL */
    berth_exch x;
    berth_caddr peer, local; /* local: unknown until asked, or from PROXY */
    struct berth_wsc *ws;   /* the WebSocket after an upgrade, or NULL */
};

/* For conn_stream.c: */
/* 1 if the response being serialized may keep the connection open: a stop
 * closes it unless requests already read follow. */
int berth_conn_drain_keeps_alive(const berth_conn *c);
/* Moves to SHUTDOWN or CLOSED once the last response is written. */
void berth_conn_settle(berth_conn *c);
/* The connection failed: closes, and tells a stream it is gone. */
void berth_conn_kill(berth_conn *c);
/* New output from the owner thread outside the loop's own processing:
 * written at once where handlers may block (fast), else by the loop. */
void berth_conn_output(berth_conn *c);
/* 1 while the output backlog holds input back. */
int berth_conn_backlog(const berth_conn *c);
/* The stream sink of conn_stream.c (for handles made elsewhere: ws_conn.c). */
extern const berth_stream_sink berth_conn_sink;
/* The request's deferred response completed: callbacks run at the next
 * pump (not inside the berth call that ended it). */
void berth_exch_due(berth_conn *c);

/* error.c: berth's answer to an error, in res: the error hook's headers
 * and body, or the reason as text; the status stays `status`. req is NULL
 * when no head was read. Also behind berth_res_error. */
void berth_error_fill(berth_conn *c, struct berth_req *req, struct berth_res *res, int status);

#endif
