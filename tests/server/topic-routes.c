/* Topics as an application uses them (topic-routes.h): no subscriber list
 * of its own, no lock, nothing in on_close. */
#include "topic-routes.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static berth_topic *room, *strict;

static berth_topic *topic_of(berth_req *req)
{
    char name[16];
    if (berth_req_query(req, "name", name, sizeof name) > 0 && strcmp(name, "strict") == 0)
        return strict;
    return room;
}

static void chat_message(berth_ws *ws, int type, const char *data, size_t len, void *user)
{
    (void)ws;
    berth_topic_publish(user, type, NULL, data, len);
}

static void ws_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_ws_config cfg;
    berth_ws_config_init(&cfg);
    cfg.on_message = chat_message;
    int64_t buf;
    if (berth_req_query_int(req, "buf", &buf) == 0 && buf > 0)
        cfg.max_buffer = (size_t)buf;
    int64_t deflate;
    if (berth_req_query_int(req, "deflate", &deflate) == 0)
        cfg.deflate = deflate != 0; /* permessage-deflate, when the client offers it */
    berth_topic *t = topic_of(req);
    berth_ws *ws = berth_ws_upgrade(req, res, &cfg, t);
    if (ws)
        berth_topic_subscribe_ws(t, ws);
}

/* The stream is the application's to end (its reference), when the
 * client goes or the server stops; the topic lets go by itself. */
static void sse_end(berth_stream *s, void *arg)
{
    (void)arg;
    berth_stream_end(s);
}

static void sse_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_stream *s = berth_sse_start(res, 0);
    if (!s)
        return;
    berth_stream_on_close(s, sse_end, NULL);
    berth_stream_on_stop(s, sse_end, NULL);
    berth_topic_subscribe_sse(topic_of(req), s);
}

typedef struct publish_job {
    berth_topic *t;
    int type;
    const char *event;
    berth_str body;
    long reached;
} publish_job;

static void *publish_main(void *arg)
{
    publish_job *j = arg;
    j->reached = berth_topic_publish(j->t, j->type, j->event, j->body.ptr, j->body.len);
    return NULL;
}

static void publish_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char type[16] = "", event[64], thread[4] = "";
    berth_req_query(req, "type", type, sizeof type);
    berth_req_query(req, "thread", thread, sizeof thread);
    publish_job j = {topic_of(req), strcmp(type, "binary") == 0 ? BERTH_WS_BINARY : BERTH_WS_TEXT,
                     berth_req_query(req, "event", event, sizeof event) > 0 ? event : NULL,
                     berth_req_body(req), 0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t tid;
    if (thread[0] == '1' && pthread_create(&tid, NULL, publish_main, &j) == 0)
        pthread_join(tid, NULL);
    else
        publish_main(&j);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
    berth_res_sendf(res, j.reached < 0 ? 400 : 200, "text/plain", "reached=%ld us=%ld\n",
                    j.reached, us);
}

static void stats_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_topic *t = topic_of(req);
    berth_res_sendf(res, 200, "text/plain", "count=%zu dropped=%llu closed=%llu\n",
                    berth_topic_count(t), (unsigned long long)berth_topic_dropped(t),
                    (unsigned long long)berth_topic_closed(t));
}

void topic_routes_add(berth_router *r)
{
    room = berth_topic_new(BERTH_TOPIC_DROP);
    strict = berth_topic_new(BERTH_TOPIC_CLOSE);
    berth_router_add(r, "GET", "/topic/ws", ws_route, NULL);
    berth_router_add(r, "GET", "/topic/sse", sse_route, NULL);
    berth_router_add(r, "POST", "/topic/publish", publish_route, NULL);
    berth_router_add(r, "GET", "/topic/stats", stats_route, NULL);
}

void topic_routes_free(void)
{
    berth_topic_free(room);
    berth_topic_free(strict);
}
