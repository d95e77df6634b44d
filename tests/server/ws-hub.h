/* The test server's /ws-hub route (tests/e2e/test_ws.py, issue 20). */
#ifndef TEST_WS_HUB_H
#define TEST_WS_HUB_H

#include <berth.h>

/* *server is the one a hub message "stop" stops. */
void ws_hub_route_add(berth_router *r, berth_server **server);
/* Waits for the thread a "stop" started, if any: before berth_server_free. */
void ws_hub_join(void);

#endif
