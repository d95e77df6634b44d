/* What a connection knows of its ends: the peer's and local addresses
 * (from accept, PROXY, or the transport on demand: transport.h) and what
 * TLS negotiated, for berth_req_peer, berth_req_local, berth_req_tls; the
 * server it came to (berth_req_server) and the data of the thread serving it
 * (berth_req_thread_data, berth_stream_thread_data). */
#include "conn_impl.h"
#include "stream.h"

#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "log.h"
#include "request.h"

struct conn_tls {
    berth_tls_info info;
    char alpn[32];
    char sni[256];
};

/* Copies a string of what TLS negotiated into dst (truncated to fit). */
static berth_str tls_str_copy(char *dst, size_t cap, berth_str src)
{
    size_t n = src.len < cap ? src.len : cap;
    if (n)
        memcpy(dst, src.ptr, n);
    berth_str out = {dst, n};
    return out;
}

void berth_conn_set_tls(berth_conn *c, const berth_tls_info *info)
{
    if (!c->tls && !(c->tls = malloc(sizeof *c->tls))) {
        /* Its requests would pass for plaintext ones (berth_req_tls saying
         * no to a handler that checks): the connection is closed instead. */
        berth_logf(c->w->engine->log, "berth: out of memory: a TLS connection is closed");
        berth_conn_kill(c);
        return;
    }
    c->tls->info = *info; /* version and cipher are wolfSSL's static names */
    c->tls->info.alpn = tls_str_copy(c->tls->alpn, sizeof c->tls->alpn, info->alpn);
    c->tls->info.sni = tls_str_copy(c->tls->sni, sizeof c->tls->sni, info->sni);
}

int berth_conn_alpn_h2(const berth_conn *c)
{
    return c->tls && c->tls->info.alpn.len == 2 && memcmp(c->tls->info.alpn.ptr, "h2", 2) == 0;
}

unsigned berth_conn_protocols(const berth_conn *c) { return c->protos; }

void berth_conn_set_peer(berth_conn *c, const struct sockaddr *sa, socklen_t len)
{
    berth_caddr_set(&c->peer, sa, len);
}

void berth_conn_set_addrs(berth_conn *c, const struct sockaddr *peer, socklen_t peer_len,
                          const struct sockaddr *local, socklen_t local_len)
{
    if (peer)
        berth_caddr_set(&c->peer, peer, peer_len);
    if (local)
        berth_caddr_set(&c->local, local, local_len);
}

int berth_req_tls_sized(const berth_req *req, berth_tls_info *info, size_t size)
{
    const berth_conn *c = req->res.conn;
    if (!c || !c->tls)
        return BERTH_ENOENT;
    berth_abi_write(info, size, &c->tls->info, sizeof c->tls->info);
    return 0;
}

int berth_req_is_tls(const berth_req *req)
{
    const berth_conn *c = req->res.conn;
    return c && c->tls;
}

int berth_req_peer(const berth_req *req, berth_addr *addr)
{
    const berth_conn *c = req->res.conn;
    return c && berth_caddr_get(&c->peer, addr) ? 0 : BERTH_ENOENT;
}

int berth_req_local(const berth_req *req, berth_addr *addr)
{
    const berth_conn *c = req->res.conn;
    if (!c)
        return BERTH_ENOENT;
    if (c->local.family) /* from a PROXY header */
        return berth_caddr_get(&c->local, addr) ? 0 : BERTH_ENOENT;
    /* Asked of the socket now, not at accept: a system call per
     * connection for what few handlers want. */
    const berth_transport_ops *t = c->w->transport;
    memset(addr, 0, sizeof *addr);
    return t && t->local_addr ? t->local_addr(c->transport, addr) : BERTH_ENOENT;
}

int berth_req_stopping(const berth_req *req)
{
    const berth_conn *c = req->res.conn;
    return c && c->draining;
}


berth_server *berth_req_server(const berth_req *req)
{
    const berth_conn *c = req->res.conn;
    return c ? c->w->engine->server : NULL;
}

void *berth_req_thread_data(const berth_req *req)
{
    const berth_conn *c = req->res.conn;
    return c ? c->w->thread_data : NULL;
}

void *berth_stream_thread_data(const berth_stream *s) { return s->w ? s->w->thread_data : NULL; }
