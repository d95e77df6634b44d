/* GET /ws: HttpArena's echo-ws profile. Every message goes back as it
 * came (text as text, binary as binary); the close handshake, pings and
 * a plain GET's 400 are berth's. Environment: BERTH_WS_MAX_MESSAGE,
 * BERTH_WS_PING_MS, and permessage-deflate's BERTH_WS_DEFLATE (0/1),
 * BERTH_WS_DEFLATE_LEVEL, BERTH_WS_DEFLATE_WINDOW_BITS (berth_ws_config's
 * fields of those names). */
#include "ws_echo.h"

#include <stdlib.h>

static void echo_message(berth_ws *ws, int type, const char *data, size_t len, void *user)
{
    (void)user;
    /* The buffer limit is set above the largest message, and berth reads
     * no more while its output backlog is high: -2 cannot happen here. */
    berth_ws_send(ws, type, data, len);
}

static void ws_route(berth_req *req, berth_res *res, void *user)
{
    const berth_ws_config *cfg = user;
    berth_ws_upgrade(req, res, cfg, NULL);
}

int ws_echo_route_add(berth_router *r)
{
    static berth_ws_config cfg;
    berth_ws_config_init(&cfg);
    cfg.on_message = echo_message;
    const char *max = getenv("BERTH_WS_MAX_MESSAGE");
    if (max && *max)
        cfg.max_message = strtoull(max, NULL, 10);
    const char *ping = getenv("BERTH_WS_PING_MS");
    if (ping && *ping)
        cfg.ping_ms = (unsigned)strtoul(ping, NULL, 10);
    /* permessage-deflate (docs/API.md, "WebSocket compression"). */
    const char *deflate = getenv("BERTH_WS_DEFLATE");
    if (deflate && *deflate)
        cfg.deflate = atoi(deflate) != 0;
    const char *level = getenv("BERTH_WS_DEFLATE_LEVEL");
    if (level && *level)
        cfg.deflate_level = atoi(level);
    const char *bits = getenv("BERTH_WS_DEFLATE_WINDOW_BITS");
    if (bits && *bits)
        cfg.deflate_window_bits = (unsigned)strtoul(bits, NULL, 10);
    cfg.max_buffer = (size_t)cfg.max_message * 2 + (1u << 20);
    return berth_router_add(r, "GET", "/ws", ws_route, &cfg);
}
