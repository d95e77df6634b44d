/* permessage-deflate's codec (RFC 7692 section 7.2) on zlib, raw deflate:
 * a message sent is deflated with a sync flush and loses the flush's
 * 00 00 ff ff; a message received gets it back and is inflated as it
 * arrives, its output bounded as it grows (a bomb stops at max_message
 * bytes, never buffered whole). */
#include "ws_deflate.h"

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ws_frame.h"

static const unsigned char tail[4] = {0x00, 0x00, 0xff, 0xff};

/* zlib's memory through these: each block carries its size, so that
 * d->held says what the connection holds (docs/API.md's figures). The
 * header keeps malloc's alignment for what follows it. */
typedef union block_head {
    size_t n;
    max_align_t align;
} block_head;

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    berth_wsd *d = opaque;
    size_t n = (size_t)items * size;
    block_head *p = malloc(sizeof *p + n);
    if (!p)
        return Z_NULL;
    p->n = n;
    d->held += n;
    return p + 1;
}

static void z_free(voidpf opaque, voidpf addr)
{
    berth_wsd *d = opaque;
    if (!addr)
        return;
    block_head *p = (block_head *)addr - 1;
    d->held -= p->n;
    free(p);
}

void berth_wsd_init(berth_wsd *d, const berth_wsd_params *p, int level)
{
    memset(d, 0, sizeof *d);
    d->p = *p;
    d->level = level < 1 ? 1 : level > 9 ? 9 : level;
}

/* zlib has no raw deflate with a 256-byte window: 9 stands for 8. Its
 * matches reach back at most the window less 262 bytes (MIN_LOOKAHEAD),
 * 250 with 9, within the 256 a client that agreed to 8 keeps. Inflating,
 * the client's zlib, asked for 8, uses 9 too (its window, not ours,
 * decides how far back its matches reach). */
static int zbits(unsigned bits) { return bits < 9 ? 9 : (int)bits; }

/* Makes *slot, the deflater (tx) or the inflater, unless it is there. */
static int stream_open(berth_wsd *d, z_stream **slot)
{
    if (*slot)
        return 0;
    z_stream *z = calloc(1, sizeof *z);
    if (!z)
        return -1;
    z->zalloc = z_alloc;
    z->zfree = z_free;
    z->opaque = d;
    int rc;
    if (slot == &d->tx) {
        /* memLevel with the window: zlib's hash table and pending buffer
         * are each 2^(memLevel+8) bytes, its window and chains
         * 2^(bits+2); 12 bits and memLevel 5 hold 32 KiB instead of 15
         * and 8's 256 KiB. */
        int bits = zbits(d->p.server_bits);
        int mem = bits - 7 > 8 ? 8 : bits - 7;
        rc = deflateInit2(z, d->level, Z_DEFLATED, -bits, mem, Z_DEFAULT_STRATEGY);
    } else {
        rc = inflateInit2(z, -zbits(d->p.client_bits));
    }
    if (rc != Z_OK) {
        free(z);
        return -1;
    }
    *slot = z;
    return 0;
}

static void stream_close(berth_wsd *d, z_stream **slot)
{
    if (!*slot)
        return;
    if (slot == &d->tx)
        deflateEnd(*slot);
    else
        inflateEnd(*slot);
    free(*slot);
    *slot = NULL;
}

void berth_wsd_release(berth_wsd *d)
{
    stream_close(d, &d->tx);
    stream_close(d, &d->rx);
}

/* The room to inflate into: the buffer grown (doubling, from 4 KiB) but
 * never past max. 0 when it is full at max; -1 out of memory. */
static int room(char **buf, size_t *len, size_t *cap, uint64_t max)
{
    if (*len < *cap)
        return 1;
    if (max && *len >= max)
        return 0;
    size_t want = *cap ? *cap * 2 : 4096;
    if (want < *cap)
        return -1;
    if (max && want > max)
        want = (size_t)max;
    char *n = realloc(*buf, want);
    if (!n)
        return -1;
    *buf = n;
    *cap = want;
    return 1;
}

static int inflate_error(int r)
{
    return r == Z_MEM_ERROR ? BERTH_WS_CLOSE_INTERNAL : BERTH_WS_CLOSE_BAD_DATA;
}

/* The message is over: a final block ended the deflate stream, so the
 * next message starts a new one; the window goes on into it unless the
 * client resets its own. */
static int rx_restart(berth_wsd *d, int keep)
{
    d->rx_ended = 0;
    if (!keep)
        return inflateReset(d->rx) == Z_OK ? 0 : -1;
    unsigned char *win = malloc(32768);
    uInt wl = 0;
    int ok = win && inflateGetDictionary(d->rx, win, &wl) == Z_OK &&
             inflateReset(d->rx) == Z_OK && (wl == 0 || inflateSetDictionary(d->rx, win, wl) == Z_OK);
    free(win);
    return ok ? 0 : -1;
}

/* Inflates in[0..n) onto the buffer. is_tail: the 00 00 ff ff put back,
 * which a message ended by a final block (BFINAL) leaves unread. */
static int feed(berth_wsd *d, const unsigned char *in, size_t n, int is_tail, uint64_t max,
                char **buf, size_t *len, size_t *cap)
{
    z_stream *z = d->rx;
    for (;;) {
        if (d->rx_ended) {
            if (!n || is_tail)
                return 0; /* the tail a final block leaves unread */
            /* More blocks after a final one: a new stream, the window
             * kept (RFC 7692 7.2.3.4: its 0x00 starts the block the tail
             * completes). */
            if (rx_restart(d, 1) != 0)
                return BERTH_WS_CLOSE_INTERNAL;
        }
        uInt chunk = n > UINT_MAX ? UINT_MAX : (uInt)n;
        z->next_in = (Bytef *)in;
        z->avail_in = chunk;
        int has_room = room(buf, len, cap, max);
        if (has_room < 0)
            return BERTH_WS_CLOSE_INTERNAL;
        unsigned char probe;
        if (has_room) {
            size_t space = *cap - *len;
            z->next_out = (Bytef *)*buf + *len;
            z->avail_out = space > UINT_MAX ? UINT_MAX : (uInt)space;
        } else {
            /* At max already: one byte more would be past it. */
            z->next_out = &probe;
            z->avail_out = 1;
        }
        uInt out_before = z->avail_out;
        int r = inflate(z, Z_SYNC_FLUSH);
        size_t made = out_before - z->avail_out;
        size_t took = chunk - z->avail_in;
        in += took;
        n -= took;
        if (!has_room && made)
            return BERTH_WS_CLOSE_TOO_BIG;
        *len += has_room ? made : 0;
        if (r == Z_STREAM_END)
            d->rx_ended = 1;
        else if (r != Z_OK && r != Z_BUF_ERROR)
            return inflate_error(r);
        /* Done when all the input is in and the output had room to spare
         * (nothing is left inside zlib). */
        if (!n && z->avail_out)
            return 0;
        if (!made && !took && !d->rx_ended)
            return BERTH_WS_CLOSE_BAD_DATA; /* no progress: never loop */
    }
}

int berth_wsd_inflate(berth_wsd *d, const char *in, size_t n, int last, uint64_t max,
                      char **buf, size_t *len, size_t *cap)
{
    d->rx_bytes += n;
    if (last && !d->rx_bytes)
        return 0; /* no bytes at all: an empty message, as zlib's clients send
                     it (their sync flush with no input makes nothing) */
    if (stream_open(d, &d->rx) != 0)
        return BERTH_WS_CLOSE_INTERNAL;
    int code = n ? feed(d, (const unsigned char *)in, n, 0, max, buf, len, cap) : 0;
    if (code || !last)
        return code;
    d->rx_bytes = 0;
    code = feed(d, tail, sizeof tail, 1, max, buf, len, cap);
    if (code)
        return code;
    /* The tail (an empty stored block) ends at a block boundary: zlib
     * waits for the next block's type (data_type's 128), unless the
     * message stopped inside a block. */
    if (!d->rx_ended && !(d->rx->data_type & 128))
        return BERTH_WS_CLOSE_BAD_DATA;
    if (d->p.client_no_takeover)
        stream_close(d, &d->rx); /* the next message starts afresh: nothing to keep */
    else if (d->rx_ended && rx_restart(d, 1) != 0)
        return BERTH_WS_CLOSE_INTERNAL;
    return 0;
}

/* Deflates with a sync flush into out (cap bytes, malloc'd when it is not
 * scratch, then grown): the whole output, or -1. */
static int deflate_all(z_stream *z, const char *in, size_t n, char *scratch, char **out,
                       size_t *cap, size_t *olen)
{
    z->next_in = (Bytef *)in;
    size_t left = n;
    *olen = 0;
    for (;;) {
        uInt chunk = left > UINT_MAX ? UINT_MAX : (uInt)left;
        z->avail_in = chunk;
        int flush = chunk == left ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        size_t space = *cap - *olen;
        z->next_out = (Bytef *)*out + *olen;
        z->avail_out = space > UINT_MAX ? UINT_MAX : (uInt)space;
        uInt before = z->avail_out;
        int r = deflate(z, flush);
        if (r != Z_OK && r != Z_BUF_ERROR)
            return -1;
        *olen += before - z->avail_out;
        left -= chunk - z->avail_in;
        if (!left && flush == Z_SYNC_FLUSH && z->avail_out)
            return 0; /* all in, and the flush had room: complete */
        if (!z->avail_out) {
            size_t want = *cap * 2;
            char *m = *out == scratch ? malloc(want) : realloc(*out, want);
            if (!m)
                return -1;
            if (*out == scratch)
                memcpy(m, scratch, *olen);
            *out = m;
            *cap = want;
        }
    }
}

int berth_wsd_deflate(berth_wsd *d, const char *in, size_t n, char *scratch, size_t scratch_cap,
                      char **out, size_t *olen)
{
    if (n == 0 && scratch_cap) {
        /* zlib's sync flush with no input makes nothing after a flush:
         * the empty message is a lone 00. */
        scratch[0] = 0;
        *out = scratch;
        *olen = 1;
        return 0;
    }
    if (stream_open(d, &d->tx) != 0)
        return -1;
    /* deflateBound's worst case, and the flush's marker: enough at once
     * for incompressible input. */
    size_t cap = (size_t)deflateBound(d->tx, n > ULONG_MAX ? ULONG_MAX : (uLong)n) + 16;
    if (cap < n)
        cap = n + 16;
    *out = scratch;
    if (cap > scratch_cap) {
        *out = malloc(cap);
        if (!*out)
            return -1;
    } else {
        cap = scratch_cap;
    }
    int rc = deflate_all(d->tx, in, n, scratch, out, &cap, olen);
    /* A sync flush ends with an empty stored block: 00 00 ff ff (7.2.1). */
    if (rc == 0 && (*olen < 4 || memcmp(*out + *olen - 4, tail, 4) != 0))
        rc = -1;
    if (rc != 0) {
        if (*out != scratch)
            free(*out);
        *out = NULL;
        stream_close(d, &d->tx);
        return -1;
    }
    *olen -= 4;
    if (d->p.server_no_takeover)
        stream_close(d, &d->tx); /* each message starts with an empty window */
    return 0;
}
