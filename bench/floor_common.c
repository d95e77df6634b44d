/* The routes, answers and parsing of bench/run.py's floors (see
 * floor_common.h; floor.c's header comment says what a floor does). */
#include "floor_common.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct floor_route {
    char *target;
    size_t target_len;
    int any;        /* target "*" */
    int echo_len;   /* body: the request's Content-Length */
    char *type;
    char *resp;     /* canned response (echo_len: only the head up to Content-Length: ) */
    size_t resp_len;
    size_t date_off;
};

volatile sig_atomic_t floor_stop;

static floor_route *routes;
static size_t nroutes;
static const floor_route *fallback;
static char date[40];
static time_t date_now;
static const char not_found[] = "HTTP/1.1 404 Not Found\r\nServer: floor\r\nContent-Length: 0\r\n"
                                "Connection: keep-alive\r\n\r\n";

void floor_die(const char *what)
{
    perror(what);
    exit(1);
}

void *floor_xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p)
        floor_die("realloc");
    return p;
}

void floor_set_date(void)
{
    time_t now = time(NULL);
    if (now == date_now)
        return;
    date_now = now;
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    for (size_t i = 0; i < nroutes; i++)
        memcpy(routes[i].resp + routes[i].date_off, date, 29);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        floor_die(path);
    size_t cap = 4096, n = 0;
    char *p = floor_xrealloc(NULL, cap);
    for (;;) {
        n += fread(p + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
        p = floor_xrealloc(p, cap);
    }
    if (ferror(f))
        floor_die(path);
    fclose(f);
    *len = n;
    return p;
}

void floor_load_routes(const char *prog, const char *path)
{
    size_t len;
    char *text = read_file(path, &len);
    text = floor_xrealloc(text, len + 1);
    text[len] = '\0';
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *type = strchr(line, '\t');
        char *spec = type ? strchr(type + 1, '\t') : NULL;
        if (!spec) {
            fprintf(stderr, "%s: %s: bad line '%s'\n", prog, path, line);
            exit(1);
        }
        *type++ = '\0';
        *spec++ = '\0';
        routes = floor_xrealloc(routes, (nroutes + 1) * sizeof *routes);
        floor_route *r = &routes[nroutes++];
        memset(r, 0, sizeof *r);
        r->target = strdup(line);
        r->target_len = strlen(line);
        r->any = strcmp(line, "*") == 0;
        r->type = strdup(type);
        r->echo_len = strcmp(spec, "@length") == 0;
        size_t body_len = 0;
        char *body = r->echo_len ? NULL : read_file(spec, &body_len);
        char head[512];
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 200 OK\r\nServer: floor\r\nDate: %29s\r\nContent-Type: %s\r\n"
                         "Connection: keep-alive\r\nContent-Length: ",
                         "", r->type);
        if (n < 0 || (size_t)n >= sizeof head - 32) {
            fprintf(stderr, "%s: content type too long\n", prog);
            exit(1);
        }
        r->date_off = (size_t)(strstr(head, "Date: ") - head) + 6;
        if (!r->echo_len)
            n += snprintf(head + n, sizeof head - (size_t)n, "%zu\r\n\r\n", body_len);
        r->resp = floor_xrealloc(NULL, (size_t)n + body_len);
        memcpy(r->resp, head, (size_t)n);
        if (body)
            memcpy(r->resp + n, body, body_len);
        r->resp_len = (size_t)n + body_len;
        free(body);
    }
    free(text);
    for (size_t i = 0; i < nroutes; i++)
        if (routes[i].any)
            fallback = &routes[i];
    date_now = 0;
    floor_set_date();
}

static void out_append(floor_stream *c, const char *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2;
        c->out = floor_xrealloc(c->out, c->out_cap);
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static void answer(floor_stream *c, const floor_route *r, unsigned long long length)
{
    if (!r) {
        out_append(c, not_found, sizeof not_found - 1);
        return;
    }
    out_append(c, r->resp, r->resp_len);
    if (r->echo_len) {
        char tail[64];
        char num[24];
        int d = snprintf(num, sizeof num, "%llu", length);
        int n = snprintf(tail, sizeof tail, "%d\r\n\r\n%s", d, num);
        out_append(c, tail, (size_t)n);
    }
}

static const floor_route *find_route(const char *head, size_t len)
{
    const char *sp = memchr(head, ' ', len);
    if (!sp)
        return fallback;
    const char *t = sp + 1;
    const char *end = memchr(t, ' ', len - (size_t)(t - head));
    if (!end)
        return fallback;
    size_t tlen = (size_t)(end - t);
    for (size_t i = 0; i < nroutes; i++)
        if (!routes[i].any && routes[i].target_len == tlen && memcmp(routes[i].target, t, tlen) == 0)
            return &routes[i];
    return fallback;
}

static unsigned long long content_length(const char *head, size_t len)
{
    static const char name[] = "\r\ncontent-length:";
    const size_t nl = sizeof name - 1;
    for (const char *p = head; (p = memchr(p, '\r', len - (size_t)(p - head))) != NULL; p++) {
        if ((size_t)(head + len - p) < nl)
            break;
        if (strncasecmp(p, name, nl) == 0) {
            p += nl;
            while (*p == ' ' || *p == '\t')
                p++;
            return strtoull(p, NULL, 10);
        }
    }
    return 0;
}

/* Handles what it can of data; returns the bytes used. */
static size_t consume(floor_stream *c, const char *data, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        if (c->body_left) {
            size_t k = len - pos < c->body_left ? len - pos : (size_t)c->body_left;
            pos += k;
            c->body_left -= k;
            if (c->body_left == 0 && c->owed) {
                answer(c, c->owed, c->owed_len);
                c->owed = NULL;
            }
            continue;
        }
        const char *end = memmem(data + pos, len - pos, "\r\n\r\n", 4);
        if (!end)
            break;
        size_t head_len = (size_t)(end + 4 - (data + pos));
        const floor_route *r = find_route(data + pos, head_len);
        unsigned long long cl = content_length(data + pos, head_len);
        pos += head_len;
        if (cl) {
            c->body_left = cl;
            c->owed = r;
            c->owed_len = cl;
        } else {
            answer(c, r, 0);
        }
    }
    return pos;
}

int floor_feed(floor_stream *c, const char *data, size_t n)
{
    if (c->in_len) {
        if (c->in_len + n > c->in_cap) {
            c->in_cap = c->in_len + n;
            c->in = floor_xrealloc(c->in, c->in_cap);
        }
        memcpy(c->in + c->in_len, data, n);
        c->in_len += n;
        size_t used = consume(c, c->in, c->in_len);
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    } else {
        size_t used = consume(c, data, n);
        if (used < n) {
            if (c->in_cap < n - used) {
                c->in_cap = n - used < 4096 ? 4096 : n - used;
                c->in = floor_xrealloc(c->in, c->in_cap);
            }
            memcpy(c->in, data + used, n - used);
            c->in_len = n - used;
        }
    }
    return c->in_len > FLOOR_MAX_HEAD ? -1 : 0;
}

void floor_stream_free(floor_stream *c)
{
    free(c->in);
    free(c->out);
}

static void on_signal(int sig)
{
    (void)sig;
    floor_stop = 1;
}

void floor_process_setup(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* no SA_RESTART: the wait for events returns EINTR, and the loop ends */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int floor_listen(const char *port, unsigned *bound)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        floor_die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)atoi(port)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(lfd, 4096) != 0)
        floor_die("bind/listen");
    socklen_t slen = sizeof sin;
    getsockname(lfd, (struct sockaddr *)&sin, &slen);
    *bound = ntohs(sin.sin_port);
    return lfd;
}

void floor_say_listening(unsigned port, const char *backend)
{
    printf("listening on http://127.0.0.1:%u backend=%s threads=1\n", port, backend);
    fflush(stdout);
}
