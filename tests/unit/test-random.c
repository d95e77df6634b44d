/* Random and mutated input: the engine must answer with well-formed
 * responses or nothing, never crash (run under ASan/UBSan in CI). */
#include "engine_harness.h"
#include "test.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)rng_state;
}

static const char *const seeds[] = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
    "POST /count HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    "GET /item/7?x=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
};

/* needle in p[0..n), or NULL. Not memmem: under ASan, gcc 12 sees a null
 * haystack on a path that has none (-Wnonnull, an error with werror). */
static const char *find(const char *p, size_t n, const char *needle, size_t k)
{
    for (size_t i = 0; i + k <= n; i++) {
        if (p[i] == needle[0] && memcmp(p + i, needle, k) == 0)
            return p + i;
    }
    return NULL;
}

/* Every response the engine wrote must start with a status line. */
static int output_well_formed(const harness *h)
{
    if (!h->out)
        return 1;
    const char *p = h->out, *end = h->out + h->out_len;
    while (p < end) {
        if (end - p < 12 || memcmp(p, "HTTP/1.1 ", 9) != 0)
            return 0;
        const char *head_end = find(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!head_end)
            return 0;
        const char *cl = find(p, (size_t)(head_end - p), "Content-Length: ", 16);
        size_t body = cl ? strtoul(cl + 16, NULL, 10) : 0;
        p = head_end + 4 + body;
    }
    return p == end;
}

TEST(random_mutations_give_well_formed_output)
{
    char buf[512];
    for (int iter = 0; iter < 20000; iter++) {
        const char *seed = seeds[rnd() % (sizeof seeds / sizeof seeds[0])];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        int muts = 1 + (int)(rnd() % 4);
        for (int m = 0; m < muts; m++) {
            size_t at = rnd() % len;
            switch (rnd() % 4) {
            case 0: buf[at] = (char)rnd(); break;
            case 1: buf[at] = "\r\n :;\t0\x7f"[rnd() % 8]; break;
            case 2: if (len < sizeof buf - 1) { memmove(buf + at + 1, buf + at, len - at); buf[at] = (char)rnd(); len++; } break;
            case 3: if (len > 1) { memmove(buf + at, buf + at + 1, len - at - 1); len--; } break;
            }
        }
        harness h;
        harness_init(&h, NULL);
        harness_feed(&h, buf, len, 1 + rnd() % 64);
        harness_eof(&h);
        /* 100 Continue is an interim response without Content-Length. */
        char *cont;
        while ((cont = memmem(h.out, h.out_len, "HTTP/1.1 100 Continue\r\n\r\n", 25))) {
            memmove(cont, cont + 25, h.out_len - (size_t)(cont - h.out) - 25);
            h.out_len -= 25;
        }
        int ok = output_well_formed(&h);
        if (!ok)
            fprintf(stderr, "  input: %.*s\n  output: %.*s\n", (int)len, buf, (int)h.out_len, h.out);
        harness_free(&h);
        CHECK(ok);
    }
}

TEST(random_bytes_give_well_formed_output)
{
    char buf[300];
    for (int iter = 0; iter < 5000; iter++) {
        size_t len = 1 + rnd() % sizeof buf;
        for (size_t i = 0; i < len; i++)
            buf[i] = (char)rnd();
        harness h;
        harness_init(&h, NULL);
        harness_feed(&h, buf, len, 1 + rnd() % 32);
        int ok = output_well_formed(&h);
        harness_free(&h);
        CHECK(ok);
    }
}
