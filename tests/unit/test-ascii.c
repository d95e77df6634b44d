/* core/ascii.c's table against the RFCs' definitions, written out here
 * again (not generated: scripts/ascii-table.py wrote the table), and the
 * hex and case helpers. (That core/ uses no <ctype.h> and no strcasecmp,
 * whose classes and case follow the locale, tests/e2e/test_effects.py
 * checks in the sources.) */
#include <string.h>

#include "../../core/ascii.h"
#include "test.h"

/* RFC 5234 B.1 */
static int alpha(int c) { return (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A); }
static int digit(int c) { return c >= 0x30 && c <= 0x39; }
static int hexdig(int c) { return digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); }
static int vchar(int c) { return c >= 0x21 && c <= 0x7E; }

/* RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
 * "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static int tchar(int c)
{
    static const char extra[] = {'!', '#', '$', '%', '&', '\'', '*', '+',
                                 '-', '.', '^', '_', '`', '|', '~'};
    for (size_t i = 0; i < sizeof extra; i++)
        if (c == extra[i])
            return 1;
    return digit(c) || alpha(c);
}

/* RFC 9110 5.5: field-vchar = VCHAR / obs-text; obs-text = %x80-FF; a
 * field value holds those, SP and HTAB. */
static int field(int c) { return vchar(c) || c >= 0x80 || c == ' ' || c == '\t'; }

/* parse.c: a target is VCHAR but '#', '"', '<', '>'. */
static int target(int c) { return vchar(c) && c != '#' && c != '"' && c != '<' && c != '>'; }

/* RFC 3986 3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims );
 * unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"; sub-delims = "!" /
 * "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="; a
 * pct-encoded's bytes are '%' and HEXDIGs (framing.c takes '%' alone). */
static int reg_name(int c)
{
    static const char extra[] = {'-', '.', '_', '~', '%', '!', '$', '&', '\'',
                                 '(', ')', '*', '+', ',', ';', '='};
    for (size_t i = 0; i < sizeof extra; i++)
        if (c == extra[i])
            return 1;
    return digit(c) || alpha(c);
}

TEST(ascii_table_matches_the_rfcs)
{
    for (int c = 0; c < 256; c++) {
        int want = (tchar(c) ? BERTH_CH_TCHAR : 0) | (field(c) ? BERTH_CH_FIELD : 0) |
                   (target(c) ? BERTH_CH_TARGET : 0) | (digit(c) ? BERTH_CH_DIGIT : 0) |
                   (hexdig(c) ? BERTH_CH_HEXDIG : 0) | (alpha(c) ? BERTH_CH_ALPHA : 0) |
                   (c == ' ' || c == '\t' ? BERTH_CH_OWS : 0) |
                   (reg_name(c) ? BERTH_CH_REGNAME : 0);
        if (berth_ascii[c] != want)
            fprintf(stderr, "  byte 0x%02x: table %#x, RFC %#x\n", c, berth_ascii[c], want);
        CHECK_INT(berth_ascii[c], want);
        CHECK_INT(!!berth_is_tchar((unsigned char)c), tchar(c));
        CHECK_INT(!!berth_is_digit((unsigned char)c), digit(c));
        CHECK_INT(!!berth_is_reg_name((unsigned char)c), reg_name(c));
        CHECK_INT(berth_hex_value((unsigned char)c) >= 0, hexdig(c));
    }
}

TEST(ascii_hex_values_and_case)
{
    CHECK_INT(berth_hex_value('0'), 0);
    CHECK_INT(berth_hex_value('9'), 9);
    CHECK_INT(berth_hex_value('a'), 10);
    CHECK_INT(berth_hex_value('F'), 15);
    CHECK_INT(berth_hex_value('g'), -1);
    CHECK_INT(berth_hex_value(0xC1), -1); /* 0xC1 | 0x20 is 0xE1, not 'a' */
    CHECK(berth_ascii_ieq("Content-LENGTH", "content-length", 14));
    CHECK(!berth_ascii_ieq("close", "clOsf", 5));
    CHECK(!berth_ascii_ieq("\xc0", "\xe0", 1)); /* Latin-1's A-grave: not ASCII */
    CHECK(!berth_ascii_ieq("[", "{", 1));         /* 0x5B | 0x20 is 0x7B */
}

/* berth_ascii_span steps four bytes at a time: the first byte out of the
 * class is found at every offset, for every class, and the span stops at
 * end (never reads past it: the bytes after end are of the class). */
TEST(ascii_span_stops_at_the_first_byte_out_of_the_class)
{
    static const struct { unsigned char cls; char in, out; } k[] = {
        {BERTH_CH_TCHAR, 'a', ':'},    {BERTH_CH_FIELD, ' ', '\r'}, {BERTH_CH_TARGET, '/', ' '},
        {BERTH_CH_REGNAME, '.', ':'}, {BERTH_CH_DIGIT, '7', 'x'},
    };
    char buf[16];
    for (size_t j = 0; j < sizeof k / sizeof k[0]; j++) {
        for (size_t len = 0; len <= 12; len++) {
            memset(buf, k[j].in, sizeof buf);
            CHECK(berth_ascii_span(buf, buf + len, k[j].cls) == buf + len);
            for (size_t at = 0; at < len; at++) {
                memset(buf, k[j].in, sizeof buf);
                buf[at] = k[j].out;
                CHECK(berth_ascii_span(buf, buf + len, k[j].cls) == buf + at);
            }
        }
    }
}
