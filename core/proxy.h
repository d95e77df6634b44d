/* The PROXY protocol (v1 text and v2 binary, haproxy's proxy-protocol.txt)
 * as a layer of the byte pipe: the outermost one, since the header comes
 * before anything else on the wire, TLS included. It reads the header,
 * gives the engine the addresses it names (berth_req_peer, _local), hands
 * the bytes that followed it to the pipe above, and from then on only
 * passes every call through. A connection whose first bytes are not a
 * valid header, or that sends none within the header timeout, is closed
 * unanswered (a listener that expects the header trusts only its proxy). */
#ifndef BERTH_PROXY_H
#define BERTH_PROXY_H

#include "conn.h"

typedef struct berth_proxy_ctx {
    const berth_layer *inner; /* the layer the header is for (TLS), or NULL */
} berth_proxy_ctx;

/* A berth_layer's wrap and thread_exit for ctx, a berth_proxy_ctx. */
berth_pipe *berth_proxy_wrap(void *ctx, berth_conn *engine, berth_worker *w);
void berth_proxy_thread_exit(void *ctx);

/* Parses a header at the start of buf[0, len): its length, 0 if more bytes
 * are needed, -1 if it is not a valid header. Fills the addresses it
 * names (family 0 when it names none: LOCAL, UNKNOWN, UNSPEC). */
long berth_proxy_parse(const char *buf, size_t len, struct sockaddr_storage *peer,
                       struct sockaddr_storage *local);

#endif
