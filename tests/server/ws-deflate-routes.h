/* WebSockets with permessage-deflate on, whatever the library's default
 * (ws-deflate-routes.c; tests/e2e/test_ws_deflate.py, issue 29): GET
 * /wsd/topic subscribes to a topic whose messages a subscriber's own
 * message also goes to (published on its connection's thread); POST
 * /wsd/publish?count=N publishes its body N times from a thread of its own;
 * GET /wsd/thread: the text "send N" makes a thread, not the connection's,
 * send N messages to that WebSocket. */
#ifndef WS_DEFLATE_ROUTES_H
#define WS_DEFLATE_ROUTES_H

#include <berth.h>

void ws_deflate_routes_add(berth_router *r);
/* After the server's wait: waits for the sending threads (5 s at most),
 * frees the topic. */
void ws_deflate_routes_free(void);

#endif
