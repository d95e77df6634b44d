/* The WebSocket frame parser (core/ws_frame.c): every opcode, length
 * encoding, masking, fragmentation, and each invalid case's close code. */
#include "../../core/ws_frame.h"
#include "test.h"

static const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends a frame to out: b0 is FIN/RSV/opcode; form 0 picks the shortest
 * length encoding, 16 or 64 force one. Returns the new length. */
static size_t frame(unsigned char *out, size_t at, int b0, int masked, const void *payload,
                    uint64_t len, int form)
{
    unsigned char *p = out + at;
    *p++ = (unsigned char)b0;
    unsigned char m = masked ? 0x80 : 0;
    if (!form)
        form = len < 126 ? 7 : len <= 0xFFFF ? 16 : 64;
    if (form == 7) {
        *p++ = (unsigned char)(m | len);
    } else if (form == 16) {
        *p++ = m | 126;
        *p++ = (unsigned char)(len >> 8);
        *p++ = (unsigned char)len;
    } else {
        *p++ = m | 127;
        for (int i = 7; i >= 0; i--)
            *p++ = (unsigned char)(len >> (8 * i));
    }
    if (masked) {
        memcpy(p, key, 4);
        p += 4;
    }
    const unsigned char *src = payload;
    for (uint64_t i = 0; payload && i < len; i++)
        *p++ = (unsigned char)(src[i] ^ (masked ? key[i & 3] : 0));
    return (size_t)(p - out);
}

/* What the parser reported. */
typedef struct seen {
    unsigned char msg[80000]; /* the last message, reassembled */
    size_t msg_len;
    int msgs, type, pieces;
    int ctl[8], nctl;
    unsigned char ctl_data[125];
    size_t ctl_len;
    int close_code;
    char reason[125];
    size_t reason_len;
    int error;
} seen;

/* Runs buf through p in reads of step bytes (0: whole). */
static void run(berth_wsp *p, unsigned char *buf, size_t len, size_t step, seen *k)
{
    size_t off = 0;
    size_t building = 0;
    while (off < len && !k->error) {
        size_t n = step && len - off > step ? step : len - off;
        size_t pos = 0;
        while (pos < n) {
            size_t used;
            berth_wsp_event ev;
            int r = berth_wsp_run(p, (char *)buf + off + pos, n - pos, &used, &ev);
            pos += used;
            if (r == BERTH_WSP_MORE)
                break;
            if (r == BERTH_WSP_ERROR) {
                k->error = ev.code;
                return;
            }
            if (r == BERTH_WSP_CONTROL) {
                k->ctl[k->nctl++ & 7] = ev.opcode;
                memcpy(k->ctl_data, ev.data, ev.len);
                k->ctl_len = ev.len;
                if (ev.opcode == BERTH_WS_OP_CLOSE) {
                    k->close_code = ev.code;
                    memcpy(k->reason, ev.reason ? ev.reason : "", ev.reason_len);
                    k->reason_len = ev.reason_len;
                }
                continue;
            }
            if (ev.first)
                building = 0;
            memcpy(k->msg + building, ev.data, ev.len);
            building += ev.len;
            k->pieces++;
            if (ev.last) {
                k->msg_len = building;
                k->msgs++;
                k->type = ev.opcode;
            }
        }
        off += n;
    }
}

static void parse(unsigned char *buf, size_t len, size_t step, uint64_t max, seen *k)
{
    berth_wsp p;
    berth_wsp_init(&p, max);
    memset(k, 0, sizeof *k);
    run(&p, buf, len, step, k);
}

static unsigned char buf[200000];
static seen k;

TEST(ws_frame_masked_text_7bit)
{
    size_t n = frame(buf, 0, 0x81, 1, "hello", 5, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, 0);
    CHECK_INT(k.msgs, 1);
    CHECK_INT(k.type, BERTH_WS_OP_TEXT);
    CHECK(k.msg_len == 5 && memcmp(k.msg, "hello", 5) == 0);
}

TEST(ws_frame_binary_16bit_length)
{
    unsigned char data[300];
    for (int i = 0; i < 300; i++)
        data[i] = (unsigned char)i;
    size_t n = frame(buf, 0, 0x82, 1, data, 300, 0);
    CHECK_INT(buf[1], 0x80 | 126);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.type, BERTH_WS_OP_BINARY);
    CHECK(k.msg_len == 300 && memcmp(k.msg, data, 300) == 0);
}

TEST(ws_frame_binary_64bit_length)
{
    static unsigned char data[70000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7);
    size_t n = frame(buf, 0, 0x82, 1, data, sizeof data, 0);
    CHECK_INT(buf[1], 0x80 | 127);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, 0);
    CHECK(k.msg_len == sizeof data && memcmp(k.msg, data, sizeof data) == 0);
}

TEST(ws_frame_pieces_of_any_size_unmask_alike)
{
    static unsigned char data[1000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 13);
    static const size_t steps[] = {1, 2, 3, 5, 7, 9, 64, 999};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        size_t n = frame(buf, 0, 0x82, 1, data, sizeof data, 0);
        parse(buf, n, steps[s], 0, &k);
        CHECK_INT(k.msgs, 1);
        CHECK(k.msg_len == sizeof data && memcmp(k.msg, data, sizeof data) == 0);
    }
}

TEST(ws_frame_unmasked_client_frame_is_1002)
{
    size_t n = frame(buf, 0, 0x81, 0, "hello", 5, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, BERTH_WS_CLOSE_PROTOCOL);
}

TEST(ws_frame_unmasked_accepted_when_asked)
{
    berth_wsp p;
    berth_wsp_init(&p, 0);
    p.accept_unmasked = 1;
    memset(&k, 0, sizeof k);
    size_t n = frame(buf, 0, 0x81, 0, "hi", 2, 0);
    run(&p, buf, n, 0, &k);
    CHECK(k.msgs == 1 && memcmp(k.msg, "hi", 2) == 0);
}

TEST(ws_frame_fragments_reassemble_in_order)
{
    size_t n = frame(buf, 0, 0x01, 1, "Hel", 3, 0);
    n = frame(buf, n, 0x00, 1, "lo, ", 4, 0);
    n = frame(buf, n, 0x80, 1, "world", 5, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.msgs, 1);
    CHECK_INT(k.pieces, 3);
    CHECK_INT(k.type, BERTH_WS_OP_TEXT);
    CHECK(k.msg_len == 12 && memcmp(k.msg, "Hello, world", 12) == 0);
}

TEST(ws_frame_control_frames_between_fragments)
{
    size_t n = frame(buf, 0, 0x02, 1, "ab", 2, 0);
    n = frame(buf, n, 0x89, 1, "ping!", 5, 0);
    n = frame(buf, n, 0x00, 1, "cd", 2, 0);
    n = frame(buf, n, 0x8A, 1, "pong", 4, 0);
    n = frame(buf, n, 0x80, 1, "ef", 2, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, 0);
    CHECK_INT(k.nctl, 2);
    CHECK_INT(k.ctl[0], BERTH_WS_OP_PING);
    CHECK_INT(k.ctl[1], BERTH_WS_OP_PONG);
    CHECK(k.msgs == 1 && k.msg_len == 6 && memcmp(k.msg, "abcdef", 6) == 0);
}

TEST(ws_frame_ping_payload_whole_across_reads)
{
    size_t n = frame(buf, 0, 0x89, 1, "0123456789", 10, 0);
    parse(buf, n, 3, 0, &k);
    CHECK_INT(k.nctl, 1);
    CHECK(k.ctl_len == 10 && memcmp(k.ctl_data, "0123456789", 10) == 0);
}

TEST(ws_frame_close_with_code_and_reason)
{
    size_t n = frame(buf, 0, 0x88, 1, "\x03\xe8" "bye", 5, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.close_code, 1000);
    CHECK(k.reason_len == 3 && memcmp(k.reason, "bye", 3) == 0);
}

TEST(ws_frame_close_empty_is_1005)
{
    size_t n = frame(buf, 0, 0x88, 1, NULL, 0, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.nctl, 1);
    CHECK_INT(k.close_code, BERTH_WS_CLOSE_NO_STATUS);
}

TEST(ws_frame_close_one_byte_is_1002)
{
    size_t n = frame(buf, 0, 0x88, 1, "\x03", 1, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, BERTH_WS_CLOSE_PROTOCOL);
}

TEST(ws_frame_close_invalid_codes_are_1002)
{
    static const int bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char pl[2] = {(unsigned char)(bad[i] >> 8), (unsigned char)bad[i]};
        size_t n = frame(buf, 0, 0x88, 1, pl, 2, 0);
        parse(buf, n, 0, 0, &k);
        CHECK_INT(k.error, BERTH_WS_CLOSE_PROTOCOL);
    }
    static const int good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        unsigned char pl[2] = {(unsigned char)(good[i] >> 8), (unsigned char)good[i]};
        size_t n = frame(buf, 0, 0x88, 1, pl, 2, 0);
        parse(buf, n, 0, 0, &k);
        CHECK_INT(k.error, 0);
        CHECK_INT(k.close_code, good[i]);
    }
}

TEST(ws_frame_close_reason_invalid_utf8_is_1007)
{
    size_t n = frame(buf, 0, 0x88, 1, "\x03\xe8\xc3\x28", 4, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, BERTH_WS_CLOSE_BAD_DATA);
}

TEST(ws_frame_reserved_bits_are_1002)
{
    static const int rsv[] = {0x40, 0x20, 0x10};
    for (int i = 0; i < 3; i++) {
        size_t n = frame(buf, 0, 0x81 | rsv[i], 1, "x", 1, 0);
        parse(buf, n, 0, 0, &k);
        CHECK_INT(k.error, BERTH_WS_CLOSE_PROTOCOL);
    }
}

TEST(ws_frame_reserved_opcodes_are_1002)
{
    static const int ops[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = frame(buf, 0, 0x80 | ops[i], 1, "x", 1, 0);
        parse(buf, n, 0, 0, &k);
        CHECK_INT(k.error, BERTH_WS_CLOSE_PROTOCOL);
    }
}

TEST(ws_frame_control_over_125_bytes_is_1002)
{
    static unsigned char data[126];
    size_t n = frame(buf, 0, 0x89, 1, data, 126, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, BERTH_WS_CLOSE_PROTOCOL);
}

TEST(ws_frame_fragmented_control_is_1002)
{
    size_t n = frame(buf, 0, 0x09, 1, "x", 1, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, BERTH_WS_CLOSE_PROTOCOL);
}

TEST(ws_frame_64bit_length_top_bit_is_1002)
{
    size_t n = frame(buf, 0, 0x82, 1, NULL, 0x8000000000000000ull, 64);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, BERTH_WS_CLOSE_PROTOCOL);
}

TEST(ws_frame_non_minimal_lengths_are_1002)
{
    size_t n = frame(buf, 0, 0x82, 1, "abc", 3, 16);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, BERTH_WS_CLOSE_PROTOCOL);
    static unsigned char data[1000];
    n = frame(buf, 0, 0x82, 1, data, sizeof data, 64);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, BERTH_WS_CLOSE_PROTOCOL);
}

TEST(ws_frame_continuation_without_start_is_1002)
{
    size_t n = frame(buf, 0, 0x80, 1, "x", 1, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, BERTH_WS_CLOSE_PROTOCOL);
}

TEST(ws_frame_new_message_inside_fragments_is_1002)
{
    size_t n = frame(buf, 0, 0x01, 1, "a", 1, 0);
    n = frame(buf, n, 0x81, 1, "b", 1, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, BERTH_WS_CLOSE_PROTOCOL);
}

TEST(ws_frame_empty_text_message)
{
    size_t n = frame(buf, 0, 0x81, 1, NULL, 0, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.msgs, 1);
    CHECK_INT(k.msg_len, 0);
}

TEST(ws_frame_invalid_utf8_is_1007)
{
    size_t n = frame(buf, 0, 0x81, 1, "ok\xff", 3, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, BERTH_WS_CLOSE_BAD_DATA);
    CHECK_INT(k.msgs, 0);
}

TEST(ws_frame_invalid_utf8_split_across_frames_is_1007)
{
    /* E2 82 then 28: a three-byte sequence broken in the second fragment. */
    size_t n = frame(buf, 0, 0x01, 1, "a\xe2\x82", 3, 0);
    n = frame(buf, n, 0x80, 1, "\x28", 1, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, BERTH_WS_CLOSE_BAD_DATA);
    CHECK_INT(k.msgs, 0);
}

TEST(ws_frame_valid_utf8_split_across_frames)
{
    /* U+20AC (E2 82 AC) and U+1F600 (F0 9F 98 80) cut mid-character. */
    size_t n = frame(buf, 0, 0x01, 1, "\xe2\x82", 2, 0);
    n = frame(buf, n, 0x00, 1, "\xac\xf0\x9f", 3, 0);
    n = frame(buf, n, 0x80, 1, "\x98\x80", 2, 0);
    parse(buf, n, 1, 0, &k);
    CHECK_INT(k.error, 0);
    CHECK(k.msg_len == 7 && memcmp(k.msg, "\xe2\x82\xac\xf0\x9f\x98\x80", 7) == 0);
}

TEST(ws_frame_utf8_cut_at_message_end_is_1007)
{
    size_t n = frame(buf, 0, 0x81, 1, "a\xe2\x82", 3, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, BERTH_WS_CLOSE_BAD_DATA);
}

TEST(ws_frame_binary_is_not_checked_as_utf8)
{
    size_t n = frame(buf, 0, 0x82, 1, "\xff\xfe", 2, 0);
    parse(buf, n, 0, 0, &k);
    CHECK_INT(k.error, 0);
    CHECK_INT(k.msgs, 1);
}

TEST(ws_utf8_rejects_overlongs_surrogates_and_beyond)
{
    static const char *bad[] = {"\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf",
                                "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x80\x80\x80",
                                "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\x80", "\xfe"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        berth_utf8 st = {0, 0, 0};
        int rc = berth_utf8_run(&st, (const unsigned char *)bad[i], strlen(bad[i]));
        CHECK(rc != 0 || !berth_utf8_done(&st));
    }
    static const char *good[] = {"plain ascii text longer than eight", "\xc2\x80", "\xdf\xbf",
                                 "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80",
                                 "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xce\xba\xe1\xbd\xb9"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        berth_utf8 st = {0, 0, 0};
        CHECK_INT(berth_utf8_run(&st, (const unsigned char *)good[i], strlen(good[i])), 0);
        CHECK(berth_utf8_done(&st));
    }
}

TEST(ws_frame_too_big_is_1009_before_the_payload)
{
    /* Only the header is fed: the limit applies to the declared length. */
    size_t n = frame(buf, 0, 0x82, 1, NULL, 1000, 0);
    parse(buf, 8, 0, 999, &k);
    (void)n;
    CHECK_INT(k.error, BERTH_WS_CLOSE_TOO_BIG);
}

TEST(ws_frame_too_big_across_fragments_is_1009)
{
    static unsigned char data[600];
    size_t n = frame(buf, 0, 0x02, 1, data, 600, 0);
    n = frame(buf, n, 0x80, 1, data, 600, 0);
    parse(buf, n, 0, 1000, &k);
    CHECK_INT(k.error, BERTH_WS_CLOSE_TOO_BIG);
    n = frame(buf, 0, 0x02, 1, data, 500, 0);
    n = frame(buf, n, 0x80, 1, data, 500, 0);
    parse(buf, n, 0, 1000, &k);
    CHECK_INT(k.error, 0);
    CHECK_INT(k.msg_len, 1000);
}

TEST(ws_frame_nothing_after_an_error)
{
    berth_wsp p;
    berth_wsp_init(&p, 0);
    size_t n = frame(buf, 0, 0x81, 0, "x", 1, 0); /* unmasked */
    size_t used;
    berth_wsp_event ev;
    CHECK_INT(berth_wsp_run(&p, (char *)buf, n, &used, &ev), BERTH_WSP_ERROR);
    n = frame(buf, 0, 0x81, 1, "x", 1, 0);
    CHECK_INT(berth_wsp_run(&p, (char *)buf, n, &used, &ev), BERTH_WSP_ERROR);
    CHECK_INT(ev.code, BERTH_WS_CLOSE_PROTOCOL);
}

TEST(ws_frame_server_header_forms)
{
    unsigned char h[10];
    CHECK_INT(berth_wsf_header(h, BERTH_WS_OP_TEXT, 5), 2);
    CHECK(h[0] == 0x81 && h[1] == 5);
    CHECK_INT(berth_wsf_header(h, BERTH_WS_OP_BINARY, 125), 2);
    CHECK_INT(berth_wsf_header(h, BERTH_WS_OP_BINARY, 126), 4);
    CHECK(h[0] == 0x82 && h[1] == 126 && h[2] == 0 && h[3] == 126);
    CHECK_INT(berth_wsf_header(h, BERTH_WS_OP_BINARY, 65535), 4);
    CHECK_INT(berth_wsf_header(h, BERTH_WS_OP_BINARY, 65536), 10);
    CHECK(h[1] == 127 && h[7] == 1 && h[8] == 0 && h[9] == 0);
}

/* max_fragments counts every frame of a message, the first and empty
 * continuations included; 0 is no bound. */
TEST(ws_frame_fragment_bound_counts_every_frame)
{
    static const unsigned char first[] = {0x01, 0x80, 0, 0, 0, 0};
    static const unsigned char cont[] = {0x00, 0x80, 0, 0, 0, 0};
    static const unsigned char last[] = {0x80, 0x80, 0, 0, 0, 0};
    for (int bound = 0; bound <= 3; bound += 3) {
        berth_wsp p;
        berth_wsp_init(&p, 0);
        p.max_fragments = (uint32_t)bound;
        berth_wsp_event ev;
        size_t used;
        char buf[6];
        memcpy(buf, first, 6);
        CHECK_INT(berth_wsp_run(&p, buf, 6, &used, &ev), BERTH_WSP_DATA);
        memcpy(buf, cont, 6);
        CHECK_INT(berth_wsp_run(&p, buf, 6, &used, &ev), BERTH_WSP_MORE); /* empty: no event */
        memcpy(buf, last, 6);
        CHECK_INT(berth_wsp_run(&p, buf, 6, &used, &ev), BERTH_WSP_DATA); /* the third frame */
        CHECK(ev.last);
        memcpy(buf, first, 6);
        CHECK_INT(berth_wsp_run(&p, buf, 6, &used, &ev), BERTH_WSP_DATA); /* a new message */
        for (int i = 0; i < 2; i++) {
            memcpy(buf, cont, 6);
            CHECK_INT(berth_wsp_run(&p, buf, 6, &used, &ev), BERTH_WSP_MORE);
        }
        memcpy(buf, cont, 6);
        int r = berth_wsp_run(&p, buf, 6, &used, &ev); /* its fourth frame */
        if (bound) {
            CHECK_INT(r, BERTH_WSP_ERROR);
            CHECK_INT(ev.code, 1008);
        } else {
            CHECK_INT(r, BERTH_WSP_MORE);
        }
    }
}
