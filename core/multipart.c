/* multipart/form-data (RFC 7578 over RFC 2046 5.1), sans-I/O and
 * streaming: bytes in, in pieces of any size; callbacks out. A part's
 * header section is held (up to max_part_header) until complete; its
 * content never is: content bytes go to on_data as they arrive, except
 * for the few that might begin the next delimiter ("\r\n--boundary"),
 * which are held back as a count of delimiter bytes matched. CR appears
 * in the delimiter only as its first byte (a boundary's characters are
 * RFC 2046's bchars), so a mismatch never needs to look back: the bytes
 * held are the delimiter's own first `match` bytes, emitted from it, and
 * the byte that broke the match is looked at again. That is why any
 * split of a body gives the same parts. */
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "ascii.h"
#include "berth.h"
#include "field_list.h"
#include "multipart.h"

#define BOUNDARY_MAX 70 /* RFC 2046 5.1.1 */

enum state {
    S_PREAMBLE,  /* before the first delimiter: dropped */
    S_AFTER,     /* just after "--boundary": "--", or padding and CRLF */
    S_DASH,      /* after "--boundary-" */
    S_PADDING,   /* transport padding (SP, HTAB) before CRLF */
    S_CR,        /* after its CR */
    S_HEADERS,   /* a part's header section */
    S_DATA,      /* a part's content */
    S_EPILOGUE,  /* after "--boundary--": dropped */
};

struct berth_multipart {
    berth_multipart_config cfg;
    void *user;
    enum state state;
    size_t match;           /* delimiter bytes matched (held back) */
    size_t delim_len;
    char delim[4 + BOUNDARY_MAX]; /* "\r\n--" boundary */
    size_t hlen;            /* header bytes held in hbuf */
    size_t header_total;
    unsigned parts;
    int in_on_part;         /* berth_multipart_header answers */
    int failed;             /* enum berth_err, 0 */
    int status;
    const char *why;
    berth_req *req;         /* a route's (multipart_route.c), or NULL */
    char *hbuf;             /* max_part_header bytes */
    char *vbuf;             /* as many: name and filename unquoted */
};

void berth_multipart_config_init_sized(berth_multipart_config *cfg, size_t size)
{
    berth_multipart_config d;
    memset(&d, 0, sizeof d);
    d.size = sizeof d;
    d.max_parts = 128;
    d.max_part_header = 4096;
    d.max_header_total = 65536;
    berth_abi_init(cfg, size, &d, sizeof d);
}

static int bchar(unsigned char c)
{
    return berth_is_alpha(c) || berth_is_digit(c) || (c && strchr("'()+_,-./:=? ", c));
}

/* A parameter's value without its quotes and quoted-pairs, into out
 * (room for v.len bytes): its length. */
static size_t unquote(berth_str v, char *out)
{
    if (v.len < 2 || v.ptr[0] != '"') {
        memcpy(out, v.ptr, v.len);
        return v.len;
    }
    size_t o = 0;
    for (size_t i = 1; i + 1 < v.len; i++) {
        if (v.ptr[i] == '\\' && i + 2 < v.len)
            i++;
        out[o++] = v.ptr[i];
    }
    return o;
}

berth_multipart *berth_multipart_make(berth_str content_type, const berth_multipart_config *cfg,
                                      void *user, int *status)
{
    *status = 415;
    berth_multipart_config c;
    berth_multipart_config_init(&c);
    if (!cfg || berth_abi_read(&c, sizeof c, cfg) != 0)
        return NULL;
    if (c.max_part_header < 4 || c.max_part_header > (1u << 20))
        return NULL;
    berth_str params;
    berth_str type = berth_list_value(content_type, &params);
    if (!berth_str_ieq(type, "multipart/form-data", 19))
        return NULL;
    char boundary[BOUNDARY_MAX];
    size_t blen = 0;
    int found = 0, r;
    berth_str n, v;
    while ((r = berth_param_next(&params, &n, &v)) == 1) {
        if (found || !berth_str_ieq(n, "boundary", 8))
            continue;
        if (v.len > BOUNDARY_MAX + 2)
            return NULL;
        char tmp[BOUNDARY_MAX + 2];
        blen = unquote(v, tmp);
        if (blen == 0 || blen > BOUNDARY_MAX || tmp[blen - 1] == ' ')
            return NULL;
        for (size_t i = 0; i < blen; i++)
            if (!bchar((unsigned char)tmp[i]))
                return NULL;
        memcpy(boundary, tmp, blen);
        found = 1;
    }
    if (r < 0 || !found)
        return NULL;
    berth_multipart *mp = calloc(1, sizeof *mp + 2 * c.max_part_header);
    if (!mp) {
        *status = 503;
        return NULL;
    }
    mp->cfg = c;
    mp->user = user;
    mp->hbuf = (char *)(mp + 1);
    mp->vbuf = mp->hbuf + c.max_part_header;
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, blen);
    mp->delim_len = 4 + blen;
    /* The first delimiter may open the body: as if a CRLF came before it. */
    mp->state = S_PREAMBLE;
    mp->match = 2;
    return mp;
}

berth_multipart *berth_multipart_new(berth_str content_type, const berth_multipart_config *cfg,
                                     void *user)
{
    int status;
    return berth_multipart_make(content_type, cfg, user, &status);
}

void berth_multipart_free(berth_multipart *mp) { free(mp); }

void berth_multipart_bind(berth_multipart *mp, berth_req *req) { mp->req = req; }

berth_req *berth_multipart_req(const berth_multipart *mp) { return mp->req; }

const char *berth_multipart_own_error(const berth_multipart *mp)
{
    return mp->failed && mp->failed != BERTH_ESTATE ? mp->why : NULL;
}

static int fail(berth_multipart *mp, int err, int status, const char *why)
{
    mp->failed = err;
    mp->status = status;
    mp->why = why;
    return err;
}

/* A callback's answer: 0, or the failure it makes. */
static int stopped(berth_multipart *mp, int r)
{
    if (r == 0)
        return 0;
    return fail(mp, BERTH_ESTATE, r >= 400 && r <= 599 ? r : 400, "a callback stopped the body");
}

static int emit(berth_multipart *mp, const char *p, size_t len)
{
    if (mp->state != S_DATA || len == 0 || !mp->cfg.on_data)
        return 0;
    return stopped(mp, mp->cfg.on_data(mp, p, len, mp->user));
}

/* The header section hbuf[0, hlen) is complete: checks its lines, finds
 * Content-Disposition and Content-Type, calls on_part. */
static int part_begin(berth_multipart *mp)
{
    const char *p = mp->hbuf, *end = mp->hbuf + mp->hlen - 2; /* the blank line's CRLF */
    berth_str disp = {NULL, 0}, ctype = {"", 0};
    int have_ctype = 0;
    while (p < end) {
        const char *eol = p;
        while (!(eol[0] == '\r' && eol[1] == '\n')) /* the blank line's ends it */
            eol++;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || colon == p || berth_ascii_span(p, colon, BERTH_CH_TCHAR) != colon)
            return fail(mp, BERTH_EINVAL, 400, "a part's header line is not name: value");
        const char *v = colon + 1, *ve = eol;
        if (berth_ascii_span(v, ve, BERTH_CH_FIELD) != ve)
            return fail(mp, BERTH_EINVAL, 400, "a part's header value holds a control byte");
        while (v < ve && berth_is_ows((unsigned char)*v))
            v++;
        while (ve > v && berth_is_ows((unsigned char)ve[-1]))
            ve--;
        berth_str name = {p, (size_t)(colon - p)}, value = {v, (size_t)(ve - v)};
        if (!disp.ptr && berth_str_ieq(name, "Content-Disposition", 19))
            disp = value;
        else if (!have_ctype && berth_str_ieq(name, "Content-Type", 12))
            ctype = value, have_ctype = 1;
        p = eol + 2;
    }
    if (!disp.ptr)
        return fail(mp, BERTH_EINVAL, 400, "a part has no Content-Disposition");
    berth_str params;
    if (!berth_str_ieq(berth_list_value(disp, &params), "form-data", 9))
        return fail(mp, BERTH_EINVAL, 400, "a part's Content-Disposition is not form-data");
    berth_str fname = {NULL, 0}, fval = {NULL, 0}, n, v;
    char *out = mp->vbuf;
    int r;
    while ((r = berth_param_next(&params, &n, &v)) == 1) {
        berth_str *dst = berth_str_ieq(n, "name", 4)       ? &fname
                         : berth_str_ieq(n, "filename", 8) ? &fval
                                                           : NULL;
        if (!dst || dst->ptr)
            continue; /* filename* and others; the first of each */
        dst->ptr = out;
        dst->len = unquote(v, out);
        out += dst->len;
    }
    if (r < 0)
        return fail(mp, BERTH_EINVAL, 400, "a part's Content-Disposition has bad parameters");
    if (!fname.ptr)
        return fail(mp, BERTH_EINVAL, 400, "a part's Content-Disposition has no name");
    mp->state = S_DATA;
    mp->match = 0;
    if (!mp->cfg.on_part)
        return 0;
    mp->in_on_part = 1;
    r = mp->cfg.on_part(mp, fname, fval, ctype, mp->user);
    mp->in_on_part = 0;
    return stopped(mp, r);
}

/* Feeds bytes of a delimiter search (preamble or content): returns the
 * bytes consumed up to and including a whole delimiter, or all of them. */
static int scan(berth_multipart *mp, const char *p, const char *end, const char **out)
{
    while (p < end) {
        if (mp->match == 0) {
            const char *cr = memchr(p, '\r', (size_t)(end - p));
            const char *stop = cr ? cr : end;
            int rc = emit(mp, p, (size_t)(stop - p));
            if (rc)
                return rc;
            p = stop;
            if (!cr)
                break;
            mp->match = 1;
            p++;
            continue;
        }
        if (*p == mp->delim[mp->match]) {
            p++;
            if (++mp->match == mp->delim_len) {
                int rc = 0;
                if (mp->state == S_DATA && mp->cfg.on_part_end)
                    rc = stopped(mp, mp->cfg.on_part_end(mp, mp->user));
                mp->state = S_AFTER;
                mp->match = 0;
                *out = p;
                return rc;
            }
            continue;
        }
        /* Not a delimiter: the bytes held were content. The implicit CRLF
         * before the body (match 2 at the start) is in the preamble,
         * where nothing is emitted. */
        int rc = emit(mp, mp->delim, mp->match);
        mp->match = 0;
        if (rc)
            return rc;
    }
    *out = p;
    return 0;
}

static int header_byte(berth_multipart *mp, char c)
{
    if (mp->hlen == mp->cfg.max_part_header)
        return fail(mp, BERTH_ENOSPC, 413, "a part's header section is over max_part_header");
    if (mp->header_total == mp->cfg.max_header_total)
        return fail(mp, BERTH_ENOSPC, 413, "the parts' header sections are over max_header_total");
    mp->hbuf[mp->hlen++] = c;
    mp->header_total++;
    const char *h = mp->hbuf + mp->hlen;
    if ((mp->hlen == 2 && memcmp(mp->hbuf, "\r\n", 2) == 0) ||
        (mp->hlen >= 4 && memcmp(h - 4, "\r\n\r\n", 4) == 0))
        return part_begin(mp);
    return 0;
}

int berth_multipart_feed(berth_multipart *mp, const char *data, size_t len)
{
    if (mp->failed)
        return mp->failed;
    const char *p = data, *end = data + len;
    int rc = 0;
    while (p < end && rc == 0) {
        unsigned char c = (unsigned char)*p;
        switch (mp->state) {
        case S_PREAMBLE:
        case S_DATA:
            rc = scan(mp, p, end, &p);
            continue;
        case S_AFTER:
            if (c == '-') {
                p++;
                mp->state = S_DASH;
            } else {
                mp->state = S_PADDING; /* c is looked at again there */
            }
            continue;
        case S_DASH:
            if (c != '-')
                return fail(mp, BERTH_EINVAL, 400, "a delimiter is followed by '-' alone");
            p++;
            mp->state = S_EPILOGUE;
            continue;
        case S_PADDING:
            p++;
            if (c == '\r')
                mp->state = S_CR;
            else if (!berth_is_ows(c))
                return fail(mp, BERTH_EINVAL, 400, "a delimiter's line holds more than padding");
            continue;
        case S_CR:
            if (c != '\n')
                return fail(mp, BERTH_EINVAL, 400, "a delimiter's CR is not followed by LF");
            p++;
            if (mp->parts == mp->cfg.max_parts)
                return fail(mp, BERTH_ENOSPC, 413, "more parts than max_parts");
            mp->parts++;
            mp->hlen = 0;
            mp->state = S_HEADERS;
            continue;
        case S_HEADERS:
            rc = header_byte(mp, (char)c);
            p++;
            continue;
        case S_EPILOGUE:
            return 0;
        }
    }
    return rc;
}

int berth_multipart_end(berth_multipart *mp)
{
    if (mp->failed)
        return mp->failed;
    if (mp->state != S_EPILOGUE)
        return fail(mp, BERTH_EINVAL, 400, "the body ended before the closing delimiter");
    if (mp->parts == 0)
        return fail(mp, BERTH_EINVAL, 400, "the body has no part");
    return 0;
}

int berth_multipart_status(const berth_multipart *mp) { return mp->status; }

const char *berth_multipart_error(const berth_multipart *mp) { return mp->why ? mp->why : ""; }

unsigned berth_multipart_parts(const berth_multipart *mp) { return mp->parts; }

int berth_multipart_header(const berth_multipart *mp, const char *name, berth_str *value)
{
    if (!mp->in_on_part)
        return BERTH_ENOENT;
    size_t nlen = strlen(name);
    const char *p = mp->hbuf, *end = mp->hbuf + mp->hlen - 2;
    while (p < end) {
        const char *eol = p;
        while (!(eol[0] == '\r' && eol[1] == '\n'))
            eol++;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if ((size_t)(colon - p) == nlen && berth_ascii_ieq(p, name, nlen)) {
            const char *v = colon + 1, *ve = eol;
            while (v < ve && berth_is_ows((unsigned char)*v))
                v++;
            while (ve > v && berth_is_ows((unsigned char)ve[-1]))
                ve--;
            value->ptr = v;
            value->len = (size_t)(ve - v);
            return 0;
        }
        p = eol + 2;
    }
    return BERTH_ENOENT;
}
