/* What crosses between the engine and its transport (core/transport.h,
 * core/pipe.h's awaits_app): the local address asked of the transport
 * only when a handler wants it, and never when a PROXY header gave it;
 * a stream call on the owner thread handed to the transport's flush; the
 * "awaits its application" question answered through a layer. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include "../../core/proxy.h"
#include "engine_harness.h"
#include "test.h"

static int local_calls, flush_calls;
static void *seen_handle;
static char handles[3]; /* what connections are given as their transport's handle */

static int fake_local(void *transport, berth_addr *out)
{
    local_calls++;
    seen_handle = transport;
    out->family = BERTH_AF_INET;
    out->port = 8080;
    snprintf(out->text, sizeof out->text, "10.0.0.1");
    return 0;
}

static void fake_flush(void *transport)
{
    flush_calls++;
    seen_handle = transport;
}

static const berth_transport_ops fake_transport = {fake_local, fake_flush};

/* GET /local: "<text> <port>" of berth_req_local, or "none". */
static void route_local(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_addr a;
    char body[160];
    int n = berth_req_local(req, &a) == 0 ? snprintf(body, sizeof body, "%s %u", a.text, a.port)
                                          : snprintf(body, sizeof body, "none");
    berth_res_send(res, 200, "text/plain", body, (size_t)n);
}

static void setup(harness *h, int handle)
{
    harness_init(h, NULL);
    berth_router_add(h->router, "GET", "/local", route_local, NULL);
    h->worker.transport = &fake_transport;
    berth_conn_set_transport(h->conn, &handles[handle]);
    local_calls = flush_calls = 0;
    seen_handle = NULL;
}

TEST(transport_local_address_only_when_a_handler_asks)
{
    harness h;
    setup(&h, 1);
    harness_feed_str(&h, "GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK_INT(harness_count(&h, "HTTP/1.1 200"), 2);
    CHECK_INT(local_calls, 0); /* nothing asked: no getsockname */
    harness_feed_str(&h, "GET /local HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK_INT(local_calls, 1);
    CHECK(seen_handle == &handles[1]); /* the connection's handle */
    CHECK_INT(harness_count(&h, "10.0.0.1 8080"), 1);
    /* A PROXY header's local address is the engine's own: not asked. */
    struct sockaddr_in l = {.sin_family = AF_INET, .sin_port = htons(443)};
    l.sin_addr.s_addr = htonl(0xC6336401); /* 198.51.100.1 */
    berth_conn_set_addrs(h.conn, NULL, 0, (struct sockaddr *)&l, sizeof l);
    harness_feed_str(&h, "GET /local HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK_INT(local_calls, 1);
    CHECK_INT(harness_count(&h, "198.51.100.1 443"), 1);
    harness_free(&h);
}

TEST(transport_none_no_local_address)
{
    harness h;
    setup(&h, 0);
    h.worker.transport = NULL; /* the engine's tests: no transport */
    harness_feed_str(&h, "GET /local HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK_INT(harness_count(&h, "none"), 1);
    harness_free(&h);
}

TEST(transport_flush_takes_owner_thread_stream_output)
{
    harness h;
    setup(&h, 2);
    harness_feed_str(&h, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"); /* start, write in the handler */
    CHECK(flush_calls >= 1);
    CHECK(seen_handle == &handles[2]);
    int before = flush_calls;
    CHECK(berth_stream_write(harness_stream, "more", 4) == 0);
    CHECK_INT(flush_calls, before + 1);
    CHECK(berth_stream_end(harness_stream) == 0);
    harness_pump(&h);
    CHECK_INT(harness_count(&h, "more"), 1);
    harness_free(&h);
}

/* Feeds s to the top of a pipe stack, as a backend's drive does. */
static void pipe_feed(berth_pipe *p, const char *s)
{
    size_t len = strlen(s), off = 0;
    while (off < len) {
        size_t cap;
        char *buf = p->ops->read_buf(p, &cap);
        if (!buf)
            return;
        size_t n = len - off < cap ? len - off : cap;
        memcpy(buf, s + off, n);
        off += n;
        p->ops->read_done(p, n);
    }
}

TEST(transport_awaits_app_answered_through_the_proxy_layer)
{
    harness h;
    setup(&h, 0);
    berth_conn *c = berth_conn_new(&h.worker, 0);
    CHECK(c != NULL);
    berth_proxy_ctx pc = {NULL};
    berth_pipe *top = berth_proxy_wrap(&pc, c, &h.worker);
    CHECK(top != NULL && top != berth_conn_pipe(c));
    CHECK_INT(berth_pipe_awaits_app(top), 0);
    pipe_feed(top, "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n"
                   "GET /defer HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK_INT(berth_conn_waiting(c), 1);     /* the engine waits for its application */
    CHECK_INT(berth_pipe_awaits_app(top), 1); /* and the top of the stack says so */
    CHECK(berth_stream_send(harness_stream, 200, "text/plain", "done", 4) == 0);
    CHECK_INT(berth_pipe_awaits_app(top), 0);
    top->ops->free(top); /* the stack, the engine with it */
    harness_free(&h);
}
