/* The demo endpoints of berth-serve, including the HttpArena HTTP/1.1
 * profiles (baseline, pipelined, json, upload). Written only against the
 * public header, as a user's handlers would be. */
#ifndef HANDLERS_ARENA_H
#define HANDLERS_ARENA_H

#include <berth.h>

#include "dataset.h"

/* Adds every endpoint to router. The dataset must outlive the router. */
int arena_routes_add(berth_router *router, const dataset *data);
/* 1: GET /health answers 503 "draining" (the server is about to stop);
 * 0: 200 "ok". Any thread. */
void arena_set_draining(int on);

#endif
