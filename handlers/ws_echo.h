/* berth-serve's WebSocket echo (/ws), on the public header only. */
#ifndef HANDLERS_WS_ECHO_H
#define HANDLERS_WS_ECHO_H

#include <berth.h>

/* Adds GET /ws. BERTH_WS_MAX_MESSAGE (bytes, default 16 MiB) and
 * BERTH_WS_PING_MS (default 30000, 0: no pings) come from the environment. */
int ws_echo_route_add(berth_router *router);

#endif
