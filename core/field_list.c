/* Comma-separated field lists (field_list.h). */
#include "field_list.h"

#include <string.h>

#include "ascii.h"

/* The end of a quoted-string whose opening '"' is at p: after its closing
 * quote, or NULL when it has none before end. */
static const char *quoted_end(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            if (++p == end)
                break;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

/* The first of stop (',' or ';') at or after p outside a quoted-string, or
 * end (an unterminated quoted-string runs to the end). memchr rather than
 * a loop over bytes: lists are walked on every request (Connection, the
 * media types of a compressible response), and quotes are rare. */
static const char *find_outside_quotes(const char *p, const char *end, char stop)
{
    while (p < end) {
        const char *s = memchr(p, stop, (size_t)(end - p));
        const char *e = s ? s : end;
        const char *q = memchr(p, '"', (size_t)(e - p));
        if (!q)
            return e;
        if (!(p = quoted_end(q, end)))
            return end;
    }
    return end;
}

static berth_str trimmed(const char *s, const char *e)
{
    while (s < e && berth_is_ows((unsigned char)*s))
        s++;
    while (e > s && berth_is_ows((unsigned char)e[-1]))
        e--;
    berth_str r = {s, (size_t)(e - s)};
    return r;
}

int berth_list_next(berth_list *l, berth_str *item)
{
    const char *p = l->p, *end = l->end;
    while (p < end && (*p == ',' || berth_is_ows((unsigned char)*p)))
        p++; /* OWS and empty elements */
    if (p == end) {
        l->p = p;
        return 0;
    }
    const char *e = find_outside_quotes(p, end, ',');
    l->p = e < end ? e + 1 : e;
    *item = trimmed(p, e);
    return 1;
}

berth_str berth_list_value(berth_str item, berth_str *params)
{
    const char *end = item.ptr + item.len;
    const char *semi = find_outside_quotes(item.ptr, end, ';');
    params->ptr = semi < end ? semi + 1 : end;
    params->len = (size_t)(end - params->ptr);
    return trimmed(item.ptr, semi);
}

static const char *token_end(const char *p, const char *end)
{
    while (p < end && berth_is_tchar((unsigned char)*p))
        p++;
    return p;
}

int berth_param_next(berth_str *params, berth_str *name, berth_str *value)
{
    const char *p = params->ptr, *end = params->ptr + params->len;
    while (p < end && (*p == ';' || berth_is_ows((unsigned char)*p)))
        p++; /* OWS and empty parameters */
    if (p == end) {
        params->ptr = end;
        params->len = 0;
        return 0;
    }
    const char *n = p;
    p = token_end(p, end);
    if (p == n)
        return -1;
    name->ptr = n;
    name->len = (size_t)(p - n);
    value->ptr = p;
    value->len = 0;
    if (p < end && *p == '=') {
        const char *v = ++p;
        p = p < end && *p == '"' ? quoted_end(p, end) : token_end(p, end);
        if (!p || p == v)
            return -1; /* an unterminated quoted-string, or "a=" */
        value->ptr = v;
        value->len = (size_t)(p - v);
    }
    while (p < end && berth_is_ows((unsigned char)*p))
        p++;
    if (p < end && *p != ';')
        return -1;
    params->ptr = p;
    params->len = (size_t)(end - p);
    return 1;
}

int berth_list_has(berth_str list, const char *token, size_t token_len)
{
    berth_list l = berth_list_of(list.ptr, list.len);
    berth_str item;
    while (berth_list_next(&l, &item))
        if (berth_str_ieq(item, token, token_len))
            return 1;
    return 0;
}
