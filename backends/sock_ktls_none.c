/* No kernel TLS (FreeBSD, macOS, a -Dportable=true build): starting it
 * says unavailable, and berth's own record layer carries the connection,
 * as on a Linux kernel without the tls module. FreeBSD's kernel TLS has
 * another interface, not used (docs/PLATFORMS.md). */
#include "sock.h"

#include "../core/ktls.h"

const berth_sock_ops berth_sock_ktls = {0}; /* never installed: start never succeeds */

enum berth_ktls_start berth_sock_ktls_start(berth_sock *s, const berth_ktls *k)
{
    (void)s;
    (void)k;
    return BERTH_KTLS_UNAVAILABLE;
}
