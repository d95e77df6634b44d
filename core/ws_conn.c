/* The WebSocket protocol (proto.h, ws.h): frames in, callbacks, frames
 * out, the close handshake, idle pings and the server's stop. HTTP/1 hands
 * it the connection at the 101 (ws_upgrade.c); it knows only the
 * connection core below it. */
#include "abi.h"
#include "stats.h"
#include "ws.h"

#include <stdlib.h>
#include <string.h>

#include "conn_impl.h"
#include "serialize.h"
#include "stream.h"

#define MSG_KEEP (64 * 1024) /* a reassembly buffer up to this is kept for the next message */

static berth_ws *handle(const berth_wsc *ws) { return (berth_ws *)ws; }
static berth_wsc *ws_of(const berth_conn *c) { return c->proto_state; }
static void *user_of(const berth_wsc *ws) { return ws->user; }
static uint64_t now(const berth_conn *c) { return c->w->clock.now_ms; }

/* Output made on the owner thread: inside the loop's processing the loop
 * writes it next; elsewhere (a queued operation, a blocking handler on
 * fast with a backlog) as conn_stream.c does. At the stop (stop_close)
 * nothing is written here: the loop drives the connection right after
 * (berth_io_drain; fast's wait_stream) without blocking, while fast's
 * flush (transport.h) blocks writing and never reads, so the sends applied there and
 * the 1001 would wait for a client blocked sending until the drain's cut. */
static void output(berth_conn *c)
{
    berth_stream_set_pending(ws_of(c)->s, (size_t)c->out.pending);
    if (ws_of(c)->stopping)
        return;
    if (!c->busy)
        berth_conn_output(c);
    else if (berth_conn_backlog(c))
        berth_conn_flush(c);
}

/* Queues one unmasked frame whose payload is malloc'd memory, which the
 * queue frees once written (or at once, failing). */
static int frame_owned(berth_conn *c, int opcode, char *data, size_t len)
{
    unsigned char h[10];
    size_t hl = berth_wsf_header(h, opcode, len);
    if (berth_outq_append(&c->out, h, hl) != 0) {
        free(data);
        return -1;
    }
    return berth_outq_external(&c->out, data, len, BERTH_REL_FREE, data, NULL);
}

/* Queues one unmasked frame: small ones copied next to their header,
 * large ones copied once into memory of their own. */
static int frame_out(berth_conn *c, int opcode, const char *data, size_t len)
{
    if (len <= BERTH_SER_COPY_MAX) {
        unsigned char h[10];
        size_t hl = berth_wsf_header(h, opcode, len);
        char *p = berth_outq_reserve(&c->out, hl + len);
        if (!p)
            return -1;
        memcpy(p, h, hl);
        if (len)
            memcpy(p + hl, data, len);
        return berth_outq_commit(&c->out, hl + len);
    }
    char *copy = malloc(len);
    if (!copy)
        return -1;
    memcpy(copy, data, len);
    return frame_owned(c, opcode, copy, len);
}

/* A message compressed (RSV1) here, on the connection's thread, as its
 * frame is queued: with context takeover the client inflates in the
 * order of the wire, and this is that order, whichever thread sent. */
static int frame_deflated(berth_conn *c, int opcode, const char *data, size_t len)
{
    char scratch[4096];
    char *out;
    size_t n;
    if (berth_wsd_deflate(ws_of(c)->z, data, len, scratch, sizeof scratch, &out, &n) != 0)
        return -1;
    opcode |= BERTH_WSF_RSV1;
    if (out != scratch && n > BERTH_SER_COPY_MAX)
        return frame_owned(c, opcode, out, n);
    int rc = frame_out(c, opcode, out, n);
    if (out != scratch)
        free(out);
    return rc;
}

/* on_close will be told code and reason (the first outcome decided wins). */
static void report_set(berth_wsc *ws, int code, const char *reason, size_t len)
{
    if (ws->reported || ws->due)
        return;
    ws->due = 1;
    ws->code = code;
    if (len > sizeof ws->reason)
        len = sizeof ws->reason;
    if (len)
        memcpy(ws->reason, reason, len);
    ws->reason_len = len;
}

/* Queues a close frame and stops reading: once it is written the
 * connection lingers (write side shut, input drained) and closes. */
static void close_send(berth_conn *c, int code, const char *reason, size_t len)
{
    berth_wsc *ws = ws_of(c);
    if (ws->closing)
        return;
    unsigned char pl[125];
    size_t n = 0;
    if (code) {
        if (len > sizeof pl - 2)
            len = sizeof pl - 2;
        pl[0] = (unsigned char)(code >> 8);
        pl[1] = (unsigned char)code;
        if (len)
            memcpy(pl + 2, reason, len);
        n = 2 + len;
    }
    ws->closing = 1;
    berth_stream_mark_gone(ws->s); /* sends answer -1 from now on */
    report_set(ws, code ? code : BERTH_WS_CLOSE_NO_STATUS, reason, code ? len : 0);
    if (frame_out(c, BERTH_WS_OP_CLOSE, (const char *)pl, n) != 0) {
        berth_conn_kill(c);
        return;
    }
    output(c);
    berth_conn_settle(c);
}

static void ws_apply(berth_stream *hs, berth_conn *c, int kind, int status, const char *a,
                     size_t alen, const char *data, size_t len);

/* The handle's connection side: frames applied at once, with no copy. */
static const berth_stream_sink sink = {ws_apply, berth_conn_apply_streams, berth_conn_notify,
                                       NULL};

berth_wsc *berth_wsc_new(berth_conn *c, const berth_ws_config *cfg,
                         const berth_wsd_params *deflate, void *user)
{
    berth_wsc *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    if (deflate) {
        ws->z = malloc(sizeof *ws->z);
        if (!ws->z) {
            free(ws);
            return NULL;
        }
        berth_wsd_init(ws->z, deflate, cfg->deflate_level);
    }
    berth_stream *s = berth_stream_new(&sink, c, c->w, 0);
    if (!s) {
        free(ws->z);
        free(ws);
        return NULL;
    }
    berth_wsp_init(&ws->parser, cfg->max_message);
    ws->parser.rsv1_ok = ws->z != NULL; /* RSV1: a compressed message, once agreed */
    ws->parser.max_fragments = cfg->max_fragments;
    ws->s = s;
    s->limit = cfg->max_buffer;
    ws->user = user;
    ws->on_open = cfg->on_open;
    ws->on_message = cfg->on_message;
    ws->on_close = cfg->on_close;
    ws->on_stop = cfg->on_stop;
    ws->ping_ms = cfg->ping_ms;
    return ws;
}

void berth_wsc_discard(berth_wsc *ws)
{
    if (!ws)
        return;
    berth_stream_detach(ws->s, 0);
    berth_stream_release(ws->s);
    free(ws->z);
    free(ws);
}

berth_ws *berth_wsc_handle(const berth_wsc *ws) { return handle(ws); }

/* The server stops: the sends other threads made before (each answered
 * 0) are applied first, so that they go out before the 1001 (issue 20:
 * they were dropped when the stop's drain came before the wake-up that
 * would have applied them); then the application's on_stop, whose sends
 * (applied at once, on this thread) go out before it too, and which may
 * close with a code of its own (close_send then keeps that one). */
static void stop_close(berth_conn *c)
{
    berth_wsc *ws = ws_of(c);
    ws->stopping = 1;
    berth_conn_apply_streams(c);
    if (!ws->told_stop && ws->on_stop && c->phase == P_WS && !ws->closing) {
        ws->told_stop = 1;
        ws->on_stop(handle(ws), user_of(ws));
    }
    if (c->phase == P_WS)
        close_send(c, BERTH_WS_CLOSE_GOING_AWAY, "server stopping", 15);
    ws->stopping = 0;
}

static void ws_open(berth_conn *c)
{
    berth_wsc *ws = ws_of(c);
    berth_stream_set_pending(ws->s, (size_t)c->out.pending);
    if (ws->on_open)
        ws->on_open(handle(ws), user_of(ws));
    if (c->draining && c->phase == P_WS)
        stop_close(c);
}

static void report(berth_conn *c)
{
    berth_wsc *ws = ws_of(c);
    if (!ws || !ws->due || ws->reported)
        return;
    ws->due = 0;
    ws->reported = 1;
    berth_str reason = {ws->reason, ws->reason_len};
    if (ws->on_close)
        ws->on_close(handle(ws), ws->code, reason, user_of(ws));
    berth_stream_release(ws->s); /* the application's reference: the handle ends */
}

static void deliver(berth_conn *c, int type, const char *data, size_t len)
{
    berth_wsc *ws = ws_of(c);
    berth_stat_add(&c->w->stats->ws_in, 1);
    if (ws->on_message)
        ws->on_message(handle(ws), type, data, len, user_of(ws));
}

/* The whole message is in ws->msg: delivered, and the buffer kept for the
 * next unless it grew large. */
static void deliver_gathered(berth_conn *c, int type)
{
    berth_wsc *ws = ws_of(c);
    size_t n = ws->msg_len;
    ws->msg_len = 0;
    deliver(c, type, ws->msg, n);
    if (ws->msg_cap > MSG_KEEP) {
        free(ws->msg);
        ws->msg = NULL;
        ws->msg_cap = 0;
    }
}

/* A piece of a compressed message, inflated onto ws->msg as it comes:
 * max_message bounds the output, text is checked as it appears. 0 or the
 * close code. */
static int inflated_piece(berth_conn *c, const berth_wsp_event *ev)
{
    berth_wsc *ws = ws_of(c);
    if (ev->first)
        memset(&ws->zutf8, 0, sizeof ws->zutf8);
    size_t from = ws->msg_len;
    int code = berth_wsd_inflate(ws->z, ev->data, ev->len, ev->last, ws->parser.max_message,
                                 &ws->msg, &ws->msg_len, &ws->msg_cap);
    if (code)
        return code;
    if (ev->opcode == BERTH_WS_OP_TEXT &&
        (berth_utf8_run(&ws->zutf8, (const unsigned char *)ws->msg + from, ws->msg_len - from) != 0 ||
         (ev->last && !berth_utf8_done(&ws->zutf8))))
        return BERTH_WS_CLOSE_BAD_DATA;
    if (ev->last)
        deliver_gathered(c, ev->opcode);
    return 0;
}

/* A piece of a message: whole ones are delivered where they lie, the rest
 * gathered first. 0 or the close code. */
static int data_piece(berth_conn *c, const berth_wsp_event *ev)
{
    berth_wsc *ws = ws_of(c);
    if (ev->compressed)
        return inflated_piece(c, ev);
    if (ev->first && ev->last) {
        deliver(c, ev->opcode, ev->data, ev->len);
        return 0;
    }
    if (ws->msg_len + ev->len > ws->msg_cap) {
        /* The parser knows the declared length so far: grow to it at once. */
        size_t want = ws->parser.msg_len > ws->msg_len + ev->len ? (size_t)ws->parser.msg_len
                                                                 : ws->msg_len + ev->len;
        if (want < 2 * ws->msg_cap && !ev->last)
            want = 2 * ws->msg_cap;
        char *n = realloc(ws->msg, want ? want : 1);
        if (!n)
            return BERTH_WS_CLOSE_INTERNAL; /* out of memory */
        ws->msg = n;
        ws->msg_cap = want;
    }
    if (ev->len)
        memcpy(ws->msg + ws->msg_len, ev->data, ev->len);
    ws->msg_len += ev->len;
    if (ev->last)
        deliver_gathered(c, ev->opcode);
    return 0;
}

static void control(berth_conn *c, const berth_wsp_event *ev)
{
    berth_wsc *ws = ws_of(c);
    if (ev->opcode == BERTH_WS_OP_PING) {
        if (frame_out(c, BERTH_WS_OP_PONG, ev->data, ev->len) != 0)
            berth_conn_kill(c);
        return;
    }
    if (ev->opcode != BERTH_WS_OP_CLOSE)
        return; /* a pong: the input itself showed the peer is there */
    /* The peer closes: echo its code (none if it sent none), report its. */
    report_set(ws, ev->code, ev->reason, ev->reason_len);
    if (ev->code == BERTH_WS_CLOSE_NO_STATUS)
        close_send(c, 0, NULL, 0);
    else
        close_send(c, ev->code, NULL, 0);
}

static void frames_in(berth_conn *c)
{
    berth_wsc *ws = ws_of(c);
    if (c->in_off < c->in_len) {
        ws->t_input = now(c);
        ws->ping_out = 0;
    }
    while (c->phase == P_WS && !ws->closing && c->in_off < c->in_len) {
        size_t used = 0;
        berth_wsp_event ev;
        int r = berth_wsp_run(&ws->parser, c->in + c->in_off, c->in_len - c->in_off, &used, &ev);
        c->in_off += used;
        if (r == BERTH_WSP_MORE)
            break;
        if (r == BERTH_WSP_ERROR) {
            close_send(c, ev.code, NULL, 0);
            break;
        }
        int code = 0;
        if (r == BERTH_WSP_CONTROL)
            control(c, &ev);
        else if ((code = data_piece(c, &ev)) != 0)
            close_send(c, code, NULL, 0);
    }
    /* The parser keeps what it needs of a cut frame: the buffer starts over
     * (and goes back to the pool while the connection is quiet). */
    if (c->phase == P_WS || c->phase == P_CLOSED || c->phase == P_LINGER)
        c->in_off = c->in_len = 0;
}

static void ws_apply(berth_stream *hs, berth_conn *c, int kind, int status, const char *a,
                     size_t alen, const char *data, size_t len)
{
    (void)a, (void)hs;
    (void)alen;
    berth_wsc *ws = ws_of(c);
    if (!ws || ws->closing || c->phase != P_WS)
        return;
    if (kind == OP_WS_CLOSE) {
        /* data: the close payload (the code's two bytes, then the reason). */
        close_send(c, status, len > 2 ? data + 2 : NULL, len > 2 ? len - 2 : 0);
        return;
    }
    int op = kind == OP_WS_PING ? BERTH_WS_OP_PING : status;
    /* Short messages go as they are: deflate would save a few bytes at
     * the cost of a call into zlib (BERTH_WSD_MIN_SEND). */
    int rc = kind == OP_WS_DATA && ws->z && len >= BERTH_WSD_MIN_SEND
                 ? frame_deflated(c, op, data, len)
                 : frame_out(c, op, data, len);
    if (rc != 0) {
        berth_conn_kill(c);
        return;
    }
    if (kind == OP_WS_DATA)
        berth_stat_add(&c->w->stats->ws_out, 1);
    output(c);
}

static uint64_t ws_deadline(const berth_conn *c)
{
    const berth_wsc *ws = ws_of(c);
    if (!ws->ping_ms || ws->closing)
        return UINT64_MAX;
    return (ws->ping_out ? ws->t_ping : ws->t_input) + ws->ping_ms;
}

static void ws_timeout(berth_conn *c)
{
    berth_wsc *ws = ws_of(c);
    if (ws->closing || !ws->ping_ms)
        return;
    if (ws->ping_out) {
        close_send(c, BERTH_WS_CLOSE_GOING_AWAY, "no pong", 7);
        return;
    }
    ws->ping_out = 1;
    ws->t_ping = now(c);
    if (frame_out(c, BERTH_WS_OP_PING, NULL, 0) != 0)
        berth_conn_kill(c);
    else
        berth_stream_set_pending(ws->s, (size_t)c->out.pending);
}

/* The server stops: close with 1001. */
static void ws_drain(berth_conn *c)
{
    if (c->phase == P_WS)
        stop_close(c);
}

/* The connection is freed: on_close (1006) if it has not run, then the
 * application's reference goes (the core detaches the handle next). */
static void ws_free(berth_conn *c)
{
    berth_wsc *ws = ws_of(c);
    if (!ws)
        return;
    report_set(ws, BERTH_WS_CLOSE_ABNORMAL, NULL, 0);
    report(c);
    c->proto_state = NULL;
    free(ws->msg);
    if (ws->z)
        berth_wsd_release(ws->z);
    free(ws->z);
    free(ws);
}

/* HTTP/1 handed the connection over (berth_h1_upgrade), inside the
 * handler: sends from now on are frames after the 101. */
static void ws_start(berth_conn *c)
{
    berth_wsc *ws = ws_of(c);
    ws->t_input = now(c);
    c->stream = ws->s;
    c->phase = P_WS;
}

/* on_open once the handler returned; then frames, and on_close when due
 * (from the loop, not inside a berth call). */
static void ws_input(berth_conn *c)
{
    berth_wsc *ws = ws_of(c);
    if (!ws->opened) {
        ws->opened = 1;
        ws_open(c);
    }
    report(c);
    if (c->phase == P_WS)
        frames_in(c);
    report(c);
}

/* Gone without a close (on_close hears 1006 as it is freed), or after
 * ours: either way nothing more is said. */
static int ws_peer_closed(berth_conn *c)
{
    berth_conn_kill(c);
    return 1;
}

/* A WebSocket whose close frame is queued drops its input, as a lingering
 * connection does: reading it makes no output, so an output backlog does
 * not hold it back. Held back, a client blocked sending (its messages,
 * before it reads our echoes) never read our close frame: each side waited
 * for the other until the stop's cut reset the connection. */
static int ws_input_held(const berth_conn *c)
{
    return c->phase == P_WS && berth_conn_backlog(c) && !ws_of(c)->closing;
}

static int ws_has_pending(const berth_conn *c) { return ws_of(c)->due; }

/* Its close frame is queued: once written, the connection lingers. */
static int ws_finished(const berth_conn *c) { return c->phase == P_WS && ws_of(c)->closing; }

const berth_proto berth_ws_proto = {
    "websocket", ws_start,    ws_input,   ws_peer_closed, ws_input_held, ws_has_pending,
    ws_finished, ws_deadline, ws_timeout, ws_drain,       ws_free,
    NULL,        NULL,        NULL, /* one mailbox: c->stream */
    BERTH_CP_WS,
};

/* ---- the public calls --------------------------------------------------- */

void berth_ws_config_init_sized(berth_ws_config *config, size_t size)
{
    berth_ws_config d, *cfg = &d;
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    cfg->max_message = 16u << 20;
    cfg->max_fragments = 65536;
    cfg->ping_ms = 30000;
    cfg->deflate = 0;
    cfg->deflate_level = 1;
    cfg->deflate_window_bits = 12;
    berth_abi_init(config, size, cfg, sizeof *cfg);
}

int berth_ws_send(berth_ws *ws, int type, const void *data, size_t len)
{
    if (type != BERTH_WS_TEXT && type != BERTH_WS_BINARY)
        return BERTH_EINVAL;
    if (type == BERTH_WS_TEXT) {
        berth_utf8 st = {0, 0, 0};
        if (berth_utf8_run(&st, data, len) != 0 || !berth_utf8_done(&st))
            return BERTH_EINVAL; /* the client would fail the connection (1007) */
    }
    return berth_stream_post(ws->s, OP_WS_DATA, type, NULL, 0, data, len);
}

int berth_ws_ping(berth_ws *ws, const void *data, size_t len)
{
    if (len > 125)
        return BERTH_EINVAL;
    return berth_stream_post(ws->s, OP_WS_PING, 0, NULL, 0, data, len);
}

int berth_ws_close(berth_ws *ws, int code, const char *reason)
{
    size_t rlen = reason ? strlen(reason) : 0;
    if (code == 0 ? rlen != 0 : !berth_ws_code_valid(code) || rlen > 123)
        return BERTH_EINVAL;
    berth_utf8 st = {0, 0, 0};
    if (rlen && (berth_utf8_run(&st, (const unsigned char *)reason, rlen) != 0 ||
                 !berth_utf8_done(&st)))
        return BERTH_EINVAL;
    char pl[125];
    size_t n = 0;
    if (code) {
        pl[0] = (char)(code >> 8);
        pl[1] = (char)code;
        if (rlen)
            memcpy(pl + 2, reason, rlen);
        n = 2 + rlen;
    }
    return berth_stream_post(ws->s, OP_WS_CLOSE, code, NULL, 0, pl, n);
}

size_t berth_ws_buffered(berth_ws *ws) { return berth_stream_buffered(ws->s); }

int berth_ws_wait(berth_ws *ws, size_t below, unsigned timeout_ms)
{
    return berth_stream_wait(ws->s, below, timeout_ms);
}

void berth_ws_set_user(berth_ws *ws, void *user) { ws->user = user; }
void *berth_ws_user(const berth_ws *ws) { return ws->user; }
void *berth_ws_thread_data(const berth_ws *ws) { return ws->s->w ? ws->s->w->thread_data : NULL; }
