/* Records through berth (tls_layer.h): a TLS 1.3 connection past its
 * handshake, once wolfSSL handed over its keys and was freed.
 *
 * Input: whole records are opened in place in `in` (tls_record.c); the
 * plaintext waits there (pend_off, pend_len) until the engine takes it.
 * Output: the engine's segments are copied (files read with pread) into
 * `out` behind a record header, sealed in place and listed for writing.
 * What the records say besides data is handled as kernel TLS has it
 * handled (backends/sock.c): close_notify ends the client's stream; a
 * KeyUpdate, whose new keys only wolfSSL could derive, ends it too but
 * still lets us say close_notify with our unchanged keys; another alert,
 * a record that does not open or anything else ends the connection at
 * once, without an alert. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <string.h>
#include <unistd.h>

#include "tls_layer.h"

enum { HS_KEY_UPDATE = 24, ALERT_CLOSE_NOTIFY = 0, ALERT_USER_CANCELED = 90 };

int tls_records_engage(tls_layer *t)
{
    berth_ktls k;
    int ok = tls_export_keys(t->ssl, &k);
    t->rec = ok ? berth_tls_rec_new(&k) : NULL;
    berth_wipe(&k, sizeof k); /* keys do not linger */
    t->handoff_tried = 1;
    if (!t->rec)
        return 0; /* wolfSSL keeps the records */
    wolfSSL_free(t->ssl);
    t->ssl = NULL;
    berth_pool_put(&t->w->buf_pool, t->plain);
    t->plain = NULL;
    return 1;
}

int tls_records_pending(const tls_layer *t)
{
    if (t->pend_len)
        return 1;
    /* A whole record waiting in `in`. */
    size_t avail = t->in_len - t->in_off;
    if (avail < BERTH_REC_HEADER)
        return 0;
    const unsigned char *h = (const unsigned char *)t->in + t->in_off;
    return avail >= BERTH_REC_HEADER + ((size_t)h[3] << 8 | h[4]);
}

/* One record's content, by type. 1: go on reading; 0: stop. */
static int received(tls_layer *t, int type, size_t start, size_t len)
{
    berth_pipe *in = t->inner;
    const unsigned char *p = (const unsigned char *)t->in + start;
    if (type == BERTH_REC_DATA) {
        t->pend_off = start;
        t->pend_len = len; /* may be 0: an empty record, allowed */
        return 1;
    }
    if (type == BERTH_REC_ALERT && len == 2 && p[1] == ALERT_USER_CANCELED)
        return 1; /* a close_notify follows (RFC 8446 6.1) */
    if (type == BERTH_REC_ALERT && len == 2 && p[1] == ALERT_CLOSE_NOTIFY) {
        t->peer_eof = 1; /* the client's request stream ended */
        in->ops->read_done(in, 0);
        return 0;
    }
    if (type == BERTH_REC_HANDSHAKE && len >= 4 && p[0] == HS_KEY_UPDATE) {
        /* Its records from now on use keys we cannot derive. */
        t->peer_eof = 1;
        t->in_off = t->in_len;
        in->ops->read_done(in, 0);
        return 0;
    }
    tls_fatal(t); /* a fatal alert, or a message that has no place here */
    return 0;
}

void tls_records_decrypt(tls_layer *t)
{
    berth_pipe *in = t->inner;
    while (t->state == T_OPEN && in->ops->wants_input(in)) {
        if (t->pend_len) {
            size_t cap;
            char *buf = in->ops->read_buf(in, &cap);
            if (!buf || !cap)
                return; /* (read_done(0) would say EOF) */
            size_t n = t->pend_len < cap ? t->pend_len : cap;
            memcpy(buf, t->in + t->pend_off, n);
            t->pend_off += n;
            t->pend_len -= n;
            if (!t->plain_seen && n > 0)
                tls_plaintext_first(t);
            in->ops->read_done(in, n);
            continue;
        }
        if (t->peer_eof && t->in_off == t->in_len) {
            /* The TCP stream ended without close_notify, between records:
             * taken as a FIN, as with wolfSSL's records. */
            in->ops->read_done(in, 0);
            return;
        }
        int type = 0;
        size_t len = 0, start = t->in_off + BERTH_REC_HEADER;
        long r = berth_tls_rec_open(t->rec, (unsigned char *)t->in + t->in_off,
                                    t->in_len - t->in_off, &type, &len);
        if (r == 0 && !t->peer_eof) {
            t->stalled = 1; /* the rest of the record is still on its way */
            return;
        }
        if (r <= 0) {
            tls_fatal(t); /* cut inside a record, or one that does not open */
            return;
        }
        t->in_off += (size_t)r;
        if (!received(t, type, start, len))
            return;
    }
}

/* Seals the engine's output into `out`, one record per pass (a small
 * response is one record and one write), as many bytes as fit. */
void tls_records_encrypt(tls_layer *t)
{
    berth_pipe *in = t->inner;
    for (;;) {
        size_t room = t->out ? tls_block(t) - t->out_len : tls_block(t);
        if (room < 2048)
            return; /* out is full enough: write it first */
        size_t most = room - BERTH_REC_OVERHEAD;
        if (most > BERTH_REC_PLAIN_MAX)
            most = BERTH_REC_PLAIN_MAX;
        berth_seg segs[8];
        int n = in->ops->out_segs(in, segs, 8);
        if (n == 0)
            return;
        if (!tls_out_room(t, &room)) {
            tls_fatal(t);
            return;
        }
        unsigned char *rec = (unsigned char *)t->out + t->out_len;
        unsigned char *p = rec + BERTH_REC_HEADER;
        size_t have = 0;
        for (int i = 0; i < n && have < most; i++) {
            size_t take = segs[i].len < most - have ? segs[i].len : most - have;
            if (segs[i].ptr) {
                memcpy(p + have, segs[i].ptr, take);
            } else {
                /* A file range: read straight into the record. */
                ssize_t r = pread(segs[i].fd, p + have, take, (off_t)segs[i].off);
                if (r <= 0) {
                    tls_fatal(t); /* the file ended early: the body cannot be completed */
                    return;
                }
                if ((size_t)r < take) {
                    have += (size_t)r;
                    break;
                }
            }
            have += take;
            if (take < segs[i].len)
                break;
        }
        size_t size = berth_tls_rec_seal(t->rec, rec, have, BERTH_REC_DATA);
        if (!size) {
            tls_fatal(t);
            return;
        }
        t->out_len += size;
        in->ops->out_done(in, have);
    }
}

void tls_records_close_notify(tls_layer *t)
{
    size_t room;
    if (!tls_out_room(t, &room) || room < 2 + BERTH_REC_OVERHEAD)
        return; /* after what waits in `out` is written */
    unsigned char *rec = (unsigned char *)t->out + t->out_len;
    rec[BERTH_REC_HEADER] = 1; /* warning */
    rec[BERTH_REC_HEADER + 1] = ALERT_CLOSE_NOTIFY;
    size_t size = berth_tls_rec_seal(t->rec, rec, 2, BERTH_REC_ALERT);
    t->out_len += size;
    t->notify_sent = 1;
}
