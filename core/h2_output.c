/* Deferred and streamed responses on HTTP/2 streams (docs/HTTP2.md): a
 * berth_stream handle per stream (HTTP/1 has one per connection,
 * conn_stream.c), whose operations are applied on the owner thread by
 * this file's sink. The head is the stream's own berth_res (its request
 * lives until the stream closes, so a deferred response keeps it); a
 * streamed body is kept as pieces until nghttp2's data provider takes them
 * (flow control decides when), which answers NGHTTP2_ERR_DEFERRED while
 * none is there and is resumed (nghttp2_session_resume_data) when one
 * comes. The stream closing (its end sent, a client's RST_STREAM, the
 * connection gone) detaches the handle: calls answer BERTH_EGONE from
 * then on, whichever thread makes them. */
#include <stdlib.h>
#include <string.h>

#include "h2.h"
#include "request.h"
#include "serialize.h"

/* A piece of streamed body not yet framed. */
typedef struct piece {
    struct piece *next;
    size_t len, off;
    char data[];
} piece;

/* The handle's owner area (owner thread only, until the handle is freed). */
typedef struct h2_out {
    h2_stream *st;      /* NULL once the stream closed */
    piece *head, *tail;
    size_t held;        /* bytes in the pieces, not yet framed */
    unsigned started : 1;  /* the head was submitted */
    unsigned ended : 1;    /* the application ended the response */
    unsigned paused : 1;   /* the data provider answered DEFERRED */
    unsigned no_body : 1;  /* HEAD, or a status without a body: pieces dropped */
    unsigned streamed : 1; /* started: the body is the pieces (else the response's own) */
    unsigned failed : 1;   /* reset for a lost operation: what comes is dropped */
} h2_out;

static void apply(berth_stream *s, berth_conn *c, int kind, int status, const char *a,
                  size_t alen, const char *b, size_t blen);
static void release(berth_stream *s);

static const berth_stream_sink sink = {apply, berth_h2o_apply_streams, berth_conn_notify,
                                       release};

static h2_out *out_of(berth_stream *s) { return berth_stream_owner(s); }

static void pieces_free(h2_out *o)
{
    while (o->head) {
        piece *next = o->head->next;
        free(o->head);
        o->head = next;
    }
    o->tail = NULL;
    o->held = 0;
}

static void release(berth_stream *s) { pieces_free(out_of(s)); }

/* The stream's request, from its response (the berth_res inside it). */
static struct berth_req *req_of(struct berth_res *res)
{
    return (struct berth_req *)(void *)((char *)res - offsetof(struct berth_req, res));
}

berth_stream *berth_h2o_defer(berth_conn *c, struct berth_res *res)
{
    struct berth_req *req = req_of(res);
    h2_stream *st = (h2_stream *)(void *)((char *)req->exch - offsetof(h2_stream, x));
    if (st->hs)
        return st->hs; /* deferred twice: the same handle */
    if (st->answered)
        return NULL;
    berth_stream *s = berth_stream_new(&sink, c, c->w, sizeof(h2_out));
    if (!s)
        return NULL;
    out_of(s)->st = st;
    st->hs = s;
    res->deferred = 1;
    h2_of(c)->nwaiting++;
    return s;
}

/* The application ended its response (send or end): the connection no
 * longer waits for it, only for the client (deadlines: h2_conn.c). */
static void app_ended(berth_conn *c, h2_out *o)
{
    if (o->ended)
        return;
    o->ended = 1;
    h2_of(c)->nwaiting--;
}

/* New body or its end for the data provider: resumed if it was waiting. */
static void resume(berth_conn *c, h2_out *o)
{
    if (!o->paused)
        return;
    o->paused = 0;
    nghttp2_session_resume_data(h2_of(c)->s, o->st->id);
}

/* What the operation queued, to the client. Where handlers may block
 * (fast: its transport writes at once) nghttp2 makes the frames now, as
 * HTTP/1 writes each stream call's bytes before it returns; never from
 * inside nghttp2's callbacks (a handler runs in one: the frames are made
 * once it returns) nor while the streams are walked (the stop). Elsewhere
 * the loop makes them (has_pending). */
static void kick(berth_conn *c)
{
    berth_h2 *h = h2_of(c);
    const berth_transport_ops *t = c->w->transport;
    if (t && t->flush && !c->busy && !c->dispatching && !h->quiet && c->phase != P_CLOSED &&
        !berth_conn_backlog(c)) {
        /* Quiet meanwhile: a stream closing in this send runs its on_close,
         * which may write to another stream (no send from inside). */
        h->quiet = 1;
        int rc = nghttp2_session_send(h->s);
        h->quiet = 0;
        if (rc != 0) {
            berth_conn_kill(c);
            return;
        }
    }
    berth_conn_output(c);
}

/* The head of a streamed response: status, Content-Type, the headers set
 * so far; the body follows as it comes. */
static int start(berth_conn *c, h2_out *o, int status, const char *ct, size_t ct_len)
{
    h2_stream *st = o->st;
    struct berth_res *res = &st->req->res;
    if (status >= 100 && status <= 999)
        res->status = status;
    if (ct_len && berth_res_header_n(res, "Content-Type", 12, ct, ct_len) == BERTH_ENOMEM)
        return -1;
    o->started = 1;
    o->streamed = 1;
    o->no_body = st->req->is_head || !berth_ser_status_has_body(res->status);
    berth_h2s_submit(c, st, berth_h2o_read);
    return 0;
}

/* The whole response at once (send, or end before start): the stream's
 * own response, compressed by the same rule as a handler's. */
static int whole(berth_conn *c, h2_out *o, int status, const char *ct, size_t ct_len,
                 const char *body, size_t len)
{
    struct berth_res *res = &o->st->req->res;
    if (status >= 100 && status <= 999)
        res->status = status;
    if (ct_len && berth_res_header_n(res, "Content-Type", 12, ct, ct_len) == BERTH_ENOMEM)
        return -1;
    if (berth_res_body(res, body, len) != 0)
        return -1;
    o->started = 1;
    berth_h2s_submit(c, o->st, NULL);
    return 0;
}

static int append(h2_out *o, const char *data, size_t len)
{
    if (o->no_body || o->failed || len == 0)
        return 0;
    piece *p = malloc(sizeof *p + len);
    if (!p)
        return -1;
    p->next = NULL;
    p->len = len;
    p->off = 0;
    memcpy(p->data, data, len);
    if (o->tail)
        o->tail->next = p;
    else
        o->head = p;
    o->tail = p;
    o->held += len;
    return 0;
}

static void apply(berth_stream *s, berth_conn *c, int kind, int status, const char *a,
                  size_t alen, const char *b, size_t blen)
{
    h2_out *o = out_of(s);
    if (!o->st)
        return; /* the stream closed: detached already */
    if (c->phase == P_CLOSED || h2_of(c)->freeing) {
        /* The connection failed, or is being freed (an on_close writing
         * to another of its streams): calls answer BERTH_EGONE. */
        berth_stream_mark_gone(s);
        return;
    }
    int rc = 0;
    struct berth_res *res = &o->st->req->res;
    switch (kind) {
    case OP_HEADER:
        if (!o->started && berth_res_header_n(res, a, alen, b, blen) == BERTH_ENOMEM)
            rc = -1;
        break;
    case OP_SEND:
        if (!o->started)
            rc = whole(c, o, status, a, alen, b, blen);
        else
            rc = append(o, b, blen);
        break;
    case OP_START:
        if (!o->started)
            rc = start(c, o, status, a, alen);
        break;
    case OP_WRITE:
        if (!o->started)
            rc = start(c, o, 0, NULL, 0);
        if (rc == 0)
            rc = append(o, b, blen);
        break;
    case OP_END:
        if (!o->started)
            rc = whole(c, o, 0, NULL, 0, NULL, 0);
        break;
    }
    if (rc != 0) {
        /* Out of memory: this response cannot be the one made; the stream
         * is reset (the client never sees it complete), the connection and
         * its other streams go on. */
        nghttp2_submit_rst_stream(h2_of(c)->s, NGHTTP2_FLAG_NONE, o->st->id,
                                  NGHTTP2_INTERNAL_ERROR);
        berth_stream_mark_gone(s);
        o->failed = 1; /* the pieces stay until the close: a frame may be on its way */
    }
    if (kind == OP_SEND || kind == OP_END)
        app_ended(c, o);
    resume(c, o);
    berth_stream_set_pending(s, o->held);
    kick(c);
}

/* The next DATA frame's length (NO_COPY: the pieces are copied into the
 * output queue by berth_h2o_send_data, once). */
ssize_t berth_h2o_read(nghttp2_session *session, int32_t id, uint8_t *buf, size_t len,
                       uint32_t *flags, nghttp2_data_source *src, void *user)
{
    (void)session, (void)id, (void)buf, (void)user;
    h2_stream *st = src->ptr;
    h2_out *o = out_of(st->hs);
    size_t n = o->held < len ? o->held : len;
    if (n == 0 && !o->ended) {
        o->paused = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (n == o->held && o->ended)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* n bytes of the pieces at dst; they are out of the stream's buffer. 0,
 * or -1 if fewer are held (never: the frame's length came from held, and
 * pieces go only here or at the close). */
static int take(h2_stream *st, char *dst, size_t n)
{
    h2_out *o = out_of(st->hs);
    if (n > o->held)
        return -1;
    for (size_t done = 0; done < n;) {
        piece *p = o->head;
        size_t k = p->len - p->off < n - done ? p->len - p->off : n - done;
        memcpy(dst + done, p->data + p->off, k);
        done += k;
        p->off += k;
        if (p->off == p->len) {
            o->head = p->next;
            if (!o->head)
                o->tail = NULL;
            free(p);
        }
    }
    o->held -= n;
    st->x.bytes += n;
    berth_stream_set_pending(st->hs, o->held);
    return 0;
}

int berth_h2o_send_data(nghttp2_session *s, nghttp2_frame *f, const uint8_t *framehd,
                        size_t length, nghttp2_data_source *src, void *user)
{
    (void)s;
    berth_conn *c = user;
    h2_stream *st = src->ptr;
    if (f->data.padlen)
        return NGHTTP2_ERR_CALLBACK_FAILURE; /* berth pads nothing (no select_padding) */
    if (berth_conn_backlog(c))
        return NGHTTP2_ERR_WOULDBLOCK; /* the same frame again once the output drained */
    char *dst = berth_outq_reserve(&c->out, 9 + length);
    if (!dst)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    memcpy(dst, framehd, 9);
    if (st->hs && out_of(st->hs)->streamed) {
        if (take(st, dst + 9, length) != 0)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
    } else if (berth_h2s_fill(st, dst + 9, length) != 0) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the file shrank: the stream is reset */
    }
    if (berth_outq_commit(&c->out, 9 + length) != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return 0;
}

/* The operations other threads queued, for every stream of c that has a
 * handle; applied in the order each was posted (streams are independent). */
void berth_h2o_apply_streams(berth_conn *c)
{
    berth_h2 *h = h2_of(c);
    if (!h)
        return;
    /* Applying makes no frame here (quiet), so no stream closes under the
     * walk. */
    int quiet = h->quiet;
    h->quiet = 1;
    for (h2_stream *st = h->streams; st; st = st->next) {
        berth_stream *s = st->hs;
        if (!s)
            continue;
        int failed;
        stream_op *op = berth_stream_take(s, &failed);
        if (failed && c->phase != P_CLOSED) {
            /* An operation of another thread's was lost (out of memory). */
            nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
            out_of(s)->failed = 1; /* the pieces stay until the close */
        }
        while (op) {
            stream_op *next = op->next;
            if (!failed)
                apply(s, c, op->kind, op->status, op->data, op->split, op->data + op->split,
                      op->len - op->split);
            else if (op->kind == OP_SEND || op->kind == OP_END)
                app_ended(c, out_of(s));
            if (berth_stream_op_counted(op->kind))
                berth_stream_consumed(s, op->len - op->split);
            free(op);
            op = next;
        }
    }
    h->quiet = quiet; /* each apply asked for its output (kick) */
}

int berth_h2o_awaits_app(const berth_conn *c)
{
    const berth_h2 *h = h2_of(c);
    return h && h->nwaiting > 0;
}

void berth_h2o_stop(berth_conn *c)
{
    berth_h2 *h = h2_of(c);
    int quiet = h->quiet;
    h->quiet = 1; /* on_stop may end its response: no frames (no close) under the walk */
    for (h2_stream *st = h->streams; st; st = st->next)
        if (st->hs)
            berth_stream_stop(st->hs);
    h->quiet = quiet;
}

void berth_h2o_close(berth_conn *c, h2_stream *st)
{
    berth_stream *s = st->hs;
    h2_out *o = out_of(s);
    app_ended(c, o);
    o->st = NULL;
    pieces_free(o);
    st->hs = NULL;
    /* on_close runs if the application had not ended the response (a
     * reset, the connection gone, the stop's cut); the handle stays the
     * application's until it ends it. */
    berth_stream_detach(s, 1);
}
