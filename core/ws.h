/* A WebSocket connection on the engine's side (ws_conn.c): after the 101,
 * the connection's input goes to the frame parser and its messages to the
 * application's callbacks; frames the application sends go to the same
 * output queue as HTTP responses did, so every backend and every pipe
 * layer (TLS, kTLS) carries them unchanged. The handle the application
 * holds is a berth_stream: queued sends from other threads, the buffer
 * limit and waits are the stream's. */
#ifndef BERTH_WS_H
#define BERTH_WS_H

#include "berth.h"
#include "ws_frame.h"

struct berth_conn;
struct berth_stream;

typedef struct berth_wsc {
    berth_wsp parser;
    struct berth_stream *s;     /* the handle (berth_ws) */
    void (*on_open)(berth_ws *, void *);
    void (*on_message)(berth_ws *, int, const char *, size_t, void *);
    void (*on_close)(berth_ws *, int, berth_str, void *);
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
} berth_wsc;

/* Makes the request in progress a WebSocket: queues the 101 head (the
 * response's headers) and switches the connection. NULL if out of memory. */
berth_ws *berth_wsc_attach(struct berth_conn *c, const berth_ws_config *cfg, void *user);
/* After the handler returned: on_open. */
void berth_wsc_open(struct berth_conn *c);
/* Reads the frames in the connection's input buffer. */
void berth_wsc_input(struct berth_conn *c);
/* Runs on_close if it is due (from the loop, not inside a berth call). */
void berth_wsc_report(struct berth_conn *c);
/* An application's operation (stream sink): a frame to send. */
void berth_wsc_apply(struct berth_conn *c, int kind, int status, const char *data, size_t len);
uint64_t berth_wsc_deadline(const struct berth_conn *c);
void berth_wsc_timeout(struct berth_conn *c);
/* The server is stopping: close with 1001. */
void berth_wsc_stop(struct berth_conn *c);
/* The connection is freed: on_close (1006) if it has not run, then the
 * application's reference goes. */
void berth_wsc_free(struct berth_conn *c);

#endif
