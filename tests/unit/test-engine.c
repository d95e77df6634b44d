/* The connection engine: keep-alive, pipelining, fragmentation, bodies. */
#include "engine_harness.h"
#include "test.h"

static const char get_req[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

TEST(engine_answers_get)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, get_req);
    CHECK(strncmp(h.out, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(strstr(h.out, "\r\nContent-Length: 5\r\n") != NULL);
    CHECK(strstr(h.out, "\r\n\r\nhello") != NULL);
    harness_free(&h);
}

TEST(engine_writes_date_server_and_one_connection_header)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, get_req);
    CHECK_INT(harness_count(&h, "\r\nDate: "), 1);
    CHECK_INT(harness_count(&h, "\r\nServer: berth\r\n"), 1);
    CHECK_INT(harness_count(&h, "\r\nConnection: keep-alive\r\n"), 1);
    CHECK_INT(harness_count(&h, "Connection:"), 1);
    harness_free(&h);
}

TEST(engine_keeps_http11_alive)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, get_req);
    harness_feed_str(&h, get_req);
    CHECK_INT(harness_count(&h, "HTTP/1.1 200"), 2);
    CHECK_INT(harness_state(&h), BERTH_PIPE_OPEN);
    harness_free(&h);
}

TEST(engine_closes_after_connection_close)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(harness_count(&h, "HTTP/1.1 200"), 1);
    CHECK_INT(harness_count(&h, "Connection: close\r\n"), 1);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    harness_free(&h);
}

TEST(engine_closes_http10_by_default)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "GET / HTTP/1.0\r\n\r\n");
    CHECK_INT(harness_count(&h, "Connection: close\r\n"), 1);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    harness_free(&h);
}

TEST(engine_keeps_http10_alive_on_request)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    CHECK_INT(harness_count(&h, "Connection: keep-alive\r\n"), 1);
    CHECK_INT(harness_state(&h), BERTH_PIPE_OPEN);
    harness_free(&h);
}

TEST(engine_answers_pipelined_requests_in_order)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "GET /item/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /item/2 HTTP/1.1\r\nHost: a\r\n\r\n"
                         "GET /item/3 HTTP/1.1\r\nHost: a\r\n\r\n");
    char *a = strstr(h.out, "\r\n\r\n1"), *b = strstr(h.out, "\r\n\r\n2"), *c = strstr(h.out, "\r\n\r\n3");
    CHECK(a && b && c && a < b && b < c);
    harness_free(&h);
}

TEST(engine_parses_request_split_at_every_byte)
{
    const char *req = "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nabcde";
    size_t len = strlen(req);
    for (size_t k = 1; k < len; k++) {
        harness h;
        harness_init(&h, NULL);
        harness_feed(&h, req, k, 0);
        CHECK_INT(h.out_len, 0);
        harness_feed(&h, req + k, len - k, 0);
        CHECK(strstr(h.out, "\r\n\r\nabcde") != NULL);
        harness_free(&h);
    }
}

TEST(engine_parses_one_byte_at_a_time)
{
    const char *req = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    harness h;
    harness_init(&h, NULL);
    harness_feed(&h, req, strlen(req), 1);
    CHECK_INT(harness_count(&h, "HTTP/1.1 200"), 2);
    CHECK(strstr(h.out, "\r\n\r\nabc") != NULL);
    harness_free(&h);
}

TEST(engine_skips_empty_lines_before_request)
{
    CHECK_INT(harness_status_of("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
}

TEST(engine_buffers_content_length_body)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz");
    CHECK(strstr(h.out, "\r\n\r\nxyz") != NULL);
    harness_free(&h);
}

TEST(engine_buffers_body_larger_than_input_buffer)
{
    size_t n = 200000;
    char *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    char head[128];
    int hl = snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n", n);
    harness h;
    harness_init(&h, NULL);
    harness_feed(&h, head, (size_t)hl, 0);
    harness_feed(&h, body, n, 7000);
    CHECK(h.out_len > n);
    CHECK(memcmp(h.out + h.out_len - n, body, n) == 0);
    harness_free(&h);
    free(body);
}

TEST(engine_streams_body_without_buffering)
{
    harness h;
    harness_init(&h, NULL);
    const char *head = "POST /count HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n";
    harness_feed_str(&h, head);
    char chunk[10000];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 100; i++)
        harness_feed(&h, chunk, sizeof chunk, 0);
    CHECK(strstr(h.out, "\r\n\r\n1000000") != NULL);
    harness_free(&h);
}

TEST(engine_streams_chunked_body)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "POST /count HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    CHECK(strstr(h.out, "\r\n\r\n11") != NULL);
    harness_free(&h);
}

TEST(engine_sends_100_continue_before_body)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    CHECK(strcmp(h.out, "HTTP/1.1 100 Continue\r\n\r\n") == 0);
    harness_feed_str(&h, "hi");
    CHECK(strstr(h.out, "HTTP/1.1 200 OK\r\n") != NULL);
    CHECK(strstr(h.out, "\r\n\r\nhi") != NULL);
    harness_free(&h);
}

TEST(engine_skips_100_continue_when_body_already_sent)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
    CHECK_INT(harness_count(&h, "100 Continue"), 0);
    CHECK_INT(harness_count(&h, "200 OK"), 1);
    harness_free(&h);
}

TEST(engine_answers_expect_on_unknown_route_without_body)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "POST /nope HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    CHECK(strncmp(h.out, "HTTP/1.1 404 ", 13) == 0);
    CHECK_INT(harness_count(&h, "100 Continue"), 0);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    harness_free(&h);
}

TEST(engine_answers_pipelined_requests_after_peer_eof)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    harness_eof(&h);
    CHECK_INT(harness_count(&h, "HTTP/1.1 200"), 2);
    CHECK_INT(harness_state(&h), BERTH_PIPE_CLOSED);
    harness_free(&h);
}

TEST(engine_truncated_head_then_eof_is_400)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "GET / HTTP/1.1\r\nHo");
    harness_eof(&h);
    CHECK(strncmp(h.out, "HTTP/1.1 400 ", 13) == 0);
    CHECK_INT(harness_state(&h), BERTH_PIPE_CLOSED);
    harness_free(&h);
}

TEST(engine_idle_timeout_closes_silently)
{
    harness h;
    harness_init(&h, NULL);
    CHECK(berth_conn_deadline(h.conn) == h.worker.clock.now_ms + 60000);
    berth_conn_on_timeout(h.conn);
    CHECK_INT(h.out_len, 0);
    CHECK_INT(harness_state(&h), BERTH_PIPE_CLOSED);
    harness_free(&h);
}

TEST(engine_header_timeout_is_408)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "GET / HT");
    CHECK(berth_conn_deadline(h.conn) == h.worker.clock.now_ms + 10000);
    berth_conn_on_timeout(h.conn);
    harness_feed(&h, "", 0, 0); /* collects the output */
    CHECK(strncmp(h.out, "HTTP/1.1 408 ", 13) == 0);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    harness_free(&h);
}

TEST(engine_stops_reading_when_output_backs_up)
{
    harness h;
    harness_init(&h, NULL);
    /* Feed pipelined requests without draining: the engine must refuse
     * input once its output passes the high-water mark. */
    const char *req = get_req;
    size_t rl = strlen(req), fed = 0;
    for (int i = 0; i < 100000; i++) {
        size_t cap;
        char *buf = berth_conn_read_buf(h.conn, &cap);
        if (!buf)
            break;
        size_t n = rl < cap ? rl : cap;
        memcpy(buf, req, n);
        berth_conn_read_done(h.conn, n);
        fed += n;
    }
    CHECK(berth_conn_out_pending(h.conn) < 2 * 1024 * 1024);
    CHECK(fed < 100000 * rl);
    harness_free(&h);
}

static void no_stop_grace(berth_config *c) { c->stop_grace_ms = 0; }

TEST(engine_drain_closes_idle_connection_lingering)
{
    harness h;
    harness_init(&h, no_stop_grace);
    berth_conn_drain(h.conn);
    /* SHUTDOWN, not CLOSED: the write side is shut and input drained, so a
     * request racing the close causes no reset. */
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    CHECK_INT(h.out_len, 0);
    harness_free(&h);
}

TEST(engine_drain_lets_a_busy_connection_send_one_more_request)
{
    harness h;
    harness_init(&h, NULL); /* stop_grace_ms 100 */
    harness_feed_str(&h, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(strstr(h.out, "Connection: keep-alive\r\n") != NULL);
    berth_conn_drain(h.conn);
    CHECK_INT(harness_state(&h), BERTH_PIPE_OPEN);
    CHECK(berth_conn_deadline(h.conn) <= h.worker.clock.now_ms + 100);
    harness_feed_str(&h, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_INT(harness_count(&h, "Connection: close\r\n"), 1);
    CHECK_INT(harness_count(&h, "hello"), 2);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    harness_free(&h);
}

TEST(engine_drain_grace_ends_with_a_lingering_close)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    berth_conn_drain(h.conn);
    h.worker.clock.now_ms += 100;
    CHECK(berth_conn_deadline(h.conn) <= h.worker.clock.now_ms);
    berth_conn_on_timeout(h.conn);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    CHECK_INT(harness_count(&h, "HTTP/1.1"), 1); /* nothing more was said */
    harness_free(&h);
}

TEST(engine_drain_answers_every_request_already_read)
{
    harness h;
    harness_init(&h, NULL);
    /* Three requests in one read; the first is deferred, so the stop comes
     * while the other two wait in the input buffer. */
    harness_feed_str(&h, "GET /defer HTTP/1.1\r\nHost: a\r\n\r\n"
                         "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
                         "GET /item/7 HTTP/1.1\r\nHost: a\r\n\r\n");
    berth_conn_drain(h.conn);
    berth_stream_send(harness_stream, 200, "text/plain", "first", 5);
    harness_pump(&h);
    CHECK_INT(harness_count(&h, "HTTP/1.1 200"), 3);
    CHECK_INT(harness_count(&h, "Connection: keep-alive\r\n"), 2);
    char *close = strstr(h.out, "Connection: close\r\n");
    CHECK(close && strstr(close, "\r\n\r\n7") != NULL); /* the last says close */
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    harness_free(&h);
}

TEST(engine_drain_finishes_request_in_flight)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab");
    berth_conn_drain(h.conn);
    CHECK_INT(harness_state(&h), BERTH_PIPE_OPEN);
    harness_feed_str(&h, "cd");
    CHECK(strstr(h.out, "Connection: close\r\n") != NULL);
    CHECK(strstr(h.out, "\r\n\r\nabcd") != NULL);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    harness_free(&h);
}

TEST(engine_sends_large_borrowed_body_whole)
{
    for (size_t i = 0; i < sizeof harness_big; i++)
        harness_big[i] = (char)('a' + i % 26);
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(strstr(h.out, "\r\nContent-Length: 100000\r\n") != NULL);
    char *body = strstr(h.out, "\r\n\r\n");
    CHECK(body && h.out + h.out_len - (body + 4) == (long)sizeof harness_big);
    CHECK(memcmp(body + 4, harness_big, sizeof harness_big) == 0);
    harness_free(&h);
}

TEST(engine_copies_a_borrowed_request_body)
{
    /* The partial second head is moved to the start of the input buffer,
     * over the first request's body, before the response is written out. */
    static char req[32768];
    int n = snprintf(req, sizeof req, "POST /echo-borrow HTTP/1.1\r\nHost: a\r\nContent-Length: 20000\r\n\r\n");
    memset(req + n, 'A', 20000);
    n += 20000;
    n += snprintf(req + n, sizeof req - (size_t)n, "GET / HTTP/1.1\r\nX: ");
    memset(req + n, 'B', 300);
    n += 300;
    harness h;
    harness_init(&h, NULL);
    harness_feed(&h, req, (size_t)n, 0);
    char *body = strstr(h.out, "\r\n\r\n");
    CHECK(body && h.out + h.out_len - (body + 4) == 20000);
    for (int i = 0; i < 20000; i++)
        CHECK(body[4 + i] == 'A');
    harness_free(&h);
}

TEST(engine_reads_body_of_pipelined_head_that_fills_the_buffer)
{
    /* A GET, then a POST whose head ends exactly at the input buffer's
     * end: the head must make room for its body, not stall. */
    harness h;
    harness_init(&h, NULL);
    size_t bs = h.worker.buf_pool.block_size;
    static char req[65536];
    int n = 0;
    for (int i = 0; i < 20; i++) /* 20 GETs of about 1 KiB each */
        n += snprintf(req + n, sizeof req - (size_t)n, "GET / HTTP/1.1\r\nHost: a\r\nX: %01000d\r\n\r\n", i);
    n += snprintf(req + n, sizeof req - (size_t)n, "POST /x/42 HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nX: ");
    size_t pad = bs - (size_t)n - 4; /* "\r\n\r\n" ends the head at bs */
    memset(req + n, 'v', pad);
    n += (int)pad;
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n0123456789");
    CHECK_INT(n, (long long)bs + 10);
    harness_feed(&h, req, (size_t)n, 0);
    CHECK_INT(harness_count(&h, "HTTP/1.1 200 OK"), 21);
    char *last = strstr(h.out, "|42|");
    CHECK(last != NULL);
    while (last > h.out && memcmp(last, "\r\n\r\n", 4) != 0)
        last--;
    CHECK(last != NULL);
    CHECK_INT(h.out + h.out_len - (last + 4), (long long)pad + 14);
    CHECK(last[4] == 'v' && last[4 + pad - 1] == 'v');
    CHECK(memcmp(last + 4 + pad, "|42|0123456789", 14) == 0);
    harness_free(&h);
}

TEST(engine_sends_no_100_continue_to_http10)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    CHECK_INT(h.out_len, 0);
    harness_feed_str(&h, "hello");
    CHECK(strncmp(h.out, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(strstr(h.out, "\r\n\r\nhello") != NULL);
    harness_free(&h);
}
