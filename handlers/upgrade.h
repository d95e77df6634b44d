/* berth-serve's signals: the stop (SIGTERM, SIGINT) with an optional
 * drain delay, and the zero-downtime upgrade (SIGUSR2). upgrade.c says
 * how; docs/DEPLOY.md how to use it. */
#ifndef HANDLERS_UPGRADE_H
#define HANDLERS_UPGRADE_H

#include <berth.h>

/* Installs the handlers (before the server starts, so that no signal
 * finds the default action). 0, or -1 (errno). */
int serve_signals_init(void);
/* Says READY=1 (berth_notify), then waits for signals: SIGUSR2 starts the
 * executable again on srv's sockets and, once it is ready, stops srv;
 * SIGTERM or SIGINT answer /health 503 for BERTH_DRAIN_DELAY_MS (default
 * 0) and stop srv. Returns once srv has stopped (berth_server_wait). */
void serve_until_stopped(berth_server *srv, char **argv);

#endif
