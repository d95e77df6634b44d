#include "chunked.h"

#include "ascii.h"

enum {
    S_SIZE,       /* hex digits */
    S_EXT_END,    /* after the size or a value: CR, ";" or BWS */
    S_EXT_BWS,    /* BWS that must lead to ";" */
    S_EXT,        /* after ";": BWS, then a name */
    S_EXT_NAME,
    S_EXT_NAME_BWS, /* BWS after a name: "=" or ";" follows */
    S_EXT_VAL,    /* after "=": BWS, then a token or a quoted string */
    S_EXT_TOKEN,
    S_EXT_QUOTED,
    S_EXT_QPAIR,  /* the byte after a backslash in a quoted string */
    S_SIZE_LF,    /* LF after a size line's CR */
    S_DATA,
    S_DATA_CR,
    S_DATA_LF,
    S_TRAILER,    /* start of a trailer line (or the final empty line) */
    S_TRAILER_NAME, /* field name, up to its colon */
    S_TRAILER_IN, /* field value */
    S_TRAILER_LF,
    S_END_LF,     /* LF of the final empty line */
};

#define MAX_SIZE_LINE 4096 /* bytes of extensions a chunk line may carry */

void berth_chunked_init(berth_chunked *d)
{
    d->state = S_SIZE;
    d->remaining = 0;
    d->total = 0;
    d->line_bytes = 0;
    d->trailer_bytes = 0;
    d->digits = 0;
}

/* HTAB, SP, VCHAR, obs-text: a field value's bytes, and those of qdtext
 * (but for '"' and '\\') and quoted-pair (RFC 9110 5.5, 5.6.4). */
static int text_byte(unsigned char c) { return berth_is_field(c); }

/* One byte of a chunk line after its size, by the chunk-ext grammar (RFC
 * 9112 7.1.1): *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ).
 * Returns the next state (S_SIZE_LF at the CR), or -1 off the grammar: a
 * front end that reads such a line differently could smuggle a request. */
static int ext_next(int state, unsigned char c)
{
    int ws = c == ' ' || c == '\t';
    switch (state) {
    case S_EXT_BWS:
        if (ws)
            return state;
        return c == ';' ? S_EXT : -1;
    case S_EXT:
        if (ws)
            return state;
        return berth_is_tchar(c) ? S_EXT_NAME : -1;
    case S_EXT_NAME:
        if (berth_is_tchar(c))
            return state;
        if (c == '=')
            return S_EXT_VAL;
        if (ws)
            return S_EXT_NAME_BWS;
        break;
    case S_EXT_NAME_BWS:
        if (ws)
            return state;
        if (c == '=')
            return S_EXT_VAL;
        return c == ';' ? S_EXT : -1;
    case S_EXT_VAL:
        if (ws)
            return state;
        if (c == '"')
            return S_EXT_QUOTED;
        return berth_is_tchar(c) ? S_EXT_TOKEN : -1;
    case S_EXT_TOKEN:
        if (berth_is_tchar(c))
            return state;
        break;
    case S_EXT_QUOTED:
        if (c == '"')
            return S_EXT_END;
        if (c == '\\')
            return S_EXT_QPAIR;
        return text_byte(c) ? state : -1;
    case S_EXT_QPAIR:
        return text_byte(c) ? S_EXT_QUOTED : -1;
    }
    /* After the size, a name or a value: the line ends, or an extension follows. */
    if (c == '\r')
        return S_SIZE_LF;
    if (c == ';')
        return S_EXT;
    return ws ? S_EXT_BWS : -1;
}

int berth_chunked_next(berth_chunked *d, const char *buf, size_t len, size_t *consumed,
                       const char **data, size_t *data_len, uint64_t max_body,
                       size_t max_trailer)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)buf[i];
        switch (d->state) {
        case S_SIZE: {
            int v = berth_hex_value(c);
            if (v >= 0) {
                if (d->digits >= 16 || (d->remaining >> 60) != 0)
                    return 400; /* overflow */
                d->remaining = (d->remaining << 4) | (uint64_t)v;
                d->digits++;
                i++;
                break;
            }
            if (d->digits == 0)
                return 400;
            if (d->remaining > max_body || d->total + d->remaining > max_body)
                return 413;
            d->state = S_EXT_END; /* c is read there */
            d->line_bytes = 0;
            break;
        }
        case S_EXT_END:
        case S_EXT_BWS:
        case S_EXT:
        case S_EXT_NAME:
        case S_EXT_NAME_BWS:
        case S_EXT_VAL:
        case S_EXT_TOKEN:
        case S_EXT_QUOTED:
        case S_EXT_QPAIR: {
            int next = ext_next(d->state, c);
            if (next < 0 || (next != S_SIZE_LF && ++d->line_bytes > MAX_SIZE_LINE))
                return 400;
            d->state = next;
            i++;
            break;
        }
        case S_SIZE_LF:
            if (c != '\n')
                return 400;
            i++;
            d->digits = 0;
            d->state = d->remaining ? S_DATA : S_TRAILER;
            break;
        case S_DATA: {
            size_t n = len - i;
            if (n > d->remaining)
                n = (size_t)d->remaining;
            *data = buf + i;
            *data_len = n;
            d->remaining -= n;
            d->total += n;
            if (d->remaining == 0)
                d->state = S_DATA_CR;
            *consumed = i + n;
            return BERTH_CHUNKED_DATA;
        }
        case S_DATA_CR:
            if (c != '\r')
                return 400;
            d->state = S_DATA_LF;
            i++;
            break;
        case S_DATA_LF:
            if (c != '\n')
                return 400;
            d->state = S_SIZE;
            i++;
            break;
        case S_TRAILER:
            if (c == '\r') {
                d->state = S_END_LF;
                i++;
                break;
            }
            if (!berth_is_tchar(c))
                return 400; /* obs-fold or junk */
            d->state = S_TRAILER_NAME;
            break;
        case S_TRAILER_NAME:
            /* A field line as in the head (RFC 9112 5): token ":" value;
             * no whitespace before the colon. */
            if (c == ':')
                d->state = S_TRAILER_IN;
            else if (!berth_is_tchar(c))
                return 400;
            if (++d->trailer_bytes > max_trailer)
                return 431;
            i++;
            break;
        case S_TRAILER_IN:
            if (c == '\r') {
                d->state = S_TRAILER_LF;
            } else if (!text_byte(c)) {
                return 400;
            }
            if (++d->trailer_bytes > max_trailer)
                return 431;
            i++;
            break;
        case S_TRAILER_LF:
            if (c != '\n')
                return 400;
            d->state = S_TRAILER;
            i++;
            break;
        case S_END_LF:
            if (c != '\n')
                return 400;
            *consumed = i + 1;
            return BERTH_CHUNKED_DONE;
        }
    }
    *consumed = i;
    return BERTH_CHUNKED_MORE;
}
