/* WebSocket through the engine: the handshake, echo, control frames, the
 * close codes, queued sends, the buffer limit, idle pings and the stop. */
#include <pthread.h>

#include "../../core/conn_impl.h"
#include "../../core/ws_frame.h"
#include "engine_harness.h"
#include "test.h"

static const char handshake[] = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                                "Connection: keep-alive, Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n"
                                "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n";

static struct {
    berth_ws *ws;
    int opened, closed, close_code;
    char reason[128];
    int echo;
} ev;
static berth_ws_config cfg;

static void on_open(berth_ws *ws, void *user)
{
    (void)user;
    ev.ws = ws;
    ev.opened++;
}

static void on_message(berth_ws *ws, int type, const char *data, size_t len, void *user)
{
    (void)user;
    if (ev.echo)
        berth_ws_send(ws, type, data, len);
}

static void on_close(berth_ws *ws, int code, berth_str reason, void *user)
{
    (void)ws;
    (void)user;
    ev.closed++;
    ev.close_code = code;
    memcpy(ev.reason, reason.ptr, reason.len);
    ev.reason[reason.len] = 0;
}

static void route_ws(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    if (berth_ws_offered(req, "chat"))
        cfg.protocol = "chat";
    berth_ws_upgrade(req, res, &cfg, NULL);
}

static void setup(harness *h)
{
    memset(&ev, 0, sizeof ev);
    ev.echo = 1;
    berth_ws_config_init(&cfg);
    cfg.on_open = on_open;
    cfg.on_message = on_message;
    cfg.on_close = on_close;
    harness_init(h, NULL);
    berth_router_add(h->router, "GET", "/ws", route_ws, NULL);
}

/* Upgrades and forgets the 101 (the output starts over). */
static void open_ws(harness *h)
{
    setup(h);
    harness_feed_str(h, handshake);
    h->out_len = 0;
    h->out[0] = 0;
}

/* A masked client frame. */
static size_t cframe(char *out, int b0, const void *data, size_t len)
{
    static const unsigned char m[4] = {1, 2, 3, 4};
    size_t n = 0;
    out[n++] = (char)b0;
    if (len < 126) {
        out[n++] = (char)(0x80 | len);
    } else {
        out[n++] = (char)(0x80 | 126);
        out[n++] = (char)(len >> 8);
        out[n++] = (char)len;
    }
    memcpy(out + n, m, 4);
    n += 4;
    for (size_t i = 0; i < len; i++)
        out[n + i] = (char)(((const unsigned char *)data)[i] ^ m[i & 3]);
    return n + len;
}

static void send_frame(harness *h, int b0, const void *data, size_t len)
{
    static char f[70000];
    harness_feed(h, f, cframe(f, b0, data, len), 0);
}

/* The close code of the server's close frame in the output, or -1. */
static int out_close_code(const harness *h)
{
    const unsigned char *o = (const unsigned char *)h->out;
    for (size_t i = 0; i + 1 < h->out_len;) {
        size_t len = o[i + 1] & 0x7F, hl = 2;
        if (len == 126) {
            len = (size_t)o[i + 2] << 8 | o[i + 3], hl = 4;
        } else if (len == 127) {
            len = 0, hl = 10;
            for (int k = 0; k < 8; k++)
                len = len << 8 | o[i + 2 + k];
        }
        if ((o[i] & 0x0F) == BERTH_WS_OP_CLOSE)
            return len >= 2 ? o[i + hl] << 8 | o[i + hl + 1] : 0;
        i += hl + len;
    }
    return -1;
}

TEST(ws_handshake_answers_101_with_accept)
{
    harness h;
    setup(&h);
    harness_feed_str(&h, handshake);
    CHECK(strncmp(h.out, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0);
    /* RFC 6455 section 1.3's example key and answer. */
    CHECK(strstr(h.out, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != NULL);
    CHECK(strstr(h.out, "\r\nUpgrade: websocket\r\n") != NULL);
    CHECK(strstr(h.out, "\r\nConnection: Upgrade\r\n") != NULL);
    CHECK(strstr(h.out, "\r\nSec-WebSocket-Protocol: chat\r\n") != NULL);
    CHECK_INT(harness_count(&h, "Content-Length"), 0);
    CHECK_INT(harness_count(&h, "Sec-WebSocket-Extensions"), 0);
    CHECK_INT(ev.opened, 1);
    harness_free(&h);
    CHECK_INT(ev.closed, 1);
    CHECK_INT(ev.close_code, BERTH_WS_CLOSE_ABNORMAL);
}

TEST(ws_plain_get_is_400)
{
    harness h;
    setup(&h);
    harness_feed_str(&h, "GET /ws HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(strncmp(h.out, "HTTP/1.1 400 ", 13) == 0);
    CHECK_INT(ev.opened, 0);
    harness_free(&h);
    CHECK_INT(ev.closed, 0);
}

TEST(ws_wrong_version_is_426)
{
    harness h;
    setup(&h);
    harness_feed_str(&h, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 8\r\n\r\n");
    CHECK(strncmp(h.out, "HTTP/1.1 426 ", 13) == 0);
    CHECK(strstr(h.out, "\r\nSec-WebSocket-Version: 13\r\n") != NULL);
    harness_free(&h);
}

TEST(ws_bad_handshakes_are_400)
{
    static const char *bad[] = {
        /* a key of 15 bytes */
        "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\nSec-WebSocket-Version: 13\r\n\r\n",
        /* not base64 */
        "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j*Q==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        /* no Connection: upgrade */
        "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        /* HTTP/1.0 */
        "GET /ws HTTP/1.0\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        /* no key */
        "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        harness h;
        setup(&h);
        harness_feed_str(&h, bad[i]);
        CHECK(strncmp(h.out, "HTTP/1.1 400 ", 13) == 0);
        CHECK_INT(ev.opened, 0);
        harness_free(&h);
    }
}

TEST(ws_echo_text_and_binary)
{
    harness h;
    open_ws(&h);
    send_frame(&h, 0x81, "hello", 5);
    CHECK(h.out_len == 7 && memcmp(h.out, "\x81\x05hello", 7) == 0);
    static char big[300];
    memset(big, 'b', sizeof big);
    h.out_len = 0;
    send_frame(&h, 0x82, big, sizeof big);
    CHECK(h.out_len == 304 && memcmp(h.out, "\x82\x7e\x01\x2c", 4) == 0);
    harness_free(&h);
}

TEST(ws_frames_right_after_the_handshake_are_read)
{
    harness h;
    setup(&h);
    char all[512];
    size_t n = strlen(handshake);
    memcpy(all, handshake, n);
    n += cframe(all + n, 0x81, "early", 5);
    harness_feed(&h, all, n, 0);
    CHECK(memmem(h.out, h.out_len, "\x81\x05" "early", 7) != NULL);
    harness_free(&h);
}

TEST(ws_fragmented_message_is_delivered_whole)
{
    harness h;
    open_ws(&h);
    send_frame(&h, 0x01, "frag", 4);
    send_frame(&h, 0x89, "p", 1); /* a ping between fragments */
    send_frame(&h, 0x80, "ment", 4);
    CHECK(h.out_len == 3 + 10 && memcmp(h.out, "\x8a\x01p\x81\x08" "fragment", 13) == 0);
    harness_free(&h);
}

TEST(ws_ping_is_answered_with_its_payload)
{
    harness h;
    open_ws(&h);
    send_frame(&h, 0x89, "are you there", 13);
    CHECK(h.out_len == 15 && memcmp(h.out, "\x8a\x0d" "are you there", 15) == 0);
    harness_free(&h);
}

TEST(ws_close_is_echoed_and_reported)
{
    harness h;
    open_ws(&h);
    send_frame(&h, 0x88, "\x03\xe8" "done", 6);
    CHECK(h.out_len == 4 && memcmp(h.out, "\x88\x02\x03\xe8", 4) == 0);
    CHECK_INT(ev.closed, 1);
    CHECK_INT(ev.close_code, 1000);
    CHECK(strcmp(ev.reason, "done") == 0);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    CHECK_INT(berth_ws_send(ev.ws, BERTH_WS_TEXT, "x", 1), BERTH_EGONE);
    harness_eof(&h);
    CHECK_INT(harness_state(&h), BERTH_PIPE_CLOSED);
    harness_free(&h);
    CHECK_INT(ev.closed, 1);
}

TEST(ws_protocol_error_closes_1002)
{
    harness h;
    open_ws(&h);
    static const char unmasked[] = "\x81\x02hi";
    harness_feed(&h, unmasked, 4, 0);
    CHECK_INT(out_close_code(&h), 1002);
    CHECK_INT(ev.close_code, 1002);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    harness_free(&h);
}

TEST(ws_invalid_utf8_closes_1007)
{
    harness h;
    open_ws(&h);
    send_frame(&h, 0x81, "\xc3\x28", 2);
    CHECK_INT(out_close_code(&h), 1007);
    CHECK_INT(ev.close_code, 1007);
    harness_free(&h);
}

TEST(ws_too_big_closes_1009)
{
    harness h;
    setup(&h);
    cfg.max_message = 100;
    harness_feed_str(&h, handshake);
    h.out_len = 0;
    static char big[101];
    send_frame(&h, 0x82, big, sizeof big);
    CHECK_INT(out_close_code(&h), 1009);
    CHECK_INT(ev.close_code, 1009);
    harness_free(&h);
}

TEST(ws_application_close_sends_its_code)
{
    harness h;
    open_ws(&h);
    CHECK_INT(berth_ws_close(ev.ws, 4000, "bye now"), 0);
    CHECK(h.out_len == 0 || out_close_code(&h) == 4000);
    harness_pump(&h);
    CHECK_INT(out_close_code(&h), 4000);
    CHECK(memmem(h.out, h.out_len, "bye now", 7) != NULL);
    CHECK_INT(ev.closed, 1);
    CHECK_INT(ev.close_code, 4000);
    CHECK_INT(berth_ws_close(ev.ws, 1000, NULL), BERTH_EGONE);
    harness_free(&h);
    CHECK_INT(ev.closed, 1);
}

TEST(ws_close_arguments_are_checked)
{
    harness h;
    open_ws(&h);
    CHECK_INT(berth_ws_close(ev.ws, 1005, NULL), BERTH_EINVAL);
    CHECK_INT(berth_ws_close(ev.ws, 0, "reason without code"), BERTH_EINVAL);
    char longer[130];
    memset(longer, 'r', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    CHECK_INT(berth_ws_close(ev.ws, 1000, longer), BERTH_EINVAL);
    CHECK_INT(berth_ws_ping(ev.ws, longer, 126), BERTH_EINVAL);
    CHECK_INT(berth_ws_send(ev.ws, BERTH_WS_TEXT, "\xff", 1), BERTH_EINVAL);
    CHECK_INT(berth_ws_send(ev.ws, 7, "x", 1), BERTH_EINVAL);
    harness_free(&h);
}

static void *send_from_thread(void *ws)
{
    for (int i = 0; i < 3; i++)
        berth_ws_send(ws, BERTH_WS_TEXT, "queued", 6);
    return NULL;
}

TEST(ws_sends_from_another_thread_are_queued_in_order)
{
    harness h;
    open_ws(&h);
    pthread_t t;
    pthread_create(&t, NULL, send_from_thread, ev.ws);
    pthread_join(t, NULL);
    CHECK_INT(h.out_len, 0);
    CHECK_INT(berth_ws_buffered(ev.ws), 18);
    harness_pump(&h);
    CHECK_INT(h.out_len, 24);
    CHECK_INT(harness_count(&h, "\x81\x06queued"), 3);
    CHECK_INT(berth_ws_buffered(ev.ws), 0);
    harness_free(&h);
}

TEST(ws_buffer_limit_answers_minus_2)
{
    harness h;
    setup(&h);
    cfg.max_buffer = 100;
    harness_feed_str(&h, handshake);
    /* Nothing drains the output while the test holds it. */
    static char data[80];
    berth_ws *ws = ev.ws;
    CHECK_INT(berth_ws_send(ws, BERTH_WS_BINARY, data, sizeof data), 0);
    CHECK_INT(berth_ws_send(ws, BERTH_WS_BINARY, data, sizeof data), BERTH_EAGAIN);
    harness_pump(&h); /* written */
    CHECK_INT(berth_ws_send(ws, BERTH_WS_BINARY, data, sizeof data), 0);
    harness_pump(&h);
    /* Into an empty buffer, a message over the limit still goes. */
    static char big[1000];
    CHECK_INT(berth_ws_send(ws, BERTH_WS_BINARY, big, sizeof big), 0);
    harness_free(&h);
}

TEST(ws_idle_connection_is_pinged_then_closed)
{
    harness h;
    setup(&h);
    cfg.ping_ms = 1000;
    harness_feed_str(&h, handshake);
    h.out_len = 0;
    berth_conn *c = h.conn;
    uint64_t t0 = h.worker.clock.now_ms;
    CHECK(berth_conn_deadline(c) == t0 + 1000);
    h.worker.clock.now_ms = t0 + 1000;
    berth_conn_on_timeout(c);
    harness_pump(&h);
    CHECK(h.out_len == 2 && memcmp(h.out, "\x89\x00", 2) == 0);
    /* A pong (any input) resets the clock. */
    send_frame(&h, 0x8A, NULL, 0);
    CHECK(berth_conn_deadline(c) == t0 + 2000);
    h.worker.clock.now_ms = t0 + 2000;
    berth_conn_on_timeout(c);
    harness_pump(&h);
    h.worker.clock.now_ms = t0 + 3000;
    berth_conn_on_timeout(c);
    harness_pump(&h);
    CHECK_INT(out_close_code(&h), 1001);
    CHECK_INT(ev.close_code, 1001);
    harness_free(&h);
}

TEST(ws_server_stop_sends_1001)
{
    harness h;
    open_ws(&h);
    berth_conn_drain(h.conn);
    harness_pump(&h);
    CHECK_INT(out_close_code(&h), 1001);
    CHECK_INT(ev.closed, 1);
    CHECK_INT(ev.close_code, 1001);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    harness_free(&h);
}

TEST(ws_peer_gone_reports_1006)
{
    harness h;
    open_ws(&h);
    harness_eof(&h);
    CHECK_INT(harness_state(&h), BERTH_PIPE_CLOSED);
    harness_free(&h);
    CHECK_INT(ev.closed, 1);
    CHECK_INT(ev.close_code, BERTH_WS_CLOSE_ABNORMAL);
}

TEST(ws_user_pointer_is_kept)
{
    harness h;
    open_ws(&h);
    CHECK(berth_ws_user(ev.ws) == NULL);
    static int mine;
    berth_ws_set_user(ev.ws, &mine);
    CHECK(berth_ws_user(ev.ws) == &mine);
    harness_free(&h);
}

/* Issue 20: a thread's sends (each answered 0), then the server's stop:
 * the drain applies them before it queues the 1001. */
TEST(ws_sends_queued_before_the_stop_go_out_before_1001)
{
    harness h;
    open_ws(&h);
    pthread_t t;
    pthread_create(&t, NULL, send_from_thread, ev.ws);
    pthread_join(t, NULL);
    CHECK_INT(h.out_len, 0);
    berth_conn_drain(h.conn); /* before the loop applied the queued sends */
    harness_pump(&h);
    CHECK_INT(harness_count(&h, "\x81\x06queued"), 3);
    CHECK_INT(h.out_len, 24 + 4 + 15);
    CHECK(memcmp(h.out + 24, "\x88\x11\x03\xe9server stopping", 19) == 0);
    CHECK_INT(ev.close_code, 1001);
    harness_free(&h);
}

/* Empty fragments never reach max_message: the fragment count ends a
 * message that would otherwise never end (issue 20 item 14). */
TEST(ws_message_of_too_many_fragments_closes_1008)
{
    harness h;
    setup(&h);
    cfg.max_fragments = 4;
    harness_feed_str(&h, handshake);
    h.out_len = 0;
    send_frame(&h, 0x01, "a", 1);
    send_frame(&h, 0x00, NULL, 0);
    send_frame(&h, 0x00, NULL, 0);
    send_frame(&h, 0x80, "b", 1); /* the fourth frame: still allowed */
    CHECK(h.out_len == 4 && memcmp(h.out, "\x81\x02" "ab", 4) == 0);
    h.out_len = 0;
    send_frame(&h, 0x01, NULL, 0);
    for (int i = 0; i < 3; i++)
        send_frame(&h, 0x00, NULL, 0);
    CHECK_INT(out_close_code(&h), -1);
    send_frame(&h, 0x00, NULL, 0); /* the fifth */
    CHECK_INT(out_close_code(&h), 1008);
    CHECK_INT(ev.close_code, 1008);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    harness_free(&h);
}

TEST(ws_default_fragment_bound_is_65536)
{
    berth_ws_config c;
    berth_ws_config_init(&c);
    CHECK_INT(c.max_fragments, 65536);
}

/* Issue 20 item 3: after its close frame berth reads on (dropping the
 * input) however much the client sends, until the client closes: a reset
 * would destroy the close frame. */
TEST(ws_lingering_close_reads_past_1_mib_until_the_peer_closes)
{
    harness h;
    setup(&h);
    cfg.max_message = 100;
    harness_feed_str(&h, handshake);
    h.out_len = 0;
    static const char head[] = "\x82\xfe\x01\x00" "abcd"; /* 256 bytes declared: too big */
    harness_feed(&h, head, 8, 0);
    CHECK_INT(out_close_code(&h), 1009);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    static char junk[64 * 1024];
    for (int i = 0; i < 64; i++) /* 4 MiB */
        harness_feed(&h, junk, sizeof junk, 0);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    harness_eof(&h);
    CHECK_INT(harness_state(&h), BERTH_PIPE_CLOSED);
    harness_free(&h);
}

/* The linger ends after linger_ms without input, or linger_time_ms in all
 * however the input keeps coming (engine.c: 2 s and 30 s). */
TEST(ws_lingering_close_is_bounded_in_time)
{
    harness h;
    open_ws(&h);
    berth_conn *c = h.conn;
    berth_conn_drain(c);
    harness_pump(&h);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    uint64_t t0 = h.worker.clock.now_ms;
    CHECK(berth_conn_deadline(c) == t0 + 2000);
    for (uint64_t t = 1500; t < 30000; t += 1500) {
        h.worker.clock.now_ms = t0 + t;
        harness_feed(&h, "x", 1, 0);
        uint64_t want = t + 2000 < 30000 ? t + 2000 : 30000;
        CHECK(berth_conn_deadline(c) == t0 + want);
    }
    h.worker.clock.now_ms = t0 + 30000;
    berth_conn_on_timeout(c);
    CHECK_INT(harness_state(&h), BERTH_PIPE_CLOSED);
    harness_free(&h);
}

/* Once its close frame is queued the connection drops its input: an
 * output backlog (echoes the client has not read yet) no longer stops it
 * reading, or a client blocked sending would never read the close. */
TEST(ws_closing_reads_on_past_an_output_backlog)
{
    harness h;
    open_ws(&h);
    static char big[300 * 1024]; /* above out_high_water (256 KiB) */
    CHECK_INT(berth_ws_send(ev.ws, BERTH_WS_BINARY, big, sizeof big), 0); /* not yet written */
    CHECK_INT(berth_conn_wants_input(h.conn), 0);
    berth_conn_drain(h.conn); /* the 1001 waits behind the message */
    CHECK_INT(berth_conn_wants_input(h.conn), 1);
    size_t cap = 0;
    CHECK(berth_conn_read_buf(h.conn, &cap) != NULL && cap > 0);
    berth_conn_read_done(h.conn, cap); /* dropped */
    harness_pump(&h);
    CHECK_INT(out_close_code(&h), 1001);
    CHECK_INT(harness_state(&h), BERTH_PIPE_SHUTDOWN);
    harness_free(&h);
}

/* A layer above (TLS after its close_notify) drops the input it reads;
 * the drive loop says it arrived, and the linger waits on. */
TEST(ws_linger_input_seen_by_the_drive_loop_defers_the_close)
{
    harness h;
    open_ws(&h);
    berth_conn *c = h.conn;
    berth_conn_drain(c);
    harness_pump(&h);
    uint64_t t0 = h.worker.clock.now_ms;
    h.worker.clock.now_ms = t0 + 1500;
    berth_conn_linger_input(c);
    CHECK(berth_conn_deadline(c) == t0 + 3500);
    harness_free(&h);
}
