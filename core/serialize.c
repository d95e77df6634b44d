#include "serialize.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth.h"

static char *put_str(char *p, const char *s, size_t n)
{
    if (n)
        memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) put_str((p), (lit), sizeof(lit) - 1)

static char *put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i)
        *p++ = tmp[--i];
    return p;
}

/* Room a head needs, beyond the handler's fields and type (a 200, most
 * responses, without looking its reason up). */
static size_t head_bound(const berth_head_out *h)
{
    size_t reason = h->status == 200 ? 2 : strlen(berth_status_reason(h->status));
    return 200 + reason + h->hdr_len + h->ctype_len;
}

static char *head_put(const berth_head_out *h, const berth_clock *clock, char *p)
{
    if (h->status == 200) {
        p = PUT_LIT(p, "HTTP/1.1 200 OK\r\n");
    } else {
        const char *reason = berth_status_reason(h->status);
        p = PUT_LIT(p, "HTTP/1.1 ");
        *p++ = (char)('0' + h->status / 100);
        *p++ = (char)('0' + h->status / 10 % 10);
        *p++ = (char)('0' + h->status % 10);
        *p++ = ' ';
        p = put_str(p, reason, strlen(reason));
        p = PUT_LIT(p, "\r\n");
    }
    if (__builtin_expect(h->omit != 0, 0)) {
        if (!(h->omit & BERTH_OMIT_SERVER))
            p = PUT_LIT(p, "Server: berth\r\n");
        if (!(h->omit & BERTH_OMIT_DATE)) {
            p = PUT_LIT(p, "Date: ");
            p = put_str(p, clock->date, BERTH_DATE_LEN);
            p = PUT_LIT(p, "\r\n");
        }
    } else {
        p = PUT_LIT(p, "Server: berth\r\nDate: ");
        p = put_str(p, clock->date, BERTH_DATE_LEN);
        p = PUT_LIT(p, "\r\n");
    }
    p = put_str(p, h->hdr, h->hdr_len);
    if (h->ctype_len) {
        p = PUT_LIT(p, "Content-Type: ");
        p = put_str(p, h->ctype, h->ctype_len);
        p = PUT_LIT(p, "\r\n");
    }
    if (h->frame == BERTH_FRAME_LENGTH) {
        p = PUT_LIT(p, "Content-Length: ");
        p = put_u64(p, h->length);
        p = PUT_LIT(p, "\r\n");
    } else if (h->frame == BERTH_FRAME_CHUNKED) {
        p = PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    }
    if (h->frame == BERTH_FRAME_UPGRADE)
        return PUT_LIT(p, "Connection: Upgrade\r\n\r\n");
    return h->keep_alive ? PUT_LIT(p, "Connection: keep-alive\r\n\r\n")
                         : PUT_LIT(p, "Connection: close\r\n\r\n");
}

void berth_body_release(berth_body_out *b)
{
    switch (b->release) {
    case BERTH_REL_FREE:
        free(b->rel_ptr);
        break;
    case BERTH_REL_USER:
        b->rel_fn(b->rel_ptr);
        break;
    case BERTH_REL_CLOSE:
        close(b->fd);
        break;
    case BERTH_REL_POOL:
        break; /* pool blocks are given back by their owner (berth_res_release) */
    }
    b->release = BERTH_REL_NONE;
}

/* A body that stays where it is: queued as its own segment (a file range
 * or memory), which the queue then owns. Out of line: most bodies are
 * copied after the head. */
static __attribute__((noinline)) int body_queue(berth_outq *q, berth_body_out *b)
{
    int rc = b->fd >= 0 ? berth_outq_file(q, b->fd, b->off, b->len, b->release == BERTH_REL_CLOSE)
                        : berth_outq_external(q, b->ptr, (size_t)b->len, b->release, b->rel_ptr,
                                              b->rel_fn);
    b->release = BERTH_REL_NONE; /* the queue owns it now, or has released it */
    return rc;
}

int berth_ser_response(berth_outq *q, int status, const char *hdr, size_t hdr_len,
                       const char *ctype, size_t ctype_len, berth_body_out *b, int send_body,
                       int keep_alive, unsigned omit)
{
    int with_length = berth_ser_status_has_body(status);
    berth_head_out h = {status, hdr, hdr_len, ctype, ctype_len,
                        with_length ? BERTH_FRAME_LENGTH : BERTH_FRAME_NONE,
                        with_length ? b->len : 0, keep_alive, omit};
    send_body = send_body && with_length && b->len;
    int is_file = b->fd >= 0;
    int copy = send_body && !is_file && (b->len <= BERTH_SER_COPY_MAX || !b->stable);
    char *p = berth_outq_reserve(q, head_bound(&h) + (copy ? (size_t)b->len : 0));
    if (!p) {
        berth_body_release(b);
        return -1;
    }
    char *start = p;
    p = head_put(&h, q->clock, p);
    if (copy)
        p = put_str(p, b->ptr, (size_t)b->len);
    int rc = berth_outq_commit(q, (size_t)(p - start));
    if (rc != 0 || !send_body || copy) {
        if (b->release != BERTH_REL_NONE)
            berth_body_release(b);
        return rc;
    }
    return body_queue(q, b);
}

int berth_ser_error(berth_outq *q, int status)
{
    const char *reason = berth_status_reason(status);
    size_t rlen = strlen(reason);
    static const char type[] = "Content-Type: text/plain; charset=utf-8\r\n";
    berth_head_out h = {status, type, sizeof type - 1, NULL, 0, BERTH_FRAME_LENGTH, rlen + 1, 0, 0};
    char *p = berth_outq_reserve(q, head_bound(&h) + rlen + 1);
    if (!p)
        return -1;
    char *start = p;
    p = head_put(&h, q->clock, p);
    p = put_str(p, reason, rlen);
    *p++ = '\n';
    return berth_outq_commit(q, (size_t)(p - start));
}

int berth_ser_head(berth_outq *q, const berth_head_out *h)
{
    char *p = berth_outq_reserve(q, head_bound(h));
    if (!p)
        return -1;
    return berth_outq_commit(q, (size_t)(head_put(h, q->clock, p) - p));
}

int berth_ser_chunk(berth_outq *q, const char *data, size_t len)
{
    if (len == 0)
        return berth_outq_append(q, "0\r\n\r\n", 5);
    char *p = berth_outq_reserve(q, len + 24);
    if (!p)
        return -1;
    char *start = p;
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    int n = 0;
    size_t v = len;
    do {
        tmp[n++] = hex[v & 15];
        v >>= 4;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    p = PUT_LIT(p, "\r\n");
    p = put_str(p, data, len);
    p = PUT_LIT(p, "\r\n");
    return berth_outq_commit(q, (size_t)(p - start));
}

int berth_ser_continue(berth_outq *q)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    return berth_outq_append(q, msg, sizeof msg - 1);
}
