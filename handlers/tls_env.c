#include "tls_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CERT "/certs/server.crt"
#define DEFAULT_KEY "/certs/server.key"

int tls_from_env(berth_tls_config *tls)
{
    berth_tls_config_init(tls);
    const char *port = getenv("TLS_PORT");
    if (port && strcmp(port, "off") == 0)
        return 0;
    tls->port = 8081;
    if (port && *port) {
        char *end;
        long v = strtol(port, &end, 10);
        if (*end || v < 0 || v > 65535) {
            fprintf(stderr, "berth-serve: TLS_PORT='%s' is not a port (0-65535, or off)\n", port);
            return -1;
        }
        tls->port = (uint16_t)v;
    }
    const char *v = getenv("TLS_MIN_VERSION");
    if (v && *v) {
        if (strcmp(v, "1.2") && strcmp(v, "1.3")) {
            fprintf(stderr, "berth-serve: TLS_MIN_VERSION='%s' is not 1.2 or 1.3\n", v);
            return -1;
        }
        tls->min_version = v[2] == '3' ? 13 : 12;
    }
    v = getenv("TLS_HANDSHAKE_TIMEOUT_MS");
    if (v && *v)
        tls->handshake_timeout_ms = (unsigned)strtoul(v, NULL, 10);
    v = getenv("TLS_ALPN_LENIENT"); /* 1: no ALPN in common is served HTTP/1.1 */
    tls->alpn_lenient = v && strcmp(v, "1") == 0;
    v = getenv("BERTH_KTLS"); /* off: records stay in userspace (berth_tls_config.ktls) */
    if (v && strcmp(v, "off") == 0)
        tls->ktls = 0;
    tls->alpn = getenv("TLS_ALPN"); /* e.g. http/1.1: no h2 over TLS (berth_tls_config.alpn) */
    if (tls->alpn && !*tls->alpn)
        tls->alpn = NULL;
    tls->ciphers = getenv("TLS_CIPHERS");
    if (tls->ciphers && !*tls->ciphers)
        tls->ciphers = NULL;
    const char *cert = getenv("TLS_CERT"), *key = getenv("TLS_KEY");
    if (cert && !*cert)
        cert = NULL;
    if (key && !*key)
        key = NULL;
    /* Unset: the default files, if they are there (both, or berth says
     * which one is missing); neither: a self-signed certificate. */
    if (!cert && !key && access(DEFAULT_CERT, F_OK) != 0 && access(DEFAULT_KEY, F_OK) != 0)
        return 1;
    tls->cert_file = cert ? cert : (key ? NULL : DEFAULT_CERT);
    tls->key_file = key ? key : (cert ? NULL : DEFAULT_KEY);
    return 1;
}
