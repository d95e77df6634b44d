/* The server lifecycle: configuration, listeners, backend start/stop. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/abi.h"
#include "../core/compress.h"
#include "../core/conn.h"
#include "../core/log.h"
#include "../core/proxy.h"
#include "../core/router.h"
#include "../core/tls.h"
#include "backend.h"
#include "drive.h"
#include "listen.h"
#include "select.h"

#define MAX_THREADS 1024

/* Checks the configuration; a message naming the first wrong field. */
static int config_check(berth_log *log, const berth_config *c)
{
    if (!c->handler && !c->router) {
        berth_logf(log, "berth: config: a server needs a handler or a router");
        return -1;
    }
    if (c->handler && c->router) {
        berth_logf(log, "berth: config: set either handler or router, not both");
        return -1;
    }
    struct {
        const char *name;
        unsigned long long v, min, max;
    } range[] = {
        {"port", c->port, 0, 65535},
        {"threads", (unsigned long long)(long long)c->threads, 0, MAX_THREADS},
        {"max_request_line", c->max_request_line, 16, 1u << 24},
        {"max_header_bytes", c->max_header_bytes, 16, 1u << 24},
        {"max_header_fields", c->max_header_fields, 1, 10000},
        {"max_body", c->max_body, 1, UINT64_MAX},
        {"max_buffered_bodies", c->max_buffered_bodies, 1, UINT64_MAX},
        {"header_timeout_ms", c->header_timeout_ms, 1, UINT32_MAX},
        {"body_timeout_ms", c->body_timeout_ms, 1, UINT32_MAX},
        {"idle_timeout_ms", c->idle_timeout_ms, 1, UINT32_MAX},
        {"write_timeout_ms", c->write_timeout_ms, 1, UINT32_MAX},
        {"max_connections", c->max_connections, 1, UINT32_MAX},
        {"max_stream_buffer", c->max_stream_buffer, 1, SIZE_MAX},
        {"reuseport", (unsigned long long)(long long)c->reuseport, 0, 1},
        {"compress", (unsigned long long)(long long)c->compress, 0, 1},
        {"gzip_level", (unsigned long long)(long long)(c->compress ? c->gzip_level : 1), 1, 12},
    };
    for (size_t i = 0; i < sizeof range / sizeof range[0]; i++) {
        if (range[i].v < range[i].min || range[i].v > range[i].max) {
            if (range[i].name[0] == 't' || range[i].name[0] == 'r' || range[i].name[0] == 'c' ||
                range[i].name[0] == 'g')
                berth_logf(log, "berth: config.%s: %lld is out of range (%llu-%llu)", range[i].name,
                           (long long)range[i].v, range[i].min, range[i].max);
            else
                berth_logf(log, "berth: config.%s: %llu is out of range (%llu-%llu)", range[i].name,
                           range[i].v, range[i].min, range[i].max);
            return -1;
        }
    }
    long bad = c->compress_types ? berth_comp_types_check(c->compress_types) : -1;
    if (bad >= 0) {
        berth_logf(log, "berth: config.compress_types: '%s' is not a list of media types "
                   "(type/subtype, with * or *+suffix as subtype; at '%s')",
                   c->compress_types, c->compress_types + bad);
        return -1;
    }
    if (c->tls && c->tls->port > 65535) {
        berth_logf(log, "berth: config.tls->port: %u is out of range (0-65535)", c->tls->port);
        return -1;
    }
    if (c->tls && c->tls->min_version != 0 && c->tls->min_version != 12 &&
        c->tls->min_version != 13) {
        berth_logf(log, "berth: config.tls->min_version: %d is not 12 or 13", c->tls->min_version);
        return -1;
    }
    if (c->backend && !berth_backend_valid(c->backend)) {
        berth_logf(log, "berth: config.backend: '%s' is not a backend (reactor, fast, fast:N with "
                   "N 1-%d, libuv)", c->backend, MAX_THREADS);
        return -1;
    }
    return 0;
}

/* The listeners: config.listen, or host:port and the TLS port. */
static int specs_make(berth_server *srv)
{
    const berth_config *c = &srv->config;
    if (c->listen) {
        if (berth_listen_parse(&srv->log, c->listen, srv->threads, &srv->specs, &srv->kinds) != 0)
            return -1;
        for (int k = 0; k < srv->kinds; k++) {
            if (srv->specs[k].tls && !c->tls) {
                berth_logf(&srv->log, "berth: config.listen: a tls listener needs config.tls (the "
                           "certificate)");
                return -1;
            }
        }
        return 0;
    }
    srv->kinds = c->tls ? 2 : 1;
    srv->specs = calloc((size_t)srv->kinds, sizeof *srv->specs);
    if (!srv->specs)
        return -1;
    for (int k = 0; k < srv->kinds; k++) {
        berth_listen_spec *s = &srv->specs[k];
        s->kind = BERTH_LS_TCP;
        s->fd = -1;
        s->port = k ? c->tls->port : c->port;
        s->tls = k == 1;
        if (c->host && *c->host && !(s->host = strdup(c->host)))
            return -1;
    }
    return 0;
}

static berth_server *server_new(berth_log *log, const berth_config *config)
{
    if (config_check(log, config) != 0)
        return NULL;
    berth_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    if (berth_stats_reg_init(&srv->stats) != 0) {
        free(srv);
        return NULL;
    }
    srv->stop = (berth_wake)BERTH_WAKE_NONE;
    berth_stimers_init(&srv->stimers);
    srv->ask = (berth_wake)BERTH_WAKE_NONE;
    berth_log_init(&srv->log, config->log, config->log_user);
    srv->config = *config;
    if (!srv->config.host)
        srv->config.host = "0.0.0.0";
    /* The thread count first: systemd's per-thread sockets are grouped by
     * it (berth_listen_parse). */
    const char *spec = config->backend ? config->backend : berth_backend_env(&srv->log);
    int n = 0;
    srv->ops = berth_backend_select(&srv->log, spec, &n);
    snprintf(srv->backend_name, sizeof srv->backend_name, "%s", srv->ops->name);
    srv->threads = n ? n : config->threads > 0 ? config->threads : berth_threads_default();
    if (specs_make(srv) != 0)
        goto fail;
    berth_listen_systemd_check(&srv->log, srv->specs, srv->kinds);
    int tls_used = 0;
    for (int k = 0; k < srv->kinds; k++)
        tls_used |= srv->specs[k].tls;
    if (!tls_used)
        srv->config.tls = NULL; /* no TLS listener: the certificate is not needed */
    if (srv->config.tls) {
        /* Certificates are read now, so that a bad one fails here. */
        srv->tls = berth_tls_ctx_new(config->tls, &srv->log);
        if (!srv->tls)
            goto fail;
        srv->tls_config = *config->tls;
        srv->config.tls = &srv->tls_config;
        srv->tls_layer.wrap = berth_tls_wrap;
        srv->tls_layer.thread_exit = berth_tls_thread_exit;
        srv->tls_layer.ctx = srv->tls;
        srv->tls_layer.exact_reads = berth_tls_ctx_ktls(srv->tls);
        for (int k = 0; k < srv->kinds; k++) {
            const berth_listen_spec *s = &srv->specs[k];
            unsigned protos = (s->h1 ? BERTH_CONN_H1 : 0u) | (s->h2 ? BERTH_CONN_H2 : 0u);
            if (s->tls && !berth_tls_ctx_offers(srv->tls, protos)) {
                berth_logf(&srv->log, "berth: config.listen: a tls %s listener, but the TLS "
                           "configuration's ALPN list has no %s", s->h2 ? "h2" : "h1",
                           s->h2 ? "h2" : "http/1.1");
                goto fail;
            }
        }
    }
    berth_engine_init(&srv->engine, &srv->config);
    srv->engine.log = &srv->log;
    srv->bodies.limit = srv->config.max_buffered_bodies;
    srv->engine.bodies = &srv->bodies;
    srv->engine.server = srv;
    srv->engine.stats = &srv->stats;
    srv->layers = calloc((size_t)srv->kinds, sizeof *srv->layers);
    srv->proxies = calloc((size_t)srv->kinds, sizeof *srv->proxies);
    if (!srv->layers || !srv->proxies)
        goto fail;
    for (int k = 0; k < srv->kinds; k++) {
        if (srv->specs[k].tls)
            srv->layers[k] = srv->tls_layer;
        if (srv->specs[k].proxy) {
            /* The header comes first on the wire: PROXY is the outer layer. */
            srv->proxies[k].inner = srv->specs[k].tls ? &srv->tls_layer : NULL;
            srv->layers[k].wrap = berth_proxy_wrap;
            srv->layers[k].thread_exit = berth_proxy_thread_exit;
            srv->layers[k].ctx = &srv->proxies[k];
        }
    }

    if (berth_wake_open(&srv->stop) != 0)
        goto fail;
    if (srv->config.on_stop && berth_wake_open(&srv->ask) != 0)
        goto fail;
    return srv;
fail:
    berth_server_free(srv);
    return NULL;
}

/* The application's config and tls over berth's defaults, within the
 * sizes it recorded (berth.h, "Structs and upgrades"). 0, or -1 with a
 * message. */
static int config_read(berth_log *log, berth_config *full, berth_tls_config *tls,
                       const berth_config *config)
{
    berth_config_init(full);
    if (berth_abi_read(full, sizeof *full, config) != 0) {
        berth_logf(log, "berth: config: not filled by berth_config_init (size %zu), or fields "
                   "this library (%s) does not know are set", config->size, BERTH_VERSION);
        return -1;
    }
    if (full->tls) {
        berth_tls_config_init(tls);
        if (berth_abi_read(tls, sizeof *tls, full->tls) != 0) {
            berth_logf(log, "berth: config.tls: not filled by berth_tls_config_init (size %zu), "
                       "or fields this library (%s) does not know are set", full->tls->size,
                       BERTH_VERSION);
            return -1;
        }
        full->tls = tls;
    }
    return 0;
}

berth_server *berth_server_new(const berth_config *config)
{
    if (!config) {
        berth_logf(NULL, "berth: config: NULL");
        return NULL;
    }
    /* Its log sink takes berth's messages, once its size shows it has one;
     * the server then keeps its own (server_new). */
    berth_log log;
    int has_log = config->size >= BERTH_SIZE_UPTO(berth_config, log_user);
    berth_log_init(&log, has_log ? config->log : NULL, has_log ? config->log_user : NULL);
    berth_config full;
    berth_tls_config tls;
    if (config_read(&log, &full, &tls, config) != 0)
        return NULL;
    return server_new(&log, &full);
}

static void listeners_close(berth_server *srv)
{
    if (!srv->listeners)
        return;
    for (int i = 0; i < srv->nlisten; i++)
        if (srv->listeners[i].fd >= 0)
            close(srv->listeners[i].fd);
    free(srv->listeners);
    srv->listeners = NULL;
}

/* A backend's start failed, perhaps after some of its threads were
 * running (a thread or descriptor refused part-way): those are stopped
 * and joined (they were serving the listeners, and went on after a bare
 * return: the server was freed under them), what the start made is freed
 * (the backend's join copes with a partial start), and the server is as
 * it was before the start, which may be tried again. */
static void start_undo(berth_server *srv)
{
    berth_server_stop(srv);
    srv->ops->join(srv);
    berth_stimers_finish(srv);
    berth_wake_drain(&srv->stop); /* the stop is over: clear it */
    atomic_store(&srv->stopping, 0);
    listeners_close(srv);
}

static void stop_now(berth_server *srv)
{
    atomic_store(&srv->stopping, 1);
    berth_wake_signal(&srv->stop);
}

/* config.on_stop's thread: a thread of its own, not a worker, so that the
 * hook may block (berth_ws_wait) and every worker still serves while it
 * runs; the workers learn of the stop only once it has returned. */
static void *stopper_main(void *arg)
{
    berth_server *srv = arg;
    struct pollfd p = {srv->ask.rfd, POLLIN, 0};
    while (!atomic_load(&srv->stop_asked))
        poll(&p, 1, -1);
    srv->config.on_stop(srv, srv->config.hook_user);
    stop_now(srv);
    return NULL;
}

/* Starts on_stop's thread once the workers run (a start that fails before
 * never runs the hook). 0, or -1 having said why. */
static int stopper_start(berth_server *srv)
{
    if (!srv->config.on_stop)
        return 0;
    atomic_store(&srv->stop_asked, 0);
    berth_wake_drain(&srv->ask);
    atomic_store(&srv->stopper_on, 1);
    int rc = pthread_create(&srv->stopper, NULL, stopper_main, srv);
    if (rc != 0) {
        atomic_store(&srv->stopper_on, 0);
        berth_logf(&srv->log, "berth: cannot start the on_stop thread: %s", strerror(rc));
        return -1;
    }
    return 0;
}

/* After the workers' join: the stop they saw came from this thread. */
static void stopper_join(berth_server *srv)
{
    if (!atomic_load(&srv->stopper_on))
        return;
    pthread_join(srv->stopper, NULL);
    atomic_store(&srv->stopper_on, 0);
}

static int server_start(berth_server *srv)
{
    if (srv->started)
        return -1;
    int n = srv->threads;
    srv->nlisten = n * srv->kinds;
    srv->listeners = calloc((size_t)srv->nlisten, sizeof *srv->listeners);
    int *fds = malloc((size_t)n * sizeof(int));
    if (!srv->listeners || !fds)
        goto fail;
    for (int i = 0; i < srv->nlisten; i++)
        srv->listeners[i].fd = -1;
    srv->port = srv->tls_port = 0;
    for (int k = 0; k < srv->kinds; k++) {
        berth_listen_spec *s = &srv->specs[k];
        if (berth_listen_spec_open(&srv->log, s, n, 1, srv->config.reuseport, fds) != 0)
            goto fail;
        for (int i = 0; i < n; i++) {
            srv->listeners[i * srv->kinds + k].fd = fds[i];
            srv->listeners[i * srv->kinds + k].layer =
                srv->layers[k].wrap ? &srv->layers[k] : NULL;
            srv->listeners[i * srv->kinds + k].protos =
                (s->h1 ? BERTH_CONN_H1 : 0u) | (s->h2 ? BERTH_CONN_H2 : 0u);
        }
        uint16_t *port = s->tls ? &srv->tls_port : &srv->port;
        if (!*port && s->bound.family != BERTH_AF_UNIX && s->bound.family)
            *port = s->bound.port;
    }
    free(fds);
    atomic_store(&srv->stats.running, 1);
    if (srv->ops->start(srv) != 0 || stopper_start(srv) != 0) {
        start_undo(srv);
        atomic_store(&srv->stats.running, 0);
        return -1;
    }
    srv->started = 1;
    return 0;
fail:
    free(fds);
    listeners_close(srv);
    return -1;
}

int berth_server_start(berth_server *srv)
{
    if (srv->started)
        return BERTH_ESTATE;
    int rc = server_start(srv);
    if (rc != 0)
        return BERTH_ESYS;
    if (srv->config.router) /* fixed while it runs (berth.h, Router) */
        berth_router_hold(srv->config.router, &srv->log);
    return 0;
}

void berth_server_wait(berth_server *srv)
{
    if (srv->started) {
        srv->ops->join(srv);
        berth_stimers_finish(srv); /* no timer runs after this returns */
        stopper_join(srv);
        srv->started = 0;
        atomic_store(&srv->stats.running, 0);
        if (srv->config.router)
            berth_router_release(srv->config.router);
    }
}

int berth_server_run(berth_server *srv)
{
    int rc = berth_server_start(srv);
    if (rc != 0)
        return rc;
    berth_server_wait(srv);
    return 0;
}

void berth_server_stop(berth_server *srv)
{
    if (atomic_load(&srv->stopper_on)) { /* on_stop first, on its thread */
        atomic_store(&srv->stop_asked, 1);
        berth_wake_signal(&srv->ask);
        return;
    }
    stop_now(srv);
}

void berth_server_free(berth_server *srv)
{
    if (!srv)
        return;
    if (srv->started) {
        berth_server_stop(srv);
        berth_server_wait(srv);
    }
    listeners_close(srv);
    berth_listen_specs_free(srv->specs, srv->kinds);
    free(srv->layers);
    free(srv->proxies);
    berth_tls_ctx_free(srv->tls);
    berth_wake_close(&srv->stop);
    berth_wake_close(&srv->ask);
    berth_stats_reg_destroy(&srv->stats);
    berth_stimers_destroy(&srv->stimers);
    free(srv);
}

uint16_t berth_server_port(const berth_server *srv) { return srv->port; }
uint16_t berth_server_tls_port(const berth_server *srv) { return srv->tls_port; }
const char *berth_server_backend(const berth_server *srv) { return srv->backend_name; }
int berth_server_threads(const berth_server *srv) { return srv->threads; }

int berth_server_listener_sized(const berth_server *srv, size_t i, berth_listener_info *info,
                                size_t size)
{
    if (i >= (size_t)srv->kinds)
        return BERTH_ENOENT;
    const berth_listen_spec *s = &srv->specs[i];
    berth_listener_info li;
    memset(&li, 0, sizeof li);
    li.addr = s->bound;
    li.tls = s->tls;
    li.proxy = s->proxy;
    li.http1 = s->h1 || !s->h2;
#ifdef BERTH_HAVE_NGHTTP2
    li.http2 = s->h2 || !s->h1;
#endif
    berth_abi_write(info, size, &li, sizeof li);
    return 0;
}

int berth_server_stats_sized(const berth_server *srv, berth_stats *stats, size_t size)
{
    berth_stats st;
    memset(&st, 0, sizeof st);
    st.size = size < sizeof st ? size : sizeof st;
    berth_stats_sum((berth_stats_reg *)&srv->stats, &st); /* its lock: not a change */
    st.backend = srv->backend_name;
    st.state = !atomic_load(&srv->stats.running) ? BERTH_STATE_STOPPED
               : atomic_load(&srv->stopping)    ? BERTH_STATE_DRAINING
                                                : BERTH_STATE_RUNNING;
    berth_abi_write(stats, size, &st, sizeof st);
    return 0;
}

int berth_server_listen_fds(berth_server *srv, size_t i, int *fds, size_t max)
{
    if (i >= (size_t)srv->kinds)
        return BERTH_ENOENT;
    if (!srv->started || atomic_load(&srv->stopping))
        return BERTH_ESTATE;
    berth_listen_spec *s = &srv->specs[i];
    for (int k = 0; k < s->nsocks && (size_t)k < max; k++)
        fds[k] = s->socks[k];
    /* Another process may serve on them now: a socket file berth made
     * stays when this server ends (it would cut that process off). */
    s->made_path = 0;
    return s->nsocks;
}
