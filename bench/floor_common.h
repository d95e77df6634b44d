/* What bench-floor (epoll, floor.c) and bench-floor-uring (io_uring,
 * floor_uring.c) share: the ROUTES file and its canned answers, the Date
 * they carry, the little parsing a floor does (end of head, target,
 * Content-Length), the listening socket and the process set-up. Only the
 * way bytes reach and leave the sockets differs between the two, so that
 * their figures compare the two kernel interfaces and nothing else.
 */
#ifndef BENCH_FLOOR_COMMON_H
#define BENCH_FLOOR_COMMON_H

#include <signal.h>
#include <stddef.h>

enum { FLOOR_MAX_HEAD = 64 * 1024 };

typedef struct floor_route floor_route;

/* One connection's parsing state and its buffers. */
typedef struct floor_stream {
    char *in;                /* bytes of an incomplete request head */
    size_t in_len, in_cap;
    char *out;               /* answers not yet written (out_off: written) */
    size_t out_len, out_off, out_cap;
    unsigned long long body_left;
    const floor_route *owed; /* answered once body_left reaches 0 */
    unsigned long long owed_len;
} floor_stream;

extern volatile sig_atomic_t floor_stop; /* set by SIGTERM/SIGINT */

void floor_die(const char *what);
void *floor_xrealloc(void *p, size_t n);

/* Reads ROUTES (prog names the program in errors) and fills in the Date. */
void floor_load_routes(const char *prog, const char *path);
/* Rewrites the canned answers' Date when the second has changed. */
void floor_set_date(void);

/* Handles n received bytes: answers every request they complete (appended
 * to s->out), keeps an incomplete head. Returns -1 when a head grows past
 * FLOOR_MAX_HEAD (close the connection), else 0. */
int floor_feed(floor_stream *s, const char *data, size_t n);
void floor_stream_free(floor_stream *s);

/* Raises RLIMIT_NOFILE, catches SIGTERM/SIGINT (floor_stop), ignores
 * SIGPIPE. */
void floor_process_setup(void);
/* A non-blocking listener on 127.0.0.1:port (0: any); *bound: its port. */
int floor_listen(const char *port, unsigned *bound);
/* The line bench/run.py waits for. */
void floor_say_listening(unsigned port, const char *backend);

#endif
