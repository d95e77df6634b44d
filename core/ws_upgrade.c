/* The WebSocket opening handshake (RFC 6455 section 4.2): checks the
 * client's request, answers Sec-WebSocket-Accept (SHA-1 and base64 from
 * wolfCrypt) and has HTTP/1 hand the connection to the WebSocket
 * protocol (ws_conn.c). */
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "abi.h"
#include "http1.h"
#include "field_list.h"
#include "request.h"
#include "ws.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* 1 if any header field of that name lists token (fields may repeat). */
static int header_has(const berth_req *req, const char *name, const char *token)
{
    berth_str n, v;
    size_t tl = strlen(token);
    for (size_t i = 0; berth_req_header_at(req, i, &n, &v) == 0; i++)
        if (berth_str_eq_nocase(n, name) && berth_list_has(v, token, tl))
            return 1;
    return 0;
}

/* A key is the base64 of 16 bytes: 22 characters and "==" (4.1). */
static int key_valid(berth_str key)
{
    if (key.len != 24 || key.ptr[22] != '=' || key.ptr[23] != '=')
        return 0;
    byte raw[18];
    word32 n = sizeof raw;
    return Base64_Decode((const byte *)key.ptr, 24, raw, &n) == 0 && n == 16;
}

/* 0 if req is a valid handshake, else the status to refuse it with. */
static int handshake_check(const berth_req *req, berth_str *key)
{
    if (!berth_str_eq_bytes(berth_req_method(req), "GET") || berth_req_version_minor(req) < 1)
        return 400;
    if (req->body_mode != BERTH_BODY_NONE)
        return 400;
    if (!header_has(req, "Upgrade", "websocket") || !header_has(req, "Connection", "upgrade"))
        return 400;
    /* Field values come without the whitespace around them (parse.c). */
    berth_str version;
    if (berth_req_header(req, "Sec-WebSocket-Version", &version) != 0)
        return 400;
    if (version.len != 2 || memcmp(version.ptr, "13", 2) != 0)
        return 426;
    if (berth_req_header(req, "Sec-WebSocket-Key", key) != 0)
        return 400;
    return key_valid(*key) ? 0 : 400;
}

static void refuse(berth_res *res, int status)
{
    if (status == 426) {
        berth_res_header(res, "Sec-WebSocket-Version", "13");
        berth_res_header(res, "Upgrade", "websocket");
    }
    static const char msg[] = "a WebSocket handshake was expected\n";
    berth_res_send(res, status, "text/plain; charset=utf-8", msg, sizeof msg - 1);
}

/* The first valid permessage-deflate offer, across every
 * Sec-WebSocket-Extensions field in order: 1 with *out, or 0. */
static int deflate_agreed(const berth_req *req, const berth_ws_config *cfg, berth_wsd_params *out)
{
    if (!cfg->deflate)
        return 0;
    berth_str n, v;
    for (size_t i = 0; berth_req_header_at(req, i, &n, &v) == 0; i++)
        if (berth_str_eq_nocase(n, "Sec-WebSocket-Extensions") &&
            berth_wsd_offer(v.ptr, v.len, cfg->deflate_window_bits, out))
            return 1;
    return 0;
}

int berth_ws_offered(const berth_req *req, const char *protocol)
{
    return protocol && *protocol && header_has(req, "Sec-WebSocket-Protocol", protocol);
}

berth_ws *berth_ws_upgrade(berth_req *req, berth_res *res, const berth_ws_config *config,
                           void *user)
{
    berth_conn *c = res->conn;
    if (!config || !c || !c->dispatching || c->proto != &berth_h1_proto || h1(c)->req != req || c->stream || res->deferred)
        return NULL; /* not in the handler, or the response is already another's */
    berth_ws_config full, *cfg = &full;
    berth_ws_config_init(cfg);
    if (berth_abi_read(cfg, sizeof *cfg, config) != 0) {
        berth_res_send(res, 500, "text/plain", "berth_ws_config not made by berth_ws_config_init\n",
                       50);
        return NULL;
    }
    berth_str key;
    int status = handshake_check(req, &key);
    if (status) {
        refuse(res, status);
        return NULL;
    }
    byte in[24 + sizeof ws_guid - 1], digest[20], accept[32];
    memcpy(in, key.ptr, 24);
    memcpy(in + 24, ws_guid, sizeof ws_guid - 1);
    word32 alen = sizeof accept - 1;
    if (wc_ShaHash(in, sizeof in, digest) != 0 || Base64_Encode_NoNl(digest, 20, accept, &alen) != 0) {
        berth_res_send(res, 500, "text/plain", "handshake failed\n", 17);
        return NULL;
    }
    accept[alen] = 0;
    berth_res_body_drop(res);
    berth_res_header(res, "Upgrade", "websocket");
    berth_res_header(res, "Sec-WebSocket-Accept", (const char *)accept);
    if (cfg->protocol && berth_ws_offered(req, cfg->protocol))
        berth_res_header(res, "Sec-WebSocket-Protocol", cfg->protocol);
    berth_wsd_params agreed;
    int deflate = deflate_agreed(req, cfg, &agreed);
    if (deflate) {
        char answer[160];
        if (berth_wsd_answer(&agreed, answer, sizeof answer))
            berth_res_header(res, "Sec-WebSocket-Extensions", answer);
        else
            deflate = 0;
    }
    berth_wsc *ws = berth_wsc_new(c, cfg, deflate ? &agreed : NULL, user);
    if (!ws || berth_h1_upgrade(c, req, &berth_ws_proto, ws) != 0) {
        berth_wsc_discard(ws);
        berth_res_send(res, 503, "text/plain", "out of memory\n", 14);
        return NULL;
    }
    return berth_wsc_handle(ws);
}
