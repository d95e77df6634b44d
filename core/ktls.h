/* Kernel TLS key material: what the TLS layer hands to the kernel for one
 * connection, through the pipe's hand-off (pipe.h: BERTH_HANDOFF_KTLS), and
 * what berth's own record layer starts from when the kernel declines.
 * Only the TLS layer (core/tls*.c), the drive loop (backends/drive.c) and
 * the socket operations (backends/sock.c) see inside it: to the pipe it
 * is an opaque struct berth_ktls. */
#ifndef BERTH_KTLS_H
#define BERTH_KTLS_H

/* The AEAD ciphers both the kernel and berth's records take (TLS 1.3). */
enum berth_ktls_cipher {
    BERTH_KTLS_AES_128_GCM,
    BERTH_KTLS_AES_256_GCM,
    BERTH_KTLS_CHACHA20_POLY1305,
};

/* One direction's traffic secret as key and IV, and its next record
 * number. */
typedef struct berth_ktls_dir {
    unsigned char key[32];
    unsigned char iv[12];
    unsigned char seq[8];     /* big-endian */
} berth_ktls_dir;

typedef struct berth_ktls {
    enum berth_ktls_cipher cipher;
    berth_ktls_dir tx, rx;    /* ours (server write), the peer's */
} berth_ktls;

#endif
