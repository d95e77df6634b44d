/* berth-serve's TLS listener from its environment (TLS_PORT, TLS_CERT,
 * TLS_KEY, TLS_MIN_VERSION, TLS_CIPHERS, TLS_HANDSHAKE_TIMEOUT_MS,
 * TLS_ALPN_LENIENT, BERTH_KTLS), shared with the test server. */
#ifndef HANDLERS_TLS_ENV_H
#define HANDLERS_TLS_ENV_H

#include <berth.h>

/* Fills *tls from the environment: 1 to listen for TLS, 0 for none
 * (TLS_PORT=off), -1 after a message on stderr (a bad TLS_PORT). The
 * default certificate files are HttpArena's mount point; when neither
 * exists, berth makes a self-signed certificate. */
int tls_from_env(berth_tls_config *tls);

#endif
