/* HTTP_BACKEND=uring in a build without io_uring (not Linux, or built
 * without liburing, meson -During): the reactor serves, and the log says
 * why once, as uring.c does where the kernel refuses io_uring. */
#include <stdio.h>

#include "backend.h"
#include "../core/log.h"

static int uring_start(berth_server *srv)
{
    berth_logf(&srv->log, "berth: uring: io_uring cannot be used here (this build has none: it needs Linux "
               "and liburing, meson -During=enabled): serving with the reactor instead");
    srv->ops = &berth_backend_reactor;
    snprintf(srv->backend_name, sizeof srv->backend_name, "%s", srv->ops->name);
    return srv->ops->start(srv);
}

static void uring_join(berth_server *srv) { srv->ops->join(srv); }

const berth_backend_ops berth_backend_uring = {"uring", uring_start, uring_join};
