/* The exchange (exch.h): its begin, its end and what the completion
 * callbacks are told, for whichever protocol carries it; and the public
 * calls a handler makes on its request's exchange (berth_req_set_data,
 * berth_req_on_done). */
#include "exch.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn_impl.h"
#include "middleware.h"
#include "request.h"
#include "stats.h"

/* What a request holds once the application sets a value or adds a
 * completion callback: allocated then, freed at the exchange's end. */
#define EXT_SLOTS 8
struct berth_exch_ext {
    const void *keys[EXT_SLOTS];
    void *values[EXT_SLOTS];
    unsigned nvalues;
    berth_done_fn fns[EXT_SLOTS];
    void *args[EXT_SLOTS];
    unsigned nfns;
};

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
    if (!berth_exch_reported(x, e))
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
    if (berth_exch_reported(x, e)) {
        berth_done d;
        struct berth_done_priv priv = {NULL, 0, x->res_hdr, x->res_hdr_len, x, c->w};
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
        for (unsigned i = 0; x->ext && i < x->ext->nfns; i++)
            x->ext->fns[i](&d, x->ext->args[i]);
        berth_mw_after(x, &d);
        if (e->after)
            e->after(&d, e->hook_user);
    }
    free(x->ext);
    x->ext = NULL;
    berth_multipart_free(x->mp); /* after the callbacks: they may still read it */
    x->mp = NULL;
    x->mw_ran = 0;
    x->route_mw = NULL;
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


static struct berth_exch_ext *ext_of(berth_exch *x)
{
    if (!x->ext)
        x->ext = calloc(1, sizeof *x->ext);
    return x->ext;
}

int berth_req_set_value(berth_req *req, const void *key, void *value)
{
    if (!key)
        return BERTH_EINVAL;
    berth_exch *x = req->exch;
    struct berth_exch_ext *ext = x->ext;
    for (unsigned i = 0; ext && i < ext->nvalues; i++) {
        if (ext->keys[i] == key) {
            ext->values[i] = value;
            return 0;
        }
    }
    if (!value)
        return 0; /* cleared, never set */
    if (!(ext = ext_of(x)))
        return BERTH_ENOMEM;
    if (ext->nvalues == EXT_SLOTS)
        return BERTH_ENOSPC;
    ext->keys[ext->nvalues] = key;
    ext->values[ext->nvalues++] = value;
    return 0;
}

static void *value_in(const berth_exch *x, const void *key)
{
    for (unsigned i = 0; x->ext && i < x->ext->nvalues; i++)
        if (x->ext->keys[i] == key)
            return x->ext->values[i];
    return NULL;
}

void *berth_req_value(const berth_req *req, const void *key) { return value_in(req->exch, key); }

void *berth_done_value(const berth_done *done, const void *key)
{
    return done->priv && done->priv->exch ? value_in(done->priv->exch, key) : NULL;
}

int berth_req_add_done(berth_req *req, berth_done_fn fn, void *arg)
{
    if (!fn)
        return BERTH_EINVAL;
    berth_exch *x = req->exch;
    struct berth_exch_ext *ext = ext_of(x);
    if (!ext)
        return BERTH_ENOMEM;
    if (ext->nfns == EXT_SLOTS)
        return BERTH_ENOSPC;
    ext->fns[ext->nfns] = fn;
    ext->args[ext->nfns++] = arg;
    if (!x->t0_us)
        x->t0_us = berth_exch_now_us();
    return 0;
}

/* ---- request IDs ---- */

#define ID_MAX 64

/* A header value usable as an ID: 1 to ID_MAX bytes of visible ASCII. */
static int id_usable(berth_str v)
{
    if (!v.len || v.len > ID_MAX)
        return 0;
    for (size_t i = 0; i < v.len; i++)
        if ((unsigned char)v.ptr[i] <= 0x20 || (unsigned char)v.ptr[i] >= 0x7f)
            return 0;
    return 1;
}

/* splitmix64's finalizer: a bijection of 64 bits, so distinct counts give
 * distinct IDs. */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static long id_copy(const char *p, size_t n, char *buf, size_t cap)
{
    if (n + 1 > cap)
        return BERTH_ENOSPC;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return (long)n;
}

/* The ID of x: from the header (found: the request's value), else made
 * once per exchange on the worker w. */
static long id_of(berth_exch *x, berth_worker *w, int found, berth_str v, char *buf, size_t cap)
{
    if (found && id_usable(v))
        return id_copy(v.ptr, v.len, buf, cap);
    if (!x->id) {
        /* base + count * an odd constant: distinct for 2^64 counts, mixed
         * so that IDs of one thread do not look sequential */
        x->id = mix(mix(w->id_base) + ++w->id_count * 0x9e3779b97f4a7c15ull);
        if (!x->id)
            x->id = 1; /* 0 means "none yet" */
    }
    static const char hex[] = "0123456789abcdef";
    char s[16];
    for (int i = 0; i < 16; i++)
        s[i] = hex[(x->id >> (60 - 4 * i)) & 15];
    return id_copy(s, sizeof s, buf, cap);
}

long berth_req_id(berth_req *req, char *buf, size_t cap)
{
    berth_worker *w = req->res.conn->w;
    const char *h = w->engine->request_id_header;
    berth_str v = {"", 0};
    int found = h && berth_req_header(req, h, &v) == 0;
    return id_of(req->exch, w, found, v, buf, cap);
}

long berth_done_request_id(const berth_done *done, char *buf, size_t cap)
{
    const struct berth_done_priv *p = done->priv;
    if (!p || !p->exch)
        return BERTH_EINVAL;
    const char *h = p->w->engine->request_id_header;
    berth_str v = {"", 0};
    int found = h && berth_done_req_header(done, h, &v) == 0;
    return id_of(p->exch, p->w, found, v, buf, cap);
}
