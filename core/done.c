/* The headers a completion callback (berth_req_on_done, the after hook)
 * may read: an access log in the combined format wants the request's
 * Referer and User-Agent, others a response's Content-Type or a request
 * ID the handler set. */
#include "done.h"

#include <stdlib.h>
#include <string.h>

#include "ascii.h"

berth_req_kept *berth_req_keep(const berth_head *head)
{
    size_t bytes = head->method.len + head->target.len;
    for (size_t i = 0; i < head->nheaders; i++)
        bytes += head->headers[i].name.len + head->headers[i].value.len;
    berth_req_kept *k = malloc(sizeof *k + head->nheaders * sizeof k->headers[0] + bytes);
    if (!k)
        return NULL;
    char *p = (char *)&k->headers[head->nheaders];
#define KEEP(dst, src)                                                                             \
    do {                                                                                           \
        (dst).ptr = p;                                                                             \
        (dst).len = (src).len;                                                                     \
        if ((src).len)                                                                             \
            memcpy(p, (src).ptr, (src).len);                                                       \
        p += (src).len;                                                                            \
    } while (0)
    KEEP(k->method, head->method);
    KEEP(k->target, head->target);
    for (size_t i = 0; i < head->nheaders; i++) {
        KEEP(k->headers[i].name, head->headers[i].name);
        KEEP(k->headers[i].value, head->headers[i].value);
    }
#undef KEEP
    k->nheaders = head->nheaders;
    return k;
}

int berth_done_req_header(const berth_done *done, const char *name, berth_str *value)
{
    const struct berth_done_priv *p = done->priv;
    size_t n = strlen(name);
    for (size_t i = 0; p && i < p->nreq; i++) {
        const berth_header *h = &p->req[i];
        if (berth_str_ieq(h->name, name, n)) {
            *value = h->value;
            return 0;
        }
    }
    return BERTH_ENOENT;
}

int berth_done_res_header(const berth_done *done, const char *name, berth_str *value)
{
    const struct berth_done_priv *p = done->priv;
    size_t n = strlen(name);
    const char *line = p ? p->res : NULL, *end = line ? line + p->res_len : NULL;
    while (line && line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            break;
        /* berth wrote these lines itself: "Name: value\r\n", checked */
        if ((size_t)(eol - line) > n && line[n] == ':' && berth_ascii_ieq(line, name, n)) {
            const char *v = line + n + 1, *ve = eol > v && eol[-1] == '\r' ? eol - 1 : eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            value->ptr = v;
            value->len = (size_t)(ve - v);
            return 0;
        }
        line = eol + 1;
    }
    return BERTH_ENOENT;
}
