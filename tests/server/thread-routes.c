/* Worker-thread hooks and the stop hook, as an application uses them
 * (tests/e2e/test_hooks.py; berth.h, "Worker threads and the stop").
 *
 * thread_init makes a record per thread (a number, the pthread it ran on);
 * thread_exit checks that it runs on that same thread and marks the record
 * ended. GET /thread-data answers "id=N same=S": the record of the thread
 * serving it (S = 1 when that is the calling thread), and counts a handler
 * that finds its thread's record already ended (after_exit). GET
 * /thread-stream answers the same from a deferred response's timer.
 *
 * GET /ws-bye is a WebSocket kept in a list. config.on_stop sends
 * "goodbye" to each member, then, if there was one, waits (5 s at most)
 * for GET /hook-release, which answers "state=N" (the server's state
 * while the hook waits: 1, running, when nothing has been drained yet). The
 * WebSocket's own on_stop sends "bye on_stop" on its thread; berth's 1001
 * follows. The records are kept until thread_routes_report, which prints
 * "hooks inits=I exits=E wrong_thread=W after_exit=A stop_hooks=S
 * stop_state=T". */
#include "thread-routes.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct thread_rec {
    int id;
    pthread_t tid;
    atomic_int ended;
    struct thread_rec *next;
} thread_rec;

static pthread_mutex_t recs_lock = PTHREAD_MUTEX_INITIALIZER;
static thread_rec *recs;
static int inits, exits; /* under recs_lock */
static atomic_int wrong_thread, after_exit, stop_hooks, stop_state = -1, released;

#define BYE_MAX 64
static pthread_mutex_t bye_lock = PTHREAD_MUTEX_INITIALIZER;
static berth_ws *bye[BYE_MAX];
static int bye_n;

static void *thread_init(void *user)
{
    (void)user;
    thread_rec *t = calloc(1, sizeof *t);
    if (!t)
        abort();
    t->tid = pthread_self();
    pthread_mutex_lock(&recs_lock);
    t->id = ++inits;
    t->next = recs;
    recs = t;
    pthread_mutex_unlock(&recs_lock);
    return t;
}

static void thread_exit(void *data, void *user)
{
    (void)user;
    thread_rec *t = data;
    pthread_mutex_lock(&recs_lock);
    exits++;
    if (!t || !pthread_equal(t->tid, pthread_self()) || atomic_load(&t->ended))
        atomic_fetch_add(&wrong_thread, 1);
    if (t)
        atomic_store(&t->ended, 1);
    pthread_mutex_unlock(&recs_lock);
}

static void thread_data_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    thread_rec *t = berth_req_thread_data(req);
    if (t && atomic_load(&t->ended))
        atomic_fetch_add(&after_exit, 1);
    char buf[64];
    int n = snprintf(buf, sizeof buf, "id=%d same=%d", t ? t->id : 0,
                     t ? pthread_equal(t->tid, pthread_self()) != 0 : 0);
    berth_res_send(res, 200, "text/plain", buf, (size_t)n);
}

/* GET /thread-stream: the same answer from a deferred response's timer,
 * which reaches its thread's data through the stream. */
static void thread_tick(berth_stream *s, void *arg)
{
    (void)arg;
    thread_rec *t = berth_stream_thread_data(s);
    char buf[64];
    int n = snprintf(buf, sizeof buf, "id=%d same=%d", t ? t->id : 0,
                     t ? pthread_equal(t->tid, pthread_self()) != 0 : 0);
    berth_stream_send(s, 200, "text/plain", buf, (size_t)n);
}

static void thread_stream_route(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_stream *s = berth_res_defer(res);
    if (!s || !berth_stream_timer(s, 1, 0, thread_tick, NULL))
        berth_res_send(res, 500, "text/plain", "no timer", 8);
}

static void bye_open(berth_ws *ws, void *user)
{
    (void)user;
    pthread_mutex_lock(&bye_lock);
    if (bye_n < BYE_MAX)
        bye[bye_n++] = ws;
    pthread_mutex_unlock(&bye_lock);
}

/* The handle is invalid once on_close returns: it leaves the list here,
 * under the lock the stop hook holds while it sends. */
static void bye_close(berth_ws *ws, int code, berth_str reason, void *user)
{
    (void)code, (void)reason, (void)user;
    pthread_mutex_lock(&bye_lock);
    for (int i = 0; i < bye_n; i++) {
        if (bye[i] == ws) {
            bye[i] = bye[--bye_n];
            break;
        }
    }
    pthread_mutex_unlock(&bye_lock);
}

/* On the connection's thread, after the stop hook returned: its thread's
 * record is reachable there too. */
static void bye_stop(berth_ws *ws, void *user)
{
    (void)user;
    thread_rec *t = berth_ws_thread_data(ws);
    if (t && !pthread_equal(t->tid, pthread_self()))
        atomic_fetch_add(&wrong_thread, 1);
    berth_ws_send(ws, BERTH_WS_TEXT, "bye on_stop", 11);
}

static void on_stop(berth_server *server, void *user)
{
    (void)user;
    atomic_fetch_add(&stop_hooks, 1);
    pthread_mutex_lock(&bye_lock);
    for (int i = 0; i < bye_n; i++)
        berth_ws_send(bye[i], BERTH_WS_TEXT, "goodbye", 7);
    int members = bye_n;
    pthread_mutex_unlock(&bye_lock);
    berth_stats st;
    berth_server_stats(server, &st);
    atomic_store(&stop_state, st.state);
    for (int i = 0; members && i < 500 && !atomic_load(&released); i++)
        usleep(10 * 1000);
}

static void hook_release_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_stats st;
    berth_server_stats(berth_req_server(req), &st);
    atomic_store(&released, 1);
    char buf[32];
    int n = snprintf(buf, sizeof buf, "state=%d", st.state);
    berth_res_send(res, 200, "text/plain", buf, (size_t)n);
}

static void bye_route(berth_req *req, berth_res *res, void *user)
{
    berth_ws_upgrade(req, res, user, NULL);
}

void thread_routes_add(berth_router *r, berth_config *cfg)
{
    static berth_ws_config ws;
    berth_ws_config_init(&ws);
    ws.on_open = bye_open;
    ws.on_close = bye_close;
    ws.on_stop = bye_stop;
    berth_router_add(r, "GET", "/thread-data", thread_data_route, NULL);
    berth_router_add(r, "GET", "/thread-stream", thread_stream_route, NULL);
    berth_router_add(r, "GET", "/ws-bye", bye_route, &ws);
    berth_router_add(r, "GET", "/hook-release", hook_release_route, NULL);
    const char *v = getenv("BERTH_TEST_THREAD_HOOKS");
    if (v && strcmp(v, "1") == 0) {
        cfg->thread_init = thread_init;
        cfg->thread_exit = thread_exit;
        cfg->on_stop = on_stop;
    }
}

void thread_routes_report(void)
{
    pthread_mutex_lock(&recs_lock);
    printf("hooks inits=%d exits=%d wrong_thread=%d after_exit=%d stop_hooks=%d "
           "stop_state=%d\n", inits, exits, atomic_load(&wrong_thread), atomic_load(&after_exit),
           atomic_load(&stop_hooks), atomic_load(&stop_state));
    fflush(stdout);
    while (recs) {
        thread_rec *t = recs;
        recs = t->next;
        free(t);
    }
    pthread_mutex_unlock(&recs_lock);
}
