/* Content negotiation on Accept-Encoding (RFC 9110 12.5.3): how much the
 * client wants a content coding, for the static handler's precompressed
 * files and for compressing responses on the fly. */
#include <string.h>

#include "ascii.h"
#include "field_list.h"
#include "request.h"

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

/* One list element "coding *( OWS ";" OWS param )": its coding name (a
 * token) and its weight (1000 without "q="), or -1 if the element is
 * malformed. */
static int parse_element(berth_str item, berth_str *coding)
{
    berth_str params, name, value;
    *coding = berth_list_value(item, &params);
    if (coding->len == 0)
        return -1;
    for (size_t i = 0; i < coding->len; i++)
        if (!berth_is_tchar((unsigned char)coding->ptr[i]))
            return -1;
    int q = 1000, rc;
    while ((rc = berth_param_next(&params, &name, &value)) > 0) {
        if (berth_str_ieq(name, "q", 1) && (q = parse_qvalue(value.ptr, value.len)) < 0)
            return -1;
    }
    return rc < 0 ? -1 : q;
}

static int name_is(berth_str s, const char *name) { return berth_str_ieq(s, name, strlen(name)); }

/* "x-gzip" is gzip (RFC 9110 8.4.1.3). */
static int coding_matches(berth_str c, const char *coding)
{
    if (name_is(c, coding))
        return 1;
    berth_str asked = {coding, strlen(coding)};
    return berth_str_ieq(asked, "gzip", 4) && name_is(c, "x-gzip");
}

int berth_req_accept_encoding(const berth_req *req, const char *coding)
{
    int explicit_q = -1, star_q = -1;
    for (size_t h = 0; h < req->head.nheaders; h++) {
        const berth_header *hd = &req->head.headers[h];
        if (!name_is(hd->name, "accept-encoding"))
            continue;
        /* repeated fields are one comma-separated list */
        berth_list l = berth_list_of(hd->value.ptr, hd->value.len);
        berth_str item, c;
        while (berth_list_next(&l, &item)) {
            int q = parse_element(item, &c);
            if (q < 0)
                continue;
            if (coding_matches(c, coding))
                explicit_q = explicit_q < q ? q : explicit_q;
            else if (name_is(c, "*"))
                star_q = q;
        }
    }
    if (explicit_q >= 0)
        return explicit_q;
    if (star_q >= 0)
        return star_q;
    /* identity is acceptable unless refused; without the field no coding
     * is asked for, and berth does not guess (RFC 9110 allows any). */
    if (name_is((berth_str){coding, strlen(coding)}, "identity"))
        return 1000;
    return 0;
}
