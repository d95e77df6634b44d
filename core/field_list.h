/* Comma-separated lists in field values (RFC 9110 5.6.1), the one walker
 * of them: Connection, Transfer-Encoding, Content-Length, Accept-Encoding,
 * Vary, Upgrade, Sec-WebSocket-Protocol, and the configured list of
 * compressible media types. Its elements' parameters (5.6.6) too.
 *
 *   berth_list l = berth_list_of(v.ptr, v.len);
 *   berth_str item;
 *   while (berth_list_next(&l, &item)) ...
 *
 * Elements are returned without the OWS around them; empty ones ("a, ,b",
 * a leading or trailing comma) are skipped, as 5.6.1 asks of a recipient;
 * a comma inside a quoted-string (5.6.4, quoted-pairs included) does not
 * end an element. No byte is refused here: what an element must be (a
 * token, digits) is its reader's to check. */
#ifndef BERTH_FIELD_LIST_H
#define BERTH_FIELD_LIST_H

#include <stddef.h>

#include "berth.h"

typedef struct berth_list {
    const char *p, *end;
} berth_list;

static inline berth_list berth_list_of(const char *p, size_t len)
{
    berth_list l = {p, p + len};
    return l;
}

/* The next element (parameters included): 1 and *item, or 0 at the end. */
int berth_list_next(berth_list *l, berth_str *item);

/* An element's value: up to its first ';' outside a quoted-string, OWS
 * trimmed ("text/html" of "text/html ; charset=utf-8"). *params is what
 * follows that ';' (empty without one), for berth_param_next. */
berth_str berth_list_value(berth_str item, berth_str *params);

/* The next parameter of *params, which it advances: 1 with *name and
 * *value (a token, or a quoted-string with its quotes; empty for a
 * parameter without "="), 0 when none is left, -1 when the rest is not
 * parameters ("a b", "a=", "a=b c", an unterminated quote). Empty
 * parameters (";;") are skipped (5.6.6: [ parameter ]). */
int berth_param_next(berth_str *params, berth_str *name, berth_str *value);

/* 1 if an element of list is token (of token_len bytes), ignoring ASCII
 * case; whole elements: "close" is in "keep-alive, Close", not in
 * "closed" nor in "close;x". */
int berth_list_has(berth_str list, const char *token, size_t token_len);

#endif
