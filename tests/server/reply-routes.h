/* berth's reply helpers over the public API (reply-routes.c): GET /sendf,
 * GET /error-json. */
#ifndef REPLY_ROUTES_H
#define REPLY_ROUTES_H

#include <berth.h>

void reply_routes_add(berth_router *r);

#endif
