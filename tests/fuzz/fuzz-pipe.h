/* What the layer targets (fuzz-proxy.c, fuzz-tls.c) share: an engine and
 * a worker with a fixed clock and a few routes, and a drive loop in memory
 * that moves bytes through the top of a pipe stack (core/pipe.h) the way
 * backends/drive.c does through a socket: handoffs, writes (whole or
 * partial), pumping held input, reads of chosen sizes, EOF, timeouts,
 * drain. Header-only (static functions): each target includes it once. */
#ifndef FUZZ_PIPE_H
#define FUZZ_PIPE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <berth.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../core/conn.h"
#include "../../core/engine.h"
#include "../../core/ktls.h"

typedef struct fbuf {
    unsigned char *p;
    size_t len, cap;
} fbuf;

static void fbuf_add(fbuf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *np = realloc(b->p, cap);
        if (!np)
            abort();
        b->p = np;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void fbuf_free(fbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- the application ----------------------------------------------------- */

static char fp_big[40000];
static int fp_file_fd = -1;
#define FP_FILE_LEN 50000

static void fp_hello(berth_req *req, berth_res *res, void *u)
{
    (void)req, (void)u;
    berth_res_send(res, 200, "text/plain", "hello", 5);
}

static void fp_echo(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    berth_str b = berth_req_body(req);
    berth_res_send(res, 200, "application/octet-stream", b.ptr, b.len);
}

static void fp_bigroute(berth_req *req, berth_res *res, void *u)
{
    (void)req, (void)u;
    berth_res_body_borrow(res, fp_big, sizeof fp_big);
}

/* A file body: a segment the TLS layer must read with pread. */
static void fp_file(berth_req *req, berth_res *res, void *u)
{
    (void)req, (void)u;
    int fd = dup(fp_file_fd);
    if (fd < 0 || berth_res_file(res, fd, 7, FP_FILE_LEN - 7) != 0)
        berth_res_send(res, 500, "text/plain", "no file", 7);
}

/* Who the engine thinks the client is (PROXY sets it). */
static void fp_peer(berth_req *req, berth_res *res, void *u)
{
    (void)u;
    berth_addr p, l;
    char out[256];
    int hp = berth_req_peer(req, &p) == 0, hl = berth_req_local(req, &l) == 0;
    berth_tls_info ti;
    int tls = berth_req_tls(req, &ti) == 0;
    int n = snprintf(out, sizeof out, "%s %u %s %u tls=%d %s", hp ? p.text : "-",
                     hp ? (unsigned)p.port : 0, hl ? l.text : "-", hl ? (unsigned)l.port : 0, tls,
                     tls && ti.version ? ti.version : "");
    berth_res_send(res, 200, "text/plain", out, (size_t)n);
}

/* A file with no name for /file's body: memfd_create on Linux, a removed
 * temporary file elsewhere (macOS has no memfd). */
static int fp_anon_file(void)
{
#ifdef __linux__
    return memfd_create("fuzz-pipe-file", 0);
#else
    char path[] = "/tmp/berth-fuzz-pipe-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0)
        unlink(path);
    return fd;
#endif
}

static berth_router *fp_router(void)
{
    berth_router *r = berth_router_new();
    berth_router_add(r, "GET", "/", fp_hello, NULL);
    berth_router_add(r, "POST", "/echo", fp_echo, NULL);
    berth_router_add(r, "GET", "/big", fp_bigroute, NULL);
    berth_router_add(r, "GET", "/file", fp_file, NULL);
    berth_router_add(r, "GET", "/peer", fp_peer, NULL);
    for (size_t i = 0; i < sizeof fp_big; i++)
        fp_big[i] = (char)('a' + i % 26);
    fp_file_fd = fp_anon_file();
    char chunk[1000];
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (char)('A' + i % 26);
    for (int i = 0; i < FP_FILE_LEN / 1000; i++)
        if (fp_file_fd < 0 || write(fp_file_fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
            abort();
    return r;
}

/* ---- engine and worker --------------------------------------------------- */

typedef struct fp_env {
    berth_config cfg;
    berth_engine engine;
    berth_worker worker;
} fp_env;

static void fp_env_init(fp_env *e, berth_router *router, int small_buffers)
{
    memset(e, 0, sizeof *e);
    berth_config_init(&e->cfg);
    e->cfg.router = router;
    berth_engine_init(&e->engine, &e->cfg);
    if (small_buffers)
        e->engine.buf_size = 32 * 1024; /* berth's floor: records straddle buffers */
    berth_worker_init(&e->worker, &e->engine);
    /* A fixed clock: the Date header and every deadline repeat. */
    e->worker.clock.now_ms = 1000000;
    e->worker.clock.date_sec = 0;
    memcpy(e->worker.clock.date, "Sun, 06 Nov 1994 08:49:37 GMT", 30);
}

static void fp_env_free(fp_env *e) { berth_worker_destroy(&e->worker); }

/* ---- the drive loop in memory ------------------------------------------- */

typedef struct fp_io {
    berth_pipe *pipe;
    fbuf out;          /* everything written to the "socket" */
    int shut;          /* the write side was shut (SHUTDOWN seen) */
    int eof;           /* EOF was read */
    int handoffs;      /* layers that stepped out */
    int ktls_offers;   /* kernel TLS offered (answered: unavailable) */
} fp_io;

static int fp_closed(const fp_io *io) { return io->pipe->ops->state(io->pipe) == BERTH_PIPE_CLOSED; }

static void fp_handoff(fp_io *io)
{
    berth_pipe *p = io->pipe;
    berth_ktls k;
    enum berth_handoff_offer offer = p->ops->handoff ? p->ops->handoff(p, &k) : BERTH_HANDOFF_NONE;
    if (offer == BERTH_HANDOFF_TRANSPARENT) {
        io->pipe = p->ops->handoff_done(p, BERTH_HANDOFF_DONE);
        io->handoffs++;
    } else if (offer == BERTH_HANDOFF_KTLS) {
        io->ktls_offers++;
        /* no kernel TLS here: stay in userspace */
        io->pipe = p->ops->handoff_done(p, BERTH_HANDOFF_DECLINED);
    }
}

/* Writes pending output, at most max_write bytes per write call and
 * max_writes calls (0: no limit): a socket with a small send buffer. */
static void fp_write(fp_io *io, size_t max_write, int max_writes)
{
    for (int w = 0; max_writes == 0 || w < max_writes; w++) {
        if (io->pipe->handoff_ready)
            fp_handoff(io);
        berth_pipe *p = io->pipe;
        berth_seg segs[16];
        int n = p->ops->out_segs(p, segs, 16);
        if (n == 0)
            return;
        size_t done = 0;
        for (int i = 0; i < n && (!max_write || done < max_write); i++) {
            if (!segs[i].ptr && done)
                break; /* a file goes by sendfile, in a call of its own */
            size_t take = segs[i].len;
            if (max_write && take > max_write - done)
                take = max_write - done;
            if (segs[i].ptr) {
                fbuf_add(&io->out, segs[i].ptr, take);
            } else {
                char tmp[4096];
                for (size_t o = 0; o < take;) {
                    size_t k = take - o < sizeof tmp ? take - o : sizeof tmp;
                    ssize_t r = pread(segs[i].fd, tmp, k, (off_t)(segs[i].off + o));
                    if (r <= 0)
                        abort();
                    fbuf_add(&io->out, tmp, (size_t)r);
                    o += (size_t)r;
                }
            }
            done += take;
            if (!segs[i].ptr)
                break; /* sendfile: one file segment per call */
        }
        if (done == 0)
            abort(); /* a listed segment of no bytes */
        p->ops->out_done(p, done);
    }
}

/* One drive: write, act on the state, pump held input, read from in
 * (advancing *off) at most max_read bytes a read. Returns when the pipe
 * waits for input that is not there, or is closed. */
static void fp_drive(fp_io *io, const unsigned char *in, size_t len, size_t *off, size_t max_read,
                     size_t max_write)
{
    for (int guard = 0; guard < 100000; guard++) {
        if (io->pipe->handoff_ready)
            fp_handoff(io);
        fp_write(io, max_write, 0);
        berth_pipe *p = io->pipe;
        int st = p->ops->state(p);
        if (st == BERTH_PIPE_CLOSED)
            return;
        if (st == BERTH_PIPE_SHUTDOWN)
            io->shut = 1;
        if (p->ops->has_pending(p)) {
            p->ops->pump(p);
            continue;
        }
        if (!p->ops->wants_input(p) || *off >= len)
            return;
        size_t cap;
        char *buf = p->ops->read_buf(p, &cap);
        if (!buf)
            return;
        size_t n = len - *off;
        if (n > cap)
            n = cap;
        if (max_read && n > max_read)
            n = max_read;
        memcpy(buf, in + *off, n);
        *off += n;
        p->ops->read_done(p, n);
    }
    fprintf(stderr, "fuzz: the drive loop never settles\n");
    abort();
}

/* The client's FIN, once the pipe reads again. */
static void fp_eof(fp_io *io)
{
    if (io->eof || fp_closed(io))
        return;
    berth_pipe *p = io->pipe;
    size_t cap;
    if (!p->ops->wants_input(p) || !p->ops->read_buf(p, &cap))
        return;
    io->eof = 1;
    p->ops->read_done(p, 0);
}

/* Jumps the clock to the pipe's deadline and fires it. */
static void fp_timeout(fp_io *io, fp_env *e)
{
    uint64_t d = io->pipe->ops->deadline(io->pipe);
    if (d == UINT64_MAX || fp_closed(io))
        return;
    if (e->worker.clock.now_ms < d)
        e->worker.clock.now_ms = d;
    io->pipe->ops->on_timeout(io->pipe);
}

#endif
