/* WebSocket framing (RFC 6455 section 5), sans-I/O: an incremental parser
 * of the frames a client sends, and the header of the frames a server
 * sends. The parser never allocates: data payloads are unmasked in place
 * and handed back as pieces, control payloads (125 bytes at most) are
 * gathered in the parser itself. Text is checked as UTF-8 piece by piece,
 * across fragments, so that no invalid text is ever handed back. */
#ifndef BERTH_WS_FRAME_H
#define BERTH_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum {
    BERTH_WS_OP_CONT = 0x0,
    BERTH_WS_OP_TEXT = 0x1,
    BERTH_WS_OP_BINARY = 0x2,
    BERTH_WS_OP_CLOSE = 0x8,
    BERTH_WS_OP_PING = 0x9,
    BERTH_WS_OP_PONG = 0xA,
};

/* Close codes berth sends or reports (section 7.4.1). */
enum {
    BERTH_WS_CLOSE_NORMAL = 1000,
    BERTH_WS_CLOSE_GOING_AWAY = 1001,
    BERTH_WS_CLOSE_PROTOCOL = 1002,
    BERTH_WS_CLOSE_NO_STATUS = 1005,   /* reported only: a close without a code */
    BERTH_WS_CLOSE_ABNORMAL = 1006,    /* reported only: no close frame at all */
    BERTH_WS_CLOSE_BAD_DATA = 1007,
    BERTH_WS_CLOSE_POLICY = 1008,
    BERTH_WS_CLOSE_TOO_BIG = 1009,
    BERTH_WS_CLOSE_INTERNAL = 1011,
};

/* Incremental UTF-8 check: 0 is the state between characters. */
typedef struct berth_utf8 {
    uint8_t need;    /* continuation bytes still expected */
    uint8_t lo, hi;  /* the range the next byte must be in */
} berth_utf8;

/* 0 if the bytes continue valid UTF-8 from *st (updated), -1 otherwise. */
int berth_utf8_run(berth_utf8 *st, const unsigned char *p, size_t n);
/* 1 if the whole text checked so far is valid (no character cut short). */
static inline int berth_utf8_done(const berth_utf8 *st) { return st->need == 0; }

enum berth_wsp_result {
    BERTH_WSP_MORE,    /* all input used; feed more */
    BERTH_WSP_DATA,    /* a piece of a text or binary message */
    BERTH_WSP_CONTROL, /* a whole ping, pong or close frame */
    BERTH_WSP_ERROR,   /* the connection must fail with ev->code */
};

typedef struct berth_wsp_event {
    int opcode;        /* DATA: the message's (TEXT/BINARY); CONTROL: the frame's */
    const char *data;  /* DATA: unmasked, in the caller's buffer; CONTROL: in the parser */
    size_t len;
    int first;         /* DATA: the message's first piece */
    int last;          /* DATA: the message's last piece (its final frame's end) */
    int compressed;    /* DATA: the message is compressed (RSV1 on its first frame) */
    int code;          /* CONTROL close: the code (1005 if none); ERROR: the code to send */
    const char *reason; /* CONTROL close: the reason (valid UTF-8), after the code */
    size_t reason_len;
} berth_wsp_event;

typedef struct berth_wsp {
    uint64_t max_message;  /* a message above this fails with 1009; 0: no limit.
                              A compressed one's frames may carry this plus a
                              quarter and 4 KiB (berth_wsp_wire_max): its
                              inflated size is bounded by the inflater */
    uint32_t max_fragments; /* a message in more frames fails with 1008; 0: no
                              limit (empty fragments add nothing to msg_len:
                              without this, a message may never end) */
    int accept_unmasked;   /* tests and fuzzing only: clients must mask (5.1) */
    int rsv1_ok;           /* permessage-deflate was agreed: RSV1 on a message's
                              first frame marks it compressed (RFC 7692 6) */
    /* the frame being read */
    unsigned char hdr[14];
    uint8_t hdr_len, hdr_need;
    uint8_t opcode, fin, masked;
    unsigned char mask[4];
    uint64_t left;         /* payload bytes still to come */
    uint64_t frame_pos;    /* payload bytes already read (mask phase) */
    /* the message being read (data frames) */
    uint8_t msg_opcode;    /* 0: none in progress */
    uint8_t msg_first;     /* its next piece is its first */
    uint8_t msg_rsv1;      /* it is compressed: its text is checked once inflated */
    uint64_t msg_len;      /* bytes so far, against max_message */
    uint32_t msg_frames;   /* frames so far, against max_fragments */
    berth_utf8 utf8;
    /* a control frame's payload */
    unsigned char ctl[125];
    uint8_t ctl_len;
    int failed;            /* the code of an error reported: nothing more is read */
} berth_wsp;

void berth_wsp_init(berth_wsp *p, uint64_t max_message);
/* The bytes a compressed message's frames may carry: deflate's worst case
 * (stored blocks) with room for a flush in every fragment, yet bounded, so
 * that input that inflates to nothing cannot go on forever. */
uint64_t berth_wsp_wire_max(uint64_t max_message);
/* Reads frames from buf (whose payload bytes it unmasks in place). *used
 * says how much of buf was consumed; the caller goes on from there after
 * acting on the event. An event's data stays valid until the next call. */
int berth_wsp_run(berth_wsp *p, char *buf, size_t len, size_t *used, berth_wsp_event *ev);

/* Or'ed into berth_wsf_header's opcode: a compressed message (RFC 7692). */
#define BERTH_WSF_RSV1 0x40

/* Writes the header of an unmasked server frame (FIN set) into out
 * (10 bytes at most); returns its length. */
size_t berth_wsf_header(unsigned char *out, int opcode, uint64_t len);

/* 1 if code may be sent in a close frame (section 7.4). */
int berth_ws_code_valid(int code);

#endif
