/* WebSocket compression, permessage-deflate (RFC 7692), sans-I/O: the
 * choice among the client's offers and the answer (ws_deflate_offer.c),
 * and the codec of one connection (ws_deflate.c) on zlib, which keeps a
 * sliding window across messages (context takeover); libdeflate, used for
 * HTTP bodies, does not stream. */
#ifndef BERTH_WS_DEFLATE_H
#define BERTH_WS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

/* What was agreed with the client. */
typedef struct berth_wsd_params {
    uint8_t server_bits;        /* the server's window, 8-15 (zlib uses 9 for 8) */
    uint8_t client_bits;        /* the window the client's messages may use, 8-15 */
    uint8_t server_no_takeover; /* each message sent starts with an empty window */
    uint8_t client_no_takeover; /* each message received does */
    uint8_t say_server_bits;    /* the answer names server_max_window_bits */
    uint8_t say_client_bits;    /* the answer names client_max_window_bits */
} berth_wsd_params;

/* Reads one Sec-WebSocket-Extensions field value (a list of offers in the
 * client's order of preference) and takes the first valid
 * permessage-deflate offer: 1 with *out set, 0 if there is none (an offer
 * with an unknown or repeated parameter, or an invalid value, is passed
 * over). max_bits (8-15) bounds both windows where the offer lets the
 * server choose: the server's always, the client's when it offered
 * client_max_window_bits. */
int berth_wsd_offer(const char *v, size_t n, unsigned max_bits, berth_wsd_params *out);
/* The answer's field value for *p, NUL-terminated (cap: 128 is enough);
 * returns its length. */
size_t berth_wsd_answer(const berth_wsd_params *p, char *out, size_t cap);

/* Messages shorter than this go out uncompressed (RSV1 clear): see
 * docs/API.md, "WebSocket compression", for the measurement. */
#define BERTH_WSD_MIN_SEND 32

/* A connection's codec. Each zlib stream is made at the first message
 * that needs it; with no context takeover on its side it is freed after
 * every message, so an idle connection holds none. */
typedef struct berth_wsd {
    berth_wsd_params p;
    int level;              /* zlib's compression level, 1-9 */
    struct z_stream_s *tx;  /* deflate: messages sent */
    struct z_stream_s *rx;  /* inflate: messages received */
    int rx_ended;           /* the message being read had a final block */
    uint64_t rx_bytes;      /* compressed bytes of the message being read */
    size_t held;            /* bytes zlib holds now, for both streams */
} berth_wsd;

void berth_wsd_init(berth_wsd *d, const berth_wsd_params *p, int level);
/* Frees the streams (the struct is the caller's). */
void berth_wsd_release(berth_wsd *d);

/* Inflates n bytes of a compressed message (last: they end it, and the
 * 00 00 ff ff the sender removed is put back) onto (*buf, *len, *cap),
 * growing it with realloc. max bounds the message's inflated size (0: no
 * bound): *len never exceeds it, and one byte more closes. Returns 0, or
 * the close code: 1009 past max, 1007 not valid deflate data, 1011 out of
 * memory. */
int berth_wsd_inflate(berth_wsd *d, const char *in, size_t n, int last, uint64_t max,
                      char **buf, size_t *len, size_t *cap);

/* Compresses a whole message, without the trailing 00 00 ff ff. The
 * output goes to scratch when it fits in scratch_cap bytes (*out ==
 * scratch), else to memory malloc'd for it (*out, the caller frees it).
 * 0, or -1 when memory ran out. */
int berth_wsd_deflate(berth_wsd *d, const char *in, size_t n, char *scratch, size_t scratch_cap,
                      char **out, size_t *olen);

#endif
