/* The test server's worker-thread and stop hooks (thread-routes.c,
 * tests/e2e/test_hooks.py). */
#ifndef TEST_THREAD_ROUTES_H
#define TEST_THREAD_ROUTES_H

#include <berth.h>

/* Adds GET /thread-data, /thread-stream, /ws-bye and /hook-release; with
 * BERTH_TEST_THREAD_HOOKS=1 also sets cfg's thread_init, thread_exit and
 * on_stop (hook_user stays the caller's). */
void thread_routes_add(berth_router *r, berth_config *cfg);
/* After berth_server_wait: prints the hooks' counts on stdout, frees the
 * threads' records. */
void thread_routes_report(void);

#endif
