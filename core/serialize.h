/* HTTP/1.1 response serialization into an output queue: status line,
 * Server, Date (the worker clock's cached string), the handler's fields,
 * framing and Connection, then the body, copied or queued in place. One
 * writer for every response berth sends, so all backends send the same
 * bytes. Knows nothing of connections. */
#ifndef BERTH_SERIALIZE_H
#define BERTH_SERIALIZE_H

#include <stddef.h>
#include <stdint.h>

#include "outq.h"

/* Bodies up to this are copied next to their head (one write, and the
 * response's memory is free at once); larger ones are queued in place. */
#define BERTH_SER_COPY_MAX 16384

/* Heads berth leaves out because the handler set (or removed) its own. */
#define BERTH_OMIT_SERVER 1u
#define BERTH_OMIT_DATE 2u

/* How a body is delimited. */
enum { BERTH_FRAME_LENGTH, BERTH_FRAME_CHUNKED, BERTH_FRAME_CLOSE, BERTH_FRAME_NONE,
       BERTH_FRAME_UPGRADE /* a 101: Connection: Upgrade, no body */ };

typedef struct berth_head_out {
    int status;
    const char *hdr;    /* "Name: value\r\n" lines set by the handler */
    size_t hdr_len;
    const char *ctype;  /* Content-Type, or NULL */
    size_t ctype_len;
    int frame;
    uint64_t length;    /* BERTH_FRAME_LENGTH */
    int keep_alive;
    unsigned omit;      /* BERTH_OMIT_*: berth's Server / Date left out */
} berth_head_out;

/* A body and who owns it. Ownership passes to berth_ser_response, which
 * releases it once written, at once when it is copied or not sent, and
 * on failure. */
typedef struct berth_body_out {
    const char *ptr;    /* memory... */
    int fd;             /* ...or, if >= 0, a file range from off */
    uint64_t off;
    uint64_t len;
    int stable;         /* the memory outlives the response: may stay in place */
    int release;        /* enum berth_outq_release */
    void *rel_ptr;
    void (*rel_fn)(void *);
} berth_body_out;

/* 1 unless the status forbids a body (1xx, 204, 304). Inline: every
 * response asks, some twice. */
static inline int berth_ser_status_has_body(int status)
{
    return !(status < 200 || status == 204 || status == 304);
}
/* Queues a complete response with a Content-Length (none for statuses
 * without a body); the body only if send_body (not for HEAD). 0 or -1. */
int berth_ser_response(berth_outq *q, int status, const char *hdr, size_t hdr_len,
                       const char *ctype, size_t ctype_len, berth_body_out *body, int send_body,
                       int keep_alive, unsigned omit);
/* Queues berth's own answer for an error status, with Connection: close. */
int berth_ser_error(berth_outq *q, int status);
/* Queues a response head only (streamed responses). */
int berth_ser_head(berth_outq *q, const berth_head_out *h);
/* Queues one chunk of a chunked body, or (len 0) the last chunk. */
int berth_ser_chunk(berth_outq *q, const char *data, size_t len);
/* Queues "100 Continue". */
int berth_ser_continue(berth_outq *q);
/* Releases what a body holds, unsent. */
void berth_body_release(berth_body_out *body);

#endif
