#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void berth_caddr_set(berth_caddr *a, const struct sockaddr *sa, socklen_t len)
{
    memset(a, 0, sizeof *a);
    if (!sa)
        return;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        a->family = BERTH_AF_INET;
        a->port = ntohs(in->sin_port);
        memcpy(a->raw, &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        a->port = ntohs(in6->sin6_port);
        if (memcmp(in6->sin6_addr.s6_addr, v4_mapped, 12) == 0) {
            a->family = BERTH_AF_INET;
            memcpy(a->raw, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            a->family = BERTH_AF_INET6;
            memcpy(a->raw, in6->sin6_addr.s6_addr, 16);
        }
    } else if (sa->sa_family == AF_UNIX) {
        a->family = BERTH_AF_UNIX;
    }
}

int berth_caddr_get(const berth_caddr *a, berth_addr *out)
{
    memset(out, 0, sizeof *out);
    if (!a->family)
        return 0;
    out->family = a->family;
    out->port = a->port;
    if (a->family == BERTH_AF_INET) {
        memcpy(out->raw, a->raw, 4);
        inet_ntop(AF_INET, a->raw, out->text, sizeof out->text);
    } else if (a->family == BERTH_AF_INET6) {
        memcpy(out->raw, a->raw, 16);
        inet_ntop(AF_INET6, a->raw, out->text, sizeof out->text);
    }
    return 1;
}

int berth_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, berth_addr *out)
{
    berth_caddr c;
    berth_caddr_set(&c, sa, len);
    if (!berth_caddr_get(&c, out))
        return 0;
    if (c.family == BERTH_AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t n = len > offsetof(struct sockaddr_un, sun_path)
                       ? (size_t)len - offsetof(struct sockaddr_un, sun_path) : 0;
        if (n > sizeof out->text - 1)
            n = sizeof out->text - 1;
        memcpy(out->text, un->sun_path, n);
        out->text[n] = '\0';
        if (n && un->sun_path[0] == '\0') /* abstract: shown as @name */
            out->text[0] = '@';
    }
    return 1;
}
