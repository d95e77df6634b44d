/* Incremental decoder of the chunked transfer coding (RFC 9112 7.1).
 * Strict where leniency enables request smuggling: chunk and trailer
 * lines end in CRLF, sizes are hex without sign or whitespace and may not
 * overflow, data is followed by CRLF. A chunk line is exactly
 *   chunk-size *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ) CRLF
 * with BWS = *( SP / HTAB ), token and quoted-string as in RFC 9110 5.6.2
 * and 5.6.4 (qdtext and quoted-pair: HTAB, SP, VCHAR, obs-text; no CR, LF
 * or other control byte); anything else, such as "2 x", "2;", "a " or an
 * unterminated quoted string, is 400. Extensions are bounded (4096 bytes
 * a line) and dropped unread. Trailers must be field lines (name: value),
 * count against the header limit, and are dropped. */
#ifndef BERTH_CHUNKED_H
#define BERTH_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

typedef struct berth_chunked {
    int state;
    uint64_t remaining;  /* data bytes left in the current chunk */
    uint64_t total;      /* data bytes decoded so far */
    size_t line_bytes;   /* bytes of the current size or trailer line */
    size_t trailer_bytes;
    int digits;
} berth_chunked;

enum {
    BERTH_CHUNKED_MORE = 0, /* all input consumed, need more */
    BERTH_CHUNKED_DATA = 1, /* *data, *data_len hold decoded bytes */
    BERTH_CHUNKED_DONE = 2, /* message body complete */
};

void berth_chunked_init(berth_chunked *d);
/* Consumes input from buf[0, len) and reports *consumed. Returns one of the
 * values above, or an HTTP status: 400 malformed, 413 body over max_body,
 * 431 trailers over max_trailer. */
int berth_chunked_next(berth_chunked *d, const char *buf, size_t len, size_t *consumed,
                       const char **data, size_t *data_len, uint64_t max_body,
                       size_t max_trailer);

#endif
