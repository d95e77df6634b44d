/* The test server's static mounts and the routes that change their files
 * the way an application would (static-file tests). */
#ifndef TEST_STATIC_ROUTES_H
#define TEST_STATIC_ROUTES_H

#include <berth.h>

/* With BERTH_STATIC_DIR set: mounts it at /static/ (the default cache) and
 * at /nocache/ (cache_entries 0), and adds the /admin/static routes.
 * 0, or -1 if the directory cannot be mounted. */
int static_routes_add(berth_router *r);
/* After the server has stopped. */
void static_routes_free(void);

#endif
