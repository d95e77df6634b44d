/* The HTTP/1.1 request head parser (RFC 9112 sections 2-5).
 *
 * Two steps, so that a head arriving one byte per read costs linear work:
 * berth_head_scan_run finds the end of the head, resuming where it stopped,
 * and checks the size limits as bytes arrive; berth_head_parse then parses
 * and validates the complete head once. Neither allocates.
 *
 * Every line of the head ends in CRLF, and so do the empty lines skipped
 * before a request line (conn.c). RFC 9112 2.2 lets a server take a bare
 * LF as a line end too; berth does not, by choice: a front end that splits
 * the lines otherwise would see other fields (request smuggling). A bare
 * LF is a 400 as soon as the scan sees it; a bare CR is one too (in a
 * head not complete yet: the scan's; in a complete head: the parser's). */
#ifndef BERTH_PARSE_H
#define BERTH_PARSE_H

#include <stddef.h>

#include "ascii.h"
#include "berth.h"

typedef struct berth_header {
    berth_str name;
    berth_str value;
} berth_header;

typedef struct berth_head_scan {
    size_t pos;        /* where the search for the next line's LF resumes */
    size_t line_start; /* start of the line being scanned */
    size_t line1_len;  /* request line length incl. LF; 0 until seen */
    size_t method_pos; /* method bytes checked so far (past its SP once done) */
    size_t cr_pos;     /* where the search for a bare CR resumes */
} berth_head_scan;

typedef struct berth_head {
    berth_str method;
    berth_str target;
    int minor;              /* HTTP/1.minor */
    int major;              /* 2: an HTTP/2 stream's (h2_stream.c); 0: HTTP/1 */
    size_t nheaders;
    size_t max_headers;     /* capacity of headers[] */
    berth_header *headers;
} berth_head;

/* 10, 11 or 20: berth_req_http_version. */
static inline int berth_head_version(const berth_head *h)
{
    return h->major == 2 ? 20 : 10 + h->minor;
}

void berth_head_scan_reset(berth_head_scan *s);
/* Returns the length of the complete head (through its empty line), 0 if
 * more bytes are needed, -400 as soon as the method is not a token, an
 * LF comes without its CR or, in a head not complete yet, a CR without its
 * LF (so garbage is answered at once, not after a timeout), or -414 / -431
 * when the request line or the header section outgrows max_line /
 * max_fields_bytes (-400 instead if a bare CR came before). A complete
 * head may hold a bare CR: berth_head_parse answers it 400. */
long berth_head_scan_run(berth_head_scan *s, const char *buf, size_t len,
                         size_t max_line, size_t max_fields_bytes);

/* Parses a complete head of len bytes. Returns 0, or the HTTP status to
 * answer with: 400 (malformed; always for a bare CR), 431 (too many
 * fields), 505 (version). */
int berth_head_parse(const char *buf, size_t len, berth_head *head);

#endif
