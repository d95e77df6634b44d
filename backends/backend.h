/* The transport interface. A backend moves bytes between sockets and the
 * core engine (core/conn.h) and knows no HTTP. Adding one means one more
 * file with one of these tables and a line in the registry (server.c). */
#ifndef BERTH_BACKEND_H
#define BERTH_BACKEND_H

#include <stdatomic.h>

#include "../core/engine.h"

struct berth_conn;

typedef struct berth_backend_ops {
    const char *name;
    /* Starts the workers serving srv->listen_fds; returns 0 or -1. */
    int (*start)(berth_server *srv);
    /* Waits for every worker to finish after a stop. */
    void (*join)(berth_server *srv);
} berth_backend_ops;

struct berth_server {
    berth_config config;
    berth_engine engine;
    const berth_backend_ops *ops;
    char backend_name[16];
    int threads;            /* workers (reactor, libuv) or acceptors (fast) */
    int *listen_fds;        /* one SO_REUSEPORT listener per thread */
    int nlisten;
    uint16_t port;
    int stop_fd;            /* eventfd, readable once a stop is asked */
    atomic_int stopping;
    atomic_uint connections;
    int started;
    void *backend_data;
};

extern const berth_backend_ops berth_backend_reactor;
extern const berth_backend_ops berth_backend_fast;
extern const berth_backend_ops berth_backend_libuv;

/* Answers a connection over the cap with a canned 503 and closes it. */
void berth_backend_refuse(int fd);
/* Counts a new connection against max_connections: 1 if admitted. */
int berth_backend_admit(berth_server *srv);
void berth_backend_release(berth_server *srv);
/* Writes out what the engine has pending with one sendmsg. Returns the
 * bytes written, 0 if the socket is full (a blocking socket: its send
 * timeout passed, or a signal interrupted it), -1 on a fatal error. */
long berth_backend_write(int fd, struct berth_conn *c);

#endif
