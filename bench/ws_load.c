/* bench-ws: a WebSocket echo load generator for bench/ws_echo.py.
 *
 *   bench-ws PORT PATH CONNECTIONS SECONDS [SIZE [BURST]]
 *
 * Opens CONNECTIONS connections to 127.0.0.1:PORT, upgrades each on PATH,
 * then on each keeps BURST masked text messages of SIZE bytes in flight
 * (sends BURST, waits for all BURST echoes, again) for SECONDS. Echoes are
 * checked byte for byte. Prints "messages N errors E seconds S". One
 * thread, epoll; no TLS. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    int fd, upgraded, waiting;
    size_t have;
    unsigned char buf[1 << 16];
} conn;

static size_t size = 5, burst = 1;
static unsigned char *frames, *payload;
static size_t frame_len;
static unsigned long messages, errors;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w, n -= (size_t)w;
    }
    return 0;
}

static void build_frames(void)
{
    payload = malloc(size);
    for (size_t i = 0; i < size; i++)
        payload[i] = (unsigned char)('a' + i % 26);
    unsigned char hdr[14];
    size_t h = 0;
    hdr[h++] = 0x81;
    if (size < 126) {
        hdr[h++] = (unsigned char)(0x80 | size);
    } else {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (unsigned char)(size >> 8), hdr[h++] = (unsigned char)size;
    }
    unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(hdr + h, mask, 4), h += 4;
    frame_len = h + size;
    frames = malloc(frame_len * burst);
    for (size_t b = 0; b < burst; b++) {
        unsigned char *f = frames + b * frame_len;
        memcpy(f, hdr, h);
        for (size_t i = 0; i < size; i++)
            f[h + i] = payload[i] ^ mask[i % 4];
    }
}

static void on_readable(conn *c)
{
    ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
    if (r <= 0) {
        errors++;
        c->fd = -c->fd - 1;
        return;
    }
    c->have += (size_t)r;
    if (!c->upgraded) {
        unsigned char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
        if (!end)
            return;
        if (memcmp(c->buf, "HTTP/1.1 101", 12) != 0) {
            errors++;
            c->fd = -c->fd - 1;
            return;
        }
        size_t used = (size_t)(end + 4 - c->buf);
        memmove(c->buf, c->buf + used, c->have - used);
        c->have -= used;
        c->upgraded = 1;
        c->waiting = 0;
    }
    /* server frames: unmasked, FIN text, our payload */
    size_t pos = 0;
    for (;;) {
        if (c->have - pos < 2)
            break;
        size_t n = c->buf[pos + 1] & 0x7f, off = 2;
        if (n == 126) {
            if (c->have - pos < 4)
                break;
            n = (size_t)c->buf[pos + 2] << 8 | c->buf[pos + 3], off = 4;
        }
        if (c->have - pos < off + n)
            break;
        if (c->buf[pos] != 0x81 || n != size || memcmp(c->buf + pos + off, payload, n) != 0)
            errors++;
        else
            messages++;
        pos += off + n;
        c->waiting--;
    }
    memmove(c->buf, c->buf + pos, c->have - pos);
    c->have -= pos;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench-ws PORT PATH CONNECTIONS SECONDS [SIZE [BURST]]\n");
        return 2;
    }
    int port = atoi(argv[1]), nconn = atoi(argv[3]);
    double seconds = atof(argv[4]);
    if (argc > 5)
        size = (size_t)atol(argv[5]);
    if (argc > 6)
        burst = (size_t)atol(argv[6]);
    if (size == 0 || size > 60000 || burst == 0 || burst * (size + 14) > (1 << 15)) {
        fprintf(stderr, "bench-ws: SIZE 1..60000, BURST * SIZE under 32 KiB\n");
        return 2;
    }
    build_frames();
    int ep = epoll_create1(0);
    conn *cs = calloc((size_t)nconn, sizeof *cs);
    char req[512];
    int rl = snprintf(req, sizeof req,
                      "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n", argv[2]);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(0x7f000001)};
    for (int i = 0; i < nconn; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            perror("bench-ws: connect");
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        cs[i].fd = fd;
        write_all(fd, req, (size_t)rl);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    double start = 0, end = 0;
    int upgraded = 0;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, 1000);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            int was = c->upgraded;
            on_readable(c);
            if (c->fd < 0)
                continue;
            if (!was && c->upgraded && ++upgraded == nconn) {
                start = now(), end = start + seconds;
                messages = 0;
                for (int k = 0; k < nconn; k++)
                    if (cs[k].fd >= 0 && write_all(cs[k].fd, frames, frame_len * burst) == 0)
                        cs[k].waiting = (int)burst;
            } else if (start && c->upgraded && c->waiting == 0 && now() < end) {
                if (write_all(c->fd, frames, frame_len * burst) == 0)
                    c->waiting = (int)burst;
                else
                    errors++;
            }
        }
        if (start && now() >= end)
            break;
        if (!start && n == 0) {
            fprintf(stderr, "bench-ws: only %d of %d connections upgraded\n", upgraded, nconn);
            return 1;
        }
    }
    printf("messages %lu errors %lu seconds %.3f\n", messages, errors, now() - start);
    return 0;
}
