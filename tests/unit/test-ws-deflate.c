/* permessage-deflate (core/ws_deflate_offer.c, core/ws_deflate.c, and
 * RSV1 in core/ws_frame.c): the negotiation table, parameter by
 * parameter; the codec against zlib used directly here as the client
 * (raw deflate, sync flush, the 00 00 ff ff removed), across fragments,
 * with and without context takeover; the bomb bound; the RSV1 rules. */
#include <zlib.h>

#include "berth.h"

#include "../../core/ws_deflate.h"
#include "../../core/ws_frame.h"
#include "test.h"

/* The answer to one field value, or "" when every offer is declined. */
static const char *answer(const char *offers, unsigned max_bits)
{
    static char out[160];
    berth_wsd_params p;
    if (!berth_wsd_offer(offers, strlen(offers), max_bits, &p))
        return "";
    berth_wsd_answer(&p, out, sizeof out);
    return out;
}

#define CHECK_ANSWER(offers, bits, want) CHECK(strcmp(answer(offers, bits), want) == 0)

TEST(wsd_offer_plain)
{
    CHECK_ANSWER("permessage-deflate", 15, "permessage-deflate");
    CHECK_ANSWER("Permessage-Deflate", 15, "permessage-deflate");
    /* The server's window below 15 is told. */
    CHECK_ANSWER("permessage-deflate", 12, "permessage-deflate; server_max_window_bits=12");
    CHECK_ANSWER("x-webkit-deflate-frame", 15, "");
    CHECK_ANSWER("", 15, "");
}

TEST(wsd_offer_each_parameter)
{
    CHECK_ANSWER("permessage-deflate; server_no_context_takeover", 15,
                 "permessage-deflate; server_no_context_takeover");
    CHECK_ANSWER("permessage-deflate; client_no_context_takeover", 15,
                 "permessage-deflate; client_no_context_takeover");
    /* The offer's server window, or berth's when smaller. */
    CHECK_ANSWER("permessage-deflate; server_max_window_bits=10", 15,
                 "permessage-deflate; server_max_window_bits=10");
    CHECK_ANSWER("permessage-deflate; server_max_window_bits=15", 12,
                 "permessage-deflate; server_max_window_bits=12");
    CHECK_ANSWER("permessage-deflate; server_max_window_bits=8", 12,
                 "permessage-deflate; server_max_window_bits=8");
    /* client_max_window_bits without a value: the server chooses. */
    CHECK_ANSWER("permessage-deflate; client_max_window_bits", 15,
                 "permessage-deflate; client_max_window_bits=15");
    CHECK_ANSWER("permessage-deflate; client_max_window_bits", 12,
                 "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12");
    CHECK_ANSWER("permessage-deflate; client_max_window_bits=9", 12,
                 "permessage-deflate; server_max_window_bits=12; client_max_window_bits=9");
    CHECK_ANSWER("permessage-deflate;server_no_context_takeover;client_no_context_takeover;"
                 "server_max_window_bits=9;client_max_window_bits=10", 15,
                 "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                 "server_max_window_bits=9; client_max_window_bits=10");
    /* The longest answer. */
    CHECK_ANSWER("permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                 "client_max_window_bits", 12,
                 "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                 "server_max_window_bits=12; client_max_window_bits=12");
    /* Whitespace around the separators, a quoted value (7.1: a token). */
    CHECK_ANSWER("permessage-deflate ;\tserver_max_window_bits = \"11\" ", 15,
                 "permessage-deflate; server_max_window_bits=11");
}

TEST(wsd_offer_agreed_params)
{
    berth_wsd_params p;
    const char *o = "permessage-deflate; client_max_window_bits=8; server_no_context_takeover";
    CHECK(berth_wsd_offer(o, strlen(o), 15, &p));
    CHECK_INT(p.client_bits, 8);
    CHECK_INT(p.server_bits, 15);
    CHECK_INT(p.server_no_takeover, 1);
    CHECK_INT(p.client_no_takeover, 0);
    /* No client_max_window_bits: the client may use 15, whatever berth's. */
    CHECK(berth_wsd_offer("permessage-deflate", 18, 9, &p));
    CHECK_INT(p.client_bits, 15);
    CHECK_INT(p.server_bits, 9);
}

TEST(wsd_offer_invalid_values_decline)
{
    static const char *const bad[] = {
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; server_max_window_bits=",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=abc",
        "permessage-deflate; server_max_window_bits=\"1 0\"",
        "permessage-deflate; server_max_window_bits=\"10",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=true",
        "permessage-deflate; foo",
        "permessage-deflate; foo=1",
        "permessage-deflate;",
        "permessage-deflate; =1",
        "permessage-deflate x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (strcmp(answer(bad[i], 15), "") != 0) {
            fprintf(stderr, "  accepted: %s\n", bad[i]);
            CHECK(0);
        }
    }
}

TEST(wsd_offer_duplicates_decline)
{
    CHECK_ANSWER("permessage-deflate; server_no_context_takeover; server_no_context_takeover", 15,
                 "");
    CHECK_ANSWER("permessage-deflate; client_no_context_takeover; client_no_context_takeover", 15,
                 "");
    CHECK_ANSWER("permessage-deflate; server_max_window_bits=10; server_max_window_bits=10", 15,
                 "");
    CHECK_ANSWER("permessage-deflate; client_max_window_bits; client_max_window_bits=10", 15, "");
}

TEST(wsd_offer_first_valid_of_several)
{
    /* In the client's order of preference: an invalid one is passed over. */
    CHECK_ANSWER("permessage-deflate; server_max_window_bits=10, permessage-deflate", 15,
                 "permessage-deflate; server_max_window_bits=10");
    CHECK_ANSWER("permessage-deflate; foo, permessage-deflate; server_max_window_bits=11", 15,
                 "permessage-deflate; server_max_window_bits=11");
    CHECK_ANSWER("permessage-deflate; server_max_window_bits=\"x,y\", permessage-deflate; "
                 "client_no_context_takeover", 15, "permessage-deflate; client_no_context_takeover");
    CHECK_ANSWER("x-webkit-deflate-frame; no_context_takeover, , permessage-deflate; "
                 "client_max_window_bits", 15, "permessage-deflate; client_max_window_bits=15");
    CHECK_ANSWER("permessage-deflate; bogus, permessage-deflate; server_max_window_bits=99", 15,
                 "");
}

TEST(wsd_config_defaults)
{
    /* Off by default, level 1, 12 bits (docs/API.md gives the reasons). */
    berth_ws_config cfg;
    memset(&cfg, 0xff, sizeof cfg);
    berth_ws_config_init(&cfg);
    CHECK_INT(cfg.deflate, 0);
    CHECK_INT(cfg.deflate_level, 1);
    CHECK_INT(cfg.deflate_window_bits, 12);
}

/* ---- the codec ---------------------------------------------------------- */

static berth_wsd_params params(unsigned server_bits, unsigned client_bits, int snt, int cnt)
{
    berth_wsd_params p = {(uint8_t)server_bits, (uint8_t)client_bits, (uint8_t)snt,
                          (uint8_t)cnt, 0, 0};
    return p;
}

/* The client's side, zlib straight: a message deflated with a sync
 * flush, its last four bytes (00 00 ff ff) removed. */
typedef struct client {
    z_stream tx, rx;
} client;

static void client_init(client *c, int bits)
{
    memset(c, 0, sizeof *c);
    deflateInit2(&c->tx, 6, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY);
    inflateInit2(&c->rx, -bits);
}

static void client_end(client *c)
{
    deflateEnd(&c->tx);
    inflateEnd(&c->rx);
}

static size_t client_deflate(client *c, const void *in, size_t n, unsigned char *out, size_t cap)
{
    c->tx.next_in = (Bytef *)in;
    c->tx.avail_in = (uInt)n;
    c->tx.next_out = out;
    c->tx.avail_out = (uInt)cap;
    deflate(&c->tx, Z_SYNC_FLUSH);
    size_t len = cap - c->tx.avail_out;
    return len >= 4 ? len - 4 : 0;
}

/* The server's message inflated by the client (with the tail back). */
static size_t client_inflate(client *c, const char *in, size_t n, unsigned char *out, size_t cap)
{
    static const unsigned char tail[4] = {0, 0, 0xff, 0xff};
    c->rx.next_out = out;
    c->rx.avail_out = (uInt)cap;
    c->rx.next_in = (Bytef *)in;
    c->rx.avail_in = (uInt)n;
    if (inflate(&c->rx, Z_SYNC_FLUSH) < 0 && n)
        return (size_t)-1;
    c->rx.next_in = (Bytef *)tail;
    c->rx.avail_in = 4;
    if (inflate(&c->rx, Z_SYNC_FLUSH) < 0)
        return (size_t)-1;
    return cap - c->rx.avail_out;
}

static const char json[] =
    "{\"id\":17,\"user\":\"alice\",\"type\":\"chat.message\",\"room\":\"general\","
    "\"text\":\"hello there, the deploy went out at noon\",\"tags\":[\"a\",\"b\"]}";

/* Inflates msg[0..n) in pieces of step bytes (the frames' payloads). */
static int inflate_steps(berth_wsd *d, const unsigned char *msg, size_t n, size_t step,
                         uint64_t max, char **buf, size_t *len, size_t *cap)
{
    *len = 0;
    size_t off = 0;
    do {
        size_t k = step && n - off > step ? step : n - off;
        int code = berth_wsd_inflate(d, (const char *)msg + off, k, off + k == n, max, buf, len, cap);
        if (code)
            return code;
        off += k;
    } while (off < n);
    return 0;
}

TEST(wsd_inflate_fragments_and_takeover)
{
    client cl;
    client_init(&cl, 15);
    berth_wsd d;
    berth_wsd_params p = params(15, 15, 0, 0);
    berth_wsd_init(&d, &p, 1);
    unsigned char z[1024];
    char *buf = NULL;
    size_t len = 0, cap = 0;
    size_t first = 0;
    for (size_t step = 0; step <= 7; step++) {
        /* The same message again: with the window kept, the client sends
         * a back-reference, which only a kept window can resolve. */
        size_t n = client_deflate(&cl, json, sizeof json - 1, z, sizeof z);
        if (step == 0)
            first = n;
        else
            CHECK(n < first / 2);
        CHECK_INT(inflate_steps(&d, z, n, step, 0, &buf, &len, &cap), 0);
        CHECK(len == sizeof json - 1 && memcmp(buf, json, len) == 0);
    }
    CHECK(d.rx != NULL); /* kept for the next message */
    /* Empty messages: the lone 00, or no bytes at all (zlib's
     * sync flush with no input makes none after a flush, and clients send
     * that), the window kept either way. */
    CHECK_INT(inflate_steps(&d, (const unsigned char *)"", 1, 0, 0, &buf, &len, &cap), 0);
    CHECK_INT(len, 0);
    CHECK_INT(client_deflate(&cl, "", 0, z, sizeof z), 0);
    CHECK_INT(berth_wsd_inflate(&d, "", 0, 0, 0, &buf, &len, &cap), 0);
    CHECK_INT(berth_wsd_inflate(&d, "", 0, 1, 0, &buf, &len, &cap), 0);
    CHECK_INT(len, 0);
    size_t n = client_deflate(&cl, json, sizeof json - 1, z, sizeof z);
    CHECK(n < first / 2);
    CHECK_INT(inflate_steps(&d, z, n, 0, 0, &buf, &len, &cap), 0);
    CHECK(len == sizeof json - 1 && memcmp(buf, json, len) == 0);
    /* The server's empty message: the lone 00. */
    char scratch[8], *out;
    CHECK_INT(berth_wsd_deflate(&d, "", 0, scratch, sizeof scratch, &out, &n), 0);
    CHECK(n == 1 && out[0] == 0);
    berth_wsd_release(&d);
    CHECK_INT(d.held, 0);
    client_end(&cl);
    free(buf);
}

TEST(wsd_inflate_client_no_context_takeover_frees)
{
    berth_wsd d;
    berth_wsd_params p = params(15, 15, 0, 1);
    berth_wsd_init(&d, &p, 1);
    unsigned char z[1024];
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (int i = 0; i < 3; i++) {
        client cl;
        client_init(&cl, 15); /* a fresh window each message */
        size_t n = client_deflate(&cl, json, sizeof json - 1, z, sizeof z);
        client_end(&cl);
        CHECK_INT(inflate_steps(&d, z, n, 5, 0, &buf, &len, &cap), 0);
        CHECK(len == sizeof json - 1 && memcmp(buf, json, len) == 0);
        CHECK(d.rx == NULL && d.held == 0); /* nothing held between messages */
    }
    free(buf);
}

TEST(wsd_deflate_roundtrip_takeover_and_not)
{
    for (int snt = 0; snt <= 1; snt++) {
        for (unsigned bits = 8; bits <= 15; bits++) {
            client cl;
            /* The client inflates with the window agreed: 8 means 8. */
            memset(&cl, 0, sizeof cl);
            CHECK_INT(inflateInit2(&cl.rx, -(int)bits), Z_OK);
            berth_wsd d;
            berth_wsd_params p = params(bits, 15, snt, 0);
            berth_wsd_init(&d, &p, 6);
            char scratch[256];
            size_t sizes[3];
            for (int m = 0; m < 3; m++) {
                char *out;
                size_t n;
                CHECK_INT(berth_wsd_deflate(&d, json, sizeof json - 1, scratch, sizeof scratch,
                                            &out, &n), 0);
                CHECK(out == scratch);
                sizes[m] = n;
                unsigned char back[512];
                CHECK_INT(client_inflate(&cl, out, n, back, sizeof back), sizeof json - 1);
                CHECK(memcmp(back, json, sizeof json - 1) == 0);
                CHECK(snt ? d.tx == NULL : d.tx != NULL);
            }
            /* Context takeover: the repeat is a back-reference (with a
             * window that holds the whole message). */
            if (!snt && bits >= 9)
                CHECK(sizes[1] < sizes[0] / 2);
            if (snt)
                CHECK(sizes[1] == sizes[0] && sizes[2] == sizes[0]);
            berth_wsd_release(&d);
            inflateEnd(&cl.rx);
        }
    }
}

TEST(wsd_deflate_large_and_incompressible)
{
    size_t n = 300000;
    unsigned char *in = malloc(n), *back = malloc(n + 16);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        in[i] = (unsigned char)x;
    }
    client cl;
    client_init(&cl, 15);
    berth_wsd d;
    berth_wsd_params p = params(15, 15, 0, 0);
    berth_wsd_init(&d, &p, 1);
    char scratch[64], *out;
    size_t olen;
    CHECK_INT(berth_wsd_deflate(&d, (const char *)in, n, scratch, sizeof scratch, &out, &olen), 0);
    CHECK(out != scratch);
    CHECK_INT(client_inflate(&cl, out, olen, back, n + 16), n);
    CHECK(memcmp(back, in, n) == 0);
    free(out);
    berth_wsd_release(&d);
    client_end(&cl);
    free(in);
    free(back);
}

TEST(wsd_inflate_bomb_stops_at_max)
{
    size_t n = 8u << 20; /* 8 MiB of zeros: ~8 KiB deflated */
    unsigned char *zeros = calloc(1, n), *z = malloc(64 << 10);
    client cl;
    client_init(&cl, 15);
    size_t zn = client_deflate(&cl, zeros, n, z, 64 << 10);
    CHECK(zn < 16384);
    berth_wsd d;
    berth_wsd_params p = params(15, 15, 0, 0);
    berth_wsd_init(&d, &p, 1);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    uint64_t max = 1u << 20;
    CHECK_INT(inflate_steps(&d, z, zn, 1000, max, &buf, &len, &cap), BERTH_WS_CLOSE_TOO_BIG);
    CHECK(len <= max && cap <= max); /* never more than max buffered */
    berth_wsd_release(&d);
    /* Exactly max: delivered. */
    client_end(&cl);
    client_init(&cl, 15);
    berth_wsd_init(&d, &p, 1);
    zn = client_deflate(&cl, zeros, (size_t)max, z, 64 << 10);
    CHECK_INT(inflate_steps(&d, z, zn, 0, max, &buf, &len, &cap), 0);
    CHECK_INT(len, max);
    berth_wsd_release(&d);
    client_end(&cl);
    free(zeros);
    free(z);
    free(buf);
}

TEST(wsd_inflate_invalid_data_1007)
{
    berth_wsd d;
    berth_wsd_params p = params(15, 15, 0, 0);
    berth_wsd_init(&d, &p, 1);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    /* BTYPE 11 is reserved. */
    CHECK_INT(berth_wsd_inflate(&d, "\xff\xff\xff", 3, 1, 0, &buf, &len, &cap),
              BERTH_WS_CLOSE_BAD_DATA);
    berth_wsd_release(&d);
    /* A back-reference to bytes the server never saw: a client that kept
     * a window the server did not (its first message refers to a
     * dictionary). */
    z_stream s;
    memset(&s, 0, sizeof s);
    deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    deflateSetDictionary(&s, (const Bytef *)json, sizeof json - 1);
    unsigned char z[512];
    s.next_in = (Bytef *)json, s.avail_in = sizeof json - 1;
    s.next_out = z, s.avail_out = sizeof z;
    deflate(&s, Z_SYNC_FLUSH);
    size_t n = sizeof z - s.avail_out - 4;
    deflateEnd(&s);
    berth_wsd_init(&d, &p, 1);
    CHECK_INT(berth_wsd_inflate(&d, (const char *)z, n, 1, 0, &buf, &len, &cap),
              BERTH_WS_CLOSE_BAD_DATA);
    berth_wsd_release(&d);
    free(buf);
}

TEST(wsd_inflate_final_block_keeps_window)
{
    /* A client that ends a message with BFINAL (RFC 7692 7.2.3, a stream of its
     * own), then refers back into it from the next message. */
    z_stream s;
    memset(&s, 0, sizeof s);
    deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    unsigned char z1[512], z2[512];
    s.next_in = (Bytef *)json, s.avail_in = sizeof json - 1;
    s.next_out = z1, s.avail_out = sizeof z1;
    CHECK_INT(deflate(&s, Z_FINISH), Z_STREAM_END);
    size_t n1 = sizeof z1 - s.avail_out;
    deflateEnd(&s);
    memset(&s, 0, sizeof s);
    deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    deflateSetDictionary(&s, (const Bytef *)json, sizeof json - 1);
    s.next_in = (Bytef *)json, s.avail_in = sizeof json - 1;
    s.next_out = z2, s.avail_out = sizeof z2;
    deflate(&s, Z_SYNC_FLUSH);
    size_t n2 = sizeof z2 - s.avail_out - 4;
    deflateEnd(&s);
    CHECK(n2 < n1 / 2);
    berth_wsd d;
    berth_wsd_params p = params(15, 15, 0, 0);
    berth_wsd_init(&d, &p, 1);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    CHECK_INT(inflate_steps(&d, z1, n1, 3, 0, &buf, &len, &cap), 0);
    CHECK(len == sizeof json - 1 && memcmp(buf, json, len) == 0);
    CHECK_INT(inflate_steps(&d, z2, n2, 0, 0, &buf, &len, &cap), 0);
    CHECK(len == sizeof json - 1 && memcmp(buf, json, len) == 0);
    /* A message that stops inside a block: invalid. */
    berth_wsd_release(&d);
    berth_wsd_init(&d, &p, 1);
    CHECK_INT(inflate_steps(&d, z1, n1 - 3, 0, 0, &buf, &len, &cap), BERTH_WS_CLOSE_BAD_DATA);
    /* A block after the final one, in the same message: RFC 7692
     * 7.2.3.4's 0x00 (a stored block's header, which the 00 00 ff ff put
     * back completes) is valid, and the text is whole... */
    unsigned char more[520];
    memcpy(more, z1, n1);
    more[n1] = 0x00;
    berth_wsd_release(&d);
    berth_wsd_init(&d, &p, 1);
    CHECK_INT(inflate_steps(&d, more, n1 + 1, 0, 0, &buf, &len, &cap), 0);
    CHECK(len == sizeof json - 1 && memcmp(buf, json, len) == 0);
    /* ...and a block of the reserved type (BTYPE 11) is not. */
    more[n1] = 0x07;
    berth_wsd_release(&d);
    berth_wsd_init(&d, &p, 1);
    CHECK_INT(inflate_steps(&d, more, n1 + 1, 0, 0, &buf, &len, &cap), BERTH_WS_CLOSE_BAD_DATA);
    berth_wsd_release(&d);
    free(buf);
}

TEST(wsd_memory_bounded_by_window)
{
    /* What zlib holds per connection, both ways, by window (docs/API.md). */
    size_t prev = 0;
    for (unsigned bits = 9; bits <= 15; bits++) {
        berth_wsd d;
        berth_wsd_params p = params(bits, bits, 0, 0);
        berth_wsd_init(&d, &p, 1);
        CHECK_INT(d.held, 0); /* nothing before the first message */
        char scratch[256], *out, *buf = NULL;
        size_t n, len = 0, cap = 0;
        CHECK_INT(berth_wsd_deflate(&d, json, sizeof json - 1, scratch, sizeof scratch, &out, &n), 0);
        CHECK_INT(berth_wsd_inflate(&d, out, n, 1, 0, &buf, &len, &cap), 0);
        CHECK(len == sizeof json - 1);
        size_t bound = ((size_t)1 << (bits + 2)) + ((size_t)1 << (bits - 7 + 9)) + /* deflate */
                       ((size_t)1 << bits) + 16384;                                /* inflate */
        if (getenv("WSD_MEMORY"))
            fprintf(stderr, "  window %u: %zu bytes\n", bits, d.held);
        CHECK(d.held <= bound);
        CHECK(d.held > prev);
        prev = d.held;
        berth_wsd_release(&d);
        CHECK_INT(d.held, 0);
        free(buf);
    }
}

/* ---- RSV1 in the frame parser -------------------------------------------- */

static int parse_one(const unsigned char *frames, size_t n, int rsv1_ok, berth_wsp_event *ev)
{
    static unsigned char copy[256];
    memcpy(copy, frames, n);
    berth_wsp p;
    berth_wsp_init(&p, 1000);
    p.rsv1_ok = rsv1_ok;
    p.accept_unmasked = 1;
    size_t off = 0, used;
    int r;
    do {
        r = berth_wsp_run(&p, (char *)copy + off, n - off, &used, ev);
        off += used;
    } while ((r == BERTH_WSP_DATA && !ev->last) || (r == BERTH_WSP_CONTROL && off < n));
    return r;
}

TEST(wsd_rsv1_rules)
{
    berth_wsp_event ev;
    /* Compressed text: RSV1 on the first frame; not UTF-8 checked here. */
    static const unsigned char text[] = {0xC1, 0x02, 0xff, 0xfe};
    CHECK_INT(parse_one(text, sizeof text, 1, &ev), BERTH_WSP_DATA);
    CHECK(ev.compressed && ev.last && ev.opcode == BERTH_WS_OP_TEXT);
    /* Not agreed: 1002. */
    CHECK_INT(parse_one(text, sizeof text, 0, &ev), BERTH_WSP_ERROR);
    CHECK_INT(ev.code, BERTH_WS_CLOSE_PROTOCOL);
    /* On a continuation: 1002, even with RSV1 on the first frame. */
    static const unsigned char cont[] = {0x41, 0x01, 'a', 0xC0, 0x01, 'b'};
    CHECK_INT(parse_one(cont, sizeof cont, 1, &ev), BERTH_WSP_ERROR);
    CHECK_INT(ev.code, BERTH_WS_CLOSE_PROTOCOL);
    /* A fragmented compressed message: RSV1 first only, all pieces say so. */
    static const unsigned char frag[] = {0x42, 0x01, 'a', 0x80, 0x01, 'b'};
    CHECK_INT(parse_one(frag, sizeof frag, 1, &ev), BERTH_WSP_DATA);
    CHECK(ev.compressed && ev.last);
    /* On control frames: 1002. */
    static const unsigned char ping[] = {0xC9, 0x00};
    CHECK_INT(parse_one(ping, sizeof ping, 1, &ev), BERTH_WSP_ERROR);
    CHECK_INT(ev.code, BERTH_WS_CLOSE_PROTOCOL);
    static const unsigned char close_[] = {0xC8, 0x02, 0x03, 0xe8};
    CHECK_INT(parse_one(close_, sizeof close_, 1, &ev), BERTH_WSP_ERROR);
    /* RSV2, RSV3: never. */
    static const unsigned char rsv2[] = {0xA1, 0x01, 'a'}, rsv3[] = {0x91, 0x01, 'a'};
    CHECK_INT(parse_one(rsv2, sizeof rsv2, 1, &ev), BERTH_WSP_ERROR);
    CHECK_INT(parse_one(rsv3, sizeof rsv3, 1, &ev), BERTH_WSP_ERROR);
    /* Uncompressed messages still are UTF-8 checked with deflate agreed. */
    static const unsigned char plain[] = {0x81, 0x02, 0xff, 0xfe};
    CHECK_INT(parse_one(plain, sizeof plain, 1, &ev), BERTH_WSP_ERROR);
    CHECK_INT(ev.code, BERTH_WS_CLOSE_BAD_DATA);
}

TEST(wsd_wire_bound_of_compressed_messages)
{
    /* A compressed frame may exceed max_message (deflate can grow), up to
     * berth_wsp_wire_max; past it, 1009 before its bytes come. */
    CHECK(berth_wsp_wire_max(1000) > 1000);
    CHECK_INT(berth_wsp_wire_max(0), 0);
    unsigned char h[4] = {0xC2, 126, 0, 0};
    berth_wsp_event ev;
    uint64_t ok = 1200, over = berth_wsp_wire_max(1000) + 1;
    berth_wsp p;
    size_t used;
    berth_wsp_init(&p, 1000);
    p.rsv1_ok = p.accept_unmasked = 1;
    h[2] = (unsigned char)(ok >> 8), h[3] = (unsigned char)ok;
    CHECK_INT(berth_wsp_run(&p, (char *)h, 4, &used, &ev), BERTH_WSP_MORE);
    berth_wsp_init(&p, 1000);
    p.rsv1_ok = p.accept_unmasked = 1;
    h[2] = (unsigned char)(over >> 8), h[3] = (unsigned char)over;
    CHECK_INT(berth_wsp_run(&p, (char *)h, 4, &used, &ev), BERTH_WSP_ERROR);
    CHECK_INT(ev.code, BERTH_WS_CLOSE_TOO_BIG);
    /* Uncompressed: max_message itself. */
    berth_wsp_init(&p, 1000);
    p.rsv1_ok = p.accept_unmasked = 1;
    h[0] = 0x82, h[2] = (unsigned char)(ok >> 8), h[3] = (unsigned char)ok;
    CHECK_INT(berth_wsp_run(&p, (char *)h, 4, &used, &ev), BERTH_WSP_ERROR);
    CHECK_INT(ev.code, BERTH_WS_CLOSE_TOO_BIG);
}
