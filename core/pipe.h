/* The byte pipe: the one interface between a backend and what it carries.
 *
 *   socket ─ socket operations ─ backend ─ drive loop ─ pipe ─ [TLS] ─ engine ─ handler
 *
 * A backend reads into the buffer the pipe offers and reports how much
 * arrived; it writes the segments the pipe lists and reports progress;
 * it acts on the pipe's state and deadline. The engine (core/conn.c) is the
 * first implementation. A layer such as TLS implements the same interface
 * over the pipe below it, so the backend sees one pipe however many layers
 * are stacked, and a layer can step out (handoff: after its work, or to kernel
 * TLS) without the backend knowing more than the typed offer. See
 * docs/DESIGN.md.
 *
 * Data walks one way: reads go up through read_done or pump, which may run
 * handlers; out_done only accounts for bytes written and never runs one.
 * All calls are made on the thread that owns the connection. */
#ifndef BERTH_PIPE_H
#define BERTH_PIPE_H

#include <stddef.h>
#include <stdint.h>

/* A piece of pending output: memory, or a range of an open file (sent
 * with sendfile where the socket allows, or read with pread by a layer
 * that must see the bytes). */
typedef struct berth_seg {
    const char *ptr; /* the bytes, or NULL for a file range */
    int fd;          /* the file, when ptr is NULL */
    uint64_t off;    /* offset in the file */
    size_t len;
} berth_seg;

enum berth_pipe_state {
    BERTH_PIPE_OPEN,     /* read (when a buffer is offered) and write */
    BERTH_PIPE_SHUTDOWN, /* all is written: shut the write side, read on until
                            EOF or the deadline (input is dropped), so the
                            peer sees the last response rather than a reset */
    BERTH_PIPE_CLOSED,   /* close the socket and free the pipe */
};

typedef struct berth_pipe berth_pipe;

/* What a layer tells the pipe below about the bytes it passes up
 * (berth_pipe.refusal), set before the first of them. The engine answers
 * a refused connection's first request with an error through its
 * protocol (the error hook, the serializer, the completion callbacks),
 * serves nothing and closes. */
enum berth_pipe_refusal {
    BERTH_PIPE_ACCEPT = 0,
    BERTH_PIPE_REFUSE_PLAIN_HTTP, /* plain HTTP on a TLS port: the TLS layer
                                     stepped aside and the bytes are the
                                     client's own, unencrypted (HTTP/1: 400) */
};

/* Stepping out of the pipe: what a layer offers once it sets
 * handoff_ready (handoff), and how the backend's attempt went
 * (handoff_done). */
enum berth_handoff_offer {
    BERTH_HANDOFF_NONE,        /* nothing now */
    BERTH_HANDOFF_TRANSPARENT, /* the layer has become transparent (PROXY
                                  after its header; TLS stepped aside for
                                  plain HTTP): take it out */
    BERTH_HANDOFF_KTLS,        /* kernel TLS: the keys are in *keys (set where
                                  all the layer wrote is out and all it read
                                  is used, at a record's end); the backend
                                  tries them on the socket */
};
enum berth_handoff_result {
    BERTH_HANDOFF_DONE,        /* the layer is gone: the pipe handoff_done
                                  returns (the one below) replaces it */
    BERTH_HANDOFF_DECLINED,    /* the kernel has no TLS (the socket is as it
                                  was): the layer goes on in userspace */
    BERTH_HANDOFF_FAILED,      /* the socket is half converted: the layer
                                  closed the connection */
};
/* Kernel TLS keys (core/ktls.h): opaque to the pipe, read only by the TLS
 * layer that fills them and the socket operations that hand them over. */
struct berth_ktls;

typedef struct berth_pipe_ops {
    /* 1 if input is wanted now; takes nothing (an idle connection holds
     * no buffer while it waits). */
    int (*wants_input)(berth_pipe *p);
    /* Where to read to and how much; NULL when no input is wanted now. */
    char *(*read_buf)(berth_pipe *p, size_t *cap);
    /* n bytes arrived in that buffer; 0 means the peer closed its side. */
    void (*read_done)(berth_pipe *p, size_t n);
    /* A read found nothing: an idle pipe may give its buffer back. */
    void (*read_idle)(berth_pipe *p);
    /* 1 if input already inside the pipe can be processed now without a
     * read: requests held back by an output backlog that has since been
     * written, or plaintext a TLS layer has decrypted. A backend must not
     * sleep on the socket while this holds; it calls pump. */
    int (*has_pending)(berth_pipe *p);
    void (*pump)(berth_pipe *p);
    /* Lists up to max pending output segments; 0 when nothing is pending.
     * The listed bytes stay valid and in place until out_done covers them,
     * even if more output is queued meanwhile. */
    int (*out_segs)(berth_pipe *p, berth_seg *segs, int max);
    void (*out_done)(berth_pipe *p, size_t n);
    int (*state)(berth_pipe *p);
    /* The monotonic time (worker clock, ms) at which on_timeout is due. */
    uint64_t (*deadline)(berth_pipe *p);
    void (*on_timeout)(berth_pipe *p);
    /* The server is stopping: finish what was read, then close. */
    void (*drain)(berth_pipe *p);
    /* The socket failed: close at once. */
    void (*abort)(berth_pipe *p);
    void (*free)(berth_pipe *p);
    /* Stepping out (the enums above). Once a layer sets handoff_ready, the
     * backend asks it what it offers, acts on the offer, and says how it
     * went; a layer that offered nothing is not told. NULL in layers that
     * never step out (the engine). */
    enum berth_handoff_offer (*handoff)(berth_pipe *p, struct berth_ktls *keys);
    berth_pipe *(*handoff_done)(berth_pipe *p, enum berth_handoff_result how);

    /* Waiting on its application as well as on its peer: 1 while a
     * deferred response or a WebSocket is open on a connection that is not
     * closing, whose output other threads and timers make (a backend whose
     * reads block, fast, then waits for the socket and its wake-up instead
     * of blocking in a read). The engine answers; a layer forwards the
     * question to the pipe below (berth_pipe_awaits_app), so a backend asks
     * the top of its stack and never the engine behind the layers. NULL:
     * never. */
    int (*awaits_app)(berth_pipe *p);
} berth_pipe_ops;

struct berth_pipe {
    const berth_pipe_ops *ops;
    int handoff_ready;        /* see handoff above */
    int abort_reason;         /* set by a layer above before it aborts this pipe
                                 for a failure of its own (enum berth_reason:
                                 TLS); 0: the socket failed */
    enum berth_pipe_refusal refusal; /* set by a layer above: see the enum */
};

/* p's awaits_app (0 where the pipe has none). */
static inline int berth_pipe_awaits_app(berth_pipe *p)
{
    return p->ops->awaits_app && p->ops->awaits_app(p);
}

struct berth_conn;
struct berth_worker;

/* A layer a listener stacks on each connection it accepts (TLS): wrap
 * returns the new top of the stack over the engine's pipe, or NULL. A
 * backend passes it along without knowing what it is. */
typedef struct berth_layer {
    berth_pipe *(*wrap)(void *ctx, struct berth_conn *engine, struct berth_worker *w);
    /* Called by each thread that served connections, as it ends (a layer's
     * per-thread caches), or NULL. */
    void (*thread_exit)(void *ctx);
    void *ctx;
    /* 1: the layer may hand the socket to the kernel mid-stream (kernel
     * TLS takes the records after the handshake), so a backend must not
     * read from the socket ahead of what the pipe asks for: bytes read
     * ahead would be lost to the kernel's record layer (backends/uring.c
     * reads ahead and watches such connections by readiness). */
    int exact_reads;
} berth_layer;

#endif
