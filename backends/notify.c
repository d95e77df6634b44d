/* The service manager's readiness protocol (sd_notify(3)): one datagram
 * to the Unix socket NOTIFY_SOCKET names. systemd's Type=notify services
 * use it, and berth-serve's upgrade waits on it for the new process's
 * READY=1 (handlers/upgrade.c). Written here rather than linked from
 * libsystemd: the protocol is a sendto, and berth runs without systemd. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "berth.h"
#include "platform.h"

int berth_notify(const char *state)
{
    if (!state || !*state)
        return BERTH_EINVAL;
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return BERTH_ENOENT;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t plen = strlen(path);
    /* A path, or "@name" in Linux's abstract namespace (systemd's form). */
    if ((path[0] != '/' && path[0] != '@') || plen >= sizeof sa.sun_path)
        return BERTH_EINVAL;
    memcpy(sa.sun_path, path, plen);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen +
                                (path[0] == '@' ? 0 : 1));
    int fd = berth_socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0)
        return BERTH_ESYS;
    ssize_t n = sendto(fd, state, strlen(state), 0, (struct sockaddr *)&sa, len);
    int e = errno;
    close(fd);
    errno = e;
    return n == (ssize_t)strlen(state) ? 0 : BERTH_ESYS;
}
