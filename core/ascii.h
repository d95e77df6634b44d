/* The character classes of HTTP, and ASCII case, for bytes: one static
 * const table (ascii.c), the same whatever the process's locale. core/
 * does not use <ctype.h>: its classes and its case follow LC_CTYPE (an
 * application's setlocale would change which bytes are letters, and
 * strcasecmp's "I" is not "i" in a Turkish locale), and a protocol's
 * grammar does not. */
#ifndef BERTH_ASCII_H
#define BERTH_ASCII_H

#include <stddef.h>

#include "berth.h"

enum {
    BERTH_CH_TCHAR = 1,   /* token (RFC 9110 5.6.2) */
    BERTH_CH_FIELD = 2,   /* a field value's byte: HTAB, SP, VCHAR, obs-text (5.5) */
    BERTH_CH_TARGET = 4,  /* a request-target's byte, as berth takes it (parse.c) */
    BERTH_CH_DIGIT = 8,   /* DIGIT (RFC 5234 B.1) */
    BERTH_CH_HEXDIG = 16, /* HEXDIG, either case */
    BERTH_CH_ALPHA = 32,  /* ALPHA */
    BERTH_CH_OWS = 64,    /* SP, HTAB: what OWS is made of (RFC 9110 5.6.3) */
    BERTH_CH_REGNAME = 128, /* a reg-name's byte: unreserved, '%', sub-delims (RFC 3986 3.2.2) */
};

/* Each byte's classes; scripts/ascii-table.py wrote it, tests/unit/test-ascii.c
 * checks it against the RFCs' definitions. */
extern const unsigned char berth_ascii[256] __attribute__((visibility("hidden")));

static inline int berth_is_tchar(unsigned char c) { return berth_ascii[c] & BERTH_CH_TCHAR; }
static inline int berth_is_field(unsigned char c) { return berth_ascii[c] & BERTH_CH_FIELD; }
static inline int berth_is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int berth_is_alpha(unsigned char c) { return berth_ascii[c] & BERTH_CH_ALPHA; }
static inline int berth_is_hexdig(unsigned char c) { return berth_ascii[c] & BERTH_CH_HEXDIG; }
static inline int berth_is_ows(unsigned char c) { return c == ' ' || c == '\t'; }
static inline int berth_is_reg_name(unsigned char c) { return berth_ascii[c] & BERTH_CH_REGNAME; }

/* The first byte at or after p (before end) not of class cls (one bit of
 * the enum above), or end:
 * four bytes a step while they all are (the common case: a whole name or
 * value), then one by one. */
static inline const char *berth_ascii_span(const char *p, const char *end, unsigned char cls)
{
    const unsigned char *u = (const unsigned char *)p, *e = (const unsigned char *)end;
    while (e - u >= 4 && (berth_ascii[u[0]] & berth_ascii[u[1]] & berth_ascii[u[2]] &
                          berth_ascii[u[3]] & cls))
        u += 4;
    while (u < e && (berth_ascii[*u] & cls))
        u++;
    return (const char *)u;
}

/* A hex digit's value (either case), or -1: the one hex parser (chunk
 * sizes, percent-decoding). */
static inline int berth_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static inline unsigned char berth_ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* 1 if n bytes of a and b are equal but for ASCII case. Equal bytes, the
 * common case, cost one comparison. */
static inline int berth_ascii_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x != y && ((x | 0x20) != (y | 0x20) || (unsigned char)((x | 0x20) - 'a') > 'z' - 'a'))
            return 0;
    }
    return 1;
}

/* 1 if s is lit (of lit_len bytes) but for ASCII case. */
static inline int berth_str_ieq(berth_str s, const char *lit, size_t lit_len)
{
    return s.len == lit_len && berth_ascii_ieq(s.ptr, lit, lit_len);
}

#endif
