/* bench-load: the load generator of bench/run.py for the profiles wrk fits
 * badly (limited-conn, upload, and the TLS handshake profiles: wrk and
 * h2load resume the session of a connection's previous TLS connection).
 *
 *     bench-load -p PORT -c CONNECTIONS -d SECONDS [-k N] [-t TIMEOUT] [-s|-r] [-l]
 *                REQUEST-FILE...
 *
 * One thread, epoll, CONNECTIONS connections to 127.0.0.1:PORT, one request
 * in flight per connection. Each REQUEST-FILE holds one raw request (head and
 * body, sent as is); connection i starts at file i mod n and then takes the
 * files in turn. -k N: the client closes the connection after N responses
 * and opens a new one (limited-conn). A response with "Connection: close"
 * also makes it reconnect.
 *
 * Why not wrk: wrk sends the next request only when the write of the current
 * one has ended *and* a response arrived after it started; a server that
 * answers an upload before reading all of it (nginx, when it discards a body)
 * leaves wrk's connection idle forever. Here a request is complete when both
 * its response has arrived and its last byte was written; the latency is
 * measured from its first byte written to that moment (connect time is not
 * included, as in wrk). And wrk cannot close a connection itself.
 *
 * At the end prints one line, the same as bench/report.lua for wrk:
 *   BENCH_JSON {"requests":..,"duration_us":..,"bytes":..,"connects":..,
 *   "errors":{"connect":..,"read":..,"write":..,"status":..,"timeout":..},
 *   "latency_us":{"p50":..,"p90":..,"p99":..,"p999":..,"max":..,"mean":..}}
 * errors.status counts responses outside 200-299. A read error is a reset,
 * an unparsable response, or the server closing while a request is in
 * flight; a timeout is a request without progress for TIMEOUT seconds (5),
 * after which the connection is replaced.
 *
 * TLS (built in when meson finds OpenSSL's libssl; -V says whether): -s
 * speaks TLS 1.2/1.3 on every connection (OpenSSL's default client
 * ciphers and key shares, ALPN http/1.1, SNI localhost, no certificate
 * check), a full handshake on each new connection; -r resumes instead:
 * each connection slot keeps the last resumable session (TLS 1.3 ticket or
 * TLS 1.2 ticket/ID) it was given and offers it on its next connection.
 * -l counts a connection's first request from connect(), so that its
 * latency includes the TCP and TLS handshakes (with -k 1: the time of a
 * whole connection). The line then has
 *   "tls":{"handshakes":..,"resumed":..,"version":..,"cipher":..,"alpn":..,"mixed":..}
 * handshakes completed and how many of them resumed a session (OpenSSL's
 * SSL_session_reused, i.e. what the server accepted), the version, cipher
 * and ALPN protocol of the first one, and how many differed from it;
 * errors.handshake counts failed handshakes.
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

#ifdef BENCH_LOAD_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

enum { READ_BUF = 256 * 1024, HEAD_MAX = 16 * 1024, MAX_EVENTS = 512 };

typedef struct request {
    char *data;
    size_t len;
} request;

typedef struct lconn {
    int fd;
    int connecting;
    int handshaking;         /* TCP connected, TLS handshake under way */
    uint64_t t_connect;      /* connect() of this connection */
#ifdef BENCH_LOAD_TLS
    SSL *ssl;
    SSL_SESSION *sess;       /* -r: offered on the next connection */
#endif
    size_t next;             /* next request file */
    const request *req;      /* in flight, NULL if none */
    size_t woff;             /* bytes of req written */
    int want_out;            /* EPOLLOUT registered */
    int responded;           /* the final response of req has arrived */
    int resp_close;          /* it said Connection: close */
    uint64_t t_start, t_progress;
    unsigned served;         /* responses on this connection */
    /* response parser */
    char head[HEAD_MAX];
    size_t head_len;
    unsigned long long body_left;
    int in_body;
    int status;
} lconn;

static struct {
    unsigned long long requests, bytes, connects;
    unsigned long long e_connect, e_read, e_write, e_status, e_timeout, e_handshake;
    unsigned long long handshakes, resumed, mixed;
    char version[32], cipher[64], alpn[32];
} st;

static request *reqs;
static size_t nreqs;
static struct sockaddr_in addr;
static int ep;
static unsigned close_every;
static uint64_t timeout_us = 5000000;
static uint32_t *lat;
static size_t nlat, lat_cap;
static long double lat_sum;
static int measuring = 1;
static char rbuf[READ_BUF];
static int use_tls, resume, lat_from_connect;
#ifdef BENCH_LOAD_TLS
static SSL_CTX *ssl_ctx;
#endif

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void record(uint64_t us)
{
    if (nlat == lat_cap) {
        lat_cap = lat_cap ? lat_cap * 2 : 1 << 16;
        lat = realloc(lat, lat_cap * sizeof *lat);
        if (!lat)
            die("realloc");
    }
    lat[nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    lat_sum += us;
}

static void set_events(lconn *c, int out)
{
    if (out == c->want_out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

static void open_conn(lconn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->connecting = 1;
    c->handshaking = 0;
    c->req = NULL;
    c->served = 0;
    c->head_len = 0;
    c->in_body = 0;
    c->t_progress = c->t_connect = now_us();
    st.connects++;
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0 && errno != EINPROGRESS) {
        /* reported when epoll says the socket is writable */
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        die("epoll_ctl");
    c->want_out = 1;
}

static void close_conn(lconn *c, int clean)
{
#ifdef BENCH_LOAD_TLS
    if (c->ssl) {
        if (resume) {
            SSL_SESSION *s = SSL_get1_session(c->ssl);
            if (s && SSL_SESSION_is_resumable(s)) {
                if (c->sess)
                    SSL_SESSION_free(c->sess);
                c->sess = s;
            } else if (s) {
                SSL_SESSION_free(s);
            }
        }
        /* close_notify when the client is the one closing; after the
         * server's Connection: close it has sent its own and gone, and the
         * connection is only marked as shut down: OpenSSL's SSL_free
         * marks the session of a connection not shut down unresumable */
        if (clean && !c->resp_close)
            SSL_shutdown(c->ssl);
        else if (clean)
            SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(c->ssl);
        c->ssl = NULL;
        ERR_clear_error();
    }
#else
    (void)clean;
#endif
    close(c->fd);
}

static void reopen_as(lconn *c, int clean)
{
    close_conn(c, clean);
    open_conn(c);
}

static void reopen(lconn *c) { reopen_as(c, 0); }

static int write_some(lconn *c)
{
    while (c->woff < c->req->len) {
#ifdef BENCH_LOAD_TLS
        if (c->ssl) {
            int k = c->req->len - c->woff > INT32_MAX ? INT32_MAX : (int)(c->req->len - c->woff);
            int r = SSL_write(c->ssl, c->req->data + c->woff, k);
            if (r > 0) {
                c->woff += (size_t)r;
                c->t_progress = now_us();
                continue;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE) {
                set_events(c, 1);
                return 0;
            }
            if (e == SSL_ERROR_WANT_READ)
                return 0; /* retried after the next read */
            return -1;
        }
#endif
        ssize_t n = send(c->fd, c->req->data + c->woff, c->req->len - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (size_t)n;
            c->t_progress = now_us();
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            set_events(c, 1);
            return 0;
        }
        return -1;
    }
    set_events(c, 0);
    return 0;
}

static int start_request(lconn *c)
{
    c->req = &reqs[c->next++ % nreqs];
    c->woff = 0;
    c->responded = 0;
    c->resp_close = 0;
    c->t_progress = now_us();
    c->t_start = lat_from_connect && c->served == 0 ? c->t_connect : c->t_progress;
    return write_some(c);
}

/* The request in flight is complete (written and answered): next one. */
static int finish_request(lconn *c)
{
    if (measuring) {
        st.requests++;
        record(now_us() - c->t_start);
    }
    c->req = NULL;
    c->served++;
    if (c->resp_close || (close_every && c->served >= close_every)) {
        reopen_as(c, 1);
        return 0;
    }
    return start_request(c);
}

static int parse_head(lconn *c)
{
    c->head[c->head_len] = '\0';
    if (strncmp(c->head, "HTTP/1.", 7) != 0 || c->head_len < 12)
        return -1;
    c->status = atoi(c->head + 9);
    c->body_left = 0;
    for (char *p = strstr(c->head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
        char *line = p + 2;
        if (strncasecmp(line, "content-length:", 15) == 0)
            c->body_left = strtoull(line + 15, NULL, 10);
        else if (strncasecmp(line, "transfer-encoding:", 18) == 0)
            return -1; /* not needed by any profile */
        else if (strncasecmp(line, "connection:", 11) == 0) {
            char *v = line + 11;
            while (*v == ' ')
                v++;
            if (strncasecmp(v, "close", 5) == 0)
                c->resp_close = 1;
        }
    }
    return 0;
}

/* Response bytes arrived; returns -1 on a protocol error. */
static int feed(lconn *c, const char *p, size_t n)
{
    while (n) {
        if (!c->req)
            return -1; /* nothing asked */
        if (c->in_body) {
            size_t k = n < c->body_left ? n : (size_t)c->body_left;
            c->body_left -= k;
            p += k;
            n -= k;
        } else {
            size_t old = c->head_len;
            size_t k = n < HEAD_MAX - 1 - old ? n : HEAD_MAX - 1 - old;
            memcpy(c->head + old, p, k);
            c->head_len += k;
            c->head[c->head_len] = '\0';
            char *end = strstr(c->head + (old > 3 ? old - 3 : 0), "\r\n\r\n");
            if (!end) {
                if (c->head_len >= HEAD_MAX - 1)
                    return -1;
                return 0;
            }
            size_t head_bytes = (size_t)(end + 4 - c->head);
            size_t used = head_bytes - old;
            c->head_len = head_bytes;
            if (parse_head(c) < 0)
                return -1;
            c->head_len = 0;
            p += used;
            n -= used;
            c->in_body = 1;
        }
        if (c->in_body && c->body_left == 0) {
            c->in_body = 0;
            if (c->status >= 100 && c->status < 200)
                continue; /* interim response */
            if (measuring && (c->status < 200 || c->status > 299))
                st.e_status++;
            c->responded = 1;
            if (c->woff == c->req->len) {
                if (finish_request(c) < 0)
                    return -2;
                if (c->connecting)
                    return n ? -1 : 0; /* reopened: nothing may follow */
            } else if (n) {
                return -1; /* a second response to one request */
            }
        }
    }
    return 0;
}

#ifdef BENCH_LOAD_TLS
static void copy_name(char *dst, size_t size, const char *src, size_t len)
{
    if (len >= size)
        len = size - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Drives the handshake: 1 done, 0 waiting, -1 failed. */
static int handshake(lconn *c)
{
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) {
            set_events(c, 0);
            return 0;
        }
        if (e == SSL_ERROR_WANT_WRITE) {
            set_events(c, 1);
            return 0;
        }
        return -1;
    }
    c->handshaking = 0;
    c->t_progress = now_us();
    if (measuring) {
        const unsigned char *alpn = NULL;
        unsigned alen = 0;
        SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
        char version[sizeof st.version], cipher[sizeof st.cipher], proto[sizeof st.alpn];
        const char *v = SSL_get_version(c->ssl), *ci = SSL_get_cipher_name(c->ssl);
        copy_name(version, sizeof version, v, strlen(v));
        copy_name(cipher, sizeof cipher, ci ? ci : "?", strlen(ci ? ci : "?"));
        copy_name(proto, sizeof proto, alen ? (const char *)alpn : "-", alen ? alen : 1);
        if (!st.handshakes) {
            memcpy(st.version, version, sizeof version);
            memcpy(st.cipher, cipher, sizeof cipher);
            memcpy(st.alpn, proto, sizeof proto);
        } else if (strcmp(version, st.version) || strcmp(cipher, st.cipher) ||
                   strcmp(proto, st.alpn)) {
            st.mixed++;
        }
        st.handshakes++;
        if (SSL_session_reused(c->ssl))
            st.resumed++;
    }
    return 1;
}

static int start_tls(lconn *c)
{
    c->ssl = SSL_new(ssl_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
        return -1;
    SSL_set_connect_state(c->ssl);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    if (resume && c->sess)
        SSL_set_session(c->ssl, c->sess);
    c->handshaking = 1;
    return handshake(c);
}
#endif

static void on_event(lconn *c, uint32_t events)
{
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err || (events & (EPOLLERR | EPOLLHUP))) {
            if (measuring)
                st.e_connect++;
            reopen(c);
            return;
        }
        if (!(events & EPOLLOUT))
            return;
        c->connecting = 0;
#ifdef BENCH_LOAD_TLS
        if (use_tls) {
            int rc = start_tls(c);
            if (rc < 0)
                goto handshake_error;
            if (rc == 0)
                return;
        }
#endif
        if (start_request(c) < 0)
            goto write_error;
        return;
    }
#ifdef BENCH_LOAD_TLS
    if (c->handshaking) {
        int rc = handshake(c);
        if (rc < 0)
            goto handshake_error;
        if (rc > 0 && start_request(c) < 0)
            goto write_error;
        return;
    }
#endif
    if (events & EPOLLIN) {
#ifdef BENCH_LOAD_TLS
        while (c->ssl) {
            int n = SSL_read(c->ssl, rbuf, sizeof rbuf);
            if (n > 0) {
                st.bytes += (unsigned long long)n;
                c->t_progress = now_us();
                int rc = feed(c, rbuf, (size_t)n);
                if (rc == -2)
                    goto write_error;
                if (rc < 0)
                    goto read_error;
                if (c->connecting)
                    return; /* reopened */
                continue;
            }
            int e = SSL_get_error(c->ssl, n);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                break;
            goto read_error; /* close_notify, EOF or reset */
        }
        if (c->ssl && c->req && c->woff < c->req->len) {
            /* a write that waited for a read (SSL_ERROR_WANT_READ) */
            if (write_some(c) < 0)
                goto write_error;
            if (c->woff == c->req->len && c->responded && finish_request(c) < 0)
                goto write_error;
            return;
        }
#endif
        for (; !use_tls;) {
            ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
            if (n > 0) {
                st.bytes += (unsigned long long)n;
                c->t_progress = now_us();
                int rc = feed(c, rbuf, (size_t)n);
                if (rc == -2)
                    goto write_error;
                if (rc < 0)
                    goto read_error;
                if (c->connecting)
                    return; /* reopened */
                if ((size_t)n < sizeof rbuf)
                    break;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                break;
            goto read_error; /* EOF or reset */
        }
    } else if (events & (EPOLLERR | EPOLLHUP)) {
        goto read_error;
    }
    if ((events & EPOLLOUT) && c->req && c->woff < c->req->len) {
        if (write_some(c) < 0)
            goto write_error;
        if (c->woff == c->req->len && c->responded && finish_request(c) < 0)
            goto write_error;
    }
    return;
read_error:
    if (measuring)
        st.e_read++;
    reopen(c);
    return;
write_error:
    if (measuring)
        st.e_write++;
    reopen(c);
#ifdef BENCH_LOAD_TLS
    return;
handshake_error:
    if (measuring)
        st.e_handshake++;
    reopen(c);
#endif
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p)
{
    if (!nlat)
        return 0;
    size_t i = (size_t)(p / 100.0 * (double)nlat);
    if (i >= nlat)
        i = nlat - 1;
    return lat[i];
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path);
    if (fseek(f, 0, SEEK_END) != 0)
        die(path);
    long n = ftell(f);
    rewind(f);
    char *p = malloc(n > 0 ? (size_t)n : 1);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n)
        die(path);
    fclose(f);
    *len = (size_t)n;
    return p;
}

int main(int argc, char **argv)
{
    int port = 0, nconns = 64, opt;
    double seconds = 5;
    while ((opt = getopt(argc, argv, "p:c:d:k:t:srlV")) != -1) {
        switch (opt) {
        case 's': use_tls = 1; break;
        case 'r': use_tls = resume = 1; break;
        case 'l': lat_from_connect = 1; break;
        case 'V':
#ifdef BENCH_LOAD_TLS
            printf("bench-load tls=yes (%s)\n", OpenSSL_version(OPENSSL_VERSION));
#else
            printf("bench-load tls=no (built without OpenSSL's libssl)\n");
#endif
            return 0;
        case 'p': port = atoi(optarg); break;
        case 'c': nconns = atoi(optarg); break;
        case 'd': seconds = atof(optarg); break;
        case 'k': close_every = (unsigned)atoi(optarg); break;
        case 't': timeout_us = (uint64_t)(atof(optarg) * 1e6); break;
        default: goto usage;
        }
    }
    if (port <= 0 || nconns <= 0 || seconds <= 0 || optind >= argc)
        goto usage;
#ifdef BENCH_LOAD_TLS
    if (use_tls) {
        ssl_ctx = SSL_CTX_new(TLS_client_method());
        static const unsigned char alpn[] = "\x08http/1.1";
        if (!ssl_ctx || SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION) != 1 ||
            SSL_CTX_set_alpn_protos(ssl_ctx, alpn, sizeof alpn - 1) != 0) {
            fprintf(stderr, "bench-load: cannot make the TLS context\n");
            return 1;
        }
        SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_mode(ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
#else
    if (use_tls) {
        fprintf(stderr, "bench-load: built without OpenSSL's libssl: no -s/-r (meson finds "
                        "it with libssl-dev installed)\n");
        return 2;
    }
#endif
    nreqs = (size_t)(argc - optind);
    reqs = calloc(nreqs, sizeof *reqs);
    for (size_t i = 0; i < nreqs; i++)
        reqs[i].data = read_file(argv[optind + (int)i], &reqs[i].len);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");

    lconn *conns = calloc((size_t)nconns, sizeof *conns);
    if (!conns)
        die("calloc");
    uint64_t t0 = now_us(), end = t0 + (uint64_t)(seconds * 1e6), last_check = t0;
    for (int i = 0; i < nconns; i++) {
        conns[i].next = (size_t)i % nreqs;
        open_conn(&conns[i]);
    }
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        uint64_t now = now_us();
        if (now >= end)
            break;
        int wait_ms = (int)((end - now) / 1000) + 1;
        int n = epoll_wait(ep, evs, MAX_EVENTS, wait_ms < 100 ? wait_ms : 100);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++)
            on_event(evs[i].data.ptr, evs[i].events);
        now = now_us();
        if (now - last_check >= 100000) {
            last_check = now;
            for (int i = 0; i < nconns; i++) {
                lconn *c = &conns[i];
                if (now - c->t_progress > timeout_us) {
                    if (c->connecting)
                        st.e_connect++;
                    else if (c->handshaking)
                        st.e_handshake++;
                    else
                        st.e_timeout++;
                    reopen(c);
                }
            }
        }
    }
    uint64_t elapsed = now_us() - t0;
    measuring = 0;
    if (nlat) /* lat is NULL before the first response */
        qsort(lat, nlat, sizeof *lat, cmp_u32);
    printf("BENCH_JSON {\"requests\":%llu,\"duration_us\":%llu,\"bytes\":%llu,\"connects\":%llu,"
           "\"errors\":{\"connect\":%llu,\"read\":%llu,\"write\":%llu,\"status\":%llu,"
           "\"timeout\":%llu,\"handshake\":%llu},"
           "\"latency_us\":{\"p50\":%.0f,\"p90\":%.0f,\"p99\":%.0f,\"p999\":%.0f,\"max\":%.0f,"
           "\"mean\":%.1f}",
           st.requests, (unsigned long long)elapsed, st.bytes, st.connects, st.e_connect,
           st.e_read, st.e_write, st.e_status, st.e_timeout, st.e_handshake, pct(50), pct(90),
           pct(99), pct(99.9), nlat ? (double)lat[nlat - 1] : 0.0,
           nlat ? (double)(lat_sum / nlat) : 0.0);
    if (use_tls)
        printf(",\"tls\":{\"handshakes\":%llu,\"resumed\":%llu,\"version\":\"%s\","
               "\"cipher\":\"%s\",\"alpn\":\"%s\",\"mixed\":%llu}",
               st.handshakes, st.resumed, st.version, st.cipher, st.alpn, st.mixed);
    printf("}\n");
    return 0;
usage:
    fprintf(stderr, "usage: bench-load -p PORT -c CONNECTIONS -d SECONDS [-k N] [-t TIMEOUT] "
                    "[-s|-r] [-l] REQUEST-FILE...\n       bench-load -V\n");
    return 2;
}
