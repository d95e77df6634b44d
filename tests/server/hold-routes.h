/* GET /hold and GET /release: a handler that streams while it blocks
 * (hold-routes.c). */
#ifndef HOLD_ROUTES_H
#define HOLD_ROUTES_H

#include <berth.h>

void hold_routes_add(berth_router *r);

#endif
