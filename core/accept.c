/* Content negotiation on Accept-Encoding (RFC 9110 12.5.3): how much the
 * client wants a content coding, for the static handler's precompressed
 * files and for compressing responses on the fly. */
#include <string.h>
#include <strings.h>

#include "request.h"

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in
 * thousandths; -1 if s is not one. */
static int parse_qvalue(const char *s, size_t n)
{
    if (n == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int q = (s[0] - '0') * 1000;
    if (n == 1)
        return q;
    if (s[1] != '.' || n > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* One list element "coding *( OWS ";" OWS param )": its coding name and its
 * weight (1000 without "q="), or -1 if the element is malformed. */
static int parse_element(const char *s, size_t n, berth_str *coding)
{
    size_t i = 0;
    while (i < n && s[i] != ';' && !is_ows(s[i]))
        i++;
    coding->ptr = s;
    coding->len = i;
    int q = 1000;
    while (i < n) {
        while (i < n && is_ows(s[i]))
            i++;
        if (i == n)
            break;
        if (s[i] != ';')
            return -1;
        i++;
        while (i < n && is_ows(s[i]))
            i++;
        size_t p = i;
        while (i < n && s[i] != ';' && !is_ows(s[i]))
            i++;
        if (i - p >= 2 && (s[p] == 'q' || s[p] == 'Q') && s[p + 1] == '=') {
            q = parse_qvalue(s + p + 2, i - p - 2);
            if (q < 0)
                return -1;
        }
    }
    return q;
}

static int name_is(berth_str s, const char *name)
{
    size_t n = strlen(name);
    return s.len == n && strncasecmp(s.ptr, name, n) == 0;
}

/* "x-gzip" is gzip (RFC 9110 8.4.1.3). */
static int coding_matches(berth_str c, const char *coding)
{
    if (name_is(c, coding))
        return 1;
    return strcasecmp(coding, "gzip") == 0 && name_is(c, "x-gzip");
}

int berth_req_accept_encoding(const berth_req *req, const char *coding)
{
    int explicit_q = -1, star_q = -1;
    for (size_t h = 0; h < req->head.nheaders; h++) {
        const berth_header *hd = &req->head.headers[h];
        if (!name_is(hd->name, "accept-encoding"))
            continue;
        /* repeated fields are one comma-separated list */
        const char *s = hd->value.ptr, *end = s + hd->value.len;
        while (s < end) {
            const char *comma = memchr(s, ',', (size_t)(end - s));
            const char *e = comma ? comma : end;
            while (s < e && is_ows(*s))
                s++;
            const char *t = e;
            while (t > s && is_ows(t[-1]))
                t--;
            berth_str c;
            int q = t > s ? parse_element(s, (size_t)(t - s), &c) : -1;
            if (q >= 0 && c.len > 0) {
                if (coding_matches(c, coding))
                    explicit_q = explicit_q < q ? q : explicit_q;
                else if (name_is(c, "*"))
                    star_q = q;
            }
            s = comma ? comma + 1 : end;
        }
    }
    if (explicit_q >= 0)
        return explicit_q;
    if (star_q >= 0)
        return star_q;
    /* identity is acceptable unless refused; without the field no coding
     * is asked for, and berth does not guess (RFC 9110 allows any). */
    if (strcasecmp(coding, "identity") == 0)
        return 1000;
    return 0;
}
