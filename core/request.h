/* The request and response objects behind berth_req / berth_res. */
#ifndef BERTH_REQUEST_H
#define BERTH_REQUEST_H

#include "berth.h"
#include "chunked.h"
#include "parse.h"
#include "pool.h"

#define BERTH_MAX_PARAMS 32 /* one per segment at most (router.c) */
#define BERTH_RES_HDR_INLINE 1024
/* Small bodies ("55", "ok") are copied into the response itself; larger
 * ones into a block of the worker's pool (berth_res_body_reserve). Kept
 * small: the engine clears the whole request block for every request
 * (http1_conn.c), and a 4 KiB buffer there was a quarter of the instructions of
 * a pipelined request. */
#define BERTH_RES_BODY_INLINE 256

struct berth_conn;

enum berth_body_mode { BERTH_BODY_NONE, BERTH_BODY_LENGTH, BERTH_BODY_CHUNKED };

struct berth_res {
    struct berth_conn *conn;  /* for berth_res_defer */
    berth_pool *pool;         /* the worker's blocks, for bodies up to the copy limit */
    int deferred;             /* berth_res_defer was called */
    int status;
    int close;                /* handler sent Connection: close */
    unsigned omit;            /* BERTH_OMIT_*: berth's own Server / Date left out */
    int no_compress;          /* berth_res_compress(res, 0) */
    char *hdr;                /* "Name: value\r\n" lines */
    size_t hdr_len, hdr_cap;
    const char *body;
    size_t body_len;
    char *body_alloc;         /* body space owned by the response, or NULL */
    int body_pooled;          /* body_alloc is a block of the worker's pool */
    void (*body_release)(void *arg); /* borrowed body: called when done with */
    void *body_release_arg;
    int body_fd;              /* >= 0: the body is a file range, closed when done */
    uint64_t body_off, body_flen;
    char hdr_inline[BERTH_RES_HDR_INLINE];
    char body_inline[BERTH_RES_BODY_INLINE];
};

struct berth_req {
    berth_head head;
    berth_str path, query;
    int is_head;                  /* method HEAD: no body in the response */
    /* framing */
    int body_mode;
    uint64_t content_length;
    int keep_alive;
    int expect_continue;
    /* routing */
    berth_handler_fn handler;
    berth_body_fn on_body;        /* streamed body; NULL with streaming=1 */
    int streaming;
    void *user;
    uint64_t max_body;            /* the route's limit, or the server's */
    int head_ok;                  /* method and target were parsed */
    int rejected;                 /* answered by berth (404, 405) */
    struct berth_exch *exch;      /* its exchange (exch.h): data, on_done */
    const struct berth_mw *route_mw; /* the matched route's middleware, or NULL */
    const struct berth_route_mp *mp_route; /* its multipart body's, or NULL */
    uint64_t pieces;              /* calls of on_body so far */
    size_t nparams;
    /* request_start (http1_conn.c) zeroes what is above this line and from
     * body to res, not these arrays (read below nparams only) nor res
     * (berth_res_init): a field added here starts with garbage. */
    berth_str param_names[BERTH_MAX_PARAMS];
    berth_str param_values[BERTH_MAX_PARAMS];
    /* body */
    const char *body;
    size_t body_len;
    uint64_t body_received;
    char *body_buf;               /* separate body buffer, or NULL */
    size_t body_cap;
    int body_buf_pooled;
    uint64_t budget;              /* bytes of the server's body budget held */
    berth_chunked chunked;
    struct berth_res res;
    berth_header headers[];       /* head.max_headers slots */
};

/* Interprets the framing headers (Host, Content-Length, Transfer-Encoding,
 * Connection, Expect) of a parsed head and checks the Host value. Returns
 * 0 or the error status. */
int berth_req_framing(struct berth_req *req);
/* Checks the request-target's form (RFC 9112 3.2) and splits it into path
 * and query. Returns 0 or 400. */
int berth_req_split_target(struct berth_req *req);

/* How a header set by a handler is treated: refused (CR, LF or NUL, or a
 * name that is not a token), dropped (framing headers berth writes
 * itself), `Connection: close` (the connection closes after the response)
 * or kept. One rule for berth_res_header and berth_stream_header. */
enum {
    BERTH_HDR_INVALID = -1,
    BERTH_HDR_KEEP,
    BERTH_HDR_DROP,
    BERTH_HDR_CLOSE,
    BERTH_HDR_SERVER, /* kept, and berth writes no Server of its own */
};
/* The omit bit a header check answers for (0 for other kinds). */
unsigned berth_header_omit(int kind);
int berth_header_check(const char *name, size_t name_len, const char *value, size_t value_len);

void berth_res_init(struct berth_res *res, struct berth_conn *conn, berth_pool *pool);
/* Drops what the response still holds (headers, body, file, release). */
void berth_res_release(struct berth_res *res);
/* Drops the body only (memory, file or release). */
void berth_res_body_drop(struct berth_res *res);
/* 1 if a header of that name is set on res. */
int berth_res_has_header(const struct berth_res *res, const char *name);
/* Appends "Name: value\r\n" lines already checked (a stream's). 0 or -1. */
int berth_res_header_lines(struct berth_res *res, const char *lines, size_t len);
/* The first value of a header set on res (blanks around it trimmed): 1 and
 * *value, or 0. Valid until res's headers change. */
int berth_res_header_get(const struct berth_res *res, const char *name, berth_str *value);

#endif
