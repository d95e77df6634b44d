/* berth-serve: the demo and benchmark server. Configured by environment:
 * PORT, HTTP_BACKEND (read by the library), BERTH_THREADS, BERTH_DATASET,
 * BERTH_MAX_BODY, BERTH_HEADER_TIMEOUT_MS, BERTH_IDLE_TIMEOUT_MS,
 * BERTH_REUSEPORT, BERTH_LISTEN, BERTH_ACCESS_LOG (handlers/serve_env.c),
 * BERTH_METRICS (1: Prometheus metrics at GET /metrics, berth_metrics_mount),
 * and TLS_PORT, TLS_CERT, TLS_KEY, TLS_ALPN, BERTH_KTLS (handlers/tls_env.c),
 * BERTH_WS_MAX_MESSAGE, BERTH_WS_PING_MS and
 * BERTH_WS_DEFLATE, BERTH_WS_DEFLATE_LEVEL, BERTH_WS_DEFLATE_WINDOW_BITS
 * (handlers/ws_echo.c). Socket-activated (LISTEN_PID its
 * pid, LISTEN_FDS set) with BERTH_LISTEN unset, it serves on systemd's
 * sockets (serve_env.c). Signals (handlers/upgrade.c): SIGTERM and SIGINT
 * stop it (BERTH_DRAIN_DELAY_MS), SIGUSR2 upgrades it in place
 * (BERTH_UPGRADE_TIMEOUT_MS). */
#include <berth.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../handlers/arena.h"
#include "../handlers/dataset.h"
#include "../handlers/serve_env.h"
#include "../handlers/tls_env.h"
#include "../handlers/upgrade.h"
#include "../handlers/ws_echo.h"

int main(int argc, char **argv)
{
    (void)argc;
    berth_server *server;
    berth_config cfg;
    berth_config_init(&cfg);
    cfg.port = (uint16_t)env_number("PORT", 8080, 65535);
    cfg.max_body = env_number("BERTH_MAX_BODY", cfg.max_body, 1ull << 40);
    cfg.header_timeout_ms =
        (unsigned)env_number("BERTH_HEADER_TIMEOUT_MS", cfg.header_timeout_ms, 86400000);
    cfg.idle_timeout_ms =
        (unsigned)env_number("BERTH_IDLE_TIMEOUT_MS", cfg.idle_timeout_ms, 86400000);
    cfg.reuseport = (int)env_number("BERTH_REUSEPORT", 1, 1);

    const char *path = getenv("BERTH_DATASET");
    dataset data;
    dataset_load(&data, path && *path ? path : "/data/dataset.json");
    if (data.count == 0)
        fprintf(stderr, "berth-serve: warning: %s; /json/{count} will answer 503\n", data.error);

    berth_router *router = berth_router_new();
    if (!router || arena_routes_add(router, &data) != 0 || ws_echo_route_add(router) != 0 ||
        (env_number("BERTH_METRICS", 0, 1) && berth_metrics_mount(router, "/metrics") != 0)) {
        fprintf(stderr, "berth-serve: cannot build the routes\n");
        return 1;
    }
    /* HttpArena mounts its files at /data/static; elsewhere, absent is fine
     * unless BERTH_STATIC_DIR names a directory explicitly. */
    const char *sdir = getenv("BERTH_STATIC_DIR");
    berth_static *files = NULL;
    int rc = berth_static_mount(router, "/static", sdir && *sdir ? sdir : "/data/static", NULL, &files);
    if (rc != 0 && sdir && *sdir) {
        fprintf(stderr, "berth-serve: BERTH_STATIC_DIR %s: %s%s%s\n", sdir, berth_strerror(rc),
                rc == BERTH_ENOENT ? ": " : "", rc == BERTH_ENOENT ? strerror(errno) : "");
        berth_router_free(router);
        dataset_free(&data);
        return 1;
    }
    cfg.router = router;
    berth_tls_config tls;
    int use_tls = tls_from_env(&tls);
    cfg.tls = use_tls > 0 ? &tls : NULL;
    server = use_tls >= 0 ? server_from_env(&cfg) : NULL;
    if (!server) {
        berth_router_free(router);
        berth_static_free(files);
        dataset_free(&data);
        return 1;
    }

    if (serve_signals_init() != 0 || berth_server_start(server) != 0) {
        berth_server_free(server);
        berth_router_free(router);
        berth_static_free(files);
        dataset_free(&data);
        return 1;
    }
    print_listening(server);
    serve_until_stopped(server, argv); /* SIGTERM, SIGINT; SIGUSR2: upgrade.c */
    berth_server_free(server);
    berth_router_free(router);
    berth_static_free(files);
    dataset_free(&data);
    return 0;
}
