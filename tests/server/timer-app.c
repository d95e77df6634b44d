/* berth-timer-app: an application of server timers (berth.h, "Server
 * timers") for tests/e2e/test_server_timers.py, on the backend HTTP_BACKEND
 * names. Its routes add and cancel timers from handlers (worker threads)
 * and from threads of their own; what the main thread checks itself (a
 * cancel that waits for a running callback, the errors before the start
 * and after the stop, nothing firing after the stop) it prints as it exits.
 *
 *   GET /add?delay=&repeat=[&thread=1]  a counting timer; its slot number
 *   GET /count?id=                      how often it fired
 *   GET /cancel?id=                     cancels it; the count then
 *   GET /selfcancel?repeat=&after=      a timer that cancels itself in its
 *                                       callback after `after` runs; its slot
 *   GET /stop?delay=                    a one-shot that stops the server */
#include <berth.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 64

typedef struct slot {
    atomic_int fires;
    int after;                 /* selfcancel: cancel in the callback after this many */
    berth_server_timer *timer; /* the handle as add wrote it: its callback reads it */
    _Atomic(berth_server_timer *) pub; /* ... for other threads (cancel route, the end) */
    atomic_int cancelled;
} slot;

static berth_server *server;
static slot slots[SLOTS];
static atomic_int nslots;
static atomic_int bg_fires;    /* the main thread's own periodic timer */
static atomic_int bg_at_stop = -1;

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void count(berth_server *srv, void *arg)
{
    (void)srv;
    slot *s = arg;
    int n = atomic_fetch_add(&s->fires, 1) + 1;
    if (s->after && n == s->after && !atomic_exchange(&s->cancelled, 1))
        berth_server_timer_cancel(s->timer); /* from inside its own callback */
}

static void bg(berth_server *srv, void *arg)
{
    (void)srv, (void)arg;
    atomic_fetch_add(&bg_fires, 1);
}

static void stop_now(berth_server *srv, void *arg)
{
    (void)arg;
    atomic_store(&bg_at_stop, atomic_load(&bg_fires));
    berth_server_stop(srv);
}

static long query(berth_req *req, const char *name, long dflt)
{
    int64_t v;
    return berth_req_query_int(req, name, &v) == 0 ? (long)v : dflt;
}

static void reply(berth_res *res, int status, long n)
{
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld", n);
    berth_res_send(res, status, "text/plain", buf, (size_t)len);
}

typedef struct add_job {
    unsigned delay, repeat;
    slot *s;
    int rc;
} add_job;

static void *add_thread(void *arg)
{
    add_job *j = arg;
    j->rc = berth_server_timer_add(server, j->delay, j->repeat, count, j->s, &j->s->timer);
    atomic_store(&j->s->pub, j->s->timer);
    return NULL;
}

static slot *slot_new(void)
{
    int i = atomic_fetch_add(&nslots, 1);
    return i < SLOTS ? &slots[i] : NULL;
}

static void add_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    slot *s = slot_new();
    if (!s) {
        reply(res, 503, -1);
        return;
    }
    add_job j = {(unsigned)query(req, "delay", 0), (unsigned)query(req, "repeat", 0), s, 0};
    pthread_t t;
    if (query(req, "thread", 0) && pthread_create(&t, NULL, add_thread, &j) == 0)
        pthread_join(t, NULL); /* a thread that is not the server's */
    else
        add_thread(&j);
    reply(res, j.rc == 0 ? 200 : 500, j.rc == 0 ? (long)(s - slots) : j.rc);
}

static slot *slot_of(berth_req *req)
{
    long id = query(req, "id", -1);
    return id >= 0 && id < atomic_load(&nslots) && id < SLOTS ? &slots[id] : NULL;
}

static void count_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    slot *s = slot_of(req);
    reply(res, s ? 200 : 404, s ? atomic_load(&s->fires) : -1);
}

static void cancel_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    slot *s = slot_of(req);
    if (!s || atomic_exchange(&s->cancelled, 1)) {
        reply(res, 404, -1);
        return;
    }
    berth_server_timer_cancel(atomic_load(&s->pub));
    reply(res, 200, atomic_load(&s->fires));
}

static void selfcancel_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    slot *s = slot_new();
    if (!s) {
        reply(res, 503, -1);
        return;
    }
    s->after = (int)query(req, "after", 3);
    unsigned repeat = (unsigned)query(req, "repeat", 10);
    int rc = berth_server_timer_add(server, repeat, repeat, count, s, &s->timer);
    atomic_store(&s->pub, s->timer);
    reply(res, rc == 0 ? 200 : 500, rc == 0 ? (long)(s - slots) : rc);
}

static void stop_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    int rc = berth_server_timer_add(server, (unsigned)query(req, "delay", 50), 0, stop_now, NULL, NULL);
    reply(res, rc == 0 ? 200 : 500, rc);
}

/* A callback that runs a while: a cancel from the main thread must wait
 * for it to return. */
static atomic_int in_slow, slow_fires;

static void slow(berth_server *srv, void *arg)
{
    (void)srv, (void)arg;
    atomic_store(&in_slow, 1);
    sleep_ms(150);
    atomic_fetch_add(&slow_fires, 1);
    atomic_store(&in_slow, 0);
}

/* "ok", or what went wrong. */
static const char *check_cancel_waits(void)
{
    berth_server_timer *t;
    if (berth_server_timer_add(server, 0, 10, slow, NULL, &t) != 0)
        return "add-failed";
    for (int i = 0; i < 500 && !atomic_load(&in_slow); i++)
        sleep_ms(10);
    if (!atomic_load(&in_slow))
        return "never-ran";
    berth_server_timer_cancel(t);
    if (atomic_load(&in_slow))
        return "still-running-after-cancel";
    int n = atomic_load(&slow_fires);
    sleep_ms(100);
    return atomic_load(&slow_fires) == n ? "ok" : "fired-after-cancel";
}

int main(void)
{
    berth_config cfg;
    berth_config_init(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 2;
    cfg.backend = getenv("HTTP_BACKEND");
    berth_router *r = berth_router_new();
    berth_router_add(r, "GET", "/add", add_route, NULL);
    berth_router_add(r, "GET", "/count", count_route, NULL);
    berth_router_add(r, "GET", "/cancel", cancel_route, NULL);
    berth_router_add(r, "GET", "/selfcancel", selfcancel_route, NULL);
    berth_router_add(r, "GET", "/stop", stop_route, NULL);
    cfg.router = r;
    server = berth_server_new(&cfg);
    if (!server)
        return 1;
    int before = berth_server_timer_add(server, 0, 10, bg, NULL, NULL);
    if (berth_server_start(server) != 0)
        return 1;
    int einval = berth_server_timer_add(server, 0, 0, NULL, NULL, NULL);
    const char *cancel_waits = check_cancel_waits();
    int bg_rc = berth_server_timer_add(server, 5, 5, bg, NULL, NULL);
    printf("http://127.0.0.1:%u backend=%s\n", berth_server_port(server), berth_server_backend(server));
    fflush(stdout);

    berth_server_wait(server); /* /stop's timer stops it */
    int total = atomic_load(&bg_fires);
    for (int i = 0; i < atomic_load(&nslots) && i < SLOTS; i++)
        total += atomic_load(&slots[i].fires);
    int bg_after = atomic_load(&bg_fires);
    sleep_ms(300);
    int total_later = atomic_load(&bg_fires);
    for (int i = 0; i < atomic_load(&nslots) && i < SLOTS; i++)
        total_later += atomic_load(&slots[i].fires);
    int after_stop = berth_server_timer_add(server, 0, 0, bg, NULL, NULL);
    /* Handles stay valid after the stop, until cancelled or the free. */
    for (int i = 0; i < atomic_load(&nslots) && i < SLOTS; i++)
        if (atomic_load(&slots[i].pub) && !atomic_exchange(&slots[i].cancelled, 1))
            berth_server_timer_cancel(atomic_load(&slots[i].pub));
    printf("before_start=%d einval=%d cancel_waits=%s bg_rc=%d bg_fires=%d bg_since_stop=%d "
           "fired_after_wait=%d after_stop_add=%d\n",
           before, einval, cancel_waits, bg_rc, bg_after, bg_after - atomic_load(&bg_at_stop),
           total_later - total, after_stop);
    fflush(stdout);
    berth_server_free(server);
    berth_router_free(r);
    return 0;
}
