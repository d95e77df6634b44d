/* permessage-deflate's negotiation (RFC 7692 section 7.1): the client's
 * offers read in its order of preference, the first valid one taken, and
 * the answer that bounds what the server holds. The grammar is RFC 6455
 * section 9.1's: extension *( ";" param [ "=" (token / quoted-string) ] ),
 * offers separated by commas, whitespace around the separators. */
#include "ws_deflate.h"

#include <stdio.h>
#include <string.h>

#include "ascii.h"

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_ows(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

static size_t token(cursor *c, const char **start)
{
    *start = c->p;
    while (c->p < c->end && berth_is_tchar((unsigned char)*c->p))
        c->p++;
    return (size_t)(c->p - *start);
}

/* A quoted-string's content, unescaped, into val (up to cap bytes, one
 * more marks it too long). -1 if it does not end. */
static int quoted(cursor *c, char *val, size_t cap, size_t *len)
{
    *len = 0;
    c->p++; /* the opening quote */
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\' && ++c->p == c->end)
            return -1;
        if (*len <= cap)
            val[(*len)++] = *c->p;
        c->p++;
    }
    if (c->p == c->end)
        return -1;
    c->p++;
    return 0;
}

/* Past the rest of a malformed offer: its next comma outside quotes. */
static void skip_offer(cursor *c)
{
    int q = 0;
    for (; c->p < c->end; c->p++) {
        if (q && *c->p == '\\' && c->p + 1 < c->end)
            c->p++;
        else if (*c->p == '"')
            q = !q;
        else if (!q && *c->p == ',')
            return;
    }
}

/* A window size: 8-15 in decimal without leading zeros (7.1.2). */
static int window_bits(const char *v, size_t n)
{
    if (n == 1 && (v[0] == '8' || v[0] == '9'))
        return v[0] - '0';
    if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
        return 10 + v[1] - '0';
    return -1;
}

enum { P_SNCT = 1, P_CNCT = 2, P_SMWB = 4, P_CMWB = 8 };

typedef struct offer {
    unsigned seen;     /* the P_ bits of the parameters met */
    int server_bits;   /* server_max_window_bits, or 15 */
    int client_bits;   /* client_max_window_bits's value, or 15 when it had none */
} offer;

/* One parameter of a permessage-deflate offer: 0, or -1 if it makes the
 * offer invalid (unknown, repeated, a value where none belongs or an
 * invalid one). has: whether it had a value. */
static int param(offer *o, berth_str name, int has, const char *v, size_t vn)
{
    static const char *const names[] = {"server_no_context_takeover",
                                        "client_no_context_takeover", "server_max_window_bits",
                                        "client_max_window_bits"};
    unsigned bit = 0;
    for (unsigned i = 0; i < 4; i++)
        if (berth_str_ieq(name, names[i], strlen(names[i])))
            bit = 1u << i;
    if (!bit || (o->seen & bit))
        return -1;
    o->seen |= bit;
    if (bit == P_SNCT || bit == P_CNCT)
        return has ? -1 : 0;
    if (bit == P_CMWB && !has)
        return 0; /* the client accepts a limit of the server's choice */
    if (!has)
        return -1;
    int bits = window_bits(v, vn);
    if (bits < 0)
        return -1;
    if (bit == P_SMWB)
        o->server_bits = bits;
    else
        o->client_bits = bits;
    return 0;
}

/* Reads one offer's parameters (the cursor past its name): 0 at its end
 * (a comma or the end of the value), valid; -1 invalid, the cursor past
 * it. */
static int read_params(cursor *c, offer *o)
{
    int bad = 0;
    for (;;) {
        skip_ows(c);
        if (c->p == c->end || *c->p == ',')
            return bad ? -1 : 0;
        if (*c->p != ';')
            break;
        c->p++;
        skip_ows(c);
        const char *ns;
        size_t nl = token(c, &ns);
        if (!nl)
            break;
        skip_ows(c);
        char val[16];
        size_t vl = 0;
        const char *v = val;
        int has = 0;
        if (c->p < c->end && *c->p == '=') {
            c->p++;
            skip_ows(c);
            has = 1;
            if (c->p < c->end && *c->p == '"') {
                if (quoted(c, val, sizeof val - 1, &vl) != 0)
                    break;
                for (size_t i = 0; i < vl; i++)
                    if (!berth_is_tchar((unsigned char)val[i]))
                        bad = 1; /* 7.1: a quoted value must be a token too */
            } else if (!(vl = token(c, &v))) {
                break;
            }
        }
        berth_str name = {ns, nl};
        if (!bad && param(o, name, has, v, vl) != 0)
            bad = 1;
    }
    skip_offer(c);
    return -1;
}

/* The agreement for a valid offer: the server's window as small as the
 * offer and max_bits allow, the client's bounded where the client let the
 * server choose. */
static void agree(const offer *o, unsigned max_bits, berth_wsd_params *out)
{
    memset(out, 0, sizeof *out);
    int sb = o->server_bits < (int)max_bits ? o->server_bits : (int)max_bits;
    out->server_bits = (uint8_t)sb;
    out->say_server_bits = (o->seen & P_SMWB) || sb < 15;
    out->client_bits = 15;
    if (o->seen & P_CMWB) {
        int cb = o->client_bits < (int)max_bits ? o->client_bits : (int)max_bits;
        out->client_bits = (uint8_t)cb;
        out->say_client_bits = 1;
    }
    out->server_no_takeover = (o->seen & P_SNCT) != 0;
    out->client_no_takeover = (o->seen & P_CNCT) != 0;
}

int berth_wsd_offer(const char *v, size_t n, unsigned max_bits, berth_wsd_params *out)
{
    static const char pmd[] = "permessage-deflate";
    if (max_bits < 8)
        max_bits = 8;
    if (max_bits > 15)
        max_bits = 15;
    cursor c = {v, v + n};
    while (c.p < c.end) {
        skip_ows(&c);
        if (c.p < c.end && *c.p == ',') {
            c.p++; /* an empty element of the list (RFC 7230 7) */
            continue;
        }
        if (c.p == c.end)
            break;
        const char *ns;
        size_t nl = token(&c, &ns);
        offer o = {0, 15, 15};
        if (!nl) {
            skip_offer(&c);
            continue;
        }
        int ours = berth_str_ieq((berth_str){ns, nl}, pmd, sizeof pmd - 1);
        if (read_params(&c, &o) == 0 && ours) {
            agree(&o, max_bits, out);
            return 1;
        }
    }
    return 0;
}

size_t berth_wsd_answer(const berth_wsd_params *p, char *out, size_t cap)
{
    int n = snprintf(out, cap, "permessage-deflate%s%s", p->server_no_takeover ?
                     "; server_no_context_takeover" : "", p->client_no_takeover ?
                     "; client_no_context_takeover" : "");
    if (n > 0 && (size_t)n < cap && p->say_server_bits)
        n += snprintf(out + n, cap - (size_t)n, "; server_max_window_bits=%u", p->server_bits);
    if (n > 0 && (size_t)n < cap && p->say_client_bits)
        n += snprintf(out + n, cap - (size_t)n, "; client_max_window_bits=%u", p->client_bits);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
