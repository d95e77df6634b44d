/* Defaults, and the derivation of engine settings from a berth_config. */
#include "engine.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "abi.h"
#include "compress.h"
#include "request.h"
#include "stats.h"
#include "timer.h"

void berth_config_init_sized(berth_config *config, size_t size)
{
    berth_config d, *c = &d;
    memset(c, 0, sizeof *c);
    c->size = sizeof *c;
    c->host = "0.0.0.0";
    c->port = 8080;
    c->max_request_line = 8 * 1024;
    c->max_header_bytes = 16 * 1024;
    c->max_header_fields = 100;
    c->max_body = 64ull * 1024 * 1024;
    c->header_timeout_ms = 10000;
    c->body_timeout_ms = 30000;
    c->idle_timeout_ms = 60000;
    c->write_timeout_ms = 30000;
    c->max_connections = 100000;
    c->drain_timeout_ms = 10000;
    c->stop_grace_ms = 100;
    c->reuseport = 1;
    c->max_stream_buffer = 1024 * 1024;
    c->max_buffered_bodies = 256ull * 1024 * 1024;
    c->compress = 1;
    c->gzip_level = 1;
    c->compress_min = 1024;
    berth_abi_init(config, size, c, sizeof *c);
}

void berth_engine_init(berth_engine *e, const berth_config *c)
{
    memset(e, 0, sizeof *e);
    e->max_request_line = c->max_request_line;
    e->max_header_bytes = c->max_header_bytes;
    e->max_header_fields = c->max_header_fields;
    e->max_body = c->max_body;
    e->header_timeout_ms = c->header_timeout_ms;
    e->body_timeout_ms = c->body_timeout_ms;
    e->idle_timeout_ms = c->idle_timeout_ms;
    e->write_timeout_ms = c->write_timeout_ms;
    /* The lingering close (conn.c): nginx reads on for lingering_time (30 s)
     * in all, while input comes at least every lingering_timeout (5 s).
     * berth takes the same 30 s, but a gap of 2 s: a stop waits for the
     * connections that linger, and a client that has our close and sends
     * nothing for 2 s is not in the middle of a body. */
    e->linger_ms = 2000;
    e->linger_time_ms = 30000;
    e->stop_grace_ms = c->stop_grace_ms;
    e->out_high_water = 256 * 1024;
    e->max_stream_buffer = c->max_stream_buffer ? c->max_stream_buffer : 1024 * 1024;
    e->router = c->router;
    e->handler = c->handler;
    e->user = c->user;
    e->before = c->before;
    e->after = c->after;
    e->on_error = c->on_error;
    e->hook_user = c->hook_user;
    e->thread_init = c->thread_init;
    e->thread_exit = c->thread_exit;
    e->request_id_header = c->request_id_header;
    e->compress = c->compress;
    e->gzip_level = c->gzip_level;
    e->compress_min = c->compress_min;
    e->compress_types = c->compress_types ? c->compress_types : berth_comp_default_types;
    /* A whole head must fit in one input buffer. */
    e->buf_size = 32 * 1024;
    size_t head_max = c->max_request_line + c->max_header_bytes + 1024;
    if (e->buf_size < head_max)
        e->buf_size = head_max;
    e->req_size = sizeof(struct berth_req) + c->max_header_fields * sizeof(berth_header);
}

void berth_worker_init(berth_worker *w, const berth_engine *e)
{
    memset(w, 0, sizeof *w);
    w->engine = e;
    berth_pool_init(&w->buf_pool, e->buf_size, 256);
    berth_pool_init(&w->req_pool, e->req_size, 64);
    berth_clock_update(&w->clock);
    w->owner = pthread_self();
    pthread_mutex_init(&w->wake_lock, NULL);
    w->stats = berth_stats_take(e->stats);
    /* Distinct per thread, process and start: the precise clock, the
     * worker's address and the process ID, mixed (exch.c). No secret:
     * request IDs name requests, they authorize nothing. */
    w->id_base = berth_clock_precise_us() ^ ((uint64_t)(uintptr_t)w << 16) ^ ((uint64_t)getpid() << 40);
}

void berth_worker_destroy(berth_worker *w)
{
    berth_timers_free(w);
    berth_comp_free(w);
    berth_pool_destroy(&w->buf_pool);
    berth_pool_destroy(&w->req_pool);
    pthread_mutex_destroy(&w->wake_lock);
    berth_worker_stats_release(w);
}

void berth_worker_stats_release(berth_worker *w)
{
    if (w->stats)
        berth_stats_give(w->engine->stats, w->stats);
    w->stats = NULL;
}

void berth_worker_thread_begin(berth_worker *w)
{
    const berth_engine *e = w->engine;
    if (w->thread_began || (!e->thread_init && !e->thread_exit))
        return;
    w->thread_began = 1;
    w->thread_data = e->thread_init ? e->thread_init(e->hook_user) : NULL;
}

void berth_worker_thread_end(berth_worker *w)
{
    const berth_engine *e = w->engine;
    if (!w->thread_began)
        return;
    w->thread_began = 0;
    if (e->thread_exit)
        e->thread_exit(w->thread_data, e->hook_user);
    w->thread_data = NULL;
}
