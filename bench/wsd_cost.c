/* What permessage-deflate costs and gains per message (core/ws_deflate.c,
 * docs/API.md "WebSocket compression"): for each message kind, zlib level
 * and window, the bytes on the wire and the CPU time to deflate (as berth
 * sends) and inflate (as berth receives), with context takeover and
 * without; and what a connection holds. One thread, no server:
 *   build/bench/bench-wsd-cost [rounds] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/ws_deflate.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* A chat-like JSON message of about 2 KiB, different each time. */
static size_t json_msg(char *out, size_t cap, unsigned i)
{
    size_t n = (size_t)snprintf(out, cap, "{\"id\":%u,\"user\":\"user%u\",\"type\":\"chat.message\","
                                "\"room\":\"general\",\"ts\":%u,\"items\":[", i, i % 50, 1733390000 + i);
    for (unsigned k = 0; k < 20 && n < cap; k++)
        n += (size_t)snprintf(out + n, cap - n, "%s{\"sku\":\"SKU-%05u\",\"qty\":%u,\"price\":%u.%02u,"
                              "\"note\":\"deliver before noon\"}", k ? "," : "", i * 7 + k, k + 1,
                              9 * (k + 1), (i + k) % 100);
    n += (size_t)snprintf(out + n, cap - n, "]}");
    return n;
}

typedef struct kind {
    const char *name;
    size_t len; /* 0: the 2 KiB JSON */
} kind;

int main(int argc, char **argv)
{
    unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 20000;
    static const kind kinds[] = {{"5 B text", 5},   {"32 B text", 32},  {"64 B text", 64},
                                 {"2 KiB JSON", 0}, {"64 KiB JSON", 65536}};
    static char msg[70000], scratch[80000];
    char *buf = NULL;
    size_t cap = 0;
    printf("%-12s %5s %4s %8s %9s %10s %10s\n", "message", "level", "bits", "takeover",
           "wire/raw", "deflate ns", "inflate ns");
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (int level = 1; level <= 6; level += 5) {
            for (unsigned bits = 12; bits <= 15; bits += 3) {
                for (int takeover = 1; takeover >= 0; takeover--) {
                    berth_wsd_params p = {(uint8_t)bits, (uint8_t)bits, (uint8_t)!takeover,
                                          (uint8_t)!takeover, 0, 0};
                    berth_wsd tx, rx;
                    berth_wsd_init(&tx, &p, level);
                    berth_wsd_init(&rx, &p, level);
                    double t_def = 0, t_inf = 0;
                    size_t raw = 0, wire = 0;
                    for (unsigned i = 0; i < rounds; i++) {
                        char big[2600];
                        size_t n = json_msg(big, sizeof big, i);
                        if (kinds[k].len == 0) {
                            memcpy(msg, big, n);
                        } else {
                            size_t at = 0;
                            while (at < kinds[k].len) {
                                size_t c = kinds[k].len - at < n ? kinds[k].len - at : n;
                                memcpy(msg + at, big + (i + at) % 7, c > n - 7 ? n - 7 : c);
                                at += c > n - 7 ? n - 7 : c;
                            }
                            n = kinds[k].len;
                        }
                        char *out;
                        size_t olen, len = 0;
                        double t0 = now_ns();
                        if (berth_wsd_deflate(&tx, msg, n, scratch, sizeof scratch, &out, &olen))
                            return 1;
                        double t1 = now_ns();
                        if (berth_wsd_inflate(&rx, out, olen, 1, 0, &buf, &len, &cap) || len != n ||
                            memcmp(buf, msg, n) != 0)
                            return 2;
                        double t2 = now_ns();
                        if (out != scratch)
                            free(out);
                        t_def += t1 - t0;
                        t_inf += t2 - t1;
                        raw += n + (n < 126 ? 2 : n < 65536 ? 4 : 10);
                        wire += olen + (olen < 126 ? 2 : olen < 65536 ? 4 : 10);
                    }
                    printf("%-12s %5d %4u %8s %9.3f %10.0f %10.0f\n", kinds[k].name, level, bits,
                           takeover ? "yes" : "no", (double)wire / raw, t_def / rounds,
                           t_inf / rounds);
                    berth_wsd_release(&tx);
                    berth_wsd_release(&rx);
                }
            }
        }
    }
    printf("\nheld by zlib after a 2 KiB message each way (takeover):\n");
    for (unsigned bits = 9; bits <= 15; bits++) {
        berth_wsd_params p = {(uint8_t)bits, (uint8_t)bits, 0, 0, 0, 0};
        berth_wsd d;
        berth_wsd_init(&d, &p, 1);
        size_t n = json_msg(msg, sizeof msg, 1), olen, len = 0;
        char *out;
        berth_wsd_deflate(&d, msg, n, scratch, sizeof scratch, &out, &olen);
        size_t tx = d.held;
        berth_wsd_inflate(&d, out, olen, 1, 0, &buf, &len, &cap);
        printf("  window %2u bits: deflate %6zu B, inflate %6zu B, both %6zu B\n", bits, tx,
               d.held - tx, d.held);
        berth_wsd_release(&d);
    }
    free(buf);
    return 0;
}
