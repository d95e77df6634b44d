#include "ws_frame.h"

#include <string.h>

/* ---- UTF-8 (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF) */

int berth_utf8_run(berth_utf8 *st, const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (st->need == 0) {
            /* Fast path: eight ASCII bytes at a time. */
            while (n - i >= 8) {
                uint64_t v;
                memcpy(&v, p + i, 8);
                if (v & 0x8080808080808080ull)
                    break;
                i += 8;
            }
            if (i == n)
                break;
            unsigned char b = p[i++];
            if (b < 0x80)
                continue;
            st->lo = 0x80;
            st->hi = 0xBF;
            if (b >= 0xC2 && b <= 0xDF) {
                st->need = 1;
            } else if (b >= 0xE0 && b <= 0xEF) {
                st->need = 2;
                if (b == 0xE0)
                    st->lo = 0xA0; /* overlong */
                else if (b == 0xED)
                    st->hi = 0x9F; /* surrogates */
            } else if (b >= 0xF0 && b <= 0xF4) {
                st->need = 3;
                if (b == 0xF0)
                    st->lo = 0x90; /* overlong */
                else if (b == 0xF4)
                    st->hi = 0x8F; /* past U+10FFFF */
            } else {
                return -1; /* a stray continuation, C0, C1, F5-FF */
            }
        } else {
            unsigned char b = p[i++];
            if (b < st->lo || b > st->hi)
                return -1;
            st->need--;
            st->lo = 0x80;
            st->hi = 0xBF;
        }
    }
    return 0;
}

/* ---- frames ------------------------------------------------------------- */

int berth_ws_code_valid(int code)
{
    if (code >= 3000 && code <= 4999)
        return 1; /* registered (3000-3999) and private (4000-4999) */
    if (code < 1000 || code > 1014)
        return 0;
    return code != 1004 && code != 1005 && code != 1006;
}

size_t berth_wsf_header(unsigned char *out, int opcode, uint64_t len)
{
    out[0] = (unsigned char)(0x80 | (opcode & (0x0F | BERTH_WSF_RSV1)));
    if (len < 126) {
        out[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
    return 10;
}

void berth_wsp_init(berth_wsp *p, uint64_t max_message)
{
    memset(p, 0, sizeof *p);
    p->max_message = max_message;
    p->hdr_need = 2;
    p->msg_first = 1;
}

uint64_t berth_wsp_wire_max(uint64_t max_message)
{
    if (!max_message || max_message > UINT64_MAX / 2)
        return max_message;
    return max_message + max_message / 4 + 4096;
}

static int fail(berth_wsp *p, berth_wsp_event *ev, int code)
{
    p->failed = code;
    ev->code = code;
    return BERTH_WSP_ERROR;
}

/* Unmasks n payload bytes at buf, frame_pos bytes into the frame. */
static void unmask(berth_wsp *p, unsigned char *buf, size_t n)
{
    if (!p->masked)
        return;
    unsigned off = (unsigned)(p->frame_pos & 3);
    size_t i = 0;
    while (i < n && ((i + off) & 3))
        buf[i] ^= p->mask[(i + off) & 3], i++;
    /* Aligned to the mask now: eight bytes at a time. */
    uint32_t m32;
    memcpy(&m32, p->mask, 4);
    uint64_t m64 = (uint64_t)m32 << 32 | m32;
    for (; n - i >= 8; i += 8) {
        uint64_t v;
        memcpy(&v, buf + i, 8);
        v ^= m64;
        memcpy(buf + i, &v, 8);
    }
    for (; i < n; i++)
        buf[i] ^= p->mask[(i + off) & 3];
}

/* The header in p->hdr is complete: checks it (section 5.2). Returns 0 or
 * a close code. */
static int header_check(berth_wsp *p)
{
    const unsigned char *h = p->hdr;
    p->fin = (h[0] & 0x80) != 0;
    p->opcode = h[0] & 0x0F;
    /* RSV2 and RSV3: no extension defines them. RSV1: permessage-deflate's,
     * on a data message's first frame only (RFC 7692 6). */
    int rsv1 = (h[0] & 0x40) != 0;
    if ((h[0] & 0x30) || (rsv1 && (!p->rsv1_ok || (p->opcode != BERTH_WS_OP_TEXT &&
                                                   p->opcode != BERTH_WS_OP_BINARY))))
        return BERTH_WS_CLOSE_PROTOCOL;
    p->masked = (h[1] & 0x80) != 0;
    if (!p->masked && !p->accept_unmasked)
        return BERTH_WS_CLOSE_PROTOCOL;
    unsigned len7 = h[1] & 0x7F;
    uint64_t len = len7;
    size_t at = 2;
    if (len7 == 126) {
        len = (uint64_t)h[2] << 8 | h[3];
        at = 4;
        if (len < 126)
            return BERTH_WS_CLOSE_PROTOCOL; /* not the shortest form (5.2) */
    } else if (len7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | h[2 + i];
        at = 10;
        if (len >> 63)
            return BERTH_WS_CLOSE_PROTOCOL; /* the top bit must be 0 */
        if (len <= 0xFFFF)
            return BERTH_WS_CLOSE_PROTOCOL; /* not the shortest form */
    }
    if (p->masked)
        memcpy(p->mask, h + at, 4);
    p->left = len;
    p->frame_pos = 0;
    switch (p->opcode) {
    case BERTH_WS_OP_CLOSE:
    case BERTH_WS_OP_PING:
    case BERTH_WS_OP_PONG:
        if (!p->fin || len > 125)
            return BERTH_WS_CLOSE_PROTOCOL; /* control frames: whole and short (5.5) */
        p->ctl_len = 0;
        return 0;
    case BERTH_WS_OP_CONT:
        if (!p->msg_opcode)
            return BERTH_WS_CLOSE_PROTOCOL; /* nothing to continue */
        if (p->max_fragments && p->msg_frames >= p->max_fragments)
            return BERTH_WS_CLOSE_POLICY; /* a message that would never end */
        p->msg_frames++;
        break;
    case BERTH_WS_OP_TEXT:
    case BERTH_WS_OP_BINARY:
        if (p->msg_opcode)
            return BERTH_WS_CLOSE_PROTOCOL; /* the last message is unfinished (5.4) */
        p->msg_opcode = p->opcode;
        p->msg_rsv1 = (uint8_t)rsv1;
        p->msg_first = 1;
        p->msg_len = 0;
        p->msg_frames = 1;
        memset(&p->utf8, 0, sizeof p->utf8);
        break;
    default:
        return BERTH_WS_CLOSE_PROTOCOL; /* reserved opcodes */
    }
    uint64_t max = p->msg_rsv1 ? berth_wsp_wire_max(p->max_message) : p->max_message;
    if (max && len > max - p->msg_len)
        return BERTH_WS_CLOSE_TOO_BIG; /* refused before its bytes arrive */
    p->msg_len += len;
    return 0;
}

/* A whole control frame is in p->ctl. */
static int control_event(berth_wsp *p, berth_wsp_event *ev)
{
    ev->opcode = p->opcode;
    ev->data = (const char *)p->ctl;
    ev->len = p->ctl_len;
    ev->reason = NULL;
    ev->reason_len = 0;
    if (p->opcode == BERTH_WS_OP_CLOSE) {
        if (p->ctl_len == 1)
            return fail(p, ev, BERTH_WS_CLOSE_PROTOCOL);
        ev->code = BERTH_WS_CLOSE_NO_STATUS;
        if (p->ctl_len >= 2) {
            ev->code = p->ctl[0] << 8 | p->ctl[1];
            if (!berth_ws_code_valid(ev->code))
                return fail(p, ev, BERTH_WS_CLOSE_PROTOCOL);
            berth_utf8 st = {0, 0, 0};
            if (berth_utf8_run(&st, p->ctl + 2, p->ctl_len - 2u) != 0 || !berth_utf8_done(&st))
                return fail(p, ev, BERTH_WS_CLOSE_BAD_DATA);
            ev->reason = (const char *)p->ctl + 2;
            ev->reason_len = p->ctl_len - 2u;
        }
    }
    return BERTH_WSP_CONTROL;
}

/* The frame just read was the last of its message. */
static int message_end(berth_wsp *p) { return p->fin && p->left == 0; }

int berth_wsp_run(berth_wsp *p, char *buf, size_t len, size_t *used, berth_wsp_event *ev)
{
    size_t i = 0;
    *used = 0;
    if (p->failed)
        return fail(p, ev, p->failed);
    for (;;) {
        /* The header: 2 bytes, then what they say follows. */
        while (p->hdr_len < p->hdr_need) {
            if (i == len) {
                *used = i;
                return BERTH_WSP_MORE;
            }
            p->hdr[p->hdr_len++] = (unsigned char)buf[i++];
            if (p->hdr_len == 2) {
                unsigned len7 = p->hdr[1] & 0x7F;
                p->hdr_need = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) +
                                        (p->hdr[1] & 0x80 ? 4 : 0));
            }
            if (p->hdr_len == p->hdr_need) {
                int code = header_check(p);
                if (code) {
                    *used = i;
                    return fail(p, ev, code);
                }
                if (p->left == 0)
                    break; /* an empty frame: its event comes now */
            }
        }
        /* The payload. */
        size_t n = len - i;
        if (n > p->left)
            n = (size_t)p->left;
        unsigned char *at = (unsigned char *)buf + i;
        unmask(p, at, n);
        p->frame_pos += n;
        p->left -= n;
        i += n;
        int control = p->opcode >= BERTH_WS_OP_CLOSE;
        if (control) {
            memcpy(p->ctl + p->ctl_len, at, n);
            p->ctl_len = (uint8_t)(p->ctl_len + n);
            if (p->left) {
                *used = i;
                return BERTH_WSP_MORE;
            }
        } else if (n == 0 && p->left) {
            *used = i;
            return BERTH_WSP_MORE;
        }
        int end = p->left == 0;
        if (end) {
            p->hdr_len = 0; /* the next frame's header comes next */
            p->hdr_need = 2;
        }
        *used = i;
        if (control)
            return control_event(p, ev);
        ev->opcode = p->msg_opcode;
        ev->data = (const char *)at;
        ev->len = n;
        ev->first = p->msg_first;
        ev->last = message_end(p);
        ev->compressed = p->msg_rsv1;
        if (p->msg_opcode == BERTH_WS_OP_TEXT && !p->msg_rsv1 &&
            (berth_utf8_run(&p->utf8, at, n) != 0 || (ev->last && !berth_utf8_done(&p->utf8))))
            return fail(p, ev, BERTH_WS_CLOSE_BAD_DATA);
        p->msg_first = 0;
        if (ev->last) {
            p->msg_opcode = 0;
            p->msg_first = 1;
        }
        if (n == 0 && !ev->last && !ev->first)
            continue; /* an empty fragment in the middle says nothing */
        return BERTH_WSP_DATA;
    }
}
