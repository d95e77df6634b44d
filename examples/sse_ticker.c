/* A server-sent events ticker: GET /ticks streams the time every second
 * until the client goes away. Try: curl -N localhost:8080/ticks */
#define _POSIX_C_SOURCE 200809L /* open flags, threads, clocks under -std=c11 */
#include <berth.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <time.h>

static berth_server *server;

static void on_signal(int sig) { (void)sig; berth_server_stop(server); }

static void tick(berth_stream *s, void *arg)
{
    (void)arg;
    char now[32];
    time_t t = time(NULL);
    size_t n = strftime(now, sizeof now, "%H:%M:%S", localtime(&t));
    berth_sse_send(s, "tick", NULL, now, n);
}

static void gone(berth_stream *s, void *arg)
{
    (void)arg;
    berth_stream_end(s); /* every deferred response is released once */
}

static void ticks(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_stream *s = berth_sse_start(res, 15000); /* comment keep-alive every 15 s */
    if (!s)
        return;
    berth_stream_on_close(s, gone, NULL);
    berth_stream_timer(s, 0, 1000, tick, NULL); /* works on every backend */
}

int main(void)
{
    berth_router *router = berth_router_new();
    berth_router_add(router, "GET", "/ticks", ticks, NULL);
    berth_config cfg;
    berth_config_init(&cfg);
    const char *port = getenv("PORT");
    cfg.port = port ? (unsigned)atoi(port) : 8080;
    cfg.router = router;
    if (!(server = berth_server_new(&cfg)))
        return 1;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = berth_server_run(server);
    berth_server_free(server);
    berth_router_free(router);
    return rc ? 1 : 0;
}
