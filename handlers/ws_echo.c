/* GET /ws: HttpArena's echo-ws profile. Every message goes back as it
 * came (text as text, binary as binary); the close handshake, pings and
 * a plain GET's 400 are berth's. */
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
    cfg.max_buffer = (size_t)cfg.max_message * 2 + (1u << 20);
    return berth_router_add(r, "GET", "/ws", ws_route, &cfg);
}
