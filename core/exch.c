/* The exchange (exch.h): its begin, its end and what the completion
 * callbacks are told, for whichever protocol carries it; and the public
 * calls a handler makes on its request's exchange (berth_req_set_data,
 * berth_req_on_done). */
#include "exch.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn_impl.h"
#include "request.h"
#include "stats.h"

uint64_t berth_exch_now_us(void) { return berth_clock_precise_us(); }

/* A deferred response outlives its request's memory: its protocol and
 * method are kept for the count, and what the callbacks will be told is
 * copied (only when one is set). */
void berth_exch_keep(berth_exch *x, const berth_engine *e, const struct berth_req *req)
{
    if (!x->live || !req->head_ok)
        return;
    x->version = berth_head_version(&req->head);
    x->method_class = berth_stats_method(req->head.method); /* for the count */
    if (!(x->fn || e->after))
        return;
    x->body_received = req->body_received;
    x->kept = berth_req_keep(&req->head);
}

void berth_exch_count(berth_exch *x, const berth_conn *c, const struct berth_req *req)
{
    uint64_t now = berth_exch_now_us();
    c->w->last_us = now; /* the next exchange of the batch begins now (exch.h) */
    uint64_t us = now > x->t0_us ? now - x->t0_us : 0;
    x->dur_us = us;
    if (req && req->head_ok)
        berth_stats_request(c->w->stats, berth_head_version(&req->head),
                            berth_stats_method(req->head.method), x->status, us);
    else /* kept (a deferred response), or no head was read (5: "other") */
        berth_stats_request(c->w->stats, x->version, x->version ? x->method_class : 5,
                            x->status, us);
}

/* Why a request that did not complete ended (berth_done.reason). */
static int exch_reason(const berth_exch *x, const berth_conn *c, int outcome)
{
    if (outcome == BERTH_DONE_COMPLETED)
        return BERTH_REASON_NONE;
    if (outcome == BERTH_DONE_STOPPED)
        return BERTH_REASON_STOP;
    if (x->reason)
        return x->reason; /* a timeout, on_body's refusal */
    if (c->reason)
        return c->reason; /* a layer's failure (TLS), the write timeout */
    if (outcome == BERTH_DONE_ABORTED)
        return c->peer_eof ? BERTH_REASON_CLIENT_CLOSED : BERTH_REASON_CLIENT_RESET;
    switch (x->status) {
    case 404: case 405: return BERTH_REASON_NO_ROUTE;
    case 408: return BERTH_REASON_HEADER_TIMEOUT;
    case 413: case 414: case 431: case 503: return BERTH_REASON_LIMIT;
    case 500: return BERTH_REASON_INTERNAL;
    default: return BERTH_REASON_BAD_REQUEST;
    }
}

/* The request is over: its callbacks run, once; what was kept for them
 * goes. */
void berth_exch_report(berth_exch *x, const berth_conn *c, const struct berth_req *req,
                       int outcome)
{
    x->live = x->due = 0;
    const berth_engine *e = c->w->engine;
    if (x->fn || e->after) {
        berth_done d;
        struct berth_done_priv priv = {NULL, 0, x->res_hdr, x->res_hdr_len};
        memset(&d, 0, sizeof d);
        d.size = sizeof d;
        d.priv = &priv;
        d.reason = exch_reason(x, c, outcome);
        d.outcome = outcome;
        d.status = x->status;
        d.bytes_sent = x->bytes;
        d.data = x->data;
        d.tls = c->tls != NULL;
        d.method.ptr = d.target.ptr = "";
        if (req && req->head_ok) {
            d.method = req->head.method;
            d.target = req->head.target;
            d.version_minor = req->head.minor;
            d.http_version = berth_head_version(&req->head);
            d.body_received = req->body_received;
            priv.req = req->head.headers;
            priv.nreq = req->head.nheaders;
        } else if (x->kept) {
            d.method = x->kept->method;
            d.target = x->kept->target;
            d.version_minor = x->version == 11 || x->version == 20; /* as req->head.minor */
            d.http_version = x->version;
            d.body_received = x->body_received;
            priv.req = x->kept->headers;
            priv.nreq = x->kept->nheaders;
        }
        if (req && !x->res_hdr) {
            priv.res = req->res.hdr;
            priv.res_len = req->res.hdr_len;
        }
        berth_addr peer;
        d.peer = berth_caddr_get(&c->peer, &peer) ? &peer : NULL;
        d.duration_us = x->dur_us; /* berth_exch_count's, just before */
        berth_done_fn fn = x->fn;
        x->fn = NULL;
        if (fn)
            fn(&d, x->arg);
        if (e->after)
            e->after(&d, e->hook_user);
    }
    free(x->kept);
    x->kept = NULL;
    free(x->res_hdr);
    x->res_hdr = NULL;
    x->reason = 0;
}

void berth_req_set_data(berth_req *req, void *data) { req->exch->data = data; }
void *berth_req_data(const berth_req *req) { return req->exch->data; }

void berth_req_on_done(berth_req *req, berth_done_fn fn, void *arg)
{
    berth_exch *x = req->exch;
    x->fn = fn;
    x->arg = arg;
    if (fn && !x->t0_us)
        x->t0_us = berth_exch_now_us();
}

