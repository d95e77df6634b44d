/* The backend: named by the configuration or by HTTP_BACKEND, the one
 * variable of the environment the server reads (berth_backend_env). */
#ifndef BERTH_SELECT_H
#define BERTH_SELECT_H

#include "../core/log.h"
#include "backend.h"

/* Resolves a backend spec ("reactor", "fast", "fast:N", "libuv"; NULL or
 * empty: the default). A bad spec logs a warning and falls back to the
 * default. *threads receives N for "fast:N", else 0. */
const berth_backend_ops *berth_backend_select(berth_log *log, const char *spec, int *threads);
/* HTTP_BACKEND, for a configuration that names no backend; NULL if unset,
 * or if REQUEST_METHOD is set too (with a warning): a CGI server turns a
 * request's "Backend:" header into HTTP_BACKEND, so a program it runs
 * would let its client choose. */
const char *berth_backend_env(berth_log *log);
/* Default worker count: the number of CPUs this process may run on. */
int berth_threads_default(void);
/* 1 if spec is a backend name berth_backend_select takes without a warning. */
int berth_backend_valid(const char *spec);

#endif
