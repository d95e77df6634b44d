/* GET /comp: a response shaped by its query, to test on-the-fly
 * compression end to end. size (bytes of text, the same for a given size
 * and seed), type (Content-Type; "none": no header), status, ce
 * (Content-Encoding set by the handler), etag, vary, optout=1
 * (berth_res_compress(res, 0)), seed, and mode: how the body is given —
 * copy (default), borrow, external, reserve, file (berth_res_file),
 * defer (berth_stream_send in the handler), thread (berth_stream_send
 * from another thread), stream (start, three writes, end). */
#include "comp-routes.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SIZE (4u << 20)

/* Words in a pseudo-random order: text that compresses as prose does. */
static void fill_text(char *p, size_t n, uint32_t seed)
{
    static const char *words[] = {"berth", "harbour", "tide", "keel", "mooring", "anchor",
                                  "quay", "{\"id\":", "42,", "\"name\":", "ship\n", "<td>"};
    uint32_t x = seed * 2654435761u + 1;
    size_t i = 0;
    while (i < n) {
        x = x * 1103515245u + 12345u;
        const char *w = words[(x >> 16) % (sizeof words / sizeof words[0])];
        for (; *w && i < n; w++)
            p[i++] = *w;
        if (i < n)
            p[i++] = (x >> 8) & 1 ? ' ' : (char)('a' + (x >> 20) % 26);
    }
}

static char borrowed[MAX_SIZE]; /* seed 0's text, for mode=borrow */

static void release_free(void *arg) { free(arg); }

typedef struct late_send {
    berth_stream *s;
    int status;
    char *text;
    size_t n;
} late_send;

/* Sends a deferred response whole from a thread of its own. */
static void *send_later(void *arg)
{
    late_send *l = arg;
    berth_stream_send(l->s, l->status, NULL, l->text, l->n);
    free(l->text);
    free(l);
    return NULL;
}

static void str_query(berth_req *req, const char *name, char *buf, size_t cap, const char *dflt)
{
    if (berth_req_query(req, name, buf, cap) < 0)
        snprintf(buf, cap, "%s", dflt);
}

/* A file with no name: O_TMPFILE where it exists (Linux), else a temporary
 * file removed at once (macOS, FreeBSD). */
static int tmp_file(void)
{
#ifdef O_TMPFILE
    return open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#else
    char path[] = "/tmp/berth-comp-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        unlink(path);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    return fd;
#endif
}

static void comp_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    int64_t size = 4096, status = 200, seed = 0, optout = 0;
    berth_req_query_int(req, "size", &size);
    berth_req_query_int(req, "status", &status);
    berth_req_query_int(req, "seed", &seed);
    berth_req_query_int(req, "optout", &optout);
    char type[128], ce[64], etag[128], vary[64], mode[16];
    str_query(req, "type", type, sizeof type, "text/plain");
    str_query(req, "ce", ce, sizeof ce, "");
    str_query(req, "etag", etag, sizeof etag, "");
    str_query(req, "vary", vary, sizeof vary, "");
    str_query(req, "mode", mode, sizeof mode, "copy");
    if (size < 0 || (uint64_t)size > MAX_SIZE) {
        berth_res_send(res, 400, "text/plain", "size 0-4194304\n", 15);
        return;
    }
    size_t n = (size_t)size;
    berth_res_status(res, (int)status);
    if (strcmp(type, "none") != 0)
        berth_res_header(res, "Content-Type", type);
    if (*ce)
        berth_res_header(res, "Content-Encoding", ce);
    if (*etag)
        berth_res_header(res, "ETag", etag);
    if (*vary)
        berth_res_header(res, "Vary", vary);
    if (optout)
        berth_res_compress(res, 0);
    if (strcmp(mode, "borrow") == 0) {
        berth_res_body_borrow(res, borrowed, n);
        return;
    }
    char *text = malloc(n ? n : 1);
    if (!text) {
        berth_res_send(res, 500, "text/plain", "oom\n", 4);
        return;
    }
    fill_text(text, n, (uint32_t)seed);
    if (strcmp(mode, "external") == 0) {
        berth_res_body_external(res, text, n, release_free, text);
        return;
    }
    if (strcmp(mode, "reserve") == 0) {
        char *dst = berth_res_body_reserve(res, n);
        if (dst)
            memcpy(dst, text, n);
    } else if (strcmp(mode, "file") == 0) {
        int fd = tmp_file();
        if (fd < 0 || write(fd, text, n) != (ssize_t)n || berth_res_file(res, fd, 0, n) != 0)
            berth_res_send(res, 500, "text/plain", "no file\n", 8);
    } else if (strcmp(mode, "thread") == 0) {
        late_send *l = malloc(sizeof *l);
        berth_stream *s = l ? berth_res_defer(res) : NULL;
        pthread_t t;
        if (s) {
            *l = (late_send){s, (int)status, text, n};
            text = NULL; /* the thread's now */
            if (pthread_create(&t, NULL, send_later, l) == 0) {
                pthread_detach(t);
            } else {
                send_later(l);
            }
        } else {
            free(l);
        }
    } else if (strcmp(mode, "defer") == 0 || strcmp(mode, "stream") == 0) {
        berth_stream *s = berth_res_defer(res);
        if (s && mode[0] == 'd') {
            berth_stream_send(s, (int)status, NULL, text, n);
        } else if (s) {
            berth_stream_start(s, (int)status, NULL);
            size_t third = n / 3;
            berth_stream_write(s, text, third);
            berth_stream_write(s, text + third, third);
            berth_stream_write(s, text + 2 * third, n - 2 * third);
            berth_stream_end(s);
        }
    } else {
        berth_res_body(res, text, n);
    }
    free(text);
}

void comp_routes_add(berth_router *r)
{
    fill_text(borrowed, sizeof borrowed, 0);
    berth_router_add(r, "GET", "/comp", comp_route, NULL);
}
