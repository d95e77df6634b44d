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

/* One stream: the record at the start of a block of the worker's buffer
 * pool; the request's strings are copied after it (nghttp2's buffers live
 * only during its callbacks). */
typedef struct h2_stream {
    struct h2_stream *next, *prev;
    int32_t id;
    struct berth_req *req;    /* from the worker's req_pool */
    berth_exch x;             /* the request's exchange (req->exch) */
    size_t used, cap;         /* string bytes after the record */
    size_t hdr_bytes;         /* header bytes counted against the limit */
    uint64_t body_sent;       /* response body bytes handed to nghttp2 */
    int fail;                 /* a status to answer instead of the handler */
    unsigned routed : 1;      /* the head was complete and routed */
    unsigned answered : 1;    /* its response was submitted */
    unsigned ended : 1;       /* the request's END_STREAM came */
    unsigned have_host : 1;
    char status[4];
    char clen[24];
} h2_stream;

typedef struct berth_h2 {
    nghttp2_session *s;
    h2_stream *streams;       /* open streams: freed with the connection */
    size_t nstreams;
    uint64_t t_input;         /* the last input */
    int32_t max_id;           /* the highest stream a client's HEADERS named */
    uint64_t used;            /* bit i: stream max_id - 2i was named (h2_conn.c) */
    int freeing;              /* inside nghttp2_session_del: callbacks are ignored */
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
/* The stream closed (error_code: nghttp2's): its exchange ends, its memory
 * goes back. */
void berth_h2s_close(berth_conn *c, h2_stream *st, uint32_t error_code);

#endif
