/* libFuzzer harness for the sans-I/O engine (core/).
 *
 * It drives a berth_conn the way a backend does: reads of fuzzed sizes
 * through berth_conn_read_buf / berth_conn_read_done, writes through
 * berth_conn_out_iov / berth_conn_out_done (sometimes partial, sometimes
 * held "in flight" across later engine calls, as libuv's asynchronous
 * writes are), EOF, timeouts with a fake clock, server drain, deferred and
 * streamed responses completed later (from the owner thread or queued as
 * if from another thread). Then it checks what must hold for any input:
 *
 *   - no crash, no leak, no undefined behaviour (ASan, LSan, UBSan);
 *   - the output is a sequence of well-formed HTTP/1.1 responses: status
 *     line, field lines, framing by Content-Length or chunked (never both,
 *     never two Content-Lengths), exactly one Connection, one Date;
 *   - handler responses arrive in request order with the body the handler
 *     produced (or none for HEAD, 204, 304); /text/{n} bodies of 1 KiB or
 *     more come gzip-compressed exactly when the client accepts gzip, and
 *     decompress to it (a HEAD's Content-Length is the compressed one);
 *   - nothing follows a response that says Connection: close, and an error
 *     the engine generates (4xx/5xx other than routing's 404/405) says
 *     close; afterwards the connection ends;
 *   - after EOF (or enough timeouts) the connection reaches CLOSED;
 *   - bytes handed out by berth_conn_out_iov stay in place until
 *     berth_conn_out_done covers them;
 *   - fragmentation does not matter: when no timer or timeout fired, the
 *     same bytes fed in one piece per read give the same output (100
 *     Continue aside, which depends on whether the body came along).
 *
 * Input layout: byte 0 flags, byte 1 schedule length n (1..16 from the low
 * nibble), n schedule bytes, then the bytes the client sends. See
 * tests/fuzz/README.md.
 *
 * Built with -fsanitize=fuzzer when -Dfuzz=true and the compiler is clang;
 * fuzz-replay.c runs the corpus through the same function under any
 * compiler as part of `meson test`. */
#include <berth.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <strings.h>

#include "../../core/conn.h"
#include "../../core/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (256 * 1024)

/* ---- failure reporting --------------------------------------------------- */

static const uint8_t *cur_input;
static size_t cur_input_len;

static void dump_escaped(const char *label, const char *p, size_t n, size_t max)
{
    fprintf(stderr, "%s (%zu bytes): \"", label, n);
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\r')
            fputs("\\r", stderr);
        else if (c == '\n')
            fputs("\\n\"\n  \"", stderr);
        else if (c == '"' || c == '\\')
            fprintf(stderr, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(stderr, "\\x%02x", c);
        else
            fputc(c, stderr);
    }
    fprintf(stderr, "\"%s\n", n > max ? " ..." : "");
}

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void buf_add(buf *b, const void *d, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            abort();
        b->p = np;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_free(buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static const buf *fail_tx; /* the transcript being checked */

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz-engine: invariant violated: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (cur_input)
        dump_escaped("input", (const char *)cur_input, cur_input_len, 4000);
    if (fail_tx)
        dump_escaped("output", fail_tx->p, fail_tx->len, 6000);
    abort();
}

/* ---- what the handlers produced ------------------------------------------ */

typedef struct rec {
    int status;
    int is_head;
    int want_close; /* the request asked to close (RFC 9112 9.3) */
    int minor;
    int complete;   /* the application ended the response */
    int sse;        /* berth_sse_start's timer may add keep-alive comments */
    int gzip_ok;    /* the client accepts gzip (berth_req_accept_encoding) */
    int compressible; /* /text: text of at least 1 KiB, gzip must shrink it */
    buf body;       /* the body the handler produced */
} rec;

enum skind { SK_DEFER, SK_STREAM, SK_SSE, SK_LATE, SK_DEFER204 };

typedef struct app_stream {
    berth_stream *s;
    int kind;
    int step;
    unsigned seq;
} app_stream;

/* Flag bits of input byte 0 (see README.md). */
enum {
    F_LIMITS = 3,            /* 0 default, 1 tiny, 2 small, 3 max_body 150000 */
    F_HIGH_WATER = 4,        /* out_high_water 16 bytes */
    F_STREAM_BUF = 8,        /* max_stream_buffer 64 bytes */
    F_EOF = 16,              /* EOF after the input */
    F_DRAIN = 32,            /* server drain after the input */
    F_FRAMING_HEADERS = 64,  /* /late adds Content-Length etc. through berth_stream_header */
    F_MIX_THREADS = 128,     /* an owner-thread stream call while calls from
                                "another thread" are still queued */
};

typedef struct run {
    unsigned flags;
    berth_config cfg;
    berth_engine engine;
    berth_worker worker;
    berth_conn *conn;
    buf tx;              /* every byte the engine wrote, in order */
    rec *recs;
    size_t nrecs, recs_cap;
    app_stream cur;      /* the outstanding deferred response, if any */
    int remote_pending;  /* ops queued as if from another thread */
    /* an asynchronous write in flight */
    int inflight;
    struct iovec fl_iov[16];
    int fl_n;
    size_t fl_len;
    buf fl_copy;
    /* events that make timing matter */
    int timing;          /* a timeout or a timer fired */
    int odd;             /* drain, abort, EOF during a deferred response, -2 */
    int closes_seen;     /* on_close callbacks */
    int killed;          /* output may end inside a response */
    int eof_sent;
    unsigned on_body_calls;
    /* from check_transcript: where the last final response starts (not
     * counting 100 Continue bytes), and whether berth generated it as an
     * error (Connection: close, no handler) */
    size_t last_start;
    int last_is_error;
} run;

static run *R; /* the run whose handlers are executing */
static pthread_t main_owner;

static rec *rec_new(berth_req *req)
{
    if (R->nrecs == R->recs_cap) {
        R->recs_cap = R->recs_cap ? R->recs_cap * 2 : 16;
        R->recs = realloc(R->recs, R->recs_cap * sizeof *R->recs);
        if (!R->recs)
            abort();
    }
    rec *r = &R->recs[R->nrecs++];
    memset(r, 0, sizeof *r);
    berth_str m = berth_req_method(req);
    r->is_head = m.len == 4 && memcmp(m.ptr, "HEAD", 4) == 0;
    r->minor = berth_req_version_minor(req);
    r->status = 200;
    r->gzip_ok = berth_req_accept_encoding(req, "gzip") > 0;
    /* Connection options, parsed independently of core/framing.c. */
    int close = 0, keep = 0;
    berth_str n, v;
    for (size_t i = 0; berth_req_header_at(req, i, &n, &v) == 0; i++) {
        if (!berth_str_eq_nocase(n, "connection"))
            continue;
        size_t j = 0;
        while (j < v.len) {
            while (j < v.len && (v.ptr[j] == ' ' || v.ptr[j] == '\t' || v.ptr[j] == ','))
                j++;
            size_t s = j;
            while (j < v.len && v.ptr[j] != ',')
                j++;
            size_t e = j;
            while (e > s && (v.ptr[e - 1] == ' ' || v.ptr[e - 1] == '\t'))
                e--;
            berth_str t = {v.ptr + s, e - s};
            if (berth_str_eq_nocase(t, "close"))
                close = 1;
            else if (berth_str_eq_nocase(t, "keep-alive"))
                keep = 1;
        }
    }
    r->want_close = r->minor >= 1 ? close : (close || !keep);
    return r;
}

static unsigned seq_of(const rec *r) { return (unsigned)(r - R->recs); }

static void tag(berth_res *res, rec *r)
{
    char s[16];
    snprintf(s, sizeof s, "%u", seq_of(r));
    berth_res_header(res, "X-Seq", s);
}

static void reply(berth_req *req, berth_res *res, int status, const char *body, size_t len)
{
    rec *r = rec_new(req);
    tag(res, r);
    r->status = status;
    r->complete = 1;
    buf_add(&r->body, body, len);
    berth_res_send(res, status, "text/plain", body, len);
}

static void h_hello(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    reply(req, res, 200, "hello", 5);
}

/* GET /text/{n}: n bytes (up to 20000) of text/plain, compressed on the
 * fly for clients that accept gzip from 1 KiB (berth's defaults). */
static char text_body[20000];

static void h_text(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    berth_str n = {"0", 1};
    berth_req_param(req, "n", &n);
    size_t len = 0;
    for (size_t i = 0; i < n.len && n.ptr[i] >= '0' && n.ptr[i] <= '9' && len <= 20000; i++)
        len = len * 10 + (size_t)(n.ptr[i] - '0');
    if (len > sizeof text_body)
        len = sizeof text_body;
    rec *r = rec_new(req);
    tag(res, r);
    r->complete = 1;
    r->compressible = len >= 1024;
    buf_add(&r->body, text_body, len);
    berth_res_header(res, "Content-Type", "text/plain");
    berth_res_body_borrow(res, text_body, len);
}

/* What berth's gzip (level 1, deterministic) makes of a body: its length. */
static size_t gzip_len(const buf *b)
{
    static struct libdeflate_compressor *c;
    static char out[32768];
    if (!c)
        c = libdeflate_alloc_compressor(1);
    size_t n = libdeflate_gzip_compress(c, b->p, b->len, out, sizeof out);
    return n && n < b->len ? n : b->len;
}

static void h_item(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    char out[512], x[128];
    berth_str id = {"?", 1};
    berth_req_param(req, "id", &id);
    long xl = berth_req_query(req, "x", x, sizeof x);
    int64_t n = 0;
    int has_n = berth_req_query_int(req, "n", &n) == 0;
    int len = snprintf(out, sizeof out, "item:%.*s;x=%s;n=%lld/%d", (int)(id.len > 200 ? 200 : id.len),
                       id.ptr, xl >= 0 ? x : "-", (long long)n, has_n);
    reply(req, res, 200, out, (size_t)len);
}

static void h_echo(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    berth_str b = berth_req_body(req);
    rec *r = rec_new(req);
    tag(res, r);
    r->complete = 1;
    buf_add(&r->body, "echo:", 5);
    buf_add(&r->body, b.ptr, b.len);
    char *p = berth_res_body_reserve(res, b.len + 5);
    memcpy(p, "echo:", 5);
    if (b.len)
        memcpy(p + 5, b.ptr, b.len);
    berth_res_header(res, "Content-Type", "application/octet-stream");
}

/* Borrows the request's own body: berth must copy it. */
static void h_echo_borrow(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    berth_str b = berth_req_body(req);
    rec *r = rec_new(req);
    tag(res, r);
    r->complete = 1;
    buf_add(&r->body, b.ptr, b.len);
    berth_res_body_borrow(res, b.ptr, b.len);
}

static int on_body_count(berth_req *req, const char *data, size_t len, void *u)
{
    (void)req, (void)u;
    R->on_body_calls++;
    return memchr(data, '!', len) ? -1 : 0; /* '!' aborts: 400 and close */
}

static void h_count(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    char out[64];
    int n = snprintf(out, sizeof out, "%s:%llu", (const char *)u,
                     (unsigned long long)berth_req_body_received(req));
    reply(req, res, 200, out, (size_t)n);
}

static char big_body[100000];

static void h_big(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    rec *r = rec_new(req);
    tag(res, r);
    r->complete = 1;
    buf_add(&r->body, big_body, sizeof big_body);
    berth_res_body_borrow(res, big_body, sizeof big_body);
}

static void h_bigcopy(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    rec *r = rec_new(req);
    tag(res, r);
    r->complete = 1;
    char *p = berth_res_body_reserve(res, 20000);
    for (size_t i = 0; i < 20000; i++)
        p[i] = (char)('a' + i % 23);
    buf_add(&r->body, p, 20000);
}

static void h_close(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    berth_res_header(res, "Connection", "Close");
    reply(req, res, 200, "bye", 3);
    R->recs[R->nrecs - 1].want_close = 1;
}

static void h_nocontent(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    rec *r = rec_new(req);
    tag(res, r);
    r->status = 204;
    r->complete = 1;
    berth_res_status(res, 204);
    berth_res_body(res, "ignored", 7);
}

static void h_status(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    berth_str c;
    int code = 0;
    if (berth_req_param(req, "code", &c) == 0 && c.len == 3)
        for (size_t i = 0; i < 3; i++)
            code = code * 10 + (c.ptr[i] >= '0' && c.ptr[i] <= '9' ? c.ptr[i] - '0' : 99);
    if (code < 200 || code > 599)
        code = 400;
    rec *r = rec_new(req);
    tag(res, r);
    r->status = code;
    r->complete = 1;
    if (code != 204 && code != 304)
        buf_add(&r->body, "status", 6);
    berth_res_send(res, code, "text/plain", "status", 6);
}

static void h_any(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    berth_str m = berth_req_method(req);
    char out[64];
    int n = snprintf(out, sizeof out, "any:%.*s", (int)(m.len > 40 ? 40 : m.len), m.ptr);
    reply(req, res, 200, out, (size_t)n);
}

static void h_head_route(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    reply(req, res, 200, "head-route", 10);
}

static void on_close_cb(berth_stream *s, void *arg)
{
    (void)s, (void)arg;
    R->closes_seen++;
    R->killed = 1; /* a streamed response may be cut */
}

static void start_deferred(berth_req *req, berth_res *res, int kind)
{
    rec *r = rec_new(req);
    tag(res, r);
    if (R->cur.s)
        fail("a second deferred response while one is outstanding");
    berth_stream *s;
    if (kind == SK_SSE) {
        r->sse = 1;
        s = berth_sse_start(res, 40);
    } else {
        if (kind == SK_DEFER204)
            berth_res_status(res, 204);
        berth_res_header(res, "X-Before", "kept");
        s = berth_res_defer(res);
    }
    if (!s)
        fail("berth_res_defer failed");
    berth_stream_on_close(s, on_close_cb, NULL);
    R->cur.s = s;
    R->cur.kind = kind;
    R->cur.step = 0;
    R->cur.seq = seq_of(r);
}

static void h_defer(berth_req *req, berth_res *res, void *u) { (void)u, start_deferred(req, res, SK_DEFER); }
static void h_defer204(berth_req *req, berth_res *res, void *u) { (void)u, start_deferred(req, res, SK_DEFER204); }
static void h_late(berth_req *req, berth_res *res, void *u) { (void)u, start_deferred(req, res, SK_LATE); }

static void stream_piece(app_stream *a, const char *d, size_t n);

static void h_stream(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    start_deferred(req, res, SK_STREAM);
    R->recs[R->cur.seq].status = 200;
    berth_stream_start(R->cur.s, 200, "text/plain");
    stream_piece(&R->cur, "first", 5);
}

static void h_sse(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    start_deferred(req, res, SK_SSE);
    static const char ev[] = "event: tick\nid: 0\ndata: line one\ndata: line two\n\n";
    if (berth_sse_send(R->cur.s, "tick", "0", "line one\nline two", 17) == 0)
        buf_add(&R->recs[R->cur.seq].body, ev, sizeof ev - 1);
}

/* Starts, writes and ends within the handler. */
static void h_stream_now(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    rec *r = rec_new(req);
    tag(res, r);
    berth_stream *s = berth_res_defer(res);
    if (!s)
        fail("berth_res_defer failed");
    berth_stream_start(s, 200, "text/plain");
    if (berth_stream_write(s, "now", 3) == 0)
        buf_add(&r->body, "now", 3);
    r->complete = 1;
    berth_stream_end(s);
}

static berth_router *make_router(void)
{
    berth_router *rt = berth_router_new();
    int rc = 0;
    rc |= berth_router_add(rt, "GET", "/", h_hello, NULL);
    rc |= berth_router_add(rt, "GET", "/item/{id}", h_item, NULL);
    rc |= berth_router_add(rt, "POST", "/echo", h_echo, NULL);
    rc |= berth_router_add(rt, "PUT", "/echo", h_echo, NULL);
    rc |= berth_router_add(rt, "POST", "/echo-borrow", h_echo_borrow, NULL);
    rc |= berth_router_add_streaming(rt, "POST", "/count", on_body_count, h_count, "count");
    rc |= berth_router_add_streaming(rt, "POST", "/discard", NULL, h_count, "discard");
    rc |= berth_router_add(rt, "GET", "/big", h_big, NULL);
    rc |= berth_router_add(rt, "GET", "/text/{n}", h_text, NULL);
    rc |= berth_router_add(rt, "GET", "/bigcopy", h_bigcopy, NULL);
    rc |= berth_router_add(rt, "GET", "/close", h_close, NULL);
    rc |= berth_router_add(rt, "GET", "/nocontent", h_nocontent, NULL);
    rc |= berth_router_add(rt, "GET", "/status/{code}", h_status, NULL);
    rc |= berth_router_add(rt, "*", "/any", h_any, NULL);
    rc |= berth_router_add(rt, "HEAD", "/h", h_head_route, NULL);
    rc |= berth_router_add(rt, "GET", "/h", h_hello, NULL);
    rc |= berth_router_add(rt, "GET", "/defer", h_defer, NULL);
    rc |= berth_router_add(rt, "GET", "/defer204", h_defer204, NULL);
    rc |= berth_router_add(rt, "GET", "/late", h_late, NULL);
    rc |= berth_router_add(rt, "GET", "/stream", h_stream, NULL);
    rc |= berth_router_add(rt, "GET", "/sse", h_sse, NULL);
    rc |= berth_router_add(rt, "GET", "/stream-now", h_stream_now, NULL);
    if (rc)
        fail("router setup");
    return rt;
}

/* ---- the application side of deferred responses ------------------------- */

static void stream_piece(app_stream *a, const char *d, size_t n)
{
    int rc = berth_stream_write(a->s, d, n);
    if (rc == 0)
        buf_add(&R->recs[a->seq].body, d, n);
    else if (rc == BERTH_EAGAIN)
        R->odd = 1; /* dropped: depends on how fast output drains */
}

static char piece_buf[40000];

/* One step of the outstanding deferred response; the last one releases
 * the handle. The bytes depend only on the sequence number, never on the
 * schedule, so that fragmentation cannot change the output. Ending a
 * response may dispatch the next pipelined request at once (and run its
 * handler, which may grow R->recs), so the record is looked up by index
 * and the handle is forgotten before the ending call. */
static void app_step(run *r)
{
    app_stream *a = &r->cur;
    if (!a->s)
        return;
    berth_stream *s = a->s;
    unsigned seq = a->seq;
    int step = a->step++;
#define REC (&r->recs[seq])
    switch (a->kind) {
    case SK_DEFER: {
        char b[32];
        int n = snprintf(b, sizeof b, "deferred-%u", seq);
        int status = seq % 2 ? 201 : 200;
        REC->status = status;
        REC->complete = 1;
        buf_add(&REC->body, b, (size_t)n);
        a->s = NULL;
        if (berth_stream_send(s, status, "text/plain", b, (size_t)n) != 0)
            r->recs[seq].body.len = 0; /* the client has gone */
        break;
    }
    case SK_DEFER204:
        REC->status = 204;
        REC->complete = 1;
        a->s = NULL;
        berth_stream_end(s);
        break;
    case SK_STREAM:
        if (step == 0) {
            stream_piece(a, "second", 6);
        } else if (step == 1) {
            size_t n = 1000 + (seq * 7919u) % 39000u;
            memset(piece_buf, 'a' + (int)(seq % 26), n);
            stream_piece(a, piece_buf, n);
        } else {
            REC->complete = 1;
            a->s = NULL;
            berth_stream_end(s);
        }
        break;
    case SK_SSE:
        if (step == 0) {
            static const char ev[] = "data: x\ndata: y\n\n";
            if (berth_sse_send(s, NULL, NULL, "x\r\ny", 4) == 0)
                buf_add(&REC->body, ev, sizeof ev - 1);
            else
                r->odd = 1;
        } else {
            REC->complete = 1;
            a->s = NULL;
            berth_stream_end(s);
        }
        break;
    case SK_LATE:
        if (step == 0) {
            berth_stream_header(s, "X-Late", "1");
            if (berth_stream_header(s, "Bad Name", "refused") != BERTH_EINVAL)
                fail("a header name with a space was accepted");
            if (r->flags & F_FRAMING_HEADERS) {
                /* Fields that belong to berth: berth_res_header drops them
                 * (and takes Connection: close as a wish to close); a
                 * stream must not let them through either. */
                berth_stream_header(s, "Content-Length", "999");
                berth_stream_header(s, "Transfer-Encoding", "gzip");
                berth_stream_header(s, "Connection", "keep-alive");
                berth_stream_header(s, "Date", "yesterday");
            }
        } else if (step == 1) {
            REC->status = 202;
            berth_stream_start(s, 202, "application/x-late");
        } else if (step == 2) {
            stream_piece(a, "late", 4);
        } else {
            REC->complete = 1;
            a->s = NULL;
            berth_stream_end(s);
        }
        break;
    }
#undef REC
}

/* ---- driving the engine --------------------------------------------------- */

/* The engine's pending output as iovecs (its routes queue no files). */
static int out_iov(berth_conn *c, struct iovec *iov, int max)
{
    berth_seg segs[16];
    int n = berth_conn_out_segs(c, segs, max > 16 ? 16 : max);
    for (int i = 0; i < n; i++) {
        if (!segs[i].ptr)
            fail("a file segment from a route that queues none");
        iov[i].iov_base = (void *)segs[i].ptr;
        iov[i].iov_len = segs[i].len;
    }
    return n;
}

/* What a drive loop does after writing: input the engine held back for
 * the output backlog is processed now. */
static void pump_pending(run *r)
{
    for (int guard = 0; berth_conn_has_pending(r->conn); guard++) {
        if (guard > 100000)
            fail("pending input never clears");
        berth_conn_pump(r->conn);
    }
}

static void capture(run *r, size_t max_iov, size_t limit)
{
    struct iovec iov[16];
    int n = out_iov(r->conn, iov, (int)max_iov);
    size_t total = 0;
    for (int i = 0; i < n && total < limit; i++) {
        size_t take = iov[i].iov_len;
        if (take > limit - total)
            take = limit - total;
        buf_add(&r->tx, iov[i].iov_base, take);
        total += take;
    }
    if (total > berth_conn_out_pending(r->conn))
        fail("out_iov lists more than out_pending");
    if (n > 0 && total == 0 && limit > 0)
        fail("out_iov lists empty buffers");
    berth_conn_out_done(r->conn, total);
    pump_pending(r);
}

static void pump(run *r)
{
    berth_conn *c;
    while ((c = berth_worker_next_woken(&r->worker))) {
        if (c != r->conn)
            fail("wake list holds an unknown connection");
        berth_conn_apply_streams(c);
    }
    r->remote_pending = 0;
    if (!r->inflight)
        pump_pending(r);
}

static int closed(const run *r) { return berth_conn_state(r->conn) == BERTH_PIPE_CLOSED; }

static void note_closed(run *r)
{
    if (closed(r) && berth_conn_out_pending(r->conn))
        r->killed = 1; /* the backend closes the socket: output is cut */
}

static void drain_all(run *r)
{
    if (r->inflight)
        return;
    pump(r);
    for (int guard = 0; berth_conn_out_pending(r->conn) && !closed(r); guard++) {
        if (guard > 100000)
            fail("output never drains");
        capture(r, 16, SIZE_MAX);
        pump(r);
    }
    note_closed(r);
}

static void inflight_begin(run *r, int max_iov)
{
    if (r->inflight || closed(r) || !berth_conn_out_pending(r->conn))
        return;
    r->fl_n = out_iov(r->conn, r->fl_iov, max_iov);
    r->fl_len = 0;
    r->fl_copy.len = 0;
    for (int i = 0; i < r->fl_n; i++) {
        buf_add(&r->fl_copy, r->fl_iov[i].iov_base, r->fl_iov[i].iov_len);
        r->fl_len += r->fl_iov[i].iov_len;
    }
    r->inflight = 1;
}

static void inflight_end(run *r)
{
    if (!r->inflight)
        return;
    r->inflight = 0;
    if (closed(r))
        return; /* the backend would drop the write with the socket */
    size_t off = 0;
    for (int i = 0; i < r->fl_n; i++) {
        if (memcmp(r->fl_iov[i].iov_base, r->fl_copy.p + off, r->fl_iov[i].iov_len) != 0)
            fail("bytes of an in-flight write changed before out_done");
        off += r->fl_iov[i].iov_len;
    }
    /* They must also still be the first pending bytes. */
    struct iovec now[16];
    int n = out_iov(r->conn, now, 16);
    if (n < 1 || now[0].iov_base != r->fl_iov[0].iov_base)
        fail("in-flight bytes are no longer at the head of the output");
    buf_add(&r->tx, r->fl_copy.p, r->fl_len);
    berth_conn_out_done(r->conn, r->fl_len);
    pump_pending(r);
}

/* Feeds up to n bytes of input; returns how many the engine took, or
 * (size_t)-1 when it offers no buffer. */
static size_t feed(run *r, const uint8_t *d, size_t n)
{
    if (closed(r) || r->eof_sent)
        return (size_t)-1;
    size_t cap = 0;
    char *b = berth_conn_read_buf(r->conn, &cap);
    if (!b)
        return (size_t)-1;
    if (cap == 0)
        fail("read_buf offers a zero-length buffer");
    if (n > cap)
        n = cap;
    if (n == 0) {
        berth_conn_read_idle(r->conn);
        return 0;
    }
    memcpy(b, d, n);
    berth_conn_read_done(r->conn, n);
    note_closed(r);
    return n;
}

static void send_eof(run *r)
{
    if (r->eof_sent || closed(r))
        return;
    if (berth_conn_waiting(r->conn)) {
        /* EOF while a deferred response is open: berth takes it as the
         * client gone and drops the response, even if the application
         * already ended it from "another thread" and only the queued
         * operations remain (reported: a half-closed client loses
         * deferred responses that a synchronous one would get). */
        r->odd = 1;
        r->killed = 1;
    }
    /* A backend sees EOF only by reading: not while the engine holds
     * input back. */
    size_t cap;
    if (!berth_conn_read_buf(r->conn, &cap))
        return;
    r->eof_sent = 1;
    berth_conn_read_done(r->conn, 0);
    note_closed(r);
}

static void run_timers(run *r)
{
    if (berth_worker_next_timer(&r->worker) <= r->worker.clock.now_ms)
        r->timing = 1;
    berth_worker_run_timers(&r->worker);
}

static void fire_timeout(run *r)
{
    uint64_t d = berth_conn_deadline(r->conn);
    if (d == UINT64_MAX || closed(r))
        return;
    if (r->worker.clock.now_ms < d)
        r->worker.clock.now_ms = d;
    if (r->inflight && berth_conn_out_pending(r->conn))
        r->killed = 1;
    r->timing = 1;
    size_t pending = berth_conn_out_pending(r->conn);
    berth_conn_on_timeout(r->conn);
    if (pending && !closed(r))
        fail("a write timeout with output pending did not close the connection");
    note_closed(r);
}

static void tweak_config(berth_config *cfg, unsigned flags)
{
    switch (flags & 3) {
    case 1:
        cfg->max_request_line = 40;
        cfg->max_header_bytes = 96;
        cfg->max_header_fields = 3;
        cfg->max_body = 16;
        break;
    case 2:
        cfg->max_request_line = 300;
        cfg->max_header_bytes = 600;
        cfg->max_header_fields = 8;
        cfg->max_body = 5000;
        break;
    case 3:
        cfg->max_body = 150000;
        break;
    }
}

static void run_init(run *r, berth_router *router, unsigned flags)
{
    memset(r, 0, sizeof *r);
    r->flags = flags;
    berth_config_init(&r->cfg);
    r->cfg.router = router;
    tweak_config(&r->cfg, flags);
    berth_engine_init(&r->engine, &r->cfg);
    /* With small limits, small buffers too (berth's floor is 32 KiB; the
     * rule that matters is that a whole head fits in one buffer), so
     * that short inputs reach the buffer's end: heads and bodies that
     * straddle it, pipelined requests that fill it. */
    if ((flags & F_LIMITS) == 1)
        r->engine.buf_size = 1536;
    else if ((flags & F_LIMITS) == 2)
        r->engine.buf_size = 2048;
    if (r->engine.buf_size < r->cfg.max_request_line + r->cfg.max_header_bytes + 1024)
        fail("harness: buffer smaller than a head");
    if (flags & 4)
        r->engine.out_high_water = 16;
    if (flags & 8)
        r->engine.max_stream_buffer = 64;
    berth_worker_init(&r->worker, &r->engine);
    /* A fixed clock: runs compared byte for byte must not see the Date
     * change between them. */
    r->worker.clock.now_ms = 1000000;
    r->worker.clock.date_sec = 0;
    memcpy(r->worker.clock.date, "Sun, 06 Nov 1994 08:49:37 GMT", 30);
    r->conn = berth_conn_new(&r->worker, 0);
    if (!r->conn)
        abort();
    R = r;
}

/* Ends what the application still holds, as an application must. */
static void release_app(run *r)
{
    for (int guard = 0; r->cur.s; guard++) {
        if (guard > 10)
            fail("deferred response never ends");
        app_step(r);
    }
}

static void run_free(run *r)
{
    berth_conn_free(r->conn);
    release_app(r); /* after the client went away: still exactly one end */
    berth_worker_destroy(&r->worker);
    for (size_t i = 0; i < r->nrecs; i++)
        buf_free(&r->recs[i].body);
    free(r->recs);
    buf_free(&r->tx);
    buf_free(&r->fl_copy);
}

/* Completes everything outstanding so the transcript is whole. */
static void settle_all(run *r)
{
    inflight_end(r);
    /* Each round ends a step of a deferred response; ending one lets the
     * next pipelined request run, which may defer again. */
    for (long guard = 0; !closed(r); guard++) {
        if (guard > 1000000)
            fail("deferred responses never settle");
        drain_all(r);
        if (!r->cur.s)
            break;
        app_step(r);
    }
    drain_all(r);
}

static void finish(run *r, unsigned flags)
{
    settle_all(r);
    if (flags & 32) {
        berth_conn_drain(r->conn);
        drain_all(r);
    }
    if (flags & 16) {
        send_eof(r);
        settle_all(r);
        if (r->eof_sent && !closed(r) && !r->cur.s && !berth_conn_out_pending(r->conn))
            fail("the connection is not closed after EOF and all output");
    }
    /* Timeouts end any connection: idle, head, body, linger. */
    for (int i = 0; i < 8 && !closed(r); i++) {
        settle_all(r);
        if (closed(r))
            break;
        fire_timeout(r);
        drain_all(r);
    }
    if (!closed(r)) {
        if (r->cur.s || berth_conn_waiting(r->conn))
            return; /* a deferred response is open: no deadline applies */
        fail("the connection survives repeated timeouts (state %d, deadline %llu)",
             berth_conn_state(r->conn), (unsigned long long)berth_conn_deadline(r->conn));
    }
}

/* ---- checking the transcript --------------------------------------------- */

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static size_t count_str(const uint8_t *d, size_t n, const char *s)
{
    size_t k = strlen(s), c = 0;
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(d + i, s, k) == 0)
            c++;
    return c;
}

/* Returns the offset after the line starting at p, or 0 if no CRLF. */
static size_t line_len(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] == '\r' && p[i + 1] == '\n')
            return i + 2;
        if (p[i] == '\r' || p[i] == '\n')
            fail("bare CR or LF in a response head");
    }
    return 0;
}

#define INCOMPLETE(what)                                                                       \
    do {                                                                                       \
        if (!r->killed)                                                                        \
            fail("output ends inside %s", what);                                               \
        return;                                                                                \
    } while (0)

static void check_transcript(run *r, const uint8_t *in, size_t in_len)
{
    const buf *tx = &r->tx;
    fail_tx = tx;
    const char *p = tx->p ? tx->p : "";
    size_t n = tx->len, pos = 0;
    unsigned next_seq = 0, guessed_heads = 0, finals = 0;
    int after_close = 0;
    int last_was_continue = 0;
    size_t continue_bytes = 0;
    while (pos < n) {
        if (after_close)
            fail("bytes after a response that said Connection: close (offset %zu)", pos);
        const char *s = p + pos;
        size_t left = n - pos;
        if (left < 13)
            INCOMPLETE("a status line");
        if (memcmp(s, "HTTP/1.1 ", 9) != 0)
            fail("response does not start with HTTP/1.1 at offset %zu", pos);
        if (s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' ||
            s[12] != ' ')
            fail("bad status code at offset %zu", pos);
        int status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
        size_t l = line_len(s, left);
        if (!l)
            INCOMPLETE("a status line");
        for (size_t i = 13; i < l - 2; i++)
            if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
                fail("control byte in a reason phrase");
        if (l - 2 <= 13)
            fail("empty reason phrase");
        size_t q = l;
        int n_conn = 0, n_date = 0, n_server = 0, n_cl = 0, n_te = 0, n_seq = 0, n_gzip = 0;
        int conn_close = 0;
        unsigned long long cl = 0;
        unsigned seq = 0;
        for (;;) {
            size_t hl = line_len(s + q, left - q);
            if (!hl)
                INCOMPLETE("a response head");
            if (hl == 2) {
                q += 2;
                break;
            }
            const char *h = s + q;
            size_t nl = 0;
            while (nl < hl - 2 && is_tchar((unsigned char)h[nl]))
                nl++;
            if (nl == 0 || h[nl] != ':' || h[nl + 1] != ' ')
                fail("malformed field line in a response at offset %zu", pos + q);
            const char *v = h + nl + 2;
            size_t vl = hl - 2 - nl - 2;
            for (size_t i = 0; i < vl; i++)
                if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
                    fail("control byte in a response field value");
#define NAME_IS(lit) (nl == sizeof(lit) - 1 && strncasecmp(h, lit, nl) == 0)
            if (NAME_IS("Connection")) {
                n_conn++;
                if (vl == 5 && memcmp(v, "close", 5) == 0)
                    conn_close = 1;
                else if (!(vl == 10 && memcmp(v, "keep-alive", 10) == 0))
                    fail("Connection is neither close nor keep-alive");
            } else if (NAME_IS("Date")) {
                n_date++;
                if (vl != 29 || memcmp(v + 25, " GMT", 4) != 0)
                    fail("Date is not an IMF-fixdate");
            } else if (NAME_IS("Server")) {
                n_server++;
            } else if (NAME_IS("Content-Length")) {
                n_cl++;
                if (vl == 0 || vl > 18)
                    fail("bad Content-Length");
                for (size_t i = 0; i < vl; i++) {
                    if (v[i] < '0' || v[i] > '9')
                        fail("bad Content-Length");
                    cl = cl * 10 + (unsigned)(v[i] - '0');
                }
                if (vl > 1 && v[0] == '0')
                    fail("Content-Length with a leading zero");
            } else if (NAME_IS("Transfer-Encoding")) {
                n_te++;
                if (!(vl == 7 && memcmp(v, "chunked", 7) == 0))
                    fail("Transfer-Encoding other than chunked");
            } else if (NAME_IS("Content-Encoding")) {
                n_gzip++;
                if (!(vl == 4 && memcmp(v, "gzip", 4) == 0))
                    fail("Content-Encoding other than gzip");
            } else if (NAME_IS("X-Seq")) {
                n_seq++;
                seq = (unsigned)strtoul(v, NULL, 10);
            }
#undef NAME_IS
            q += hl;
        }
        if (status < 200) {
            if (status != 100 || q != 25)
                fail("interim response other than a bare 100 Continue");
            if (last_was_continue)
                fail("two 100 Continue in a row");
            last_was_continue = 1;
            continue_bytes += q;
            pos += q;
            continue;
        }
        r->last_start = pos - continue_bytes;
        r->last_is_error = 0;
        last_was_continue = 0;
        finals++;
        if (n_conn != 1)
            fail("%d Connection fields in a response", n_conn);
        if (n_date != 1 || n_server != 1)
            fail("Date and Server must appear once");
        if (n_cl > 1)
            fail("two Content-Length fields");
        if (n_cl && n_te)
            fail("both Content-Length and Transfer-Encoding");
        if (n_seq > 1)
            fail("two X-Seq fields");
        rec *rc = NULL;
        int is_head = -1; /* unknown */
        if (n_seq) {
            if (seq != next_seq || seq >= r->nrecs)
                fail("response X-Seq %u where %u was due (%zu handler calls)", seq, next_seq,
                     r->nrecs);
            next_seq++;
            rc = &r->recs[seq];
            is_head = rc->is_head;
            if (status != rc->status)
                fail("handler status %d sent as %d", rc->status, status);
            if (rc->want_close && !conn_close)
                fail("the request asked to close; the response says keep-alive");
        } else {
            /* Generated by berth: routing (404, 405) or an error. */
            if (status != 404 && status != 405 && !conn_close)
                fail("error %d from the engine without Connection: close", status);
            if (status < 400)
                fail("status %d without a handler", status);
            r->last_is_error = conn_close && status != 404 && status != 405;
        }
        const char *body = s + q;
        size_t avail = left - q;
        int bodiless = status == 204 || status == 304;
        if (status == 204 && (n_cl || n_te))
            fail("framing fields on a 204");
        buf got = {0};
        int truncated = 0;
        if (bodiless) {
            /* nothing */
        } else if (n_te) {
            if (is_head < 0)
                fail("chunked response without a handler");
            if (!is_head) {
                size_t b = 0;
                for (;;) {
                    size_t ll = 0;
                    while (b + ll + 1 < avail && !(body[b + ll] == '\r' && body[b + ll + 1] == '\n'))
                        ll++;
                    if (b + ll + 1 >= avail) {
                        truncated = 1;
                        break;
                    }
                    unsigned long long sz = 0;
                    if (ll == 0 || ll > 15)
                        fail("bad chunk size line");
                    for (size_t i = 0; i < ll; i++) {
                        char c = body[b + i];
                        int hv = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
                        if (hv < 0)
                            fail("bad chunk size");
                        sz = sz * 16 + (unsigned)hv;
                    }
                    if (ll > 1 && body[b] == '0')
                        fail("chunk size with a leading zero");
                    b += ll + 2;
                    if (sz == 0) {
                        if (avail - b < 2) {
                            truncated = 1;
                            break;
                        }
                        if (body[b] != '\r' || body[b + 1] != '\n')
                            fail("no CRLF after the last chunk");
                        b += 2;
                        break;
                    }
                    if (avail - b < sz + 2) {
                        truncated = 1;
                        break;
                    }
                    buf_add(&got, body + b, sz);
                    if (body[b + sz] != '\r' || body[b + sz + 1] != '\n')
                        fail("chunk data not followed by CRLF");
                    b += sz + 2;
                }
                q += b;
            }
        } else if (n_cl) {
            if (is_head < 0) {
                char reason[64];
                snprintf(reason, sizeof reason, "%s\n", berth_status_reason(status));
                size_t rl = strlen(reason);
                if (cl != rl)
                    fail("engine response Content-Length %llu, body should be %zu", cl, rl);
                if (avail >= rl && memcmp(body, reason, rl) == 0) {
                    is_head = 0;
                } else if (avail >= 5 && memcmp(body, "HTTP/", 5) == 0) {
                    is_head = 1;
                    guessed_heads++;
                } else if (avail == 0 && !r->killed) {
                    is_head = 1; /* the last response, to a HEAD */
                    guessed_heads++;
                } else if (avail < rl && memcmp(body, reason, avail) == 0) {
                    is_head = 0; /* cut: reported below */
                } else {
                    fail("engine response body is not its reason phrase");
                }
            }
            if (!is_head) {
                size_t take = cl < avail ? (size_t)cl : avail;
                if (take < cl)
                    truncated = 1;
                buf_add(&got, body, take);
                q += take;
            }
        } else {
            /* Close-delimited: only a streamed HTTP/1.0 response. */
            if (!rc || rc->minor != 0)
                fail("response without framing");
            if (!conn_close)
                fail("close-delimited response without Connection: close");
            if (!is_head) {
                buf_add(&got, body, avail);
                q += avail;
            }
        }
        if (truncated) {
            buf_free(&got);
            INCOMPLETE("a response body");
        }
        if (rc && rc->sse) {
            /* Keep-alive comments come from berth's own timer. */
            static const char ka[] = ": keep-alive\n\n";
            size_t o = 0;
            for (size_t i = 0; i < got.len;) {
                if (got.len - i >= sizeof ka - 1 && memcmp(got.p + i, ka, sizeof ka - 1) == 0) {
                    i += sizeof ka - 1;
                    continue;
                }
                got.p[o++] = got.p[i++];
            }
            got.len = o;
        }
        if (n_gzip && !(rc && rc->gzip_ok && rc->compressible && !bodiless && n_cl))
            fail("response %u compressed for a request that did not ask it", seq);
        if (rc && rc->gzip_ok && rc->compressible && !bodiless && !n_gzip)
            fail("response %u not compressed for a client that accepts gzip", seq);
        if (n_gzip && !is_head) {
            static char plain[sizeof text_body];
            size_t out = 0;
            struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
            int dr = libdeflate_gzip_decompress(d, got.p, got.len, plain, sizeof plain, &out);
            libdeflate_free_decompressor(d);
            if (dr != LIBDEFLATE_SUCCESS)
                fail("response %u: a gzip body that does not decompress", seq);
            got.len = 0;
            buf_add(&got, plain, out);
        }
        if (rc && !bodiless && !is_head) {
            int ok = got.len == rc->body.len && (got.len == 0 || memcmp(got.p, rc->body.p, got.len) == 0);
            int prefix_ok = got.len <= rc->body.len &&
                            (got.len == 0 || memcmp(got.p, rc->body.p, got.len) == 0);
            if (!ok && !(prefix_ok && !n_cl && !n_te && r->killed))
                fail("response %u body differs from what the handler sent (%zu vs %zu bytes)", seq,
                     got.len, rc->body.len);
        }
        if (rc && (bodiless || is_head) && n_cl && status != 304 &&
            (n_gzip ? gzip_len(&rc->body) : rc->body.len) != cl)
            fail("HEAD/bodiless response %u with Content-Length %llu, GET would send %zu", seq, cl,
                 rc->body.len);
        buf_free(&got);
        if (conn_close)
            after_close = 1;
        pos += q;
    }
    if (guessed_heads > count_str(in, in_len, "HEAD"))
        fail("an engine response lacks its body");
    /* Every handler call got its response, unless the connection died. */
    if (next_seq != r->nrecs && !r->killed && !r->closes_seen) {
        if (!(next_seq + 1 == r->nrecs && !r->recs[next_seq].complete))
            fail("%zu handler calls, %u responses", r->nrecs, next_seq);
    }
    (void)finals;
    if (after_close && !berth_conn_out_pending(r->conn) && berth_conn_state(r->conn) == BERTH_PIPE_OPEN)
        fail("connection still open after a Connection: close response was written");
    fail_tx = NULL;
}

/* Removes interim 100 Continue responses. */
static void strip_continue(buf *b)
{
    static const char c100[] = "HTTP/1.1 100 Continue\r\n\r\n";
    size_t o = 0;
    for (size_t i = 0; i < b->len;) {
        if (b->len - i >= 25 && memcmp(b->p + i, c100, 25) == 0) {
            i += 25;
            continue;
        }
        b->p[o++] = b->p[i++];
    }
    b->len = o;
}

/* ---- the entry point ------------------------------------------------------ */

static berth_router *router;

/* FUZZ_ENGINE_MASK (environment): flag bits to clear from every input,
 * so that a long run can get past a known, reported bug. */
static unsigned flag_mask = ~0u;
/* FUZZ_ENGINE_VERBOSE (environment): print each transcript. */
static int verbose;

static void init_once(void)
{
    if (router)
        return;
    const char *m = getenv("FUZZ_ENGINE_MASK");
    if (m)
        flag_mask = ~(unsigned)strtoul(m, NULL, 0);
    verbose = getenv("FUZZ_ENGINE_VERBOSE") != NULL;
    router = make_router();
    for (size_t i = 0; i < sizeof big_body; i++)
        big_body[i] = (char)('A' + i % 26);
    for (size_t i = 0; i < sizeof text_body; i++)
        text_body[i] = "berth quay tide keel {}\n"[(i * 7 + i / 11) % 24];
    main_owner = pthread_self();
}

/* Runs the whole input as the schedule says. Returns the bytes the engine
 * took before EOF (for the one-piece comparison). */
static size_t run_scheduled(run *r, const uint8_t *sched, size_t nsched,
                            const uint8_t *d, size_t len)
{
    size_t off = 0, step = 0;
    size_t max_steps = 4 * len + 64;
    while (!closed(r) && step < max_steps) {
        unsigned s = sched[step % nsched];
        step++;
        unsigned op = s >> 5, arg = s & 31;
        size_t want = 0;
        int drain = 1;
        switch (op) {
        case 0: want = arg + 1; break;
        case 1: want = (arg + 1) * 37; break;
        case 2: want = len; break;
        case 3:
            want = arg + 1;
            drain = 0;
            break;
        case 4:
            if (r->inflight)
                inflight_end(r);
            else
                inflight_begin(r, (int)(arg & 15) + 1);
            want = (arg & 7) + 1;
            break;
        case 5:
            if (arg & 16) {
                fire_timeout(r);
            } else {
                r->worker.clock.now_ms += (arg & 15) * 7;
                /* With a drain to come, elapsed time decides: a connection
                 * quiet for stop_grace_ms closes at once, one active within
                 * it may still finish its request (a lone "\r" then meets
                 * EOF: 400), so the plain run cannot be compared. */
                if ((r->flags & F_DRAIN) && (arg & 15))
                    r->timing = 1;
                if (berth_conn_deadline(r->conn) <= r->worker.clock.now_ms)
                    fire_timeout(r);
            }
            run_timers(r);
            want = arg & 3;
            break;
        case 6:
            if (arg & 16) {
                /* As if from another thread: queued until the loop wakes. */
                r->worker.owner = (pthread_t)1;
                app_step(r);
                r->worker.owner = main_owner;
                r->remote_pending = 1;
                drain = 0;
            } else {
                if (r->remote_pending && !(r->flags & F_MIX_THREADS))
                    pump(r); /* let queued calls land first */
                app_step(r);
            }
            want = (arg & 7) + 1;
            break;
        case 7:
            if (arg < 8) {
                size_t cap;
                if (!closed(r) && !r->eof_sent && berth_conn_read_buf(r->conn, &cap))
                    berth_conn_read_idle(r->conn);
            } else if (arg < 10) {
                if (off < len)
                    r->odd = 1;
                send_eof(r);
            } else if (arg == 10) {
                r->odd = 1;
                berth_conn_drain(r->conn);
                note_closed(r);
            } else if (arg == 11) {
                r->odd = 1;
                r->killed = 1;
                berth_conn_abort(r->conn);
            } else {
                want = (arg & 15) + 1;
                drain = 0;
            }
            break;
        }
        if (want && off < len && !closed(r) && !r->eof_sent) {
            if (want > len - off)
                want = len - off;
            size_t got = feed(r, d + off, want);
            if (got == (size_t)-1) {
                /* Held back: what a backend would do meanwhile. */
                if (r->inflight)
                    inflight_end(r);
                else if (berth_conn_out_pending(r->conn))
                    drain_all(r);
                else if (r->remote_pending)
                    pump(r);
                else if (r->cur.s)
                    app_step(r);
                else if (!berth_conn_wants_input(r->conn))
                    break; /* reads nothing more */
            } else {
                off += got;
            }
        }
        if (op == 3 && !r->inflight && berth_conn_out_pending(r->conn) && !closed(r))
            capture(r, (arg & 7) + 1, arg * 3 + 1);
        if (drain)
            drain_all(r);
        if (off >= len && step >= nsched)
            break;
    }
    /* The rest in whole reads. */
    for (int guard = 0; off < len && !closed(r) && !r->eof_sent; guard++) {
        if (guard > 100000)
            fail("input never consumed");
        inflight_end(r);
        pump(r);
        size_t got = feed(r, d + off, len - off);
        if (got == (size_t)-1) {
            if (berth_conn_out_pending(r->conn))
                drain_all(r);
            else if (r->cur.s)
                app_step(r);
            else
                break;
        } else {
            off += got;
            drain_all(r);
        }
    }
    inflight_end(r);
    pump(r);
    return off;
}

/* The same bytes, one read at a time as large as offered, everything
 * completed at once. */
static void run_plain(run *r, const uint8_t *d, size_t len)
{
    size_t off = 0;
    for (int guard = 0; off < len && !closed(r); guard++) {
        if (guard > 100000)
            fail("input never consumed (plain run)");
        size_t got = feed(r, d + off, len - off);
        if (got == (size_t)-1) {
            if (berth_conn_out_pending(r->conn))
                drain_all(r);
            else if (r->cur.s)
                app_step(r);
            else
                break;
        } else {
            off += got;
        }
        drain_all(r);
        while (r->cur.s && !closed(r)) {
            app_step(r);
            drain_all(r);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    if (size < 2 || size > MAX_INPUT)
        return 0;
    cur_input = data;
    cur_input_len = size;
    unsigned flags = data[0] & flag_mask;
    size_t nsched = (data[1] & 15u) + 1;
    if (size < 2 + nsched)
        return 0;
    const uint8_t *sched = data + 2;
    const uint8_t *in = data + 2 + nsched;
    size_t in_len = size - 2 - nsched;

    static run a, b;
    run_init(&a, router, flags);
    size_t fed = run_scheduled(&a, sched, nsched, in, in_len);
    int eof_early = a.eof_sent;
    /* Compared with the plain run unless the schedule made timing matter
     * (the final timeouts of finish() happen to both runs alike). */
    int comparable = !a.timing && !a.odd && !a.killed;
    finish(&a, flags);
    if (verbose) {
        dump_escaped("output", a.tx.p ? a.tx.p : "", a.tx.len, 100000);
        fprintf(stderr, "handler calls %zu, timing %d, odd %d, killed %d, state %d\n", a.nrecs,
                a.timing, a.odd, a.killed, berth_conn_state(a.conn));
    }
    check_transcript(&a, in, in_len);

    if (comparable) {
        run_init(&b, router, flags);
        run_plain(&b, in, fed);
        if (eof_early)
            send_eof(&b);
        int b_comparable = !b.timing && !b.odd && !b.killed;
        finish(&b, flags);
        check_transcript(&b, in, fed);
        R = &a;
        if (!b_comparable) {
            /* the plain run took another path (it cannot time out) */
        } else {
            strip_continue(&a.tx);
            strip_continue(&b.tx);
            if (verbose)
                fprintf(stderr, "compared with the one-piece run: %zu bytes\n", b.tx.len);
            int same = a.tx.len == b.tx.len && (a.tx.len == 0 || memcmp(a.tx.p, b.tx.p, a.tx.len) == 0);
            /* Which limit or check trips first may depend on how much has
             * arrived (a long run of method bytes: 414 before the bad byte
             * arrives, 400 if it came along): the error may differ, the
             * responses before it may not. */
            if (!same && a.last_is_error && b.last_is_error && a.last_start == b.last_start &&
                (a.last_start == 0 || memcmp(a.tx.p, b.tx.p, a.last_start) == 0))
                same = 1;
            if (!same) {
                size_t i = 0;
                while (i < a.tx.len && i < b.tx.len && a.tx.p[i] == b.tx.p[i])
                    i++;
                fprintf(stderr, "first difference at output offset %zu\n", i);
                const char *dump = getenv("FUZZ_ENGINE_DUMP"); /* file prefix */
                if (dump) {
                    char path[4096];
                    const buf *both[2] = {&a.tx, &b.tx};
                    for (int k = 0; k < 2; k++) {
                        snprintf(path, sizeof path, "%s.%s", dump, k ? "plain" : "scheduled");
                        FILE *f = fopen(path, "wb");
                        if (f) {
                            fwrite(both[k]->p, 1, both[k]->len, f);
                            fclose(f);
                        }
                    }
                }
                dump_escaped("plain-run output", b.tx.p, b.tx.len, 6000);
                fail_tx = &a.tx;
                fail("fragmented input gave other output than the same bytes in one piece");
            }
        }
        R = &b;
        run_free(&b);
    }
    R = &a;
    run_free(&a);
    R = NULL;
    cur_input = NULL;
    return 0;
}
