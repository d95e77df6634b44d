/* Settings shared read-only by every worker, and the per-thread worker
 * state (clock, buffer pools) that connections of that thread use. */
#ifndef BERTH_ENGINE_H
#define BERTH_ENGINE_H

#include "berth.h"
#include "clock.h"
#include "pool.h"

typedef struct berth_engine {
    size_t max_request_line;
    size_t max_header_bytes;
    size_t max_header_fields;
    uint64_t max_body;
    unsigned header_timeout_ms;
    unsigned body_timeout_ms;
    unsigned idle_timeout_ms;
    unsigned write_timeout_ms;
    unsigned linger_ms;       /* how long a closing connection drains input */
    size_t out_high_water;    /* stop parsing new requests above this output */
    berth_router *router;
    berth_handler_fn handler;
    void *user;
    size_t buf_size;          /* input/output buffer block size */
    size_t req_size;          /* request block size (request + header slots) */
} berth_engine;

typedef struct berth_worker {
    const berth_engine *engine;
    berth_clock clock;
    berth_pool buf_pool;
    berth_pool req_pool;
} berth_worker;

void berth_engine_init(berth_engine *engine, const berth_config *config);
void berth_worker_init(berth_worker *worker, const berth_engine *engine);
void berth_worker_destroy(berth_worker *worker);

#endif
