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
    s->method_done = 0;
}

long berth_head_scan_run(berth_head_scan *s, const char *buf, size_t len,
                         size_t max_line, size_t max_fields_bytes)
{
    while (!s->method_done && s->method_pos < len) {
        unsigned char c = (unsigned char)buf[s->method_pos];
        if (c == ' ' && s->method_pos > 0)
            s->method_done = 1;
        else if (!IS(c, TOKEN))
            return -400;
        else
            s->method_pos++;
    }
    /* Lines are found by their CR, so that a bare CR is refused as soon as
     * the byte after it arrives, like a bare LF (see parse.h): a head that
     * holds one is invalid however it goes on, and waiting for its end
     * would answer a 408 at the header timeout instead of a 400 now. */
    while (s->pos < len) {
        const char *cr = memchr(buf + s->pos, '\r', len - s->pos);
        size_t stop = cr ? (size_t)(cr - buf) : len;
        if (memchr(buf + s->pos, '\n', stop - s->pos))
            return -400; /* a bare LF ends no line */
        if (!cr) {
            s->pos = len;
            break;
        }
        if (stop + 1 == len) {
            s->pos = stop; /* the CR is the last byte so far: its LF may follow */
            break;
        }
        if (buf[stop + 1] != '\n')
            return -400; /* a bare CR */
        size_t i = stop + 1; /* the LF */
        s->pos = i + 1;
        if (s->line1_len == 0) {
            if (i + 1 > max_line)
                return -414;
            s->line1_len = i + 1;
        } else if (i - s->line_start == 1) { /* the empty line: CRLF alone */
            if (i + 1 - s->line1_len > max_fields_bytes + 2)
                return -431;
            return (long)(i + 1);
        }
        s->line_start = i + 1;
    }
    if (s->line1_len == 0) {
        if (len > max_line)
            return -414;
    } else if (len - s->line1_len > max_fields_bytes + 2) {
        return -431;
    }
    return 0;
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
    while (p < end && IS(*p, TOKEN))
        p++;
    if (p == start || p >= end || *p != ' ')
        return 400;
    h->method.ptr = start;
    h->method.len = (size_t)(p - start);
    start = ++p;
    while (p < end && IS(*p, TARGET))
        p++;
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

int berth_head_parse(const char *buf, size_t len, berth_head *h)
{
    const char *p = buf, *end = buf + len;
    int rc = parse_request_line(&p, end, h);
    if (rc)
        return rc;
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
        while (p < end && IS(*p, TOKEN))
            p++;
        if (p == name || p >= end || *p != ':')
            return 400; /* empty name, or a byte such as SP before the colon */
        size_t name_len = (size_t)(p - name);
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *value = p;
        while (p < end && IS(*p, FIELD))
            p++;
        const char *vend = p;
        next = line_end(p, end);
        if (!next)
            return 400; /* control byte, NUL, DEL, bare CR or bare LF */
        while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        if (h->nheaders == h->max_headers)
            return 431;
        berth_header *hd = &h->headers[h->nheaders++];
        hd->name.ptr = name;
        hd->name.len = name_len;
        hd->value.ptr = value;
        hd->value.len = (size_t)(vend - value);
        p = next;
    }
}
