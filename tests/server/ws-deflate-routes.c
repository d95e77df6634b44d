/* Compressed WebSockets fed from other threads (ws-deflate-routes.h): a
 * topic publish and a direct berth_ws_send from a thread that is not the
 * connection's must compress (or not) each subscriber's messages in its
 * own context, in order. */
#include "ws-deflate-routes.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static berth_topic *feed;
static berth_ws_config topic_cfg, thread_cfg;

/* The WebSockets of /wsd/thread: a sending thread sends only to one still
 * listed, under the lock on_close takes to unlist it (the handle is
 * invalid once on_close returns). */
#define LIVE_MAX 64
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static berth_ws *live[LIVE_MAX];
static int live_n;
static atomic_int senders; /* threads still sending */

static void feed_message(berth_ws *ws, int type, const char *data, size_t len, void *user)
{
    (void)ws, (void)user;
    berth_topic_publish(feed, type, NULL, data, len);
}

static void topic_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_ws *ws = berth_ws_upgrade(req, res, &topic_cfg, NULL);
    if (ws)
        berth_topic_subscribe_ws(feed, ws);
}

typedef struct publish_job {
    berth_str body;
    int64_t count;
    long reached;
} publish_job;

/* Each message is the body and its number: no two alike, so that a
 * subscriber's context taken over from the last message is exercised. */
static void *publish_main(void *arg)
{
    publish_job *j = arg;
    char *msg = malloc(j->body.len + 32);
    for (int64_t i = 0; msg && i < j->count; i++) {
        int n = snprintf(msg, 32, "%lld ", (long long)i);
        memcpy(msg + n, j->body.ptr, j->body.len);
        long r = berth_topic_publish(feed, BERTH_WS_TEXT, NULL, msg, (size_t)n + j->body.len);
        if (i == 0 || r < j->reached)
            j->reached = r;
    }
    free(msg);
    return NULL;
}

static void publish_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    publish_job j = {berth_req_body(req), 1, 0};
    berth_req_query_int(req, "count", &j.count);
    pthread_t tid;
    if (pthread_create(&tid, NULL, publish_main, &j) != 0) {
        berth_res_send(res, 500, "text/plain", "no thread", 9);
        return;
    }
    pthread_join(tid, NULL);
    berth_res_sendf(res, 200, "text/plain", "reached=%ld\n", j.reached);
}

static void thread_open(berth_ws *ws, void *user)
{
    (void)user;
    pthread_mutex_lock(&live_lock);
    if (live_n < LIVE_MAX)
        live[live_n++] = ws;
    pthread_mutex_unlock(&live_lock);
}

static void thread_close(berth_ws *ws, int code, berth_str reason, void *user)
{
    (void)code, (void)reason, (void)user;
    pthread_mutex_lock(&live_lock);
    for (int i = 0; i < live_n; i++) {
        if (live[i] == ws) {
            live[i] = live[--live_n];
            break;
        }
    }
    pthread_mutex_unlock(&live_lock);
}

typedef struct send_job {
    berth_ws *ws;
    int count;
} send_job;

/* "thread message I of N" and a JSON-like tail that compresses: sent
 * while the connection's thread reads on. A full buffer waits
 * (berth_ws_wait), outside the lock. */
static void *send_main(void *arg)
{
    send_job *j = arg;
    char msg[512];
    for (int i = 0; i < j->count; i++) {
        int n = snprintf(msg, sizeof msg, "thread message %d of %d: {\"user\":\"someone\","
                         "\"text\":\"the same words again and again\",\"seq\":%d}", i, j->count, i);
        int rc;
        do {
            pthread_mutex_lock(&live_lock);
            int listed = 0;
            for (int k = 0; k < live_n; k++)
                listed |= live[k] == j->ws;
            rc = listed ? berth_ws_send(j->ws, BERTH_WS_TEXT, msg, (size_t)n) : BERTH_EGONE;
            pthread_mutex_unlock(&live_lock);
            if (rc == BERTH_EAGAIN)
                usleep(1000);
        } while (rc == BERTH_EAGAIN);
        if (rc != 0)
            break;
    }
    free(j);
    atomic_fetch_sub(&senders, 1);
    return NULL;
}

static void thread_message(berth_ws *ws, int type, const char *data, size_t len, void *user)
{
    (void)user;
    char buf[32];
    int count;
    if (type != BERTH_WS_TEXT || len >= sizeof buf)
        return;
    memcpy(buf, data, len);
    buf[len] = 0;
    if (sscanf(buf, "send %d", &count) != 1 || count <= 0)
        return;
    send_job *j = malloc(sizeof *j);
    pthread_t tid;
    pthread_attr_t attr;
    if (!j || pthread_attr_init(&attr) != 0) {
        free(j);
        return;
    }
    *j = (send_job){ws, count};
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    atomic_fetch_add(&senders, 1);
    if (pthread_create(&tid, &attr, send_main, j) != 0) {
        atomic_fetch_sub(&senders, 1);
        free(j);
    }
    pthread_attr_destroy(&attr);
}

static void thread_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_ws_upgrade(req, res, &thread_cfg, NULL);
}

void ws_deflate_routes_add(berth_router *r)
{
    feed = berth_topic_new(BERTH_TOPIC_DROP);
    berth_ws_config_init(&topic_cfg);
    topic_cfg.on_message = feed_message;
    topic_cfg.deflate = 1;
    berth_ws_config_init(&thread_cfg);
    thread_cfg.on_open = thread_open;
    thread_cfg.on_message = thread_message;
    thread_cfg.on_close = thread_close;
    thread_cfg.deflate = 1;
    berth_router_add(r, "GET", "/wsd/topic", topic_route, NULL);
    berth_router_add(r, "POST", "/wsd/publish", publish_route, NULL);
    berth_router_add(r, "GET", "/wsd/thread", thread_route, NULL);
}

void ws_deflate_routes_free(void)
{
    for (int i = 0; i < 500 && atomic_load(&senders) > 0; i++)
        usleep(10 * 1000);
    berth_topic_free(feed);
}
