#include "select.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platform.h"

#define MAX_THREADS 1024

static const berth_backend_ops *const registry[] = {
    &berth_backend_reactor,
    &berth_backend_fast,
    &berth_backend_libuv,
    &berth_backend_uring,
};

/* A positive decimal at most MAX_THREADS, or 0. */
static int parse_count(const char *s)
{
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno || v < 1 || v > MAX_THREADS || s[0] == '+' || s[0] == ' ')
        return 0;
    return (int)v;
}

int berth_backend_valid(const char *spec)
{
    const char *colon = strchr(spec, ':');
    size_t name_len = colon ? (size_t)(colon - spec) : strlen(spec);
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++) {
        const berth_backend_ops *ops = registry[i];
        if (strlen(ops->name) == name_len && strncmp(ops->name, spec, name_len) == 0)
            return !colon || parse_count(colon + 1) > 0;
    }
    return 0;
}

const berth_backend_ops *berth_backend_select(berth_log *log, const char *spec, int *threads)
{
    *threads = 0;
    if (!spec || !*spec)
        return registry[0];
    const char *colon = strchr(spec, ':');
    size_t name_len = colon ? (size_t)(colon - spec) : strlen(spec);
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++) {
        const berth_backend_ops *ops = registry[i];
        if (strlen(ops->name) != name_len || strncmp(ops->name, spec, name_len) != 0)
            continue;
        if (colon) {
            int n = parse_count(colon + 1);
            if (!n)
                berth_logf(log, "berth: warning: HTTP_BACKEND=%s: '%s' is not a thread count "
                           "(1-%d); using the default",
                        spec, colon + 1, MAX_THREADS);
            *threads = n;
        }
        return ops;
    }
    berth_logf(log, "berth: warning: unknown HTTP_BACKEND '%s'; using '%s'", spec,
            registry[0]->name);
    return registry[0];
}

/* The library's one read of the environment (berth.h, Environment):
 * HTTP_BACKEND is the product's run-time switch, as documented. Under CGI
 * (RFC 3875 4.1.12: REQUEST_METHOD is set for every request) the HTTP_*
 * variables are the request's header fields, and a client's "Backend:"
 * would pick the transport (as "Proxy:" did HTTP_PROXY, httpoxy; Go's
 * net/http ignores HTTP_PROXY under CGI the same way). */
const char *berth_backend_env(berth_log *log)
{
    const char *spec = getenv("HTTP_BACKEND");
    if (!spec || !*spec)
        return NULL;
    const char *cgi = getenv("REQUEST_METHOD");
    if (cgi && *cgi) {
        berth_logf(log, "berth: warning: HTTP_BACKEND='%s' ignored: REQUEST_METHOD is set (a CGI "
                   "program, where HTTP_BACKEND is a client's Backend header); set "
                   "config.backend", spec);
        return NULL;
    }
    return spec;
}

int berth_threads_default(void)
{
    return berth_cpu_count();
}
