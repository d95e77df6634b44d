/* HTTP/2, a protocol over the connection core (proto.h), with nghttp2 for
 * the wire (docs/HTTP2.md). h2_conn.c: the session, the protocol's table,
 * the hand-over from HTTP/1 at the client preface; h2_stream.c: a stream as
 * a request and its exchange, its headers, body, dispatch and response. */
#ifndef BERTH_H2_H
#define BERTH_H2_H

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>

#include "conn_impl.h"
#include "exch.h"

struct berth_req;

/* One stream: a record of its own; the request's strings are copied after
 * it, then into chunks (h2_stream.c), as nghttp2's buffers live only
 * during its callbacks. */
typedef struct h2_stream {
    struct h2_stream *next, *prev;
    int32_t id;
    struct berth_req *req;    /* from the worker's req_pool */
    berth_exch x;             /* the request's exchange (req->exch) */
    size_t used, cap;         /* string bytes after the record */
    struct h2_chunk *chunks;  /* more string space, newest first */
    size_t hdr_bytes;         /* header bytes counted against the limit */
    uint64_t body_sent;       /* response body bytes handed to nghttp2 */
    uint64_t t_last;          /* its last progress: opened, DATA in, frames out */
    int fail;                 /* a status to answer instead of the handler */
    struct berth_stream *hs;  /* its deferred response's handle (h2_output.c), or NULL */
    unsigned routed : 1;      /* the head was complete and routed */
    unsigned answered : 1;    /* its response was submitted */
    unsigned end_sent : 1;    /* its response's END_STREAM went to the output */
    unsigned ended : 1;       /* the request's END_STREAM came */
    unsigned have_host : 1;
    char status[4];
    char clen[24];
} h2_stream;

typedef struct berth_h2 {
    nghttp2_session *s;
    h2_stream *streams;       /* open streams: freed with the connection */
    size_t nstreams;
    int32_t max_id;           /* the highest stream a client's HEADERS named */
    uint64_t used;            /* bit i: stream max_id - 2i was named (h2_conn.c) */
    int freeing;              /* inside nghttp2_session_del: callbacks are ignored */
    size_t nwaiting;          /* deferred responses their application has not ended */
    int quiet;                /* no nghttp2_session_send from a stream operation now */
    /* Limits and defences (h2_limits.c). */
    uint64_t t_settings;      /* our SETTINGS went out at; 0 once ACKed */
    uint64_t t_headers;       /* a header block began at and is still open; 0 none */
    uint64_t t_idle;          /* the last stream closed at (or the connection began) */
    uint64_t t_data;          /* a DATA frame last left at */
    uint64_t t_tokens;        /* the flood budget's last refill */
    uint32_t tokens;          /* the flood budget */
    int calmed;               /* GOAWAY ENHANCE_YOUR_CALM was submitted */
} berth_h2;

static inline berth_h2 *h2_of(const berth_conn *c) { return (berth_h2 *)c->proto_state; }

extern const berth_proto berth_h2_proto;

/* The client preface at p (n bytes): 1 if it is there whole, 0 if the n
 * bytes begin it (more are needed), -1 if they are something else. */
int berth_h2_preface(const char *p, size_t n);
/* Whether HTTP/1 hands c (no request read yet) to HTTP/2: over TLS 1 when
 * ALPN chose h2 (then a bad preface meets nghttp2's GOAWAY), else -1; on
 * plaintext 1 when its input holds the whole preface, 0 when the input
 * begins it (wait for more), -1 otherwise. */
int berth_h2_selected(const berth_conn *c);
/* Hands c (HTTP/1, no request read, the preface in its input) to HTTP/2.
 * 0, or -1 out of memory (nothing changed). */
int berth_h2_switch(berth_conn *c);

/* Limits and defences (h2_limits.c). The session with berth's options,
 * SETTINGS and windows: 0, or -1 (nothing left allocated). */
int berth_h2_session_new(berth_conn *c, berth_h2 *h, const nghttp2_session_callbacks *cb,
                         nghttp2_mem *mem);
/* Each frame's head as it begins: the flood budget, the header block's
 * clock. May terminate the session (ENHANCE_YOUR_CALM). */
void berth_h2_guard_frame(berth_conn *c, const nghttp2_frame_hd *hd);
/* A frame received whole (the SETTINGS ACK); a frame sent (st: its
 * stream's record, or NULL). */
void berth_h2_guard_recv(berth_conn *c, const nghttp2_frame *f);
void berth_h2_guard_sent(berth_conn *c, const nghttp2_frame *f, h2_stream *st);
/* A stream closed (after berth_h2s_close); early: before its response was
 * out whole. */
void berth_h2_guard_closed(berth_conn *c, int early);
/* The protocol's deadline and what happens at it (h2_conn.c sends what
 * it queued). */
uint64_t berth_h2_deadline(const berth_conn *c);
void berth_h2_timeout(berth_conn *c);

/* Streams (h2_stream.c), called from the session's callbacks. */
h2_stream *berth_h2s_open(berth_conn *c, int32_t id);
/* A header of the request (pseudo-headers included); a limit passed sets
 * st->fail, answered once the head is complete. */
void berth_h2s_header(berth_conn *c, h2_stream *st, const uint8_t *name, size_t nlen,
                      const uint8_t *value, size_t vlen);
/* The request's head is complete: routing, limits. */
void berth_h2s_head_done(berth_conn *c, h2_stream *st, int end_stream);
void berth_h2s_data(berth_conn *c, h2_stream *st, const uint8_t *data, size_t len);
/* The request is complete: the handler runs and its response is submitted. */
void berth_h2s_request_done(berth_conn *c, h2_stream *st);
/* The request stopped coming for body_timeout_ms: 408, the exchange's
 * reason a body timeout. */
void berth_h2s_timeout(berth_conn *c, h2_stream *st);
/* The stream closed (error_code: nghttp2's): its exchange ends, its memory
 * goes back. */
void berth_h2s_close(berth_conn *c, h2_stream *st, uint32_t error_code);
/* Submits the response in st's request: whole (its body through a data
 * provider of h2_stream.c's), or streamed (NULL: whole): a head now, the
 * body through this callback as the deferred response's handle gets it
 * (h2_output.c). */
void berth_h2s_submit(berth_conn *c, h2_stream *st, nghttp2_data_source_read_callback streamed);

/* A whole body's next n bytes (the DATA frame nghttp2 sends now) at dst.
 * 0, or -1 if its file shrank. */
int berth_h2s_fill(h2_stream *st, char *dst, size_t n);

/* Deferred and streamed responses (h2_output.c): a berth_stream per h2
 * stream, applied on the owner thread, the body fed to nghttp2 by a data
 * provider that defers until bytes arrive. The protocol table's defer,
 * apply_streams and awaits_app (proto.h). */
struct berth_stream *berth_h2o_defer(berth_conn *c, struct berth_res *res);
void berth_h2o_apply_streams(berth_conn *c);
int berth_h2o_awaits_app(const berth_conn *c);
/* nghttp2's send_data callback (NO_COPY): a DATA frame's head, then its
 * bytes written straight into the output queue, a whole body's
 * (berth_h2s_fill) or a streamed one's pieces. */
int berth_h2o_send_data(nghttp2_session *s, nghttp2_frame *f, const uint8_t *framehd,
                        size_t length, nghttp2_data_source *src, void *user);
/* The streamed body's data provider callback. */
ssize_t berth_h2o_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                       uint32_t *flags, nghttp2_data_source *src, void *user);
/* The server stops: on_stop for each open deferred response. */
void berth_h2o_stop(berth_conn *c);
/* st closes (before berth_h2s_close, h2_conn.c): its handle is detached (on_close if its application had not
 * ended it), what it buffered freed. */
void berth_h2o_close(berth_conn *c, h2_stream *st);

#endif
