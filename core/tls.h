/* TLS as a layer of the byte pipe (pipe.h), with wolfSSL.
 *
 * The layer wraps the engine's pipe and offers the same interface: the
 * backend reads ciphertext into the layer's buffer and writes the
 * ciphertext it lists; wolfSSL never touches the socket (its per-
 * connection I/O callbacks work on those buffers), so a handshake never
 * blocks an event loop, and every backend gets TLS without knowing.
 *
 * One context per server, configured before the workers start and shared
 * by them: session tickets it issues resume on any thread. */
#ifndef BERTH_TLS_H
#define BERTH_TLS_H

#include "berth.h"
#include "conn.h"

typedef struct berth_tls_ctx berth_tls_ctx;

/* Loads the certificate and key (or makes a self-signed pair), applies
 * the settings. NULL, with a message on log (the server's; NULL: stderr),
 * when they are unusable. */
berth_tls_ctx *berth_tls_ctx_new(const berth_tls_config *cfg, struct berth_log *log);
void berth_tls_ctx_free(berth_tls_ctx *ctx);
/* A berth_layer's wrap: a TLS server layer over engine's pipe. */
berth_pipe *berth_tls_wrap(void *ctx, berth_conn *engine, berth_worker *w);
/* A berth_layer's thread_exit: frees wolfSSL's per-thread ECC cache. */
void berth_tls_thread_exit(void *ctx);

/* For tls.c: a connection's WOLFSSL object, set up by the context
 * (ALPN, SNI, its random generator seeded without a descriptor); NULL
 * without memory. And the context's settings. */
struct WOLFSSL;
/* protos: what the connection's listener serves (BERTH_CONN_H1 and/or
 * BERTH_CONN_H2, conn.h; 0: both): the ALPN offer leaves out the rest. */
struct WOLFSSL *berth_tls_ctx_new_ssl(berth_tls_ctx *ctx, unsigned protos);
/* 1 if the context's ALPN list has a protocol a listener serving protos
 * can offer. */
int berth_tls_ctx_offers(const berth_tls_ctx *ctx, unsigned protos);
unsigned berth_tls_ctx_handshake_timeout(const berth_tls_ctx *ctx);
int berth_tls_ctx_ktls(const berth_tls_ctx *ctx);

#endif
