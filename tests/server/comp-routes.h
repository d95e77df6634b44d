/* The test server's /comp route (on-the-fly compression tests). */
#ifndef TEST_COMP_ROUTES_H
#define TEST_COMP_ROUTES_H

#include <berth.h>

void comp_routes_add(berth_router *r);

#endif
