/* libFuzzer target: the streaming multipart/form-data parser
 * (core/multipart.c) on its own.
 *
 * Input: byte 0 chooses the limits (bits 0-1: max_parts 1, 2, 8, 128;
 * bits 2-3: max_part_header 16, 64, 256, 4096; bit 4: max_header_total
 * 48 or 64 KiB) and where the Content-Type comes from (bit 7: the input's
 * first line, up to '\n', is the Content-Type field value; else it is
 * "multipart/form-data; boundary=" and one of three boundaries chosen by
 * bits 5-6: "b", a browser's "----WebKitFormBoundary7MA4YWxkTrZu0gW", or
 * one of every bchar class "a'()+_,-./:=? z"). The rest is the body.
 *
 * Checks, for any input: the body fed whole, byte by byte, and in random
 * pieces (a generator seeded by the input) gives the same record: every
 * on_part (name, filename or its absence, Content-Type, what
 * berth_multipart_header finds for Content-Disposition), every part's
 * content (on_data's pieces joined), every on_part_end, in order, and the
 * same answers of feed (its first failure), end, status and parts. A
 * status is 0 until a failure and then 400, 413 or the callback's 415 (a
 * part named "stop" is refused); a failure holds: later feeds answer it
 * again and call nothing; content bytes never outnumber body bytes; no
 * on_data outside a part. ASan/UBSan see every buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rec {
    char *buf;
    size_t len, cap;
    int in_part;
    int in_data;      /* the last record is content */
    size_t content;
};

static const uint8_t *cur;
static size_t cur_len;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz-multipart: %s\ninput: \"", what);
    for (size_t i = 0; i < cur_len && i < 3000; i++)
        fprintf(stderr, cur[i] >= 0x20 && cur[i] < 0x7f && cur[i] != '\\' ? "%c" : "\\x%02x",
                cur[i]);
    fprintf(stderr, "\"\n");
    abort();
}

static void add(struct rec *r, const void *p, size_t n)
{
    if (r->len + n > r->cap) {
        size_t cap = (r->len + n) * 2 + 64;
        char *b = realloc(r->buf, cap);
        if (!b)
            abort();
        r->buf = b;
        r->cap = cap;
    }
    if (n)
        memcpy(r->buf + r->len, p, n);
    r->len += n;
}

static void add_str(struct rec *r, char tag, berth_str s)
{
    uint32_t n = (uint32_t)s.len;
    add(r, &tag, 1);
    add(r, &n, sizeof n);
    add(r, s.ptr, s.len);
}

static int on_part(berth_multipart *mp, berth_str name, berth_str filename, berth_str ctype,
                   void *user)
{
    struct rec *r = user;
    if (r->in_part)
        fail("on_part inside a part");
    r->in_part = 1;
    add_str(r, 'P', name);
    add_str(r, filename.ptr ? 'F' : 'f', filename.ptr ? filename : (berth_str){"", 0});
    add_str(r, 'T', ctype);
    berth_str v;
    int rc = berth_multipart_header(mp, "content-disposition", &v);
    if (rc != 0)
        fail("on_part: no Content-Disposition through berth_multipart_header");
    add_str(r, 'H', v);
    rc = berth_multipart_header(mp, "Content-Type", &v);
    if (rc == 0 ? v.len != ctype.len || memcmp(v.ptr, ctype.ptr, v.len) != 0 : ctype.len != 0)
        fail("on_part's content_type differs from berth_multipart_header's");
    r->in_data = 0;
    return berth_str_eq_bytes(name, "stop") ? 415 : 0;
}

static int on_data(berth_multipart *mp, const char *p, size_t n, void *user)
{
    (void)mp;
    struct rec *r = user;
    if (!r->in_part)
        fail("on_data outside a part");
    if (n == 0)
        fail("on_data with no byte");
    /* joined: the record says 'D' once per run of data, whatever its pieces */
    if (!r->in_data) {
        char t = 'D';
        add(r, &t, 1);
        r->in_data = 1;
    }
    add(r, p, n);
    r->content += n;
    return 0;
}

static int on_part_end(berth_multipart *mp, void *user)
{
    (void)mp;
    struct rec *r = user;
    if (!r->in_part)
        fail("on_part_end outside a part");
    r->in_part = 0;
    r->in_data = 0;
    char t = 'E';
    add(r, &t, 1);
    return 0;
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* mode 0: whole; 1: byte by byte; 2: random pieces */
static void run(const berth_multipart_config *cfg, berth_str ctype, const char *body, size_t len,
                int mode, struct rec *r)
{
    memset(r, 0, sizeof *r);
    berth_multipart *mp = berth_multipart_new(ctype, cfg, r);
    if (!mp) {
        add(r, "N", 1);
        return;
    }
    int first = 0;
    size_t off = 0;
    while (off < len) {
        size_t n = mode == 0 ? len - off : mode == 1 ? 1 : 1 + rnd() % (len - off < 300 ? len - off : 300);
        if (mode == 2 && rnd() % 4 == 0)
            berth_multipart_feed(mp, body + off, 0); /* an empty piece changes nothing */
        size_t before = r->len;
        int rc = berth_multipart_feed(mp, body + off, n);
        if (first && (rc != first || r->len != before))
            fail("a feed after a failure answered otherwise, or called back");
        if (rc != 0 && rc != BERTH_EINVAL && rc != BERTH_ENOSPC && rc != BERTH_ESTATE)
            fail("feed answered an unknown code");
        if ((rc == 0) != (berth_multipart_status(mp) == 0))
            fail("status and feed disagree");
        if (!first && rc)
            first = rc;
        off += n;
    }
    int end = berth_multipart_end(mp);
    int st = berth_multipart_status(mp);
    if (end != 0 && st != 400 && st != 413 && st != 415)
        fail("a failure's status is not 400, 413 or 415");
    if (end == 0 && (st != 0 || first || berth_multipart_error(mp)[0]))
        fail("a success with a status or an error text");
    if (end != 0 && !berth_multipart_error(mp)[0])
        fail("a failure without an error text");
    if (r->content > len)
        fail("more content than body");
    int tail[4] = {first, end, st, (int)berth_multipart_parts(mp)};
    add(r, "R", 1);
    add(r, tail, sizeof tail);
    berth_multipart_free(mp);
}

static struct rec recs[3];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    cur = data;
    cur_len = size;
    static const unsigned parts[4] = {1, 2, 8, 128};
    static const size_t heads[4] = {16, 64, 256, 4096};
    static const char *const boundaries[4] = {"b", "----WebKitFormBoundary7MA4YWxkTrZu0gW",
                                              "\"a'()+_,-./:=? z\"", "b"};
    berth_multipart_config cfg;
    berth_multipart_config_init(&cfg);
    cfg.on_part = on_part;
    cfg.on_data = on_data;
    cfg.on_part_end = on_part_end;
    cfg.max_parts = parts[data[0] & 3];
    cfg.max_part_header = heads[(data[0] >> 2) & 3];
    cfg.max_header_total = data[0] & 16 ? 48 * 1024 : 64 * 1024;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    char ct[256];
    berth_str ctype;
    if (data[0] & 0x80) {
        const char *nl = memchr(body, '\n', len);
        size_t n = nl ? (size_t)(nl - body) : len;
        ctype = (berth_str){body, n};
        body += nl ? n + 1 : n;
        len -= nl ? n + 1 : n;
    } else {
        int n = snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s",
                         boundaries[(data[0] >> 5) & 3]);
        ctype = (berth_str){ct, (size_t)n};
    }
    rng_state = 0x9e3779b97f4a7c15ull ^ size;
    for (size_t i = 0; i < size && i < 64; i++)
        rng_state = (rng_state ^ data[i]) * 0x100000001b3ull;
    if (!rng_state)
        rng_state = 1;
    for (int mode = 0; mode < 3; mode++) {
        free(recs[mode].buf);
        run(&cfg, ctype, body, len, mode, &recs[mode]);
    }
    for (int mode = 1; mode < 3; mode++)
        if (recs[mode].len != recs[0].len || memcmp(recs[mode].buf, recs[0].buf, recs[0].len))
            fail(mode == 1 ? "byte by byte differs from whole" : "random pieces differ from whole");
    return 0;
}
