/* The WebSocket protocol (ws_conn.c, proto.h): after the 101, HTTP/1
 * hands it the connection; its input goes to the frame parser and its
 * messages to the application's callbacks; frames the application sends
 * go to the same output queue as HTTP responses did, so every backend and
 * every pipe layer (TLS, kTLS) carries them unchanged. The handle the
 * application holds is a berth_stream: queued sends from other threads,
 * the buffer limit and waits are the connection core's mailbox. */
#ifndef BERTH_WS_H
#define BERTH_WS_H

#include "berth.h"
#include "proto.h"
#include "ws_deflate.h"
#include "ws_frame.h"

struct berth_conn;
struct berth_stream;

/* The application's handle (berth_ws) is this state; its mailbox, a
 * berth_stream of the connection core's, carries sends from any thread. */
struct berth_ws {
    berth_wsp parser;
    struct berth_stream *s;     /* the mailbox */
    void *user;                 /* berth_ws_user */
    void (*on_open)(berth_ws *, void *);
    void (*on_message)(berth_ws *, int, const char *, size_t, void *);
    void (*on_close)(berth_ws *, int, berth_str, void *);
    void (*on_stop)(berth_ws *, void *);
    unsigned ping_ms;
    /* a message in pieces (fragmented, or longer than one read) */
    char *msg;
    size_t msg_len, msg_cap;
    int closing;                /* a close frame is queued: input is dropped */
    int due;                    /* on_close is to run at the next pump */
    int reported;               /* on_close ran */
    int code;                   /* what on_close is told */
    char reason[123];
    size_t reason_len;
    uint64_t t_input, t_ping;   /* last input; the unanswered ping */
    int ping_out;
    int stopping;               /* inside the stop's close: the loop writes */
    int opened;                 /* on_open ran */
    int told_stop;              /* on_stop ran (or was due and skipped) */
    berth_wsd *z;               /* permessage-deflate, when agreed; else NULL */
    berth_utf8 zutf8;           /* a compressed text message's check, as it inflates */
};
typedef struct berth_ws berth_wsc;

extern const berth_proto berth_ws_proto;

/* A WebSocket for connection c, not yet its protocol: the state and the
 * handle (the mailbox). Handed to HTTP/1's upgrade, which switches c to
 * berth_ws_proto. deflate: what permessage-deflate agreed, or NULL. NULL
 * if out of memory. */
berth_wsc *berth_wsc_new(struct berth_conn *c, const berth_ws_config *cfg,
                         const berth_wsd_params *deflate, void *user);
/* The upgrade failed: the state and the handle go, no callback runs. */
void berth_wsc_discard(berth_wsc *ws);
berth_ws *berth_wsc_handle(const berth_wsc *ws);

#endif
