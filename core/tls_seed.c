/* wolfSSL's entropy from getrandom(2) (getentropy on macOS), not from a /dev/urandom descriptor
 * per connection.
 *
 * Every WOLFSSL object seeds its own random generator (a Hash_DRBG) in
 * wolfSSL_new, and Debian's build reads that seed by opening, reading and
 * closing /dev/urandom (wolfcrypt/src/random.c, wc_GenerateSeed): one
 * descriptor for a moment per TLS connection. A connection accepted into
 * the last free descriptor then fails there and is dropped mid-handshake,
 * where a plaintext one is served. Debian's build has neither the seed
 * callback (wc_SetSeed_Cb needs WC_RNG_SEED_CB) nor WOLFSSL_GETRANDOM, but
 * it has crypto callbacks (WOLF_CRYPTO_CB): wc_GenerateSeed first asks the
 * callback of the generator's device for the seed. So berth registers a
 * device whose callback answers only that, with getrandom, and declines
 * everything else (wolfCrypt then does the work itself); the context
 * carries the device's id, which every WOLFSSL object's generator takes
 * from it, and each object is set back to no device at once (tls_ctx.c),
 * so the connection's keys and ciphers never call the callback. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/cryptocb.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include <errno.h>
#include <pthread.h>
#include <sys/random.h>
#include <unistd.h>

#include "tls_seed.h"

#define SEED_DEVICE 0x62727468 /* "brth": any id but INVALID_DEVID (-2) */

static int seed_callback(int dev, wc_CryptoInfo *info, void *ctx)
{
    (void)dev;
    (void)ctx;
    if (info->algo_type != WC_ALGO_TYPE_SEED)
        return CRYPTOCB_UNAVAILABLE; /* wolfCrypt does it in software */
    unsigned char *out = info->seed.seed;
    size_t left = info->seed.sz;
    while (left) {
#ifdef __APPLE__ /* no getrandom: getentropy, at most 256 bytes a call */
        size_t want = left < 256 ? left : 256;
        ssize_t n = getentropy(out, want) == 0 ? (ssize_t)want : -1;
#else
        ssize_t n = getrandom(out, left, 0); /* blocks only before the pool is ready */
#endif
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return READ_RAN_E;
        }
        out += n;
        left -= (size_t)n;
    }
    return 0;
}

static int device = INVALID_DEVID;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void register_device(void)
{
    if (wc_CryptoCb_RegisterDevice(SEED_DEVICE, seed_callback, NULL) == 0)
        device = SEED_DEVICE;
}

int berth_tls_seed_device(void)
{
    pthread_once(&once, register_device);
    return device;
}
