/* GET /ws-hub: WebSockets held in a list. The text message "stop" from
 * any of them starts a thread (not a connection's) that sends "before the
 * stop" to every one, then stops the server at once: each send that
 * answered 0 must reach its client before the 1001. The thread prints how
 * many were accepted ("hub accepted=N") for the test to compare; main
 * joins it (ws_hub_join) before it frees the server the thread stopped. */
#include "ws-hub.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define HUB_MAX 256

static pthread_mutex_t hub_lock = PTHREAD_MUTEX_INITIALIZER;
static berth_ws *hub[HUB_MAX];
static int hub_n;
static berth_server **hub_server;
static pthread_t hub_thread;
static int hub_started; /* under hub_lock */

static void hub_open(berth_ws *ws, void *user)
{
    (void)user;
    pthread_mutex_lock(&hub_lock);
    if (hub_n < HUB_MAX)
        hub[hub_n++] = ws;
    pthread_mutex_unlock(&hub_lock);
}

/* The handle is invalid once on_close returns: it leaves the list here,
 * under the lock the sending thread holds. */
static void hub_close(berth_ws *ws, int code, berth_str reason, void *user)
{
    (void)code, (void)reason, (void)user;
    pthread_mutex_lock(&hub_lock);
    for (int i = 0; i < hub_n; i++) {
        if (hub[i] == ws) {
            hub[i] = hub[--hub_n];
            break;
        }
    }
    pthread_mutex_unlock(&hub_lock);
}

static void *send_then_stop(void *arg)
{
    (void)arg;
    int accepted = 0;
    pthread_mutex_lock(&hub_lock);
    for (int i = 0; i < hub_n; i++)
        accepted += berth_ws_send(hub[i], BERTH_WS_TEXT, "before the stop", 15) == 0;
    pthread_mutex_unlock(&hub_lock);
    berth_server_stop(*hub_server); /* right after: the race of issue 20 */
    printf("hub accepted=%d\n", accepted);
    fflush(stdout);
    return NULL;
}

static void hub_message(berth_ws *ws, int type, const char *data, size_t len, void *user)
{
    (void)ws, (void)user;
    if (type != BERTH_WS_TEXT || len != 4 || memcmp(data, "stop", 4) != 0)
        return;
    pthread_mutex_lock(&hub_lock);
    if (!hub_started)
        hub_started = pthread_create(&hub_thread, NULL, send_then_stop, NULL) == 0;
    pthread_mutex_unlock(&hub_lock);
}

void ws_hub_join(void)
{
    pthread_mutex_lock(&hub_lock);
    int started = hub_started;
    pthread_mutex_unlock(&hub_lock);
    if (started)
        pthread_join(hub_thread, NULL);
}

static void hub_route(berth_req *req, berth_res *res, void *user)
{
    berth_ws_upgrade(req, res, user, NULL);
}

void ws_hub_route_add(berth_router *r, berth_server **server)
{
    static berth_ws_config cfg;
    berth_ws_config_init(&cfg);
    cfg.on_open = hub_open;
    cfg.on_message = hub_message;
    cfg.on_close = hub_close;
    hub_server = server;
    berth_router_add(r, "GET", "/ws-hub", hub_route, &cfg);
}
