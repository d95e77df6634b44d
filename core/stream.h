/* Deferred and streamed responses: the handle shared between the
 * connection's thread and application threads. */
#ifndef BERTH_STREAM_H
#define BERTH_STREAM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "engine.h"

enum { OP_HEADER, OP_SEND, OP_START, OP_WRITE, OP_END,
       /* WebSocket frames (ws_conn.c): status is the message type or the
        * close code; OP_WS_DATA counts against the buffer limit. */
       OP_WS_DATA, OP_WS_PING, OP_WS_CLOSE };

/* 1 for an operation whose bytes count against the buffer limit until
 * they are in the connection's output. */
static inline int berth_stream_op_counted(int kind) { return kind == OP_WRITE || kind == OP_WS_DATA; }

typedef struct stream_op {
    struct stream_op *next;
    int kind;
    int status;
    size_t len;       /* bytes in data */
    size_t split;     /* OP_HEADER: name length; OP_SEND/START: type length */
    char data[];
} stream_op;

/* What a stream calls on its connection's side, so that this module knows
 * no connection: HTTP/1's deferred responses (conn_stream.c) and a
 * WebSocket (ws_conn.c) each set their own. */
typedef struct berth_stream_sink {
    /* Owner thread: applies one operation of handle s at once, from the
     * caller's data (a: the header name or the type, b: the value, the
     * body, or a WebSocket's payload), without an allocation (HTTP/1,
     * WebSocket; an HTTP/2 stream keeps a copy of a body piece until
     * nghttp2 frames it, h2_output.c). s tells which of a connection's
     * handles (HTTP/2 has one per stream). */
    void (*apply)(struct berth_stream *s, struct berth_conn *c, int kind, int status, const char *a, size_t alen,
                  const char *b, size_t blen);
    /* Owner thread: applies what other threads queued, first. */
    void (*apply_queued)(struct berth_conn *c);
    /* Any thread: queues c for its owner's loop. */
    void (*notify)(struct berth_conn *c);
    /* Any thread, or NULL: the handle is freed; what the owner area holds
     * (berth_stream_owner) goes with it. */
    void (*release)(struct berth_stream *s);
} berth_stream_sink;

struct berth_stream {
    pthread_mutex_t lock;
    pthread_cond_t drained;
    const berth_stream_sink *sink;
    struct berth_conn *conn;   /* NULL once the connection is gone */
    berth_worker *w;
    stream_op *ops, *ops_tail; /* posted by other threads */
    size_t queued;             /* body bytes in ops */
    atomic_size_t out_pending; /* the connection's unwritten output */
    int refs;                  /* the connection's and the application's */
    int app_done;              /* send or end was called */
    int gone;
    int failed;                /* an operation could not be queued (out of memory):
                                  the owner closes the connection */
    atomic_int waiters;
    berth_stream_fn on_close;
    void *on_close_arg;
    berth_stream_fn on_stop;
    void *on_stop_arg;
    atomic_int stopping;       /* the server is stopping */
    berth_timer *timers;
    size_t limit;              /* buffer limit; 0: the engine's max_stream_buffer */
    /* The owner area: the connection side's own state for this handle
     * (an HTTP response's, conn_stream.c), owner thread only. */
    _Alignas(max_align_t) unsigned char owner[];
};

/* Connection side (conn_stream.c, ws_conn.c): */
/* Creates a handle for connection c with an owner area of owner_size
 * bytes, zeroed (one allocation). NULL if out of memory. */
berth_stream *berth_stream_new(const berth_stream_sink *sink, struct berth_conn *c,
                               berth_worker *w, size_t owner_size);
static inline void *berth_stream_owner(berth_stream *s) { return s->owner; }
/* Takes the queued operations (owner thread); *failed: one could not be
 * queued, the response cannot be completed (close the connection). */
stream_op *berth_stream_take(berth_stream *s, int *failed);
/* A taken write of bytes is now in the connection's output: it stops
 * counting as queued (it already counts as pending, so the sum that the
 * buffer limit checks never dips below what is really held). */
void berth_stream_consumed(berth_stream *s, size_t bytes);
/* The connection is gone or done with the stream: drops its reference,
 * reports a disconnect if the response had not ended, stops the timers. */
void berth_stream_detach(berth_stream *s, int client_gone);
/* The connection failed (reset, write error, timeout): calls from now on
 * answer -1, waiters wake. The stream stays attached until the backend
 * frees the connection, so on_close never runs inside another berth call. */
void berth_stream_mark_gone(berth_stream *s);
/* The server is stopping: runs on_stop once (connection thread). */
void berth_stream_stop(berth_stream *s);
/* Publishes the connection's pending output for buffered()/wait(). */
void berth_stream_set_pending(berth_stream *s, size_t pending);

/* Posts an operation (any thread): applied at once on the owner thread,
 * queued otherwise (a and b copied). 0, -1 (gone or ended, or the operation
 * failed and the connection is closed), -2 (full). */
int berth_stream_post(berth_stream *s, int kind, int status, const char *a, size_t alen,
                      const char *b, size_t blen);
/* Takes one more reference (a topic's, topic.c): 0, or BERTH_EGONE when
 * the connection is gone or the handle ended. Dropped by
 * berth_stream_release. */
int berth_stream_ref(berth_stream *s);
/* Any thread: the connection is to close at its owner's next turn, as
 * after a failure (a topic's slow subscriber); calls answer BERTH_EGONE. */
void berth_stream_cut(berth_stream *s);
/* Drops the application's reference (a WebSocket after its on_close). */
void berth_stream_release(berth_stream *s);

/* 1 on the thread that owns the stream's connection. */
int berth_stream_on_owner(const berth_stream *s);

#endif
