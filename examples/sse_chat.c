/* A chat over server-sent events, fed by a publisher thread.
 *   GET /events   subscribe: every message, as an SSE event, until you leave
 *   POST /say     post a message (the body, at most 4 KiB)
 * Handlers only queue messages; the publisher thread takes them off the
 * queue and sends each to every subscriber with berth_sse_send, which is
 * safe from any thread (it wakes the subscriber's connection).
 * Try: PORT=8080 ./sse_chat & curl -N localhost:8080/events & curl -d hi localhost:8080/say */
#define _POSIX_C_SOURCE 200809L /* open flags, threads, clocks under -std=c11 */
#include <berth.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SUBS 1024

static berth_server *server;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t posted = PTHREAD_COND_INITIALIZER;
static berth_stream *subs[MAX_SUBS]; /* subscribers; NULL: free slot */
typedef struct msg {
    struct msg *next;
    size_t len;
    char text[];
} msg;
static msg *queue, **queue_tail = &queue;
static int quitting;
static unsigned long next_id;

static void on_signal(int sig) { (void)sig; berth_server_stop(server); }

/* The subscriber left, or the server stops: forget it, then end its stream
 * (after which the publisher can no longer reach it). */
static void leave(berth_stream *s, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_SUBS; i++)
        if (subs[i] == s)
            subs[i] = NULL;
    pthread_mutex_unlock(&lock);
    berth_stream_end(s);
}

static void events(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_stream *s = berth_sse_start(res, 15000); /* a comment every 15 s keeps proxies open */
    if (!s)
        return;
    int slot = -1;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_SUBS && slot < 0; i++)
        if (!subs[i])
            subs[slot = i] = s;
    pthread_mutex_unlock(&lock);
    if (slot < 0) {
        berth_sse_send(s, "error", NULL, "room full", 9);
        berth_stream_end(s);
        return;
    }
    berth_stream_on_close(s, leave, NULL);
    berth_stream_on_stop(s, leave, NULL);
    berth_sse_send(s, "joined", NULL, "welcome", 7);
}

static void say(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_str text = berth_req_body(req);
    msg *m = malloc(sizeof *m + text.len);
    if (!m) {
        berth_res_send(res, 503, "text/plain", "busy\n", 5);
        return;
    }
    m->next = NULL;
    m->len = text.len;
    memcpy(m->text, text.ptr, text.len);
    pthread_mutex_lock(&lock);
    *queue_tail = m;
    queue_tail = &m->next;
    pthread_cond_signal(&posted);
    pthread_mutex_unlock(&lock);
    berth_res_send(res, 202, "text/plain", "queued\n", 7);
}

/* The publisher: one message at a time to every subscriber. */
static void *publisher(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (!queue && !quitting)
            pthread_cond_wait(&posted, &lock);
        if (!queue)
            break;
        msg *m = queue;
        if (!(queue = m->next))
            queue_tail = &queue;
        char id[24];
        snprintf(id, sizeof id, "%lu", next_id++);
        for (int i = 0; i < MAX_SUBS; i++)
            if (subs[i]) /* BERTH_EAGAIN (a slow reader's buffer is full): that one misses it */
                berth_sse_send(subs[i], "message", id, m->text, m->len);
        free(m);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(void)
{
    berth_router *r = berth_router_new();
    berth_route_opts small;
    berth_route_opts_init(&small);
    small.max_body = 4096;
    if (berth_router_add(r, "GET", "/events", events, NULL) ||
        berth_router_add_opts(r, "POST", "/say", say, NULL, &small)) {
        fprintf(stderr, "sse_chat: %s\n", berth_router_error(r));
        return 1;
    }
    berth_config cfg;
    berth_config_init(&cfg);
    const char *port = getenv("PORT");
    cfg.port = port ? (unsigned)atoi(port) : 8080;
    cfg.router = r;
    if (!(server = berth_server_new(&cfg)))
        return 1;
    pthread_t pub;
    pthread_create(&pub, NULL, publisher, NULL);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = berth_server_run(server);
    pthread_mutex_lock(&lock);
    quitting = 1;
    pthread_cond_signal(&posted);
    pthread_mutex_unlock(&lock);
    pthread_join(pub, NULL);
    berth_server_free(server);
    berth_router_free(r);
    return rc ? 1 : 0;
}
