/* The demo endpoints of berth-serve, including the HttpArena HTTP/1.1
 * profiles (baseline, pipelined, json, upload). Written only against the
 * public header, as a user's handlers would be. */
#ifndef HANDLERS_ARENA_H
#define HANDLERS_ARENA_H

#include <berth.h>

#include "dataset.h"

/* Adds every endpoint to router. The dataset must outlive the router. */
int arena_routes_add(berth_router *router, const dataset *data);

#endif
