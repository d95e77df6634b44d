/* A chat room over WebSocket: every text message a member sends goes to
 * every member, the sender included, prefixed with its number; joining and
 * leaving are announced. Callbacks run on each connection's own thread and
 * berth_ws_send is safe from any thread, so one mutex around the member
 * list is all the chat needs: a member is removed in on_close under the
 * same mutex, so no one sends to a handle after its on_close returned.
 *   GET /chat   the room (ws://host:port/chat)
 * Try: PORT=8080 ./ws_chat & then two of
 *   /usr/bin/python3 -m websockets ws://127.0.0.1:8080/chat */
#define _POSIX_C_SOURCE 200809L /* threads, snprintf under -std=c11 */
#include <berth.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MEMBERS 1024

static berth_server *server;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static berth_ws *members[MAX_MEMBERS];
static unsigned long next_number = 1;

static void on_signal(int sig) { (void)sig; berth_server_stop(server); }

/* To every member; a member whose buffer is full (-2: a slow reader)
 * misses this message rather than holding up the room. Called locked. */
static void broadcast(const char *text, size_t len)
{
    for (int i = 0; i < MAX_MEMBERS; i++)
        if (members[i])
            berth_ws_send(members[i], BERTH_WS_TEXT, text, len);
}

static void on_open(berth_ws *ws, void *user)
{
    (void)user;
    char line[64];
    pthread_mutex_lock(&lock);
    unsigned long n = next_number++;
    int slot = -1;
    for (int i = 0; i < MAX_MEMBERS && slot < 0; i++)
        if (!members[i])
            slot = i;
    if (slot < 0) {
        pthread_mutex_unlock(&lock);
        berth_ws_close(ws, 1013, "room full"); /* try again later */
        return;
    }
    members[slot] = ws;
    berth_ws_set_user(ws, (void *)n);
    int len = snprintf(line, sizeof line, "* %lu joined", n);
    broadcast(line, (size_t)len);
    pthread_mutex_unlock(&lock);
}

static void on_message(berth_ws *ws, int type, const char *data, size_t len, void *user)
{
    if (type != BERTH_WS_TEXT) {
        berth_ws_close(ws, 1003, "text only");
        return;
    }
    char line[4200];
    int n = snprintf(line, sizeof line, "%lu: %.*s", (unsigned long)user, (int)len, data);
    pthread_mutex_lock(&lock);
    broadcast(line, (size_t)n);
    pthread_mutex_unlock(&lock);
}

static void on_close(berth_ws *ws, int code, berth_str reason, void *user)
{
    (void)code, (void)reason;
    char line[64];
    pthread_mutex_lock(&lock);
    int was_member = 0;
    for (int i = 0; i < MAX_MEMBERS; i++)
        if (members[i] == ws)
            members[i] = NULL, was_member = 1;
    if (was_member) {
        int len = snprintf(line, sizeof line, "* %lu left", (unsigned long)user);
        broadcast(line, (size_t)len);
    }
    pthread_mutex_unlock(&lock);
}

static void chat(berth_req *req, berth_res *res, void *user)
{
    berth_ws_upgrade(req, res, user, NULL); /* a plain GET gets berth's 400 */
}

int main(void)
{
    berth_ws_config ws;
    berth_ws_config_init(&ws);
    ws.on_open = on_open;
    ws.on_message = on_message;
    ws.on_close = on_close;
    ws.max_message = 4096;
    berth_router *r = berth_router_new();
    if (berth_router_add(r, "GET", "/chat", chat, &ws)) {
        fprintf(stderr, "ws_chat: %s\n", berth_router_error(r));
        return 1;
    }
    berth_config cfg;
    berth_config_init(&cfg);
    const char *port = getenv("PORT");
    cfg.port = port ? (unsigned)atoi(port) : 8080;
    cfg.router = r;
    if (!(server = berth_server_new(&cfg)))
        return 1;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = berth_server_run(server); /* members get 1001 at the stop */
    berth_server_free(server);
    berth_router_free(r);
    return rc ? 1 : 0;
}
