/* Drives the sans-I/O engine without sockets: feeds bytes (whole or in
 * pieces), collects every byte it would write, and reports its state. */
#ifndef BERTH_ENGINE_HARNESS_H
#define BERTH_ENGINE_HARNESS_H

#include <berth.h>
#include <stddef.h>

#include "../../core/conn.h"

typedef struct harness {
    berth_engine engine;
    berth_worker worker;
    berth_router *router;
    berth_conn *conn;
    char *out;
    size_t out_len;
} harness;

/* Sets up an engine with test routes and optional config tweaks. */
void harness_init(harness *h, void (*tweak)(berth_config *cfg));
void harness_free(harness *h);
/* Feeds data in pieces of at most step bytes (0: all at once), writing out
 * everything the engine produces after each piece. */
void harness_feed(harness *h, const char *data, size_t len, size_t step);
void harness_feed_str(harness *h, const char *s);
void harness_eof(harness *h);
/* Applies queued stream work (what a backend does on a wake-up). */
void harness_pump(harness *h);
/* The body /big borrows. */
extern char harness_big[100000];
/* The stream the /defer and /stream routes created last. */
extern berth_stream *harness_stream;
/* Output so far, NUL-terminated; counts occurrences of s in it. */
int harness_count(const harness *h, const char *s);
int harness_state(const harness *h);
/* Full round trip: feeds s to a fresh engine, returns the first status. */
int harness_status_of(const char *s);

#endif
