/* A program as an embedder writes it, built by tests/e2e/test_abi.py
 * against an older berth.h (tests/abi/berth-1.0, or a copy whose structs
 * lack their last fields, as an older header's would) and run against the
 * library built now. Every struct it allocates sits before canary bytes:
 * berth must write none of them (the init macros pass the size this
 * program knows) and must read none of its tail (it is not zero, and it
 * would be taken for a newer field set). It uses only the fields that both
 * headers have. It prints its ports, serves GET /hello (what berth_req_tls
 * says, written into a guarded berth_tls_info) until SIGTERM, then checks
 * the canaries and what its after hook saw. */
#include <berth.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define CANARY 0xA5
/* A struct with 32 canary bytes after it, as the program compiled it. */
#define GUARDED(T, name)                                                                           \
    struct {                                                                                       \
        T v;                                                                                       \
        unsigned char canary[32];                                                                  \
    } name;                                                                                        \
    memset(&name, CANARY, sizeof name)

static int canary_ok(const unsigned char *c, const char *what)
{
    for (int i = 0; i < 32; i++) {
        if (c[i] != CANARY) {
            fprintf(stderr, "old_app: berth wrote past %s (byte %d after it)\n", what, i);
            return 0;
        }
    }
    return 1;
}

static berth_server *server;
static int bad, dones;
static void on_term(int sig) { (void)sig; berth_server_stop(server); }

static void hello(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    GUARDED(berth_tls_info, ti);
    int rc = berth_req_tls(req, &ti.v);
    if (!canary_ok(ti.canary, "berth_tls_info"))
        bad = 1;
    char out[128];
    int n = snprintf(out, sizeof out, "hello tls=%s version=%s\n", rc == 0 ? "yes" : "no",
                     rc == 0 ? ti.v.version : "-");
    berth_res_send(res, 200, "text/plain", out, (size_t)n);
}

static void after(const berth_done *d, void *user)
{
    (void)user;
    if (d->outcome == BERTH_DONE_COMPLETED && d->status == 200)
        dones++;
}

int main(void)
{
    GUARDED(berth_route_opts, ro);
    berth_route_opts_init(&ro.v);
    ro.v.stream_body = 0;
    GUARDED(berth_static_opts, so);
    berth_static_opts_init(&so.v);
    so.v.dotfiles = 0;
    GUARDED(berth_ws_config, wc);
    berth_ws_config_init(&wc.v);
    GUARDED(berth_tls_config, tc);
    berth_tls_config_init(&tc.v);
    tc.v.port = 0;
    GUARDED(berth_config, cfg);
    berth_config_init(&cfg.v);
    if (!canary_ok(ro.canary, "berth_route_opts") || !canary_ok(so.canary, "berth_static_opts") ||
        !canary_ok(wc.canary, "berth_ws_config") || !canary_ok(tc.canary, "berth_tls_config") ||
        !canary_ok(cfg.canary, "berth_config"))
        return 2;

    berth_router *router = berth_router_new();
    int rc = berth_router_add_opts(router, "GET", "/hello", hello, NULL, &ro.v);
    berth_static *st = NULL;
    if (rc == 0)
        rc = berth_static_mount(router, "/files", ".", &so.v, &st);
    if (rc != 0) {
        fprintf(stderr, "old_app: routes: %s (%s)\n", berth_strerror(rc), berth_router_error(router));
        return 3;
    }
    cfg.v.host = "127.0.0.1";
    cfg.v.port = 0;
    cfg.v.threads = 1;
    cfg.v.router = router;
    cfg.v.tls = &tc.v;
    cfg.v.after = after;
    server = berth_server_new(&cfg.v);
    if (!server || (rc = berth_server_start(server)) != 0) {
        fprintf(stderr, "old_app: server: %s\n", server ? berth_strerror(rc) : "NULL");
        return 4;
    }
    GUARDED(berth_listener_info, li);
    int listeners = 0;
    while (berth_server_listener(server, (size_t)listeners, &li.v) == 0)
        listeners++;
    if (!canary_ok(li.canary, "berth_listener_info"))
        return 5;
    signal(SIGTERM, on_term);
    printf("ports %u %u listeners %d library %s header %s\n", (unsigned)berth_server_port(server),
           (unsigned)berth_server_tls_port(server), listeners, berth_version_string(), BERTH_VERSION);
    fflush(stdout);
    berth_server_wait(server);
#ifdef BERTH_STATS_BUCKETS /* a header with berth_server_stats (1.1) */
    GUARDED(berth_stats, stats);
    if (berth_server_stats(server, &stats.v) != 0 || !canary_ok(stats.canary, "berth_stats") ||
        stats.v.size != sizeof stats.v || stats.v.state != BERTH_STATE_STOPPED ||
        stats.v.requests[1][0][2] != 2) { /* the two GET /hello over HTTP/1.1 */
        fprintf(stderr, "old_app: berth_server_stats: size %zu state %d\n", stats.v.size,
                stats.v.state);
        bad = 1;
    }
#endif
    berth_server_free(server);
    berth_static_free(st);
    berth_router_free(router);
    printf("done %d bad %d\n", dones, bad);
    return bad ? 6 : 0;
}
