/* What a connection's socket answers for the engine (core/transport.h). */
#include "transport_ops.h"

#include <sys/socket.h>

#include "../core/addr.h"
#include "drive.h"

int berth_io_local_addr(void *transport, berth_addr *out)
{
    const berth_io *io = transport;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (!io || getsockname(io->s.fd, (struct sockaddr *)&ss, &len) != 0)
        return BERTH_ENOENT;
    return berth_addr_from_sockaddr((struct sockaddr *)&ss, len, out) ? 0 : BERTH_ENOENT;
}

const berth_transport_ops berth_loop_transport = {
    .local_addr = berth_io_local_addr,
    .flush = NULL, /* the loop writes once the current callback returns */
};
