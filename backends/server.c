/* The server lifecycle: configuration, listeners, backend start/stop. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../core/tls.h"
#include "backend.h"
#include "listen.h"
#include "select.h"

berth_server *berth_server_new(const berth_config *config)
{
    if (!config || (!config->handler && !config->router)) {
        fprintf(stderr, "berth: a server needs a handler or a router\n");
        return NULL;
    }
    if (config->max_header_fields == 0 || config->max_request_line < 16 ||
        config->max_header_bytes < 16 || config->max_header_bytes > (1u << 24) ||
        config->max_request_line > (1u << 24)) {
        fprintf(stderr, "berth: invalid request limits\n");
        return NULL;
    }
    berth_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    srv->config = *config;
    if (!srv->config.host)
        srv->config.host = "0.0.0.0";
    srv->kinds = 1;
    if (config->tls) {
        /* Certificates are read now, so that a bad one fails here. */
        srv->tls = berth_tls_ctx_new(config->tls);
        if (!srv->tls) {
            free(srv);
            return NULL;
        }
        srv->tls_config = *config->tls;
        srv->config.tls = &srv->tls_config;
        srv->tls_layer.wrap = berth_tls_wrap;
        srv->tls_layer.thread_exit = berth_tls_thread_exit;
        srv->tls_layer.ctx = srv->tls;
        srv->kinds = 2;
    }
    berth_engine_init(&srv->engine, &srv->config);

    const char *spec = config->backend ? config->backend : getenv("HTTP_BACKEND");
    int n = 0;
    srv->ops = berth_backend_select(spec, &n);
    snprintf(srv->backend_name, sizeof srv->backend_name, "%s", srv->ops->name);
    srv->threads = n ? n : config->threads > 0 ? config->threads : berth_threads_default();
    srv->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (srv->stop_fd < 0) {
        berth_tls_ctx_free(srv->tls);
        free(srv);
        return NULL;
    }
    return srv;
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

int berth_server_start(berth_server *srv)
{
    if (srv->started)
        return -1;
    /* Writes to a closed peer must fail with EPIPE, not kill the process. */
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    int n = srv->threads;
    srv->nlisten = n * srv->kinds;
    srv->listeners = calloc((size_t)srv->nlisten, sizeof *srv->listeners);
    int *fds = malloc((size_t)n * sizeof(int));
    if (!srv->listeners || !fds)
        goto fail;
    for (int i = 0; i < srv->nlisten; i++)
        srv->listeners[i].fd = -1;
    for (int k = 0; k < srv->kinds; k++) {
        uint16_t port = k ? srv->config.tls->port : srv->config.port;
        if (berth_listen_open(srv->config.host, port, n, 1, srv->config.reuseport, fds,
                              k ? &srv->tls_port : &srv->port) != 0)
            goto fail;
        for (int i = 0; i < n; i++) {
            srv->listeners[i * srv->kinds + k].fd = fds[i];
            srv->listeners[i * srv->kinds + k].layer = k ? &srv->tls_layer : NULL;
        }
    }
    free(fds);
    if (srv->ops->start(srv) != 0)
        return -1;
    srv->started = 1;
    return 0;
fail:
    free(fds);
    listeners_close(srv);
    return -1;
}

void berth_server_wait(berth_server *srv)
{
    if (srv->started) {
        srv->ops->join(srv);
        srv->started = 0;
    }
}

int berth_server_run(berth_server *srv)
{
    if (berth_server_start(srv) != 0)
        return -1;
    berth_server_wait(srv);
    return 0;
}

void berth_server_stop(berth_server *srv)
{
    atomic_store(&srv->stopping, 1);
    uint64_t one = 1;
    ssize_t n = write(srv->stop_fd, &one, sizeof one);
    (void)n;
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
    berth_tls_ctx_free(srv->tls);
    close(srv->stop_fd);
    free(srv);
}

uint16_t berth_server_port(const berth_server *srv) { return srv->port; }
uint16_t berth_server_tls_port(const berth_server *srv) { return srv->tls_port; }
const char *berth_server_backend(const berth_server *srv) { return srv->backend_name; }
int berth_server_threads(const berth_server *srv) { return srv->threads; }
