/* The exchange: a request and its response as one record of their own,
 * apart from the connection that carries them (exch.c). */
#ifndef BERTH_EXCH_H
#define BERTH_EXCH_H

#include <stdint.h>

#include "done.h"
#include "engine.h"

struct berth_conn;
struct berth_req;

/* An exchange: one request in progress, from its head's arrival until it
 * is over (its response queued whole, or the request ended otherwise):
 * what completion callbacks (berth_req_on_done, the after hook) are told.
 * The protocol owns its exchanges (HTTP/1 keeps one at a time: the next
 * request is not parsed before the last is over); a request reaches its
 * own through req->exch. */
typedef struct berth_exch {
    unsigned live : 1;      /* a request is in progress */
    unsigned due : 1;       /* its deferred response completed: report at the next pump */
    int status;             /* the status sent or started */
    berth_done_fn fn;       /* berth_req_on_done */
    void *arg;
    void *data;             /* berth_req_data */
    uint64_t t0_us;         /* when it began: the duration histogram's and the callbacks' */
    uint64_t dur_us;        /* how long it took, once counted */
    uint64_t bytes;         /* body bytes queued */
    uint64_t body_received;
    int version;            /* 10, 11, 20: berth_done.http_version (kept, or
                               set at begin by HTTP/2) */
    int method_class;       /* the request's, once kept (stats.h) */
    int reason;             /* enum berth_reason, when known before the end */
    berth_req_kept *kept;   /* method, target, headers: for a deferred response */
    struct berth_exch_ext *ext; /* values and added callbacks, once one is set (exch.c) */
    const struct berth_mw *mw;  /* the router's middleware ... */
    uint32_t mw_ran;            /* ... bit i: mw[i]'s after is owed */
    const struct berth_mw *route_mw; /* the route's, when its after is owed */
    uint64_t id;                /* berth's request ID once made; 0 before */
    struct berth_multipart *mp; /* a multipart route's parser (multipart_route.c) */
    char *res_hdr;          /* a deferred response's header lines (conn_stream.c) */
    size_t res_hdr_len;
} berth_exch;

/* Whether callbacks of the application's wait for the exchange's end. */
static inline int berth_exch_reported(const berth_exch *x, const berth_engine *e)
{
    return x->fn || e->after || x->ext || x->mw_ran || x->route_mw || x->mp;
}

/* The monotonic clock in microseconds, for a duration. */
uint64_t berth_exch_now_us(void);

/* A request's head arrived (inline: every request passes here). */
static inline void berth_exch_begin(berth_exch *x, const berth_worker *w)
{
    x->live = 1;
    x->due = 0;
    x->status = 0;
    x->fn = NULL;
    x->data = NULL;
    x->mw_ran = 0;
    x->route_mw = NULL;
    x->id = 0;
    x->bytes = 0;
    x->version = 0;
    /* The latest time this thread read (its bytes' read, or the end of
     * the exchange before it in the same batch): one clock read per
     * request, at its end, and one per read, not two per request
     * (pipelined: 7% of a request's CPU; bench/run.py --base-build). */
    x->t0_us = w->last_us ? w->last_us : berth_exch_now_us();
}
/* A deferred response outlives its request's memory: its protocol and
 * method are kept for the count, and what the callbacks will be told is
 * copied (only when one is set). */
void berth_exch_keep(berth_exch *x, const berth_engine *e, const struct berth_req *req);
/* The exchange is over: its callbacks run, once. c: the connection that
 * carried it (TLS, peer, why it ended); req: its request if still held.
 * Inline up to the common case, no callback and nothing kept. */
void berth_exch_report(berth_exch *x, const struct berth_conn *c, const struct berth_req *req,
                       int outcome);
/* Counts the request in its thread's counters (stats.h). */
void berth_exch_count(berth_exch *x, const struct berth_conn *c,
                      const struct berth_req *req);
static inline void berth_exch_end(berth_exch *x, const berth_engine *e,
                                  const struct berth_conn *c, const struct berth_req *req,
                                  int outcome)
{
    if (!x->live)
        return;
    berth_exch_count(x, c, req);
    if (berth_exch_reported(x, e) || x->kept || x->res_hdr) {
        berth_exch_report(x, c, req, outcome);
        return;
    }
    x->live = x->due = 0;
    x->reason = 0;
}
/* Its deferred response completed: callbacks run at the protocol's next
 * turn (not inside the berth call that ended it). */
static inline void berth_exch_due(berth_exch *x)
{
    if (x->live)
        x->due = 1;
}

#endif
