#include "serve_env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access_log.h"

unsigned long long env_number(const char *name, unsigned long long fallback,
                              unsigned long long max)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return fallback;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v > max || s[0] == '-') {
        fprintf(stderr, "berth-serve: warning: %s='%s' is not a number up to %llu; using %llu\n",
                name, s, max, fallback);
        return fallback;
    }
    return v;
}

/* berth's messages: kept while the server is made with BERTH_LISTEN (to
 * tell a refused list), printed to stderr otherwise. */
static char why[512];
static int keeping;

static void log_message(const char *msg, void *user)
{
    (void)user;
    if (keeping)
        snprintf(why, sizeof why, "%s", msg);
    else
        fprintf(stderr, "%s\n", msg);
}

void compress_from_env(berth_config *cfg)
{
    cfg->compress = (int)env_number("BERTH_COMPRESS", (unsigned long long)cfg->compress, 1);
    cfg->gzip_level = (int)env_number("BERTH_GZIP_LEVEL", (unsigned long long)cfg->gzip_level, 12);
    if (cfg->gzip_level < 1) {
        fprintf(stderr, "berth-serve: warning: BERTH_GZIP_LEVEL='0' is not 1-12; using 1\n");
        cfg->gzip_level = 1;
    }
    cfg->compress_min = (size_t)env_number("BERTH_COMPRESS_MIN", cfg->compress_min, 1ull << 40);
    const char *types = getenv("BERTH_COMPRESS_TYPES");
    if (types && *types)
        cfg->compress_types = types;
}

/* How many sockets systemd passed to this process: LISTEN_FDS when
 * LISTEN_PID is ours (sd_listen_fds(3)), else 0. */
static int systemd_sockets(void)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds || !*pid || !*fds)
        return 0;
    char *end;
    errno = 0;
    unsigned long p = strtoul(pid, &end, 10);
    if (*end || errno || p != (unsigned long)getpid())
        return 0;
    unsigned long n = strtoul(fds, &end, 10);
    return *end || errno || n > 4096 ? 0 : (int)n;
}

/* BERTH_THREADS: berth-serve's, not the library's (which reads no
 * environment but HTTP_BACKEND: berth.h); 0 (the CPU count) when unset or
 * not a count. */
static int threads_from_env(void)
{
    const char *s = getenv("BERTH_THREADS");
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno || v < 1 || v > 1024 || s[0] == '+' || s[0] == ' ') {
        fprintf(stderr, "berth-serve: warning: BERTH_THREADS='%s' is not a thread count "
                "(1-1024); using the CPU count\n", s);
        return 0;
    }
    return (int)v;
}

berth_server *server_from_env(berth_config *cfg)
{
    if (!cfg->threads)
        cfg->threads = threads_from_env();
    compress_from_env(cfg);
    cfg->max_buffered_bodies =
        env_number("BERTH_MAX_BUFFERED_BODIES", cfg->max_buffered_bodies, 1ull << 50);
    /* The stop's (and so an upgrade's) timings, berth.h's berth_config. */
    cfg->stop_grace_ms = (unsigned)env_number("BERTH_STOP_GRACE_MS", cfg->stop_grace_ms, 600000);
    cfg->drain_timeout_ms =
        (unsigned)env_number("BERTH_DRAIN_TIMEOUT_MS", cfg->drain_timeout_ms, 3600000);
    const char *log = getenv("BERTH_ACCESS_LOG");
    if (log && strcmp(log, "1") == 0) {
        cfg->after = access_log;
        setvbuf(stdout, NULL, _IOLBF, 0);
    } else if (log && *log && strcmp(log, "0") != 0) {
        fprintf(stderr, "berth-serve: warning: BERTH_ACCESS_LOG='%s' is not 0 or 1; using 0\n",
                log);
    }
    const char *rid = getenv("BERTH_REQUEST_ID_HEADER"); /* berth_req_id's source */
    if (rid && *rid)
        cfg->request_id_header = rid;
    const char *listen = getenv("BERTH_LISTEN");
    if ((!listen || !*listen) && systemd_sockets() > 0) {
        /* Started as systemd starts a socket-activated service (or by
         * systemd-socket-activate): its sockets, not PORT. */
        listen = "systemd";
        fprintf(stderr, "berth-serve: serving on the %d socket%s systemd passed (LISTEN_FDS; "
                "BERTH_LISTEN unset), not on PORT\n", systemd_sockets(),
                systemd_sockets() == 1 ? "" : "s");
    }
    if (!listen || !*listen)
        return berth_server_new(cfg);
    berth_config c = *cfg;
    c.listen = listen;
    c.log = log_message;
    why[0] = '\0';
    keeping = 1;
    berth_server *srv = berth_server_new(&c);
    keeping = 0;
    if (srv && why[0])
        fprintf(stderr, "%s\n", why); /* a warning */
    if (srv || !strstr(why, "config.listen"))
        return srv ? srv : berth_server_new(cfg); /* another error: say it again */
    fprintf(stderr, "berth-serve: warning: BERTH_LISTEN='%s': %s; using PORT\n", listen, why);
    return berth_server_new(cfg);
}

void print_listening(berth_server *srv)
{
    printf("listening on http://127.0.0.1:%u backend=%s threads=%d",
           (unsigned)berth_server_port(srv), berth_server_backend(srv), berth_server_threads(srv));
    if (berth_server_tls_port(srv))
        printf(" tls=https://127.0.0.1:%u", (unsigned)berth_server_tls_port(srv));
    berth_listener_info li;
    for (size_t i = 0; berth_server_listener(srv, i, &li) == 0; i++) {
        const char *scheme = li.tls ? "https" : "http";
        /* an HTTP/2-only listener (listen option h2) says so */
        const char *only = li.http1 ? "" : "+h2";
        if (li.addr.family == BERTH_AF_UNIX)
            printf("%sunix:%s%s%s", i ? "," : " listeners=", li.addr.text, li.tls ? "+tls" : "",
                   only);
        else if (li.addr.family == BERTH_AF_INET6)
            printf("%s%s://[%s]:%u%s", i ? "," : " listeners=", scheme, li.addr.text,
                   (unsigned)li.addr.port, only);
        else
            printf("%s%s://%s:%u%s", i ? "," : " listeners=", scheme, li.addr.text,
                   (unsigned)li.addr.port, only);
    }
    printf("\n");
    fflush(stdout);
}
