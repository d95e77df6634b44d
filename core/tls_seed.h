/* wolfSSL's entropy from getrandom(2) (tls_seed.c). */
#ifndef BERTH_TLS_SEED_H
#define BERTH_TLS_SEED_H

/* The id of berth's seed device, registered with wolfCrypt on the first
 * call (after wolfSSL_Init); INVALID_DEVID if wolfCrypt had no room for it
 * (then generators seed from /dev/urandom, as without it). */
int berth_tls_seed_device(void);

#endif
