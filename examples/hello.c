/* Embedding berth: cc hello.c $(pkg-config --cflags --libs berth) */
#include <berth.h>
#include <signal.h>
#include <stdlib.h>

static berth_server *server;

static void on_signal(int sig) { (void)sig; berth_server_stop(server); }

static void hello(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_res_send(res, 200, "text/plain", "Hello, world!\n", 14);
}

int main(void)
{
    berth_router *router = berth_router_new();
    berth_router_add(router, "GET", "/", hello, NULL);
    berth_config cfg;
    berth_config_init(&cfg); /* port 8080, backend from HTTP_BACKEND */
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
