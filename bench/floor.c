/* bench-floor: the floor of bench/run.py -- the least an HTTP/1.1 server on
 * this kernel can do per request, to tell whether berth is near the cost of
 * the TCP path itself or only near nginx.
 *
 *     bench-floor PORT ROUTES
 *
 * One thread, level-triggered epoll, non-blocking sockets with TCP_NODELAY
 * (as berth and nginx). It parses nothing beyond finding where requests end:
 * the end of the head ("\r\n\r\n"), the request target (to pick a canned
 * answer), and a Content-Length header (its body is skipped, so uploads and
 * POSTs keep the connection in sync). It understands neither chunked bodies
 * nor "Connection: close"; clients that close are simply closed.
 *
 * ROUTES has one route a line, fields separated by tabs:
 *     TARGET  CONTENT-TYPE  BODY-FILE
 *     TARGET  CONTENT-TYPE  @length
 * TARGET is the exact request target ("/json/1?m=3") or "*" for any other.
 * "@length" answers the request's Content-Length as decimal text, once the
 * whole body has been read (what berth-serve's /upload counts). Each answer
 * is canned: status line, Server, Date (rewritten once a second),
 * Content-Type, Content-Length and Connection: keep-alive -- the header set
 * berth sends. Unknown targets get 404.
 *
 * Pipelined requests found in one read are answered with one write; while
 * answers wait for the socket to drain, nothing more is read. Prints
 * "listening on http://127.0.0.1:PORT backend=floor threads=1" once it
 * accepts connections (PORT 0: any free port); exits 0 on SIGTERM/SIGINT.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { READ_BUF = 256 * 1024, MAX_HEAD = 64 * 1024, MAX_EVENTS = 256 };

typedef struct route {
    char *target;
    size_t target_len;
    int any;        /* target "*" */
    int echo_len;   /* body: the request's Content-Length */
    char *type;
    char *resp;     /* canned response (echo_len: only the head up to Content-Length: ) */
    size_t resp_len;
    size_t date_off;
} route;

typedef struct conn {
    int fd;
    char *in;                /* bytes of an incomplete request head */
    size_t in_len, in_cap;
    char *out;               /* answers not yet written */
    size_t out_len, out_off, out_cap;
    unsigned long long body_left;
    const route *owed;       /* answered once body_left reaches 0 */
    unsigned long long owed_len;
    int writing;             /* waiting for EPOLLOUT */
} conn;

static route *routes;
static size_t nroutes;
static const route *fallback;
static char date[40];
static time_t date_now;
static volatile sig_atomic_t stop;
static char rbuf[READ_BUF];
static const char not_found[] = "HTTP/1.1 404 Not Found\r\nServer: floor\r\nContent-Length: 0\r\n"
                                "Connection: keep-alive\r\n\r\n";

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p)
        die("realloc");
    return p;
}

static void set_date(void)
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
        die(path);
    size_t cap = 4096, n = 0;
    char *p = xrealloc(NULL, cap);
    for (;;) {
        n += fread(p + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
        p = xrealloc(p, cap);
    }
    if (ferror(f))
        die(path);
    fclose(f);
    *len = n;
    return p;
}

static void load_routes(const char *path)
{
    size_t len;
    char *text = read_file(path, &len);
    text = xrealloc(text, len + 1);
    text[len] = '\0';
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *type = strchr(line, '\t');
        char *spec = type ? strchr(type + 1, '\t') : NULL;
        if (!spec) {
            fprintf(stderr, "bench-floor: %s: bad line '%s'\n", path, line);
            exit(1);
        }
        *type++ = '\0';
        *spec++ = '\0';
        routes = xrealloc(routes, (nroutes + 1) * sizeof *routes);
        route *r = &routes[nroutes++];
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
            fprintf(stderr, "bench-floor: content type too long\n");
            exit(1);
        }
        r->date_off = (size_t)(strstr(head, "Date: ") - head) + 6;
        if (!r->echo_len)
            n += snprintf(head + n, sizeof head - (size_t)n, "%zu\r\n\r\n", body_len);
        r->resp = xrealloc(NULL, (size_t)n + body_len);
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
}

static void out_append(conn *c, const char *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2;
        c->out = xrealloc(c->out, c->out_cap);
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static void answer(conn *c, const route *r, unsigned long long length)
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

static const route *find_route(const char *head, size_t len)
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
static size_t consume(conn *c, const char *data, size_t len)
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
        const route *r = find_route(data + pos, head_len);
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

static void close_conn(conn *c)
{
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Writes what it can; returns -1 on error. */
static int flush(int ep, conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (!c->writing) {
                struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                c->writing = 1;
            }
            return 0;
        }
        return -1;
    }
    c->out_off = c->out_len = 0;
    if (c->writing) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->writing = 0;
    }
    return 0;
}

/* Reads until the socket is drained or answers wait; returns -1 to close. */
static int on_readable(int ep, conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
        if (n == 0)
            return -1;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            return -1;
        }
        if (c->in_len) {
            if (c->in_len + (size_t)n > c->in_cap) {
                c->in_cap = c->in_len + (size_t)n;
                c->in = xrealloc(c->in, c->in_cap);
            }
            memcpy(c->in + c->in_len, rbuf, (size_t)n);
            c->in_len += (size_t)n;
            size_t used = consume(c, c->in, c->in_len);
            memmove(c->in, c->in + used, c->in_len - used);
            c->in_len -= used;
        } else {
            size_t used = consume(c, rbuf, (size_t)n);
            if (used < (size_t)n) {
                if (c->in_cap < (size_t)n - used) {
                    c->in_cap = (size_t)n - used < 4096 ? 4096 : (size_t)n - used;
                    c->in = xrealloc(c->in, c->in_cap);
                }
                memcpy(c->in, rbuf + used, (size_t)n - used);
                c->in_len = (size_t)n - used;
            }
        }
        if (c->in_len > MAX_HEAD)
            return -1;
        if ((size_t)n < sizeof rbuf)
            break; /* most likely drained; level-triggered epoll tells otherwise */
    }
    if (c->out_len && flush(ep, c) < 0)
        return -1;
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench-floor PORT ROUTES\n");
        return 2;
    }
    load_routes(argv[2]);
    date_now = 0;
    set_date();

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)atoi(argv[1])),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(lfd, 4096) != 0)
        die("bind/listen");
    socklen_t slen = sizeof sin;
    getsockname(lfd, (struct sockaddr *)&sin, &slen);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    printf("listening on http://127.0.0.1:%u backend=floor threads=1\n", ntohs(sin.sin_port));
    fflush(stdout);

    struct epoll_event evs[MAX_EVENTS];
    while (!stop) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, 1000);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        set_date();
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c = calloc(1, sizeof *c);
                    if (!c)
                        die("calloc");
                    c->fd = fd;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
                        close_conn(c);
                }
                continue;
            }
            int rc;
            if (c->writing)
                rc = (evs[i].events & (EPOLLERR | EPOLLHUP)) ? -1 : flush(ep, c);
            else
                rc = on_readable(ep, c);
            if (rc < 0)
                close_conn(c);
        }
    }
    return 0;
}
