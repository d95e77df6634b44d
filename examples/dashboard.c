/* A live dashboard: a WebSocket chat and a feed of the server's own
 * counters, on two topics and a server timer (no thread of its own).
 *   GET /        the page, which uses both
 *   GET /chat    the chat (ws://host:port/chat): every text message goes to
 *                every member as "N: text"; joins and leaves are announced
 *   GET /stats   server-sent events: "stats", every second, a JSON object of
 *                berth_server_stats' counters (requests, connections, ...)
 * At the stop (SIGTERM, SIGINT) every member is told "server going down"
 * before the 1001 close, and the event streams end.
 * The topics write each copy on its subscriber's thread, skip a too slow one
 * and forget those that left: no member list, lock or cleanup here.
 * Try: PORT=8080 ./dashboard & then open http://localhost:8080/ in two tabs,
 * or curl -N localhost:8080/stats */
#include <berth.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static berth_server *server;
static berth_topic *chat_room, *stats_feed;
static atomic_ulong next_member = 1;

static const char page[] =
    "<!doctype html><meta charset=utf-8><title>berth dashboard</title>\n"
    "<pre id=stats>waiting for stats</pre><pre id=out></pre>\n"
    "<form id=f><input id=msg autocomplete=off><button>send</button></form><script>\n"
    "const ws = new WebSocket('ws' + location.origin.slice(4) + '/chat');\n"
    "ws.onmessage = e => out.textContent += e.data + '\\n';\n"
    "ws.onclose = e => out.textContent += '* closed ' + e.code + '\\n';\n"
    "f.onsubmit = e => { e.preventDefault(); ws.send(msg.value); msg.value = ''; };\n"
    "new EventSource('/stats').addEventListener('stats', e => stats.textContent = e.data);\n"
    "</script>\n";

static void on_signal(int sig) { (void)sig; berth_server_stop(server); }

/* To every member (the sender too), never cut (a cut could split a UTF-8
 * character: refused by the topic); "N: " and max_message's 4096 bytes fit. */
static void say(const char *fmt, ...)
{
    char line[4200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof line)
        berth_topic_publish(chat_room, BERTH_WS_TEXT, NULL, line, (size_t)n);
}

static void on_open(berth_ws *ws, void *user)
{
    (void)user;
    unsigned long n = atomic_fetch_add(&next_member, 1);
    berth_ws_set_user(ws, (void *)n);
    berth_topic_subscribe_ws(chat_room, ws);
    say("* %lu joined", n);
}

static void on_message(berth_ws *ws, int type, const char *data, size_t len, void *user)
{
    if (type != BERTH_WS_TEXT) /* the room is text (max_message keeps it short) */
        berth_ws_close(ws, 1003, "text only");
    else
        say("%lu: %.*s", (unsigned long)user, (int)len, data);
}

/* The topic drops the leaver by itself; the others are told. */
static void on_close(berth_ws *ws, int code, berth_str reason, void *user)
{
    (void)ws, (void)code, (void)reason;
    say("* %lu left", (unsigned long)user);
}

/* The server is stopping: this goes out before berth's 1001. */
static void on_stop(berth_ws *ws, void *user)
{
    (void)user;
    berth_ws_send(ws, BERTH_WS_TEXT, "server going down", 17);
}

static void chat(berth_req *req, berth_res *res, void *user)
{
    berth_ws_upgrade(req, res, user, NULL); /* a plain GET gets berth's 400 */
}

/* Every event stream is the application's to end, once: when its client
 * leaves, or at the stop. */
static void end_stream(berth_stream *s, void *arg) { (void)arg; berth_stream_end(s); }

static void stats(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_stream *s = berth_sse_start(res, 15000); /* a comment every 15 s keeps proxies open */
    if (!s)
        return;
    berth_stream_on_close(s, end_stream, NULL);
    berth_stream_on_stop(s, end_stream, NULL);
    berth_topic_subscribe_sse(stats_feed, s);
}

static void index_page(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_res_send(res, 200, "text/html; charset=utf-8", page, sizeof page - 1);
}

/* The server timer, every second on a worker: it must not block, and
 * summing the counters and one publish do not. */
static void publish_stats(berth_server *srv, void *arg)
{
    (void)arg;
    berth_stats st;
    berth_server_stats(srv, &st);
    char json[256]; /* requests: the last duration bucket counts them all */
    int n = snprintf(json, sizeof json, "{\"requests\":%" PRIu64 ",\"connections\":%" PRIu64
                     ",\"open\":%" PRIu64 ",\"websockets\":%" PRIu64 ",\"messages\":%" PRIu64 "}",
                     st.duration_count[BERTH_STATS_BUCKETS - 1], st.connections_accepted,
                     st.connections_open[0] + st.connections_open[1], st.connections_open[2],
                     st.ws_messages_received);
    berth_topic_publish(stats_feed, BERTH_WS_TEXT, "stats", json, (size_t)n);
}

int main(void)
{
    berth_ws_config chat_cfg;
    berth_ws_config_init(&chat_cfg);
    chat_cfg.on_open = on_open;
    chat_cfg.on_message = on_message;
    chat_cfg.on_close = on_close;
    chat_cfg.on_stop = on_stop;
    chat_cfg.max_message = 4096;
    chat_room = berth_topic_new(BERTH_TOPIC_DROP);
    stats_feed = berth_topic_new(BERTH_TOPIC_DROP);
    berth_router *r = berth_router_new();
    if (!chat_room || !stats_feed || !r || berth_router_add(r, "GET", "/", index_page, NULL) ||
        berth_router_add(r, "GET", "/chat", chat, &chat_cfg) ||
        berth_router_add(r, "GET", "/stats", stats, NULL)) {
        fprintf(stderr, "dashboard: %s\n", r ? berth_router_error(r) : "out of memory");
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
    int rc = berth_server_start(server); /* a timer belongs to a running server */
    if (!rc) {
        if ((rc = berth_server_timer_add(server, 1000, 1000, publish_stats, NULL, NULL)))
            berth_server_stop(server);
        berth_server_wait(server); /* the stop ends the timer */
    }
    berth_topic_free(chat_room); /* no callback runs now; before the handles go */
    berth_topic_free(stats_feed);
    berth_server_free(server);
    berth_router_free(r);
    return rc ? 1 : 0;
}
