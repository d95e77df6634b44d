/* Answering from a worker thread: the handler defers its response, hands
 * the work to a thread and returns at once, so the event loop is never
 * blocked. The thread answers with berth_stream_send, which wakes the
 * connection's loop. Try: curl 'localhost:8080/slow-square?n=12' */
#define _POSIX_C_SOURCE 200809L /* open flags, threads, clocks under -std=c11 */
#include <berth.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static berth_server *server;

static void on_signal(int sig) { (void)sig; berth_server_stop(server); }

typedef struct job {
    berth_stream *stream;
    long long n; /* copied: the request is gone once the handler returns */
} job;

static void *work(void *arg)
{
    job *j = arg;
    nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL); /* a database query, say */
    char body[64];
    int len = snprintf(body, sizeof body, "%lld\n", j->n * j->n);
    if (berth_stream_send(j->stream, 200, "text/plain", body, (size_t)len) != 0)
        fprintf(stderr, "client went away before the answer\n");
    free(j);
    return NULL;
}

static void slow_square(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    int64_t n;
    if (berth_req_query_int(req, "n", &n) != 0 || n < -3000000000LL || n > 3000000000LL) {
        berth_res_send(res, 400, "text/plain", "n must be an integer\n", 21);
        return;
    }
    job *j = malloc(sizeof *j);
    if (!j || !(j->stream = berth_res_defer(res))) {
        free(j);
        berth_res_send(res, 503, "text/plain", "busy\n", 5);
        return;
    }
    j->n = n;
    pthread_t t;
    if (pthread_create(&t, NULL, work, j) != 0) {
        berth_stream_send(j->stream, 503, "text/plain", "busy\n", 5);
        free(j);
        return;
    }
    pthread_detach(t);
}

int main(void)
{
    berth_router *router = berth_router_new();
    berth_router_add(router, "GET", "/slow-square", slow_square, NULL);
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
