/* The server lifecycle: configuration, listeners, backend start/stop. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

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
    berth_engine_init(&srv->engine, &srv->config);

    const char *spec = config->backend ? config->backend : getenv("HTTP_BACKEND");
    int n = 0;
    srv->ops = berth_backend_select(spec, &n);
    snprintf(srv->backend_name, sizeof srv->backend_name, "%s", srv->ops->name);
    srv->threads = n ? n : config->threads > 0 ? config->threads : berth_threads_default();
    srv->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (srv->stop_fd < 0) {
        free(srv);
        return NULL;
    }
    return srv;
}

int berth_server_start(berth_server *srv)
{
    if (srv->started)
        return -1;
    /* Writes to a closed peer must fail with EPIPE, not kill the process. */
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    srv->listen_fds = malloc((size_t)srv->threads * sizeof(int));
    if (!srv->listen_fds)
        return -1;
    srv->nlisten = srv->threads;
    if (berth_listen_open(srv->config.host, srv->config.port, srv->threads, 1,
                          srv->config.reuseport, srv->listen_fds, &srv->port) != 0) {
        free(srv->listen_fds);
        srv->listen_fds = NULL;
        return -1;
    }
    if (srv->ops->start(srv) != 0)
        return -1;
    srv->started = 1;
    return 0;
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
    if (srv->listen_fds) {
        for (int i = 0; i < srv->nlisten; i++)
            if (srv->listen_fds[i] >= 0)
                close(srv->listen_fds[i]);
        free(srv->listen_fds);
    }
    close(srv->stop_fd);
    free(srv);
}

uint16_t berth_server_port(const berth_server *srv) { return srv->port; }
const char *berth_server_backend(const berth_server *srv) { return srv->backend_name; }
int berth_server_threads(const berth_server *srv) { return srv->threads; }
