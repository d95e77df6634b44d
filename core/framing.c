/* Message framing from request headers (RFC 9112 6, 9.3; RFC 9110 10.1.1).
 * Ambiguity that could let two parsers disagree on where a request ends is
 * rejected, never guessed at. */
#include <string.h>

#include "ascii.h"
#include "field_list.h"
#include "request.h"

static int name_is(berth_str name, const char *lower, size_t len)
{
    return berth_str_ieq(name, lower, len);
}

/* RFC 3986 reg-name bytes: unreserved, pct-encoded, sub-delims (one
 * lookup in ascii.h's table). */
static int reg_name_byte(unsigned char c) { return berth_is_reg_name(c); }

/* Host = uri-host [ ":" port ] (RFC 9110 7.2); empty is valid. */
static int host_valid(berth_str v)
{
    const char *p = v.ptr, *end = v.ptr + v.len;
    if (p < end && *p == '[') { /* IP-literal */
        for (p++; p < end && *p != ']'; p++)
            if (!reg_name_byte((unsigned char)*p) && *p != ':')
                return 0;
        if (p == end)
            return 0;
        p++;
    } else {
        p = berth_ascii_span(p, end, BERTH_CH_REGNAME); /* ':' is none */
        if (p < end && *p != ':')
            return 0;
    }
    if (p < end && *p++ != ':')
        return 0;
    for (; p < end; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

/* Content-Length: 1*DIGIT, possibly repeated as a list of equal values. */
static int content_length_parse(berth_str v, uint64_t *out, int *seen)
{
    berth_list l = berth_list_of(v.ptr, v.len);
    berth_str item;
    int any = 0;
    while (berth_list_next(&l, &item)) {
        uint64_t n = 0;
        if (item.len == 0 || item.len > 18)
            return 400; /* empty, or beyond what any limit allows */
        for (size_t i = 0; i < item.len; i++) {
            char c = item.ptr[i];
            if (c < '0' || c > '9')
                return 400;
            n = n * 10 + (uint64_t)(c - '0');
        }
        if (*seen && n != *out)
            return 400;
        *out = n;
        *seen = 1;
        any = 1;
    }
    return any ? 0 : 400;
}

int berth_req_framing(struct berth_req *req)
{
    berth_head *h = &req->head;
    int hosts = 0, cl_seen = 0, te_seen = 0, te_chunked_last = 0, te_chunked_count = 0;
    int te_other = 0, conn_close = 0, conn_keep = 0;
    uint64_t cl = 0;

    req->expect_continue = 0;
    for (size_t i = 0; i < h->nheaders; i++) {
        berth_str n = h->headers[i].name, v = h->headers[i].value;
        switch (n.len) {
        case 4:
            if (name_is(n, "host", 4)) {
                if (!host_valid(v))
                    return 400; /* RFC 9112 3.2: an invalid Host is a 400 */
                hosts++;
            }
            break;
        case 6:
            if (name_is(n, "expect", 6)) {
                if (berth_str_ieq(v, "100-continue", 12))
                    req->expect_continue = 1;
                else
                    return 417;
            }
            break;
        case 10:
            if (name_is(n, "connection", 10)) {
                berth_list l = berth_list_of(v.ptr, v.len);
                berth_str item;
                while (berth_list_next(&l, &item)) {
                    if (berth_str_ieq(item, "close", 5))
                        conn_close = 1;
                    else if (berth_str_ieq(item, "keep-alive", 10))
                        conn_keep = 1;
                }
            }
            break;
        case 14:
            if (name_is(n, "content-length", 14)) {
                int rc = content_length_parse(v, &cl, &cl_seen);
                if (rc)
                    return rc;
            }
            break;
        case 17:
            if (name_is(n, "transfer-encoding", 17)) {
                berth_list l = berth_list_of(v.ptr, v.len);
                berth_str item;
                te_seen = 1;
                while (berth_list_next(&l, &item)) {
                    /* the whole element: "chunked;x=1" is another coding */
                    if (berth_str_ieq(item, "chunked", 7)) {
                        te_chunked_count++;
                        te_chunked_last = 1;
                    } else {
                        te_chunked_last = 0;
                        te_other = 1;
                    }
                }
            }
            break;
        }
    }

    if (h->minor >= 1 && hosts != 1)
        return 400; /* RFC 9112 3.2: exactly one Host in HTTP/1.1 */
    if (hosts > 1)
        return 400;
    req->keep_alive = h->minor >= 1 ? !conn_close : (conn_keep && !conn_close);
    req->body_mode = BERTH_BODY_NONE;
    req->content_length = 0;
    if (te_seen) {
        if (cl_seen || h->minor == 0)
            return 400; /* RFC 9112 6.1 and 6.3: faulty framing */
        if (!te_chunked_last || te_chunked_count != 1)
            return 400;
        if (te_other)
            return 501; /* a coding we do not decode, applied before chunked */
        req->body_mode = BERTH_BODY_CHUNKED;
    } else if (cl_seen) {
        req->content_length = cl;
        if (cl > 0)
            req->body_mode = BERTH_BODY_LENGTH;
    }
    /* No body, nothing to continue; and HTTP/1.0 clients get no 1xx
     * (RFC 9110 10.1.1 and 15.2). */
    if (req->body_mode == BERTH_BODY_NONE || h->minor == 0)
        req->expect_continue = 0;
    return 0;
}
