/* A connection's output queue: bytes produced and not yet written, as a
 * short list of segments. Most bytes are written into one buffer from the
 * worker's pool (heads, small bodies, chunks); large bodies are queued in
 * place (memory that outlives the response, released once sent) and file
 * bodies as file ranges. Listed bytes never move before they are written:
 * a backend with an asynchronous write keeps pointers meanwhile. */
#ifndef BERTH_OUTQ_H
#define BERTH_OUTQ_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "pipe.h"
#include "pool.h"

#define BERTH_OUTQ_SEGS 8 /* inline; a longer backlog (a stream to a slow reader) grows past them */

/* What becomes of a segment's bytes once written (or dropped). */
enum berth_outq_release {
    BERTH_REL_NONE,  /* borrowed: outlives the queue */
    BERTH_REL_FREE,  /* free(rel_ptr) */
    BERTH_REL_POOL,  /* back to the pool: rel_ptr */
    BERTH_REL_USER,  /* rel_fn(rel_ptr) */
    BERTH_REL_CLOSE, /* close(fd) */
};

/* The two ints sit together: apart, each took 8 bytes with its padding,
 * 64 bytes in every connection's inline segments. */
typedef struct berth_outq_seg {
    const char *ptr;  /* external bytes; NULL: the buffer at off, or a file */
    uint64_t off;
    size_t len;
    void *rel_ptr;
    void (*rel_fn)(void *);
    int fd;           /* >= 0: the file range [off, off + len) */
    int release;
} berth_outq_seg;

typedef struct berth_outq {
    berth_pool *pool;
    const berth_clock *clock;
    char *buf;           /* where new bytes are written */
    size_t len, cap;
    int pooled;          /* buf is a pool block */
    berth_outq_seg *segs; /* inline_segs, or a larger heap array */
    unsigned nsegs, head; /* segments [head, nsegs) are pending */
    unsigned segs_cap;
    size_t head_off;     /* bytes of segs[head] already written */
    uint64_t pending;    /* bytes not yet written */
    uint64_t t_write;    /* when output became pending, or last progressed */
    berth_outq_seg inline_segs[BERTH_OUTQ_SEGS];
} berth_outq;

void berth_outq_init(berth_outq *q, berth_pool *pool, const berth_clock *clock);
/* Room for n bytes at the end of the buffer (NULL: out of memory); they
 * become output with berth_outq_commit. */
char *berth_outq_reserve(berth_outq *q, size_t n);
/* Queues n bytes written at what berth_outq_reserve returned. 0, or -1
 * when out of memory. */
int berth_outq_commit(berth_outq *q, size_t n);
int berth_outq_append(berth_outq *q, const void *data, size_t n);
/* Queues bytes kept where they are; release says what happens to them
 * once written. Returns 0, or -1 (the bytes are then released at once). */
int berth_outq_external(berth_outq *q, const char *ptr, size_t n, int release, void *rel_ptr,
                        void (*rel_fn)(void *));
/* Queues len bytes of the file fd from off; close_fd: close it once
 * written. Returns 0, or -1 (fd then closed at once if close_fd). */
int berth_outq_file(berth_outq *q, int fd, uint64_t off, uint64_t len, int close_fd);
int berth_outq_segs(const berth_outq *q, berth_seg *out, int max);
/* n bytes of the listed output were written. */
void berth_outq_done(berth_outq *q, size_t n);
/* Drops all pending output and gives the buffers back. */
void berth_outq_clear(berth_outq *q);

#endif
