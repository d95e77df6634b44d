/* The TLS layer of the pipe (tls.h, tls_layer.h): the pipe operations and
 * a connection's course, from the first byte through the handshake and
 * the hand-over of its records (to the kernel or to berth's own record
 * layer) to close_notify, or, for a client that speaks plain HTTP, its
 * stepping aside (the engine answers). Records themselves are moved by
 * tls_wolfssl_io.c or tls_record_io.c. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "tls_layer.h"

static const berth_pipe_ops tls_ops;

/* ---- the connection's course ------------------------------------------- */

/* What the handshake settled, for berth_req_tls (the engine copies it:
 * the WOLFSSL object does not outlive the hand-over). */
static void note_info(tls_layer *t)
{
    berth_tls_info info;
    memset(&info, 0, sizeof info);
    info.version = wolfSSL_get_version(t->ssl); /* static strings */
    int suite = wolfSSL_get_current_cipher_suite(t->ssl);
    info.cipher = wolfSSL_get_cipher_name_iana_from_suite((unsigned char)(suite >> 8),
                                                          (unsigned char)suite);
    if (!info.cipher)
        info.cipher = wolfSSL_get_cipher_name(t->ssl);
    char *alpn = NULL;
    unsigned short alen = 0;
    if (wolfSSL_ALPN_GetProtocol(t->ssl, &alpn, &alen) == WOLFSSL_SUCCESS && alpn) {
        info.alpn.ptr = alpn;
        info.alpn.len = alen;
    }
    void *sni = NULL;
    unsigned short slen = wolfSSL_SNI_GetRequest(t->ssl, WOLFSSL_SNI_HOST_NAME, &sni);
    if (sni && slen) {
        info.sni.ptr = sni;
        info.sni.len = slen;
    }
    info.resumed = wolfSSL_session_reused(t->ssl) == 1;
    berth_conn_set_tls(t->engine, &info);
}

static void step_aside(tls_layer *t);

static void handshake(tls_layer *t)
{
    if (!t->first_seen && t->in_off < t->in_len) {
        t->first_seen = 1; /* the connection's very first byte */
        unsigned char first = (unsigned char)t->in[t->in_off];
        if (first != 0x16) { /* not a TLS handshake record */
            if (first >= 'A' && first <= 'Z')
                step_aside(t); /* plain HTTP: the engine refuses it */
            else
                tls_fatal(t); /* garbage */
            return;
        }
    }
    int rc = wolfSSL_accept(t->ssl);
    if (rc == WOLFSSL_SUCCESS) {
        t->state = T_OPEN;
        t->settled = 1;
        t->t_open = t->w->clock.now_ms;
        note_info(t);
        berth_stats_block *b = t->w->stats;
        berth_stat_add(wolfSSL_session_reused(t->ssl) == 1 ? &b->tls_resumed : &b->tls_full, 1);
        return;
    }
    int err = wolfSSL_get_error(t->ssl, rc);
    if (err != WOLFSSL_ERROR_WANT_READ && err != WOLFSSL_ERROR_WANT_WRITE)
        tls_fatal(t); /* a failed handshake (alert written), or a client gone in the middle */
}

/* wolfSSL can hand the records over when TLS 1.3 is up and nothing is
 * half done here: all ciphertext written (the session ticket included),
 * all read given to wolfSSL up to a record's end, no plaintext waiting in
 * wolfSSL. */
static int handover_possible(tls_layer *t)
{
    return t->state == T_OPEN && t->ssl && !t->handoff_tried && !t->aborted &&
           !t->notify_sent && wolfSSL_version(t->ssl) == TLS1_3_VERSION &&
           (!t->out || t->out_off == t->out_len) && !t->retry_len && t->in_off == t->in_len &&
           !t->rec_left && !t->rec_hdr_have && !tls_wolfssl_pending(t);
}

/* At that point the backend offers the keys to the kernel (pipe.h,
 * handoff: BERTH_HANDOFF_KTLS) when kTLS is on, and berth's records take
 * over when the kernel cannot (tls_handoff_done) or kTLS is off (here).
 * Records cut to a negotiated max_fragment_length stay out of the kernel,
 * which would send 16 KiB ones. */
static void check_handover(tls_layer *t)
{
    t->pipe.handoff_ready = 0;
    if (!handover_possible(t))
        return;
    if (berth_tls_ctx_ktls(t->ctx) && wolfSSL_GetMaxOutputSize(t->ssl) >= TLS_RECORD_MAX)
        t->pipe.handoff_ready = 1;
    else
        tls_records_engage(t);
}

static void decrypt(tls_layer *t)
{
    if (t->rec)
        tls_records_decrypt(t);
    else
        tls_wolfssl_decrypt(t);
}

static void release_in(tls_layer *t)
{
    if (t->in && t->in_off == t->in_len && !t->pend_len) {
        berth_pool_put(&t->w->buf_pool, t->in);
        t->in = NULL;
        t->in_len = t->in_off = 0;
    }
}

static void drain_now(tls_layer *t)
{
    t->drain_pending = 0;
    t->inner->ops->drain(t->inner);
}

static void advance(tls_layer *t)
{
    if (t->state == T_HANDSHAKE)
        handshake(t);
    if (t->state == T_PASS)
        return; /* stepped aside: nothing of TLS is left to do */
    if (t->state == T_OPEN)
        decrypt(t);
    release_in(t); /* an emptied ciphertext buffer goes back while idle */
    check_handover(t);
}

/* Once the engine is done with the connection (all written, or cut),
 * say so in TLS. */
static void send_close_notify(tls_layer *t)
{
    if (t->notify_sent || t->state != T_OPEN || t->aborted)
        return;
    int st = t->inner->ops->state(t->inner);
    if (st == BERTH_PIPE_OPEN || t->retry_len ||
        (st == BERTH_PIPE_SHUTDOWN && t->inner->ops->out_segs(t->inner, &(berth_seg){0}, 1)))
        return;
    if (t->rec)
        tls_records_close_notify(t);
    else
        tls_wolfssl_close_notify(t);
}

/* ---- the pipe ---------------------------------------------------------- */

static int tls_wants_input(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    if (t->state == T_CLOSED || t->peer_eof || t->pend_len)
        return 0; /* (plaintext held here is taken first: has_pending) */
    if (t->in && t->in_len == tls_block(t) && t->in_off == 0)
        return 0; /* full: the records in it are taken first */
    if (t->state == T_HANDSHAKE)
        return 1;
    return t->inner->ops->wants_input(t->inner); /* lingering after close_notify: drained */
}

static char *tls_read_buf(berth_pipe *p, size_t *cap)
{
    tls_layer *t = (tls_layer *)p;
    if (!tls_wants_input(p))
        return NULL;
    if (!t->in) {
        if (!(t->in = berth_pool_get(&t->w->buf_pool)))
            return NULL;
        t->in_len = t->in_off = 0;
    } else if (t->in_off) {
        memmove(t->in, t->in + t->in_off, t->in_len - t->in_off);
        t->in_len -= t->in_off;
        t->in_off = 0;
    }
    *cap = tls_block(t) - t->in_len;
    return t->in + t->in_len;
}

static void tls_read_done(berth_pipe *p, size_t n)
{
    tls_layer *t = (tls_layer *)p;
    if (n == 0)
        t->peer_eof = 1;
    t->in_len += n;
    t->stalled = 0;
    if (t->notify_sent) {
        t->in_off = t->in_len; /* closing: input is dropped */
        t->pend_len = 0;
        if (n == 0)
            t->inner->ops->read_done(t->inner, 0);
    }
    advance(t);
}

static void tls_read_idle(berth_pipe *p) { release_in((tls_layer *)p); }

static int tls_has_pending(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    if (t->state != T_OPEN)
        return 0;
    if (t->inner->ops->has_pending(t->inner))
        return 1;
    /* Plaintext or ciphertext held here, that the engine can take now. */
    if (t->stalled || !t->inner->ops->wants_input(t->inner))
        return 0;
    if (t->rec)
        return tls_records_pending(t);
    return tls_wolfssl_pending(t) || t->in_off < t->in_len;
}

static void tls_pump(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    if (t->inner->ops->has_pending(t->inner))
        t->inner->ops->pump(t->inner);
    advance(t);
}

static int tls_out_segs(berth_pipe *p, berth_seg *segs, int max)
{
    tls_layer *t = (tls_layer *)p;
    if (max < 1)
        return 0;
    if (t->state == T_OPEN && !t->aborted &&
        t->inner->ops->state(t->inner) != BERTH_PIPE_CLOSED) {
        if (t->rec)
            tls_records_encrypt(t);
        else
            tls_wolfssl_encrypt(t);
    }
    if (t->state == T_OPEN && !t->aborted)
        send_close_notify(t); /* (the engine cut: what it still had is dropped) */
    if (!t->out || t->out_off == t->out_len)
        return 0;
    segs[0].ptr = t->out + t->out_off;
    segs[0].fd = -1;
    segs[0].off = 0;
    segs[0].len = t->out_len - t->out_off;
    return 1;
}

static void tls_out_done(berth_pipe *p, size_t n)
{
    tls_layer *t = (tls_layer *)p;
    t->out_off += n;
    if (t->out_off == t->out_len) {
        berth_pool_put(&t->w->buf_pool, t->out);
        t->out = NULL;
        t->out_len = t->out_off = 0;
        check_handover(t);
    }
}

static int tls_state(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    int pending_out = t->out && t->out_off < t->out_len;
    if (t->state == T_CLOSED)
        return BERTH_PIPE_CLOSED;
    if (t->state == T_HANDSHAKE)
        return BERTH_PIPE_OPEN;
    int st = t->inner->ops->state(t->inner);
    if (!t->notify_sent && !t->aborted && st != BERTH_PIPE_OPEN)
        return BERTH_PIPE_OPEN; /* close_notify still to be queued (out_segs) */
    if (st == BERTH_PIPE_CLOSED)
        return BERTH_PIPE_CLOSED; /* the alert had its one write; nothing waits for it */
    if (st == BERTH_PIPE_OPEN || pending_out)
        return BERTH_PIPE_OPEN;
    return st;
}

/* The stop may come before the first request's bytes: as the connection
 * was accepted, during its handshake, or between the handshake and the
 * request. The engine would take the connection for an idle one, whose
 * grace (stop_grace_ms) counts from its accept, and close it: a client
 * whose handshake or request is on its way (perhaps in the socket, not yet
 * read) would be reset. So the engine hears of the stop once the first
 * plaintext is passed to it (its request is then answered, the last); a
 * connection that sends no handshake within stop_grace_ms of the stop, or
 * no request within stop_grace_ms of the handshake's end, is closed. */
static uint64_t handshake_deadline(const tls_layer *t)
{
    uint64_t end = t->t_start + berth_tls_ctx_handshake_timeout(t->ctx);
    uint64_t grace = t->t_drain + t->w->engine->stop_grace_ms;
    return t->drain_pending && !t->first_seen && grace < end ? grace : end;
}

static uint64_t open_grace_end(const tls_layer *t)
{
    return (t->t_open > t->t_drain ? t->t_open : t->t_drain) + t->w->engine->stop_grace_ms;
}

static uint64_t tls_deadline(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    if (t->state == T_HANDSHAKE)
        return handshake_deadline(t);
    uint64_t d = t->inner->ops->deadline(t->inner);
    if (t->drain_pending && t->state == T_OPEN && open_grace_end(t) < d)
        d = open_grace_end(t);
    return d;
}

static void tls_on_timeout(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    if (t->state == T_HANDSHAKE)
        tls_fatal(t); /* a stalled handshake, or none since the stop */
    else if (t->drain_pending && t->state == T_OPEN && t->w->clock.now_ms >= open_grace_end(t))
        drain_now(t); /* no request came: the engine closes it as idle */
    else
        t->inner->ops->on_timeout(t->inner);
}

static void tls_drain(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    if (t->plain_seen || (t->state != T_HANDSHAKE && t->state != T_OPEN)) {
        t->inner->ops->drain(t->inner);
        return;
    }
    t->drain_pending = 1;
    t->t_drain = t->w->clock.now_ms;
}

static void tls_abort(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    t->aborted = 1;
    tls_fatal(t);
}

/* Frees the layer's own parts (not the engine below). */
static void layer_free(tls_layer *t)
{
    berth_pool *pool = &t->w->buf_pool;
    if (t->ssl)
        wolfSSL_free(t->ssl);
    berth_tls_rec_free(t->rec);
    berth_pool_put(pool, t->in);
    berth_pool_put(pool, t->out);
    berth_pool_put(pool, t->plain);
    free(t);
}

static void tls_free(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    if (!t->settled && t->first_seen) /* bytes came, no handshake completed */
        berth_stat_add(&t->w->stats->tls_failed, 1);
    t->inner->ops->free(t->inner);
    layer_free(t);
}

static enum berth_handoff_offer tls_handoff(berth_pipe *p, berth_ktls *keys)
{
    tls_layer *t = (tls_layer *)p;
    t->pipe.handoff_ready = 0;
    if (!handover_possible(t))
        return BERTH_HANDOFF_NONE;
    if (!tls_export_keys(t->ssl, keys)) {
        t->handoff_tried = 1; /* a cipher the kernel does not take */
        return BERTH_HANDOFF_NONE;
    }
    return BERTH_HANDOFF_KTLS;
}

static berth_pipe *tls_handoff_done(berth_pipe *p, enum berth_handoff_result how)
{
    tls_layer *t = (tls_layer *)p;
    t->handoff_tried = 1;
    if (how == BERTH_HANDOFF_FAILED) {
        tls_fatal(t); /* half converted: nothing can be said on this socket */
        return p;
    }
    if (how == BERTH_HANDOFF_DECLINED) {
        tls_records_engage(t); /* no kernel TLS: berth's records, in userspace */
        return p;
    }
    /* The kernel has the records: this layer steps out. Its WOLFSSL is
     * stale (sequence numbers) and must do no more I/O: freed quietly. */
    if (t->state == T_OPEN) /* the kernel took the records (not a step aside) */
        berth_stat_add(&t->w->stats->ktls, 1);
    berth_pipe *inner = t->inner;
    layer_free(t);
    return inner;
}

/* The engine's answer (pipe.h): records carry whatever the application
 * makes, so the layer waits as the engine does, until it is closed. */
static int tls_awaits_app(berth_pipe *p)
{
    tls_layer *t = (tls_layer *)p;
    return t->state != T_CLOSED && berth_pipe_awaits_app(t->inner);
}

static const berth_pipe_ops tls_ops = {
    tls_wants_input, tls_read_buf,  tls_read_done, tls_read_idle,  tls_has_pending,
    tls_pump,        tls_out_segs,  tls_out_done,  tls_state,      tls_deadline,
    tls_on_timeout,  tls_drain,     tls_abort,     tls_free,       tls_handoff,
    tls_handoff_done,
    .awaits_app = tls_awaits_app,
};

/* ---- plain HTTP on the TLS port ---------------------------------------- */

/* A client that speaks plain HTTP to the TLS port (an http:// URL with the
 * https port) is answered by the engine, as any bad request is: through
 * the error hook and the serializer, seen by the completion callbacks,
 * written in plaintext, and the connection closes lingering (nginx also
 * answers 400 there). The layer steps aside for this connection: it tells
 * the engine to refuse (pipe.h, refusal), passes up the bytes it read, and
 * from then on forwards every operation (pass_ops) until the backend takes
 * it out of the pipe (handoff), as PROXY does after its header. */
static berth_pipe *inner_of(berth_pipe *p) { return ((tls_layer *)p)->inner; }
static int pass_wants_input(berth_pipe *p) { return inner_of(p)->ops->wants_input(inner_of(p)); }
static char *pass_read_buf(berth_pipe *p, size_t *cap) { return inner_of(p)->ops->read_buf(inner_of(p), cap); }
static void pass_read_done(berth_pipe *p, size_t n) { inner_of(p)->ops->read_done(inner_of(p), n); }
static void pass_read_idle(berth_pipe *p) { inner_of(p)->ops->read_idle(inner_of(p)); }
static int pass_has_pending(berth_pipe *p) { return inner_of(p)->ops->has_pending(inner_of(p)); }
static void pass_pump(berth_pipe *p) { inner_of(p)->ops->pump(inner_of(p)); }
static int pass_out_segs(berth_pipe *p, berth_seg *segs, int max) { return inner_of(p)->ops->out_segs(inner_of(p), segs, max); }
static void pass_out_done(berth_pipe *p, size_t n) { inner_of(p)->ops->out_done(inner_of(p), n); }
static int pass_state(berth_pipe *p) { return inner_of(p)->ops->state(inner_of(p)); }
static uint64_t pass_deadline(berth_pipe *p) { return inner_of(p)->ops->deadline(inner_of(p)); }
static void pass_on_timeout(berth_pipe *p) { inner_of(p)->ops->on_timeout(inner_of(p)); }
static void pass_drain(berth_pipe *p) { inner_of(p)->ops->drain(inner_of(p)); }
static void pass_abort(berth_pipe *p) { inner_of(p)->ops->abort(inner_of(p)); }
static int pass_awaits_app(berth_pipe *p) { return berth_pipe_awaits_app(inner_of(p)); }

static enum berth_handoff_offer pass_handoff(berth_pipe *p, berth_ktls *keys)
{
    (void)keys;
    p->handoff_ready = 0;
    return BERTH_HANDOFF_TRANSPARENT;
}

static berth_pipe *pass_handoff_done(berth_pipe *p, enum berth_handoff_result how)
{
    if (how != BERTH_HANDOFF_DONE)
        return p;
    berth_pipe *inner = inner_of(p);
    layer_free((tls_layer *)p);
    return inner;
}

static const berth_pipe_ops pass_ops = {
    pass_wants_input, pass_read_buf, pass_read_done,  pass_read_idle, pass_has_pending,
    pass_pump,        pass_out_segs, pass_out_done,   pass_state,     pass_deadline,
    pass_on_timeout,  pass_drain,    pass_abort,      tls_free,       pass_handoff,
    pass_handoff_done,
    .awaits_app = pass_awaits_app,
};

static void step_aside(tls_layer *t)
{
    berth_pipe *engine = t->inner;
    t->state = T_PASS;
    t->settled = 1; /* not TLS: the engine answers it */
    t->pipe.ops = &pass_ops;
    engine->refusal = BERTH_PIPE_REFUSE_PLAIN_HTTP;
    const char *p = t->in + t->in_off;
    size_t n = t->in_len - t->in_off;
    while (n) {
        size_t cap;
        char *dst = engine->ops->read_buf(engine, &cap);
        if (!dst) {
            /* The engine answered and reads no more (the rest would be
             * dropped while it lingers), or it has no buffer (out of
             * memory): it is closed, as when it cannot read a request. */
            if (engine->ops->wants_input(engine)) {
                engine->abort_reason = BERTH_REASON_INTERNAL;
                engine->ops->abort(engine);
            }
            break;
        }
        size_t k = n < cap ? n : cap;
        memcpy(dst, p, k);
        p += k;
        n -= k;
        engine->ops->read_done(engine, k);
    }
    berth_pool_put(&t->w->buf_pool, t->in);
    t->in = NULL;
    t->in_len = t->in_off = 0;
    t->pipe.handoff_ready = 1;
}

berth_pipe *berth_tls_wrap(void *ctx, berth_conn *engine, berth_worker *w)
{
    tls_layer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->pipe.ops = &tls_ops;
    t->inner = berth_conn_pipe(engine);
    t->engine = engine;
    t->w = w;
    t->ctx = ctx;
    t->state = T_HANDSHAKE;
    t->t_start = w->clock.now_ms;
    t->ssl = berth_tls_ctx_new_ssl(ctx, berth_conn_protocols(engine));
    if (!t->ssl) {
        free(t);
        return NULL;
    }
    tls_wolfssl_bind(t);
    return &t->pipe;
}
