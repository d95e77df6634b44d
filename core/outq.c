#include "outq.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void berth_outq_init(berth_outq *q, berth_pool *pool, const berth_clock *clock)
{
    memset(q, 0, sizeof *q);
    q->pool = pool;
    q->clock = clock;
    q->segs = q->inline_segs;
    q->segs_cap = BERTH_OUTQ_SEGS;
}

static void seg_release(berth_outq *q, berth_outq_seg *s)
{
    switch (s->release) {
    case BERTH_REL_FREE:
        free(s->rel_ptr);
        break;
    case BERTH_REL_POOL:
        berth_pool_put(q->pool, s->rel_ptr);
        break;
    case BERTH_REL_USER:
        s->rel_fn(s->rel_ptr);
        break;
    case BERTH_REL_CLOSE:
        close(s->fd);
        break;
    }
    s->release = BERTH_REL_NONE;
}

static void buf_drop(berth_outq *q)
{
    if (q->pooled)
        berth_pool_put(q->pool, q->buf);
    else
        free(q->buf);
    q->buf = NULL;
    q->len = q->cap = 0;
    q->pooled = 0;
}

static int is_buf_seg(const berth_outq_seg *s) { return !s->ptr && s->fd < 0; }

/* Hands the buffer over to the segments still pending in it, so that a new
 * one can take its place without moving bytes a backend may be writing. */
static void buf_detach(berth_outq *q)
{
    int last = -1;
    for (unsigned i = q->head; i < q->nsegs; i++) {
        if (is_buf_seg(&q->segs[i])) {
            q->segs[i].ptr = q->buf + q->segs[i].off;
            last = (int)i;
        }
    }
    if (last < 0) {
        buf_drop(q);
        return;
    }
    q->segs[last].release = q->pooled ? BERTH_REL_POOL : BERTH_REL_FREE;
    q->segs[last].rel_ptr = q->buf; /* given back once its last byte is written */
    q->buf = NULL;
    q->len = q->cap = 0;
    q->pooled = 0;
}

char *berth_outq_reserve(berth_outq *q, size_t n)
{
    if (q->len + n <= q->cap)
        return q->buf + q->len;
    if (q->buf && q->pending)
        buf_detach(q);
    else if (q->buf)
        buf_drop(q);
    size_t bs = q->pool->block_size;
    q->buf = n <= bs ? berth_pool_get(q->pool) : malloc(n);
    if (!q->buf)
        return NULL;
    q->cap = n <= bs ? bs : n;
    q->pooled = n <= bs;
    return q->buf;
}

/* Frees the slots of segments already written. */
static void compact(berth_outq *q)
{
    if (q->head == 0)
        return;
    memmove(q->segs, q->segs + q->head, (q->nsegs - q->head) * sizeof q->segs[0]);
    q->nsegs -= q->head;
    q->head = 0;
}

/* A new segment slot; the array grows only for a long backlog (a stream
 * to a slow reader spans many buffers). */
static berth_outq_seg *seg_new(berth_outq *q)
{
    if (q->nsegs == q->segs_cap)
        compact(q);
    if (q->nsegs == q->segs_cap) {
        unsigned cap = q->segs_cap * 2;
        berth_outq_seg *n = malloc(cap * sizeof *n);
        if (!n)
            return NULL;
        memcpy(n, q->segs, q->nsegs * sizeof *n);
        if (q->segs != q->inline_segs)
            free(q->segs);
        q->segs = n;
        q->segs_cap = cap;
    }
    if (q->pending == 0)
        q->t_write = q->clock->now_ms;
    berth_outq_seg *s = &q->segs[q->nsegs++];
    memset(s, 0, sizeof *s);
    s->fd = -1;
    return s;
}

/* A new buffer segment for n bytes at the end of the buffer. Out of line:
 * the common commit extends the last segment and needs none of this. */
static __attribute__((noinline)) int commit_new_seg(berth_outq *q, size_t n)
{
    berth_outq_seg *s = seg_new(q);
    if (!s)
        return -1;
    s->off = q->len;
    s->len = n;
    return 0;
}

int berth_outq_commit(berth_outq *q, size_t n)
{
    berth_outq_seg *last = q->nsegs > q->head ? &q->segs[q->nsegs - 1] : NULL;
    if (last && is_buf_seg(last) && last->off + last->len == q->len)
        last->len += n;
    else if (commit_new_seg(q, n) != 0)
        return -1;
    if (q->pending == 0)
        q->t_write = q->clock->now_ms;
    q->len += n;
    q->pending += n;
    return 0;
}

int berth_outq_append(berth_outq *q, const void *data, size_t n)
{
    char *dst = berth_outq_reserve(q, n);
    if (!dst)
        return -1;
    memcpy(dst, data, n);
    return berth_outq_commit(q, n);
}

int berth_outq_external(berth_outq *q, const char *ptr, size_t n, int release, void *rel_ptr,
                        void (*rel_fn)(void *))
{
    berth_outq_seg *s = seg_new(q);
    if (!s) {
        berth_outq_seg tmp = {.fd = -1, .release = release, .rel_ptr = rel_ptr, .rel_fn = rel_fn};
        seg_release(q, &tmp);
        return -1;
    }
    s->ptr = ptr;
    s->len = n;
    s->release = release;
    s->rel_ptr = rel_ptr;
    s->rel_fn = rel_fn;
    q->pending += n;
    return 0;
}

int berth_outq_file(berth_outq *q, int fd, uint64_t off, uint64_t len, int close_fd)
{
    berth_outq_seg *s = len ? seg_new(q) : NULL;
    if (!s) {
        if (close_fd)
            close(fd);
        return len ? -1 : 0;
    }
    s->fd = fd;
    s->off = off;
    s->len = (size_t)len;
    s->release = close_fd ? BERTH_REL_CLOSE : BERTH_REL_NONE;
    q->pending += len;
    return 0;
}

int berth_outq_segs(const berth_outq *q, berth_seg *out, int max)
{
    if (q->pending == 0)
        return 0; /* the drive loop asks after every write */
    int n = 0;
    for (unsigned i = q->head; i < q->nsegs && n < max; i++) {
        const berth_outq_seg *s = &q->segs[i];
        size_t skip = i == q->head ? q->head_off : 0;
        if (s->fd >= 0) {
            out[n].ptr = NULL;
            out[n].fd = s->fd;
            out[n].off = s->off + skip;
        } else {
            out[n].ptr = (s->ptr ? s->ptr : q->buf + s->off) + skip;
            out[n].fd = -1;
            out[n].off = 0;
        }
        out[n].len = s->len - skip;
        n++;
    }
    return n;
}

void berth_outq_done(berth_outq *q, size_t n)
{
    if (n == 0)
        return;
    q->t_write = q->clock->now_ms;
    q->pending -= n;
    while (n && q->head < q->nsegs) {
        berth_outq_seg *s = &q->segs[q->head];
        size_t left = s->len - q->head_off;
        if (n < left) {
            q->head_off += n;
            break;
        }
        n -= left;
        seg_release(q, s);
        q->head++;
        q->head_off = 0;
    }
    if (q->pending == 0)
        berth_outq_clear(q); /* give the buffer back while idle: a pooled get is a pointer pop */
}

void berth_outq_clear(berth_outq *q)
{
    for (unsigned i = q->head; i < q->nsegs; i++)
        seg_release(q, &q->segs[i]);
    q->nsegs = q->head = 0;
    q->head_off = 0;
    q->pending = 0;
    if (q->buf)
        buf_drop(q);
    if (q->segs != q->inline_segs) {
        free(q->segs);
        q->segs = q->inline_segs;
        q->segs_cap = BERTH_OUTQ_SEGS;
    }
}
