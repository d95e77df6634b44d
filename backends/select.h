/* Reading HTTP_BACKEND and BERTH_THREADS: one parser, used by the server
 * for "from env" configurations and by berth-serve. */
#ifndef BERTH_SELECT_H
#define BERTH_SELECT_H

#include "backend.h"

/* Resolves a backend spec ("reactor", "fast", "fast:N", "libuv"; NULL or
 * empty: the default). A bad spec prints a warning on stderr and falls back
 * to the default. *threads receives N for "fast:N", else 0. */
const berth_backend_ops *berth_backend_select(const char *spec, int *threads);
/* Default worker count: BERTH_THREADS if valid (warning otherwise), else
 * the number of CPUs this process may run on. */
int berth_threads_default(void);
/* 1 if spec is a backend name berth_backend_select takes without a warning. */
int berth_backend_valid(const char *spec);

#endif
