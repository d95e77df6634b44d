#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../core/addr.h"
#include "../core/log.h"
#include "platform.h"

static int listen_one(const struct sockaddr *sa, socklen_t len, int nonblock, int reuseport)
{
    int fd = berth_socket(sa->sa_family, SOCK_STREAM, nonblock);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if ((reuseport && setsockopt(fd, SOL_SOCKET, berth_reuseport_option(), &one, sizeof one) != 0) ||
        bind(fd, sa, len) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static uint16_t *port_of(struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET6 ? &((struct sockaddr_in6 *)ss)->sin6_port
                                     : &((struct sockaddr_in *)ss)->sin_port;
}

/* berth's listeners share their port through SO_REUSEPORT, which would
 * just as quietly join the SO_REUSEPORT listener of another process on
 * that port and split its traffic. So the port is bound once first
 * without SO_REUSEPORT: that fails whenever any socket holds it. With
 * port 0 the probe also picks the port. The probe is closed before the
 * listeners bind; another process could take the port in between, a
 * window of microseconds. */
static int port_probe(struct sockaddr_storage *ss, socklen_t len)
{
    int fd = berth_socket(ss->ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* TIME_WAIT holds nothing */
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    if (bind(fd, (struct sockaddr *)ss, len) != 0 ||
        getsockname(fd, (struct sockaddr *)&got, &gl) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *port_of(ss) = *port_of(&got);
    close(fd);
    return 0;
}

int berth_listen_open(berth_log *log, const char *host, uint16_t port, int count, int nonblock,
                      int reuseport, int *fds, uint16_t *bound_port)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    int rc = getaddrinfo(host && *host ? host : NULL, service, &hints, &ai);
    if (rc != 0) {
        berth_logf(log, "berth: cannot resolve listen address '%s': %s", host ? host : "",
                   gai_strerror(rc));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = (socklen_t)ai->ai_addrlen;
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);

    if (berth_reuseport_option() < 0)
        reuseport = 0; /* no balancing option (macOS): one socket, shared */
    if (reuseport && port_probe(&ss, len) != 0) {
        berth_logf(log, "berth: cannot listen on %s:%u: %s", host ? host : "*", (unsigned)port,
                   strerror(errno));
        return -1;
    }
    for (int i = 0; i < count; i++) {
        /* Without SO_REUSEPORT the workers share one socket. */
        fds[i] = reuseport || i == 0 ? listen_one((struct sockaddr *)&ss, len, nonblock, reuseport)
                                     : fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
        if (fds[i] < 0) {
            berth_logf(log, "berth: cannot listen on %s:%u: %s", host ? host : "*", (unsigned)port,
                       strerror(errno));
            while (i--)
                close(fds[i]);
            return -1;
        }
        if (i == 0) {
            /* With port 0 (and no probe), the others join the port it got. */
            struct sockaddr_storage got;
            socklen_t gl = sizeof got;
            getsockname(fds[0], (struct sockaddr *)&got, &gl);
            *port_of(&ss) = *port_of(&got);
            *bound_port = ntohs(*port_of(&got));
        }
    }
    return 0;
}

void berth_socket_tune(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ---- berth_config.listen ------------------------------------------------- */

static int digits_to_uint(const char *s, size_t len, unsigned max, unsigned *out)
{
    if (len == 0 || len > 10)
        return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* The sockets systemd passed (sd_listen_fds(3)'s protocol: LISTEN_PID,
 * LISTEN_FDS from fd 3 on, LISTEN_FDNAMES), those named name if set.
 * Returns how many (into fds, at most max), or -1 with a message. */
static int systemd_fds(berth_log *log, const char *name, size_t name_len, int *fds, int max,
                       const char *entry)
{
    const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
    unsigned p = 0, n = 0;
    if (!pid || !nfds || digits_to_uint(pid, strlen(pid), 0xffffffffu, &p) != 0 ||
        digits_to_uint(nfds, strlen(nfds), 4096, &n) != 0) {
        berth_logf(log, "berth: config.listen '%s': no sockets from systemd (LISTEN_PID and "
                   "LISTEN_FDS are not set)", entry);
        return -1;
    }
    if ((pid_t)p != getpid()) {
        berth_logf(log, "berth: config.listen '%s': LISTEN_PID=%u is another process's", entry, p);
        return -1;
    }
    const char *names = getenv("LISTEN_FDNAMES");
    int count = 0;
    for (unsigned i = 0; i < n; i++) {
        /* The i-th name of the colon-separated list. */
        const char *nm = names ? names : "";
        for (unsigned k = 0; k < i && nm; k++) {
            nm = strchr(nm, ':');
            nm = nm ? nm + 1 : NULL;
        }
        size_t nl = nm ? strcspn(nm, ":") : 0;
        if (name && (!nm || nl != name_len || memcmp(nm, name, nl) != 0))
            continue;
        if (count == max) {
            berth_logf(log, "berth: config.listen '%s': too many sockets", entry);
            return -1;
        }
        fds[count++] = 3 + (int)i;
    }
    if (count == 0) {
        berth_logf(log, "berth: config.listen '%s': systemd passed no socket named '%.*s'", entry,
                   (int)name_len, name ? name : "");
        return -1;
    }
    return count;
}

void berth_listen_systemd_check(berth_log *log, const berth_listen_spec *specs, int n)
{
    const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
    unsigned p = 0, count = 0;
    if (!pid || !nfds || digits_to_uint(pid, strlen(pid), 0xffffffffu, &p) != 0 ||
        digits_to_uint(nfds, strlen(nfds), 4096, &count) != 0 || (pid_t)p != getpid() ||
        count == 0)
        return;
    for (int i = 0; i < n; i++)
        if (specs[i].kind == BERTH_LS_FD && specs[i].fd >= 3 && specs[i].fd < 3 + (int)count)
            return;
    berth_logf(log, "berth: warning: systemd passed %u socket%s to this process (LISTEN_FDS), but "
               "the server listens on ports of its own and leaves %s unserved: set "
               "listen = \"systemd\" to serve on %s", count, count == 1 ? "" : "s",
               count == 1 ? "it" : "them", count == 1 ? "it" : "them");
}

/* Whether b is another SO_REUSEPORT socket on a's address: sockets a
 * server opened one per thread (listen_one), handed over together. */
static int same_group(int a, int b)
{
    struct sockaddr_storage x, y;
    socklen_t xl = sizeof x, yl = sizeof y;
    int ra = 0, rb = 0;
    socklen_t l1 = sizeof ra, l2 = sizeof rb;
    int opt = berth_reuseport_option();
    if (opt < 0 || getsockopt(a, SOL_SOCKET, opt, &ra, &l1) != 0 ||
        getsockopt(b, SOL_SOCKET, opt, &rb, &l2) != 0 || !ra || !rb)
        return 0;
    memset(&x, 0, sizeof x);
    memset(&y, 0, sizeof y);
    if (getsockname(a, (struct sockaddr *)&x, &xl) != 0 ||
        getsockname(b, (struct sockaddr *)&y, &yl) != 0 || xl != yl)
        return 0;
    return x.ss_family != AF_UNIX && memcmp(&x, &y, xl) == 0;
}

/* The systemd sockets fds[0..k) as entries of base's options: a run of
 * SO_REUSEPORT sockets on one address is one entry (each has its own
 * accept queue: every one must be served, and by as few threads as
 * suffice), up to `threads` sockets each so that every socket has a
 * thread. Returns how many entries, or -1. */
static int systemd_specs(const berth_listen_spec *base, const int *fds, int k, int threads,
                         berth_listen_spec *spec)
{
    int n = 0;
    for (int i = 0; i < k;) {
        int run = 1;
        while (i + run < k && run < threads && same_group(fds[i], fds[i + run]))
            run++;
        spec[n] = *base;
        spec[n].kind = BERTH_LS_FD;
        spec[n].fd = fds[i];
        if (run > 1) {
            spec[n].group = malloc((size_t)run * sizeof(int));
            if (!spec[n].group) {
                while (n--)
                    free(spec[n].group);
                return -1;
            }
            memcpy(spec[n].group, fds + i, (size_t)run * sizeof(int));
            spec[n].ngroup = run;
        }
        n++;
        i += run;
    }
    return n;
}

/* Parses one entry [s, s + len) into *spec (systemd: into several; *n is
 * how many were added). */
static int entry_parse(berth_log *log, const char *s, size_t len, int threads,
                       berth_listen_spec *spec, int room, int *n)
{
    char entry[300];
    snprintf(entry, sizeof entry, "%.*s", (int)len, s);
    const char *end = s + len;
    size_t alen = 0;
    while (alen < len && s[alen] != ' ' && s[alen] != '\t')
        alen++;
    berth_listen_spec base;
    memset(&base, 0, sizeof base);
    base.fd = -1;
    /* options */
    for (const char *o = s + alen; o < end;) {
        while (o < end && (*o == ' ' || *o == '\t'))
            o++;
        size_t ol = 0;
        while (o + ol < end && o[ol] != ' ' && o[ol] != '\t')
            ol++;
        if (ol == 0)
            break;
        if (ol == 3 && memcmp(o, "tls", 3) == 0) {
            base.tls = 1;
        } else if (ol == 5 && memcmp(o, "proxy", 5) == 0) {
            base.proxy = 1;
        } else if (ol == 2 && memcmp(o, "h1", 2) == 0) {
            base.h1 = 1;
        } else if (ol == 2 && memcmp(o, "h2", 2) == 0) {
#ifndef BERTH_HAVE_NGHTTP2
            berth_logf(log, "berth: config.listen '%s': option h2, but this berth was built "
                       "without HTTP/2 (nghttp2)", entry);
            return -1;
#endif
            base.h2 = 1;
        } else {
            berth_logf(log, "berth: config.listen '%s': unknown option '%.*s' (tls, proxy, h1, h2)",
                       entry, (int)ol, o);
            return -1;
        }
        o += ol;
    }
    const char *a = s;
    *n = 1;
    if (alen >= 7 && memcmp(a, "systemd", 7) == 0 && (alen == 7 || a[7] == ':')) {
        int fds[64];
        int k = systemd_fds(log, alen > 7 ? a + 8 : NULL, alen > 7 ? alen - 8 : 0, fds,
                            room < 64 ? room : 64, entry);
        if (k < 0)
            return -1;
        int made = systemd_specs(&base, fds, k, threads > 0 ? threads : 1, spec);
        if (made < 0)
            return -1;
        *n = made;
        return 0;
    }
    *spec = base;
    if (alen > 5 && memcmp(a, "unix:", 5) == 0) {
        if (alen - 5 >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            berth_logf(log, "berth: config.listen '%s': the path is too long", entry);
            return -1;
        }
        if (!BERTH_HAVE_ABSTRACT_UNIX && a[5] == '@') {
            berth_logf(log, "berth: config.listen '%s': abstract Unix sockets (@name) exist on "
                       "Linux only; give a path", entry);
            return -1;
        }
        spec->kind = BERTH_LS_UNIX;
        spec->path = dup_n(a + 5, alen - 5);
        return spec->path ? 0 : -1;
    }
    if (alen > 3 && memcmp(a, "fd:", 3) == 0) {
        unsigned fd;
        if (digits_to_uint(a + 3, alen - 3, 1 << 30, &fd) != 0) {
            berth_logf(log, "berth: config.listen '%s': fd:N needs a descriptor number", entry);
            return -1;
        }
        spec->kind = BERTH_LS_FD;
        spec->fd = (int)fd;
        return 0;
    }
    spec->kind = BERTH_LS_TCP;
    const char *colon = NULL, *host = NULL;
    size_t host_len = 0;
    if (alen && a[0] == '[') {
        const char *rb = memchr(a, ']', alen);
        if (!rb || rb + 1 >= a + alen || rb[1] != ':') {
            berth_logf(log, "berth: config.listen '%s': an IPv6 address is [address]:port", entry);
            return -1;
        }
        host = a + 1;
        host_len = (size_t)(rb - a - 1);
        colon = rb + 1;
    } else {
        for (size_t i = 0; i < alen; i++)
            if (a[i] == ':')
                colon = a + i;
        if (colon) {
            host = a;
            host_len = (size_t)(colon - a);
            if (memchr(a, ':', host_len)) {
                berth_logf(log, "berth: config.listen '%s': write an IPv6 address in brackets: "
                           "[::1]:8080", entry);
                return -1;
            }
        }
    }
    const char *port = colon ? colon + 1 : a;
    if (digits_to_uint(port, (size_t)(a + alen - port), 65535, &spec->port) != 0) {
        berth_logf(log, "berth: config.listen '%s': not an address (port, host:port, [v6]:port, "
                   "unix:PATH, fd:N or systemd); ports are 0-65535", entry);
        return -1;
    }
    if (colon && (host_len == 0 || (host_len == 1 && host[0] == '*')))
        host = NULL; /* all IPv4 addresses */
    if (host && !(spec->host = dup_n(host, host_len)))
        return -1;
    return 0;
}

int berth_listen_parse(berth_log *log, const char *list, int threads, berth_listen_spec **specs,
                       int *n)
{
    int cap = 8, count = 0;
    berth_listen_spec *a = calloc((size_t)cap, sizeof *a);
    if (!a)
        return -1;
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        const char *e = comma ? comma : p + strlen(p);
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (t == p) {
            berth_logf(log, "berth: config.listen '%s': an empty entry", list);
            goto fail;
        }
        if (count + 64 > cap) {
            berth_listen_spec *b = realloc(a, (size_t)(cap * 2 + 64) * sizeof *a);
            if (!b)
                goto fail;
            a = b;
            cap = cap * 2 + 64;
        }
        int k = 0;
        if (entry_parse(log, p, (size_t)(t - p), threads, a + count, cap - count, &k) != 0)
            goto fail;
        count += k;
        if (!comma)
            break;
        p = comma + 1;
    }
    *specs = a;
    *n = count;
    return 0;
fail:
    berth_listen_specs_free(a, count);
    return -1;
}

void berth_listen_specs_free(berth_listen_spec *specs, int n)
{
    if (!specs)
        return;
    for (int i = 0; i < n; i++) {
        if (specs[i].made_path && specs[i].path[0] != '@')
            unlink(specs[i].path);
        free(specs[i].host);
        free(specs[i].path);
        free(specs[i].group);
        free(specs[i].socks);
    }
    free(specs);
}

static void bound_of(berth_listen_spec *spec, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&spec->bound, 0, sizeof spec->bound);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        berth_addr_from_sockaddr((struct sockaddr *)&ss, len, &spec->bound);
}

/* A Unix socket at path; a stale socket file (nobody listens) is replaced. */
static int unix_open(berth_listen_spec *spec, int nonblock)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t plen = strlen(spec->path);
    memcpy(sa.sun_path, spec->path, plen);
    int abstract = spec->path[0] == '@';
    if (abstract)
        sa.sun_path[0] = '\0';
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (abstract ? 0 : 1));
    int fd = berth_socket(AF_UNIX, SOCK_STREAM, nonblock);
    if (fd < 0)
        return -1;
    int rc = bind(fd, (struct sockaddr *)&sa, len);
    if (rc != 0 && errno == EADDRINUSE && !abstract) {
        struct stat st;
        int probe = berth_socket(AF_UNIX, SOCK_STREAM, 0);
        if (probe >= 0 && stat(spec->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
            connect(probe, (struct sockaddr *)&sa, len) != 0 && errno == ECONNREFUSED) {
            unlink(spec->path); /* left by a server that is gone */
            rc = bind(fd, (struct sockaddr *)&sa, len);
        } else {
            errno = EADDRINUSE;
        }
        if (probe >= 0)
            close(probe);
    }
    if (rc != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    spec->made_path = !abstract;
    return fd;
}

/* Checks that fd is a listening stream socket and duplicates it. */
static int fd_adopt(int fd, int nonblock)
{
    int type = 0, acc = 0;
    socklen_t l1 = sizeof type, l2 = sizeof acc;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l1) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l2) != 0 || type != SOCK_STREAM ||
        !acc) {
        errno = ENOTSOCK;
        return -1;
    }
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d >= 0) {
        int fl = fcntl(d, F_GETFL);
        fcntl(d, F_SETFL, nonblock ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
    }
    return d;
}

/* Records the distinct sockets of fds[0..count): the first `distinct`. */
static int socks_keep(berth_listen_spec *spec, const int *fds, int distinct)
{
    free(spec->socks);
    spec->nsocks = 0;
    spec->socks = malloc((size_t)distinct * sizeof(int));
    if (!spec->socks)
        return -1;
    memcpy(spec->socks, fds, (size_t)distinct * sizeof(int));
    spec->nsocks = distinct;
    return 0;
}

static void fds_close(int *fds, int count)
{
    for (int i = 0; i < count; i++)
        close(fds[i]);
}

int berth_listen_spec_open(berth_log *log, berth_listen_spec *spec, int count, int nonblock,
                           int reuseport, int *fds)
{
    if (spec->kind == BERTH_LS_TCP) {
        uint16_t bound;
        if (berth_listen_open(log, spec->host, (uint16_t)spec->port, count, nonblock, reuseport,
                              fds, &bound) != 0)
            return -1;
        bound_of(spec, fds[0]);
        int each = reuseport && berth_reuseport_option() >= 0;
        if (socks_keep(spec, fds, each ? count : 1) != 0) {
            fds_close(fds, count);
            return -1;
        }
        return 0;
    }
    if (spec->ngroup > 1) {
        /* Thread i serves socket i % ngroup (ngroup <= count: parse). */
        for (int i = 0; i < count; i++) {
            fds[i] = fd_adopt(spec->group[i % spec->ngroup], nonblock);
            if (fds[i] < 0) {
                berth_logf(log, "berth: fd %d is not a listening stream socket",
                           spec->group[i % spec->ngroup]);
                fds_close(fds, i);
                return -1;
            }
        }
        bound_of(spec, fds[0]);
        int distinct = spec->ngroup < count ? spec->ngroup : count;
        if (socks_keep(spec, fds, distinct) != 0) {
            fds_close(fds, count);
            return -1;
        }
        return 0;
    }
    fds[0] = spec->kind == BERTH_LS_UNIX ? unix_open(spec, nonblock) : fd_adopt(spec->fd, nonblock);
    if (fds[0] < 0) {
        if (spec->kind == BERTH_LS_UNIX)
            berth_logf(log, "berth: cannot listen on unix:%s: %s", spec->path, strerror(errno));
        else
            berth_logf(log, "berth: fd %d is not a listening stream socket", spec->fd);
        return -1;
    }
    for (int i = 1; i < count; i++) {
        fds[i] = fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
        if (fds[i] < 0) {
            berth_logf(log, "berth: cannot duplicate a listener: %s", strerror(errno));
            while (i--)
                close(fds[i]);
            return -1;
        }
    }
    bound_of(spec, fds[0]);
    if (spec->kind == BERTH_LS_UNIX && spec->path[0] == '@')
        snprintf(spec->bound.text, sizeof spec->bound.text, "%s", spec->path);
    if (socks_keep(spec, fds, 1) != 0) {
        fds_close(fds, count);
        return -1;
    }
    return 0;
}
