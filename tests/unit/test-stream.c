/* Deferred and streamed responses through the engine. */
#include <pthread.h>

#include "engine_harness.h"
#include "test.h"

static const char defer_req[] = "GET /defer HTTP/1.1\r\nHost: a\r\n\r\n";
static const char stream_req[] = "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n";

TEST(stream_deferred_response_completes_later)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, defer_req);
    CHECK_INT(h.out_len, 0);
    CHECK_INT(berth_stream_send(harness_stream, 201, "text/plain", "done", 4), 0);
    harness_pump(&h);
    CHECK(strncmp(h.out, "HTTP/1.1 201 Created\r\n", 22) == 0);
    CHECK(strstr(h.out, "\r\nX-Before: kept\r\n") != NULL);
    CHECK(strstr(h.out, "\r\nContent-Length: 4\r\n") != NULL);
    CHECK(strstr(h.out, "\r\n\r\ndone") != NULL);
    harness_free(&h);
}

static void *send_from_thread(void *arg)
{
    berth_stream_send(arg, 200, "text/plain", "from a thread", 13);
    return NULL;
}

TEST(stream_deferred_response_from_another_thread)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, defer_req);
    pthread_t t;
    pthread_create(&t, NULL, send_from_thread, harness_stream);
    pthread_join(t, NULL);
    CHECK_INT(h.out_len, 0); /* queued until the owner applies it */
    harness_pump(&h);
    CHECK(strstr(h.out, "\r\n\r\nfrom a thread") != NULL);
    harness_free(&h);
}

TEST(stream_chunks_arrive_in_order_chunked)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, stream_req);
    berth_stream *s = harness_stream;
    CHECK_INT(berth_stream_write(s, "second", 6), 0);
    CHECK_INT(berth_stream_end(s), 0);
    harness_pump(&h);
    CHECK(strstr(h.out, "\r\nTransfer-Encoding: chunked\r\n") != NULL);
    CHECK(strstr(h.out, "\r\n\r\n5\r\nfirst\r\n6\r\nsecond\r\n0\r\n\r\n") != NULL);
    CHECK_INT(harness_count(&h, "Content-Length"), 0);
    harness_free(&h);
}

TEST(stream_http10_is_close_delimited)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "GET /stream HTTP/1.0\r\n\r\n");
    berth_stream_end(harness_stream);
    harness_pump(&h);
    CHECK_INT(harness_count(&h, "Transfer-Encoding"), 0);
    CHECK(strstr(h.out, "\r\nConnection: close\r\n\r\nfirst") != NULL);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    harness_free(&h);
}

TEST(stream_pipelined_request_waits_for_deferred_response)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(h.out_len, 0);
    berth_stream_send(harness_stream, 200, NULL, "one", 3);
    harness_pump(&h);
    char *one = strstr(h.out, "\r\n\r\none"), *two = strstr(h.out, "\r\n\r\nhello");
    CHECK(one && two && one < two);
    harness_free(&h);
}

static int closes;
static void on_close(berth_stream *s, void *arg)
{
    (void)arg;
    closes++;
    berth_stream_end(s);
}

TEST(stream_client_disconnect_is_reported_once)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, stream_req);
    berth_stream *s = harness_stream;
    closes = 0;
    berth_stream_on_close(s, on_close, NULL);
    harness_eof(&h); /* the client goes away */
    CHECK_INT(harness_state(&h), BERTH_PIPE_CLOSED);
    CHECK_INT(berth_stream_gone(s), 1);
    CHECK_INT(closes, 0); /* reported when the backend frees the connection */
    harness_free(&h);
    CHECK_INT(closes, 1);
}

/* A write that fails on a reset socket kills the connection from inside
 * a drive; a backend that closes later (libuv) may drive it again and
 * see the write fail again. The second kill must not queue it for another
 * drive: the worker's wake loop would never end. */
TEST(stream_connection_killed_twice_is_queued_once)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, stream_req);
    berth_stream_on_close(harness_stream, on_close, NULL); /* releases the handle */
    berth_conn_abort(h.conn);
    CHECK(berth_worker_next_woken(&h.worker) == h.conn); /* driven once to be closed */
    CHECK(berth_worker_next_woken(&h.worker) == NULL);
    berth_conn_abort(h.conn);
    CHECK(berth_worker_next_woken(&h.worker) == NULL);
    CHECK_INT(harness_state(&h), BERTH_PIPE_CLOSED);
    harness_free(&h);
}

/* What the fast backend does when a write made inside a callback fails:
 * the connection dies under the callback's feet. */
static int write_rc, closes_inside;
static void write_then_fail(berth_stream *s, void *arg)
{
    harness *h = arg;
    berth_conn_abort(h->conn);
    write_rc = berth_stream_write(s, "x", 1);
    closes_inside = closes;
}

TEST(stream_on_close_never_runs_inside_another_callback)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, stream_req);
    berth_stream *s = harness_stream;
    closes = 0;
    berth_stream_on_close(s, on_close, NULL);
    CHECK(berth_stream_timer(s, 0, 0, write_then_fail, &h) != NULL);
    write_rc = 0;
    closes_inside = -1;
    berth_worker_run_timers(&h.worker);
    CHECK_INT(write_rc, BERTH_EGONE);
    CHECK_INT(closes_inside, 0); /* not run inside the timer's callback */
    CHECK_INT(closes, 0);
    CHECK_INT(harness_state(&h), BERTH_PIPE_CLOSED);
    harness_free(&h);
    CHECK_INT(closes, 1); /* and the handle was released by on_close */
}

TEST(stream_on_close_set_after_the_client_went_away_still_runs)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, stream_req);
    berth_stream *s = harness_stream;
    closes = 0;
    berth_conn_abort(h.conn); /* e.g. the first write failed in the handler */
    berth_stream_on_close(s, on_close, NULL);
    harness_free(&h);
    CHECK_INT(closes, 1);
}

static int stops, stopping_seen;
static void on_stop(berth_stream *s, void *arg)
{
    (void)arg;
    stops++;
    stopping_seen = berth_stream_stopping(s);
    berth_stream_write(s, "bye", 3);
    berth_stream_end(s);
}

TEST(stream_on_stop_runs_once_and_can_end_the_stream)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, stream_req);
    berth_stream *s = harness_stream;
    stops = 0;
    CHECK_INT(berth_stream_stopping(s), 0);
    berth_stream_on_stop(s, on_stop, NULL);
    berth_conn_drain(h.conn);
    CHECK_INT(stops, 1);
    CHECK_INT(stopping_seen, 1);
    harness_pump(&h);
    /* The head went out keep-alive before the stop: the terminating chunk
     * ends the response and the connection closes after it. */
    CHECK(strstr(h.out, "3\r\nbye\r\n0\r\n\r\n") != NULL);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    berth_conn_drain(h.conn);
    CHECK_INT(stops, 1);
    harness_free(&h);
}

TEST(stream_deferred_response_after_stop_says_close)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, defer_req);
    berth_conn_drain(h.conn);
    berth_stream_send(harness_stream, 200, "text/plain", "late", 4);
    harness_pump(&h);
    CHECK(strstr(h.out, "Connection: close\r\n\r\nlate") != NULL);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    harness_free(&h);
}

TEST(stream_write_after_disconnect_fails)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, stream_req);
    berth_stream *s = harness_stream;
    harness_eof(&h);
    CHECK_INT(berth_stream_gone(s), 1);
    CHECK_INT(berth_stream_write(s, "x", 1), BERTH_EGONE);
    CHECK_INT(berth_stream_end(s), BERTH_EGONE); /* still releases the handle */
    harness_free(&h);
}

static void small_stream_buffer(berth_config *c) { c->max_stream_buffer = 64 * 1024; }

TEST(stream_slow_reader_hits_buffer_limit)
{
    harness h;
    harness_init(&h, small_stream_buffer);
    harness_feed_str(&h, stream_req); /* note: the harness drains output... */
    berth_stream *s = harness_stream;
    /* ...so write without draining: the engine's output grows until full. */
    char chunk[8192];
    memset(chunk, 'x', sizeof chunk);
    int rc = 0, accepted = 0;
    for (int i = 0; i < 1000 && rc == 0; i++) {
        rc = berth_stream_write(s, chunk, sizeof chunk);
        if (rc == 0)
            accepted++;
    }
    CHECK_INT(rc, BERTH_EAGAIN);
    CHECK(accepted * sizeof chunk <= 64 * 1024);
    CHECK(berth_stream_buffered(s) <= 64 * 1024 + 64);
    berth_stream_end(s);
    harness_free(&h);
}

static int ticks;
static void on_tick(berth_stream *s, void *arg)
{
    (void)arg;
    if (++ticks == 3)
        berth_stream_end(s);
    else
        berth_stream_write(s, "t", 1);
}

TEST(stream_timer_repeats_until_stream_ends)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, stream_req);
    ticks = 0;
    CHECK(berth_stream_timer(harness_stream, 10, 10, on_tick, NULL) != NULL);
    for (int i = 0; i < 10; i++) {
        h.worker.clock.now_ms += 10;
        berth_worker_run_timers(&h.worker);
    }
    harness_pump(&h);
    CHECK_INT(ticks, 3);
    CHECK(strstr(h.out, "1\r\nt\r\n1\r\nt\r\n0\r\n\r\n") != NULL);
    harness_free(&h);
}

TEST(stream_timer_refused_off_owner_thread_is_null)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, stream_req);
    berth_stream *s = harness_stream;
    h.worker.owner = (pthread_t)0; /* pretend we are another thread */
    CHECK(berth_stream_timer(s, 10, 0, on_tick, NULL) == NULL);
    h.worker.owner = pthread_self();
    berth_stream_end(s);
    harness_free(&h);
}

static void sse_route(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    harness_stream = berth_sse_start(res, 0);
}

TEST(sse_splits_multiline_data)
{
    harness h;
    harness_init(&h, NULL);
    berth_router_add(h.router, "GET", "/sse", sse_route, NULL);
    harness_feed_str(&h, "GET /sse HTTP/1.1\r\nHost: a\r\n\r\n");
    berth_stream *s = harness_stream;
    CHECK_INT(berth_sse_send(s, "msg", "7", "a\nb\r\nc\rd", 8), 0);
    CHECK_INT(berth_sse_send(s, "bad\nevent", NULL, "x", 1), BERTH_EINVAL);
    berth_stream_end(s);
    harness_pump(&h);
    CHECK(strstr(h.out, "Content-Type: text/event-stream\r\n") != NULL);
    CHECK(strstr(h.out, "event: msg\nid: 7\ndata: a\ndata: b\ndata: c\ndata: d\n\n") != NULL);
    harness_free(&h);
}
