/* Routing through the engine: params, 404, 405 with Allow, HEAD. */
#include "engine_harness.h"
#include "test.h"

TEST(router_passes_path_parameter)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "GET /item/42 HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(strstr(h.out, "\r\n\r\n42") != NULL);
    harness_free(&h);
}

TEST(router_unknown_path_is_404)
{
    CHECK_INT(harness_status_of("GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"), 404);
}

TEST(router_param_does_not_match_empty_segment)
{
    CHECK_INT(harness_status_of("GET /item/ HTTP/1.1\r\nHost: a\r\n\r\n"), 404);
}

TEST(router_wrong_method_is_405_with_allow)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "DELETE /echo HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(strncmp(h.out, "HTTP/1.1 405 ", 13) == 0);
    CHECK(strstr(h.out, "\r\nAllow: POST\r\n") != NULL);
    CHECK_INT(harness_state(&h), BERTH_PIPE_OPEN); /* keep-alive after 405 */
    harness_free(&h);
}

TEST(router_head_uses_get_route_without_body)
{
    harness h;
    harness_init(&h, NULL);
    harness_feed_str(&h, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(strstr(h.out, "Content-Length: 5\r\n") != NULL);
    CHECK(h.out_len >= 4 && memcmp(h.out + h.out_len - 4, "\r\n\r\n", 4) == 0);
    harness_free(&h);
}

TEST(router_rejects_bad_patterns)
{
    berth_router *r = berth_router_new();
    CHECK(berth_router_add(r, "GET", "no-slash", (berth_handler_fn)1, NULL) != 0);
    CHECK(berth_router_add(r, "GET", "/a/{}", (berth_handler_fn)1, NULL) != 0);
    CHECK(berth_router_add(r, "GET", "/a/{b", (berth_handler_fn)1, NULL) != 0);
    CHECK(berth_router_add(r, "GET", "/a/{b}", (berth_handler_fn)1, NULL) == 0);
    berth_router_free(r);
}
