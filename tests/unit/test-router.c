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

/* ---- pattern validation: each mistake is refused with a reason -------- */

static void h_ok(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_res_send(res, 200, "text/plain", "ok", 2);
}

static int add_fails_with(const char *method, const char *pattern, const char *why)
{
    berth_router *r = berth_router_new();
    int rc = berth_router_add(r, method, pattern, h_ok, NULL);
    int ok = rc == BERTH_EINVAL && strstr(berth_router_error(r), why) != NULL;
    if (!ok)
        fprintf(stderr, "  %s %s: rc %d, error '%s'\n", method, pattern, rc, berth_router_error(r));
    berth_router_free(r);
    return ok;
}

TEST(router_refuses_star_as_literal)
{
    CHECK(add_fails_with("GET", "/a/*", "'*', '?' and '#'"));
}

TEST(router_refuses_lowercase_method)
{
    CHECK(add_fails_with("get", "/a", "upper-case"));
}

TEST(router_refuses_parameter_name_used_twice)
{
    CHECK(add_fails_with("GET", "/a/{x}/b/{x}", "parameter 'x' used twice"));
}

TEST(router_refuses_wildcard_not_last)
{
    CHECK(add_fails_with("GET", "/a/{rest...}/b", "the last"));
}

TEST(router_refuses_empty_segment_and_missing_slash)
{
    CHECK(add_fails_with("GET", "/a//b", "empty segment"));
    CHECK(add_fails_with("GET", "a", "must start with '/'"));
    CHECK(add_fails_with("GET", "/a/{}", "needs a name"));
    CHECK(add_fails_with("GET", "/a/{b", "braces"));
    CHECK(add_fails_with("GET", "/a/{b}{c}", "braces"));
}

TEST(router_refuses_duplicate_route_even_with_other_names)
{
    berth_router *r = berth_router_new();
    CHECK_INT(berth_router_add(r, "GET", "/u/{id}", h_ok, NULL), 0);
    CHECK_INT(berth_router_add(r, "POST", "/u/{id}", h_ok, NULL), 0); /* other method: fine */
    CHECK_INT(berth_router_add(r, "GET", "/u/{name}", h_ok, NULL), BERTH_EEXIST);
    CHECK(strstr(berth_router_error(r), "same method and path") != NULL);
    CHECK_INT(berth_router_add(r, "GET", "/u/{id}/x", h_ok, NULL), 0);
    CHECK_INT(strlen(berth_router_error(r)), 0); /* cleared by a success */
    berth_router_free(r);
}

TEST(router_allows_32_parameters_and_says_so_beyond)
{
    char pat[512] = "", *p = pat;
    for (int i = 0; i < 33; i++)
        p += snprintf(p, sizeof pat - (size_t)(p - pat), "/{p%d}", i); /* macOS deprecates sprintf */
    CHECK(add_fails_with("GET", pat, "more than 32 segments"));
    *strrchr(pat, '/') = '\0';
    berth_router *r = berth_router_new();
    CHECK_INT(berth_router_add(r, "GET", pat, h_ok, NULL), 0);
    berth_router_free(r);
}

/* ---- matching through the engine ----------------------------------------- */

static void h_name(berth_req *req, berth_res *res, void *user)
{
    /* "<route tag>:<param p raw>|<param p decoded>" */
    berth_str raw = {"", 0};
    char dec[128];
    berth_req_param(req, "p", &raw);
    long n = berth_req_param_decoded(req, "p", dec, sizeof dec);
    char out[400];
    int len = snprintf(out, sizeof out, "%s:%.*s|%s", (const char *)user, (int)raw.len, raw.ptr,
                       n >= 0 ? dec : n == BERTH_ENOENT ? "(none)" : "(bad)");
    berth_res_send(res, 200, "text/plain", out, (size_t)len);
}

static berth_router *routes;

static void use_routes(berth_config *c) { c->router = routes; }

/* The body of the answer to GET path. */
static const char *answer(const char *path, char *buf, size_t cap)
{
    harness h;
    harness_init(&h, use_routes);
    char req[300];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path);
    harness_feed_str(&h, req);
    const char *b = strstr(h.out, "\r\n\r\n");
    snprintf(buf, cap, "%s", b ? b + 4 : "?");
    if (strncmp(h.out, "HTTP/1.1 404", 12) == 0)
        snprintf(buf, cap, "404");
    harness_free(&h);
    return buf;
}

TEST(router_literal_beats_parameter_whatever_the_order)
{
    routes = berth_router_new();
    CHECK_INT(berth_router_add(routes, "GET", "/f/{p...}", h_name, "wild"), 0);
    CHECK_INT(berth_router_add(routes, "GET", "/f/{p}", h_name, "param"), 0);
    CHECK_INT(berth_router_add(routes, "GET", "/f/{p}.json", h_name, "affixed"), 0);
    CHECK_INT(berth_router_add(routes, "GET", "/f/new", h_name, "literal"), 0);
    char b[200];
    CHECK(strcmp(answer("/f/new", b, sizeof b), "literal:|(none)") == 0);
    CHECK(strcmp(answer("/f/x.json", b, sizeof b), "affixed:x|x") == 0);
    CHECK(strcmp(answer("/f/x", b, sizeof b), "param:x|x") == 0);
    CHECK(strcmp(answer("/f/a/b/c", b, sizeof b), "wild:a/b/c|a/b/c") == 0);
    CHECK(strcmp(answer("/f/", b, sizeof b), "wild:|") == 0);
    CHECK(strcmp(answer("/f", b, sizeof b), "404") == 0);
    berth_router_free(routes);
}

TEST(router_affixed_parameter_needs_nonempty_middle)
{
    routes = berth_router_new();
    CHECK_INT(berth_router_add(routes, "GET", "/v{p}/x", h_name, "v"), 0);
    char b[200];
    CHECK(strcmp(answer("/v2/x", b, sizeof b), "v:2|2") == 0);
    CHECK(strcmp(answer("/v/x", b, sizeof b), "404") == 0);
    berth_router_free(routes);
}

TEST(router_decodes_parameters_on_request)
{
    routes = berth_router_new();
    CHECK_INT(berth_router_add(routes, "GET", "/d/{p}", h_name, "d"), 0);
    char b[200];
    CHECK(strcmp(answer("/d/a%20b+c", b, sizeof b), "d:a%20b+c|a b+c") == 0);
    CHECK(strcmp(answer("/d/a%2", b, sizeof b), "d:a%2|(bad)") == 0);
    berth_router_free(routes);
}

TEST(router_method_route_beats_any_method_route)
{
    routes = berth_router_new();
    CHECK_INT(berth_router_add(routes, "*", "/m", h_name, "any"), 0);
    CHECK_INT(berth_router_add(routes, "GET", "/m", h_name, "get"), 0);
    char b[200];
    CHECK(strcmp(answer("/m", b, sizeof b), "get:|(none)") == 0);
    berth_router_free(routes);
}

static int h_body(berth_req *req, const char *data, size_t len, void *user)
{
    (void)req, (void)data, (void)len, (void)user;
    return 0;
}

/* berth_route_opts.multipart: berth feeds the parser, so a route gives it
 * or on_body, not both; its configuration must be one berth can use. */
TEST(router_refuses_multipart_with_on_body_or_a_bad_configuration)
{
    berth_router *r = berth_router_new();
    berth_multipart_config form;
    berth_multipart_config_init(&form);
    berth_route_opts o;
    berth_route_opts_init(&o);
    o.multipart = &form;
    o.on_body = h_body;
    CHECK_INT(berth_router_add_opts(r, "POST", "/up", h_ok, NULL, &o), BERTH_EINVAL);
    CHECK(strstr(berth_router_error(r), "on_body or multipart, not both") != NULL);
    o.on_body = NULL;
    form.max_part_header = 2;
    CHECK_INT(berth_router_add_opts(r, "POST", "/up", h_ok, NULL, &o), BERTH_EINVAL);
    CHECK(strstr(berth_router_error(r), "max_part_header") != NULL);
    berth_multipart_config raw;
    memset(&raw, 0, sizeof raw); /* not through berth_multipart_config_init */
    o.multipart = &raw;
    CHECK_INT(berth_router_add_opts(r, "POST", "/up", h_ok, NULL, &o), BERTH_EINVAL);
    CHECK(strstr(berth_router_error(r), "berth_multipart_config_init") != NULL);
    form.max_part_header = 4096;
    o.multipart = &form;
    CHECK_INT(berth_router_add_opts(r, "POST", "/up", h_ok, NULL, &o), 0);
    berth_router_free(r);
}
