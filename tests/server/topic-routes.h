/* Topics over the public API (topic-routes.c): GET /topic/ws and
 * /topic/sse subscribe (?name=room: slow subscribers skipped; name=strict:
 * closed; buf=N: the WebSocket's max_buffer), a WebSocket's message is
 * published to its topic (a chat), POST /topic/publish publishes its body
 * (?type=binary, event=E, thread=1: from a thread of its own), GET
 * /topic/stats. */
#ifndef TOPIC_ROUTES_H
#define TOPIC_ROUTES_H

#include <berth.h>

void topic_routes_add(berth_router *r);
/* Frees the topics (after the server's wait). */
void topic_routes_free(void);

#endif
