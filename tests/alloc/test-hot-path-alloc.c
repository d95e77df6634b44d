/* The hot path of keep-alive requests allocates nothing: after a warm-up,
 * a run of requests through the engine calls malloc, calloc, realloc and
 * free zero times. Linked with -Wl,--wrap for those four, so only calls
 * that go through the linker count: those of the engine's objects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/engine_harness.h"

static long calls;
static int counting;
static long gzipped; /* compressed responses seen */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

void *__wrap_malloc(size_t n)
{
    calls += counting;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size)
{
    calls += counting;
    return __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n)
{
    calls += counting;
    return __real_realloc(p, n);
}
void __wrap_free(void *p)
{
    calls += counting && p;
    __real_free(p);
}

/* Feeds data like a backend and discards the output; returns responses. */
static int run(berth_conn *c, const char *data, size_t len)
{
    int responses = 0;
    size_t off = 0;
    while (off < len) {
        size_t cap;
        char *buf = berth_conn_read_buf(c, &cap);
        if (!buf)
            return -1;
        size_t n = len - off < cap ? len - off : cap;
        memcpy(buf, data + off, n);
        off += n;
        berth_conn_read_done(c, n);
        berth_seg segs[16];
        while (berth_conn_out_pending(c) || berth_conn_has_pending(c)) {
            if (!berth_conn_out_pending(c)) {
                berth_conn_pump(c); /* as the drive loop does */
                continue;
            }
            int k = berth_conn_out_segs(c, segs, 16);
            size_t total = 0;
            for (int i = 0; i < k; i++) {
                total += segs[i].len;
                for (const char *p = segs[i].ptr; (p = memmem(p, segs[i].len - (size_t)(p - segs[i].ptr), "HTTP/1.1 200", 12)); p++)
                    responses++;
                for (const char *p = segs[i].ptr; (p = memmem(p, segs[i].len - (size_t)(p - segs[i].ptr), "Content-Encoding: gzip", 22)); p++)
                    gzipped++;
            }
            berth_conn_out_done(c, total);
        }
    }
    return responses;
}

static int check(const char *name, const char *req, int expect, int gzip)
{
    gzipped = 0;
    harness h;
    harness_init(&h, NULL);
    int warm = run(h.conn, req, strlen(req)); /* pools fill up */
    counting = 1;
    calls = 0;
    int got = 0;
    for (int i = 0; i < 100; i++)
        got += run(h.conn, req, strlen(req));
    counting = 0;
    harness_free(&h);
    int ok = warm == expect && got == 100 * expect && calls == 0 && gzipped == (gzip ? 101 * expect : 0);
    printf("%s %s: %d responses (%ld gzip), %ld allocator calls\n", ok ? "ok  " : "FAIL", name, got,
           gzipped, calls);
    return ok;
}

int main(void)
{
    static char pipelined[16 * 32 + 1], big[10000], gzipped[16 * 64 + 1];
    for (int i = 0; i < 16; i++) {
        strcat(pipelined, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        strcat(gzipped, "GET /text HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n");
    }
    snprintf(big, sizeof big, "POST /x/1 HTTP/1.1\r\nHost: a\r\nX: %09000d\r\nContent-Length: 2\r\n\r\nhi", 0);
    int pass = 0, fail = 0;
    struct {
        const char *name, *req;
        int expect, gzip;
    } cases[] = {
        {"get", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1, 0},
        {"get_with_param", "GET /item/42 HTTP/1.1\r\nHost: a\r\n\r\n", 1, 0},
        {"post_content_length", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 1, 0},
        {"post_chunked", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 1, 0},
        {"pipelined_16", pipelined, 16, 0},
        {"head", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", 1, 0},
        {"reserved_9k_body", big, 1, 0},
        {"gzip_3k_text", "GET /text HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip, br\r\n\r\n", 1, 1},
        {"gzip_pipelined_16", gzipped, 16, 1},
        {"text_not_accepted", "GET /text HTTP/1.1\r\nHost: a\r\n\r\n", 1, 0},
        {"sendf_short", "GET /sendf HTTP/1.1\r\nHost: a\r\n\r\n", 1, 0},
        {"sendf_3k", "GET /sendf?n=3000 HTTP/1.1\r\nHost: a\r\n\r\n", 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check(cases[i].name, cases[i].req, cases[i].expect, cases[i].gzip) ? pass++ : fail++;
    printf("%d passed, %d failed\n", pass, fail);
    return fail ? 1 : 0;
}
