/* Middleware, request values, added completion callbacks and request IDs
 * over the public API (mw-routes.c): everything under /mw, and GET
 * /mw-last, the trace of the last request under /mw once it was over. */
#ifndef MW_ROUTES_H
#define MW_ROUTES_H

#include <berth.h>

void mw_routes_add(berth_router *r);

#endif
