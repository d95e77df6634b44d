/* berth's messages (configuration errors, listeners, warnings), to the
 * server's log: berth_config.log when set, else stderr. Every message of a
 * server goes through its berth_log, whichever thread says it: the server
 * owns it, and code without the server at hand reaches it through the
 * engine (berth_engine.log) of the worker it runs on. */
#ifndef BERTH_LOG_H
#define BERTH_LOG_H

#include <stdatomic.h>

#include "berth.h"

typedef struct berth_log {
    berth_log_fn fn;     /* NULL: stderr */
    void *user;
    atomic_uint said;    /* berth_log_once's messages already said */
} berth_log;

void berth_log_init(berth_log *log, berth_log_fn fn, void *user);
/* One message, printf-style, without the trailing newline. log NULL:
 * stderr (only where no server exists, such as a NULL configuration). */
__attribute__((format(printf, 2, 3))) void berth_logf(berth_log *log, const char *fmt, ...);
/* The same, the first time only for this server: once is one bit
 * (BERTH_SAID_*), per kind of message. */
__attribute__((format(printf, 3, 4))) void berth_log_once(berth_log *log, unsigned once,
                                                          const char *fmt, ...);

enum {
    BERTH_SAID_KTLS_ON = 1u << 0,      /* kernel TLS engaged */
    BERTH_SAID_KTLS_NONE = 1u << 1,    /* no tls module */
    BERTH_SAID_KTLS_REFUSED = 1u << 2, /* keys refused after TCP_ULP */
    BERTH_SAID_ACCEPT = 1u << 3,       /* fast: accept failed */
    BERTH_SAID_FAST_WAKE = 1u << 4,    /* fast: no eventfd for a thread */
    BERTH_SAID_FAST_SNDTIMEO = 1u << 5, /* fast: SO_SNDTIMEO refused */
    BERTH_SAID_FAST_RCVTIMEO = 1u << 6, /* fast: SO_RCVTIMEO refused */
    BERTH_SAID_FAST_STACK = 1u << 7,    /* fast: stacks grown for static TLS */
    BERTH_SAID_FAST_THREAD = 1u << 8,   /* fast: a connection thread not created */
};

#endif
