/* HTTP/1, the protocol a connection starts with (proto.h): its files
 * share these. http1_conn.c: the request lifecycle, keep-alive, pipelining,
 * limits, timeouts, the stop and the hand-over at a 101; http1_body.c:
 * request bodies; http1_answer.c: berth's own answers and a handler's
 * response serialized; conn_stream.c: deferred and streamed responses.
 * Its one exchange at a time is an exch.h record. */
#ifndef BERTH_HTTP1_H
#define BERTH_HTTP1_H

#include <stdlib.h>

#include "budget.h"
#include "conn_impl.h"
#include "done.h"
#include "exch.h"
#include "parse.h"
#include "request.h"


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

/* A layer below HTTP/1 (TLS, PROXY) whose preamble (handshake, header)
 * ended as the stop came: the stop's grace for the first request counts
 * from now, not from the accept (a no-op on another protocol). */
void berth_h1_touch(berth_conn *c);

/* 1 if the response being serialized may keep the connection open: a stop
 * closes it unless requests already read follow. */
int berth_conn_drain_keeps_alive(const berth_conn *c);
/* Called by a handler's upgrade (ws_upgrade.c): queues the 101 with the
 * response's headers and hands c to `to` (with its state). The request
 * ends once the handler returns; what follows its head is the new
 * protocol's. 0, or -1 out of memory (nothing changed). */
int berth_h1_upgrade(berth_conn *c, struct berth_req *req, const berth_proto *to, void *state);

/* Between the files of HTTP/1: */
/* HTTP/1's one exchange (exch.h). */
static inline void berth_h1_exch_begin(berth_conn *c)
{
    berth_exch_begin(&h1(c)->x, c->w);
}
static inline void berth_h1_exch_keep(berth_conn *c, const struct berth_req *req)
{
    berth_exch_keep(&h1(c)->x, c->w->engine, req);
}
static inline void berth_h1_exch_end(berth_conn *c, int outcome)
{
    berth_exch_end(&h1(c)->x, c->w->engine, c, h1(c)->req, outcome);
}
/* Berth's answers (http1_answer.c). */
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
/* The request's end (http1_conn.c). */
void berth_h1_request_end(berth_conn *c);
void berth_h1_request_fail(berth_conn *c, int status);

#endif
