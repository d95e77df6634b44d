#include "parse.h"

#include <string.h>

/* The bytes of each part, from ascii.h's table: a method and a field name
 * are tokens, a field value is field bytes (VCHAR, obs-text, SP, HTAB),
 * and the target is VCHAR but for a fragment ('#', never sent) and the
 * bytes browsers percent-encode everywhere ('"', '<', '>'). The rest of
 * what RFC 3986 leaves out ({ } | ^ [ ] ` \\) is accepted in a target:
 * browsers send it unencoded in queries. */
#define TOKEN BERTH_CH_TCHAR
#define FIELD BERTH_CH_FIELD
#define TARGET BERTH_CH_TARGET
#define IS(c, cls) (berth_ascii[(unsigned char)(c)] & (cls))

void berth_head_scan_reset(berth_head_scan *s)
{
    s->pos = 0;
    s->line_start = 0;
    s->line1_len = 0;
    s->method_pos = 0;
    s->cr_pos = 0;
}

/* 1 if buf[cr_pos, end) holds a CR followed by a byte other than LF;
 * cr_pos moves on past what was checked (a CR that is the last byte so
 * far may still get its LF: it is checked again). */
static int bare_cr(berth_head_scan *s, const char *buf, size_t end)
{
    while (s->cr_pos < end) {
        const char *cr = memchr(buf + s->cr_pos, '\r', end - s->cr_pos);
        if (!cr) {
            s->cr_pos = end;
            return 0;
        }
        size_t j = (size_t)(cr - buf);
        if (j + 1 == end) {
            s->cr_pos = j;
            return 0;
        }
        if (buf[j + 1] != '\n')
            return 1;
        s->cr_pos = j + 2;
    }
    return 0;
}

/* An answer other than a complete head: a bare CR among the bytes scanned
 * (up to end) comes first, as a 400, whatever limit was passed after it. */
static long scan_stop(berth_head_scan *s, const char *buf, size_t end, long rc)
{
    return bare_cr(s, buf, end) ? -400 : rc;
}

long berth_head_scan_run(berth_head_scan *s, const char *buf, size_t len,
                         size_t max_line, size_t max_fields_bytes)
{
    /* The method ends at its SP (method_pos is past it then: a token holds
     * no SP, so a SP before method_pos means the method is done). */
    if (s->method_pos == 0 || buf[s->method_pos - 1] != ' ') {
        /* No further than the request line's limit: past it the answer is
         * 414 (below), whatever byte comes later, so that a head read whole
         * and one read in pieces get the same answer (fuzz-tls). */
        size_t end = len < max_line ? len : max_line;
        while (s->method_pos < end) {
            unsigned char c = (unsigned char)buf[s->method_pos++];
            if (c == ' ' && s->method_pos > 1)
                break;
            if (!IS(c, TOKEN))
                return -400;
        }
    }
    /* Lines are found by their LF, one search a line; the LF must follow
     * a CR. A bare CR is refused too, but looked for only when the scan
     * stops short of a complete head (more bytes needed, a limit passed):
     * a head that holds one is invalid however it goes on, and waiting for
     * its end would answer a 408 at the header timeout instead of a 400
     * now. In a complete head, berth_head_parse refuses it (400). */
    while (s->pos < len) {
        const char *lf = memchr(buf + s->pos, '\n', len - s->pos);
        if (!lf) {
            s->pos = len;
            break;
        }
        size_t i = (size_t)(lf - buf); /* the LF */
        if (i == 0 || buf[i - 1] != '\r')
            return -400; /* a bare LF ends no line */
        s->pos = i + 1;
        if (s->line1_len == 0) {
            if (i + 1 > max_line)
                return scan_stop(s, buf, i + 1, -414);
            s->line1_len = i + 1;
        } else if (i - s->line_start == 1) { /* the empty line: CRLF alone */
            if (i + 1 - s->line1_len > max_fields_bytes + 2)
                return scan_stop(s, buf, i + 1, -431);
            return (long)(i + 1);
        }
        s->line_start = i + 1;
    }
    if (s->line1_len == 0) {
        if (len > max_line)
            return scan_stop(s, buf, len, -414);
    } else if (len - s->line1_len > max_fields_bytes + 2) {
        return scan_stop(s, buf, len, -431);
    }
    return scan_stop(s, buf, len, 0);
}

/* Returns the pointer after the CRLF at p, or NULL if no CRLF is there:
 * neither a bare CR nor a bare LF ends a line (see parse.h). */
static const char *line_end(const char *p, const char *end)
{
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
        return p + 2;
    return NULL;
}

static int parse_request_line(const char **pp, const char *end, berth_head *h)
{
    const char *p = *pp;
    const char *start = p;
    p = berth_ascii_span(p, end, TOKEN);
    if (p == start || p >= end || *p != ' ')
        return 400;
    h->method.ptr = start;
    h->method.len = (size_t)(p - start);
    start = ++p;
    p = berth_ascii_span(p, end, TARGET);
    if (p == start || p >= end || *p != ' ')
        return 400;
    h->target.ptr = start;
    h->target.len = (size_t)(p - start);
    p++;
    if (end - p < 10 || memcmp(p, "HTTP/", 5) != 0)
        return 400;
    char major = p[5], minor = p[7];
    if (major < '0' || major > '9' || p[6] != '.' || minor < '0' || minor > '9')
        return 400;
    p += 8;
    const char *next = line_end(p, end);
    if (!next)
        return 400;
    if (major != '1')
        return 505;
    /* A higher minor version of HTTP/1 is answered as 1.1 (RFC 9110 2.5). */
    h->minor = minor == '0' ? 0 : 1;
    *pp = next;
    return 0;
}

/* The answer to a head that is malformed, or else too large or of another
 * version: a bare CR anywhere in it makes it a 400 first (the scan leaves
 * that check to the parser for complete heads). */
static int refuse(const char *buf, size_t len, int status)
{
    if (status != 400) {
        berth_head_scan s = {0};
        if (bare_cr(&s, buf, len))
            return 400;
    }
    return status;
}

int berth_head_parse(const char *buf, size_t len, berth_head *h)
{
    const char *p = buf, *end = buf + len;
    int rc = parse_request_line(&p, end, h);
    if (rc)
        return refuse(buf, len, rc);
    h->nheaders = 0;
    for (;;) {
        if (p >= end)
            return 400;
        const char *next = line_end(p, end);
        if (next)
            return next == end ? 0 : 400; /* the empty line ends the head */
        if (*p == ' ' || *p == '\t')
            return 400; /* obs-fold */
        const char *name = p;
        p = berth_ascii_span(p, end, TOKEN);
        if (p == name || p >= end || *p != ':')
            return 400; /* empty name, or a byte such as SP before the colon */
        size_t name_len = (size_t)(p - name);
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *value = p;
        p = berth_ascii_span(p, end, FIELD);
        const char *vend = p;
        next = line_end(p, end);
        if (!next)
            return 400; /* control byte, NUL, DEL, bare CR or bare LF */
        while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        if (h->nheaders == h->max_headers)
            return refuse(buf, len, 431);
        berth_header *hd = &h->headers[h->nheaders++];
        hd->name.ptr = name;
        hd->name.len = name_len;
        hd->value.ptr = value;
        hd->value.len = (size_t)(vend - value);
        p = next;
    }
}
