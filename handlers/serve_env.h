/* What berth-serve and the test server share: the environment read with
 * warn-and-default, server creation with BERTH_LISTEN, the start line. */
#ifndef HANDLERS_SERVE_ENV_H
#define HANDLERS_SERVE_ENV_H

#include <berth.h>

/* An unsigned integer from the environment, or fallback with a warning. */
unsigned long long env_number(const char *name, unsigned long long fallback,
                              unsigned long long max);
/* Compression settings: BERTH_COMPRESS (0 or 1), BERTH_GZIP_LEVEL (1-12),
 * BERTH_COMPRESS_MIN (bytes), BERTH_COMPRESS_TYPES (a type list). */
void compress_from_env(berth_config *cfg);
/* berth_server_new with BERTH_LISTEN (if set) as cfg->listen; a listen
 * list berth refuses is warned about and the server made without it
 * (PORT, TLS_PORT). BERTH_THREADS sets cfg->threads unless it is set;
 * BERTH_ACCESS_LOG=1 sets the access log as after hook; BERTH_STOP_GRACE_MS
 * and BERTH_DRAIN_TIMEOUT_MS the stop's stop_grace_ms and drain_timeout_ms;
 * compression
 * settings come from compress_from_env. */
berth_server *server_from_env(berth_config *cfg);
/* Prints "listening on http://127.0.0.1:PORT backend=NAME threads=N
 * [tls=https://127.0.0.1:PORT] listeners=A,B,..." and flushes. */
void print_listening(berth_server *srv);

#endif
