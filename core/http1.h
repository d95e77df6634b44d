/* HTTP/1, the protocol a connection starts with (proto.h): its files
 * share these. http1.c: the request lifecycle, keep-alive, pipelining,
 * limits, timeouts, the stop and the hand-over at a 101; http1_body.c:
 * request bodies; http1_exch.c: the exchange, its callbacks and berth's
 * own answers; conn_stream.c: deferred and streamed responses. */
#ifndef BERTH_HTTP1_H
#define BERTH_HTTP1_H

#include <stdlib.h>

#include "budget.h"
#include "conn_impl.h"
#include "done.h"
#include "parse.h"
#include "request.h"

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
    int reason;             /* enum berth_reason, when known before the end */
    berth_req_kept *kept;   /* method, target, headers: for a deferred response */
    char *res_hdr;          /* a deferred response's header lines (conn_stream.c) */
    size_t res_hdr_len;
} berth_exch;

/* HTTP/1's state, in the connection's area (conn_impl.h). */
typedef struct berth_h1 {
    berth_head_scan scan;
    struct berth_req *req;  /* request in progress */
    size_t head_end;        /* offset in `in` where the body starts */
    size_t body_pos;        /* offset in `in` of unconsumed body bytes */
    int head_started;       /* bytes of the next head have arrived */
    int body_in_place;      /* Content-Length body waits whole in `in` */
    int held;               /* complete input waits for the output backlog */
    int no_more;            /* respond to nothing more: close after output */
    uint64_t t_phase, t_idle;
    berth_exch x;           /* the request in progress: one at a time */
} berth_h1;

static inline berth_h1 *h1(const berth_conn *c) { return (berth_h1 *)(void *)c->area; }

extern const berth_proto berth_h1_proto;

/* 1 if the response being serialized may keep the connection open: a stop
 * closes it unless requests already read follow. */
int berth_conn_drain_keeps_alive(const berth_conn *c);
/* The request's deferred response completed: callbacks run at the next
 * pump (not inside the berth call that ended it). */
void berth_exch_due(berth_conn *c);
/* Called by a handler's upgrade (ws_upgrade.c): queues the 101 with the
 * response's headers and hands c to `to` (with its state). The request
 * ends once the handler returns; what follows its head is the new
 * protocol's. 0, or -1 out of memory (nothing changed). */
int berth_h1_upgrade(berth_conn *c, struct berth_req *req, const berth_proto *to, void *state);

/* Between the files of HTTP/1: */
/* The exchange (http1_exch.c); inline where every request passes. */
uint64_t berth_h1_now_us(void); /* the monotonic clock, for a duration */
static inline void berth_h1_exch_begin(berth_conn *c)
{
    berth_exch *x = &h1(c)->x;
    x->live = 1;
    x->due = 0;
    x->status = 0;
    x->fn = NULL;
    x->data = NULL;
    x->bytes = 0;
    x->t0_us = c->w->engine->after ? berth_h1_now_us() : 0;
}
void berth_h1_exch_keep(berth_conn *c, const struct berth_req *req);
void berth_h1_exch_end(berth_conn *c, int outcome);
/* Queues berth's answer to an error and reads no further request. */
void berth_h1_error(berth_conn *c, int status);
/* Serializes the response of the current request; its body moves to the
 * output queue (or is copied when it lives in memory the request reuses). */
void berth_h1_response_write(berth_conn *c, struct berth_req *req, int keep_alive);
/* Bodies (http1_body.c); the buffer's release inline, as above. */
static inline void berth_h1_body_free(berth_conn *c, struct berth_req *req)
{
    berth_budget_give(c->w->engine->bodies, req->budget);
    req->budget = 0;
    if (!req->body_buf)
        return;
    if (req->body_buf_pooled)
        berth_pool_put(&c->w->buf_pool, req->body_buf);
    else
        free(req->body_buf);
    req->body_buf = NULL;
}
int berth_h1_body_budget(berth_conn *c, struct berth_req *req, uint64_t bytes);
int berth_h1_body_deliver(berth_conn *c, struct berth_req *req, const char *data, size_t n);
int berth_h1_body_step(berth_conn *c);
/* The request's end (http1.c). */
void berth_h1_request_end(berth_conn *c);
void berth_h1_request_fail(berth_conn *c, int status);

#endif
