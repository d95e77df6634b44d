/* The byte pipe: the one interface between a backend and what it carries.
 *
 *   socket ─ socket operations ─ backend ─ drive loop ─ pipe ─ [TLS] ─ engine ─ handler
 *
 * A backend reads into the buffer the pipe offers and reports how much
 * arrived; it writes the segments the pipe lists and reports progress;
 * it acts on the pipe's state and deadline. The engine (core/conn.c) is the
 * first implementation. A layer such as TLS implements the same interface
 * over the pipe below it, so the backend sees one pipe however many layers
 * are stacked, and a layer can step out (after a kTLS hand-off) without the
 * backend knowing. See docs/DESIGN.md.
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

/* Kernel TLS: what a TLS layer hands to the kernel for one connection
 * (TLS 1.3 traffic secrets as keys and IVs, and the next record numbers). */
enum { BERTH_KTLS_AES_128_GCM, BERTH_KTLS_AES_256_GCM, BERTH_KTLS_CHACHA20_POLY1305 };
typedef struct berth_ktls_dir {
    unsigned char key[32];
    unsigned char iv[12];
    unsigned char seq[8];     /* big-endian */
} berth_ktls_dir;
typedef struct berth_ktls {
    int cipher;
    berth_ktls_dir tx, rx;    /* ours (server write), the peer's */
} berth_ktls;

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
    /* Stepping out. Once a layer sets handoff_ready, the backend asks it
     * (handoff): 2, it has become transparent (PROXY, after its header) and
     * steps out; 1, kernel TLS: *k holds the keys (set where all the layer
     * wrote is out and all it read is used, at a record's end), which the
     * backend tries on the socket; 0, not now. handoff_done says how it
     * went: ok 1, the layer is gone and what it returns (the pipe below)
     * replaces it; ok 0, the kernel has no TLS and the layer goes on in
     * userspace; ok -1, the socket is half converted and the layer closed.
     * NULL in layers that never step out. */
    int (*handoff)(berth_pipe *p, berth_ktls *k);
    berth_pipe *(*handoff_done)(berth_pipe *p, int ok);

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
} berth_layer;

#endif
