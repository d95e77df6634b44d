/* berth_server_new refuses a wrong configuration, naming the field, on
 * the log callback. No socket is opened (nothing is started). */
#include <berth.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test.h"

static char said[512];
static int messages;

static void keep(const char *msg, void *user)
{
    (void)user;
    messages++;
    snprintf(said, sizeof said, "%s", msg);
}

static void h(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)res, (void)user;
}

static berth_config base(void)
{
    berth_config c;
    berth_config_init(&c);
    c.handler = h;
    c.log = keep;
    c.backend = "reactor";
    said[0] = '\0';
    messages = 0;
    return c;
}

/* 1 if cfg is refused with a message holding `field`. */
static int refused(const berth_config *cfg, const char *field)
{
    berth_server *s = berth_server_new(cfg);
    if (s) {
        berth_server_free(s);
        fprintf(stderr, "  accepted, expected a complaint about %s\n", field);
        return 0;
    }
    if (!strstr(said, field)) {
        fprintf(stderr, "  said '%s', expected %s\n", said, field);
        return 0;
    }
    return 1;
}

TEST(config_valid_is_accepted_silently)
{
    berth_config c = base();
    berth_server *s = berth_server_new(&c);
    CHECK(s != NULL);
    CHECK_INT(messages, 0);
    berth_server_free(s);
}

TEST(config_port_above_65535_is_refused_not_wrapped)
{
    berth_config c = base();
    c.port = 70000;
    CHECK(refused(&c, "config.port: 70000"));
}

TEST(config_unknown_backend_in_code_is_refused)
{
    berth_config c = base();
    c.backend = "turbo";
    CHECK(refused(&c, "config.backend: 'turbo'"));
    c.backend = "fast:0";
    CHECK(refused(&c, "config.backend: 'fast:0'"));
}

TEST(config_negative_threads_refused)
{
    berth_config c = base();
    c.threads = -2;
    CHECK(refused(&c, "config.threads: -2"));
}

TEST(config_zero_limits_refused)
{
    const char *fields[] = {"max_body", "max_header_fields", "header_timeout_ms",
                            "idle_timeout_ms", "max_connections", "max_stream_buffer"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        berth_config c = base();
        switch (i) {
        case 0: c.max_body = 0; break;
        case 1: c.max_header_fields = 0; break;
        case 2: c.header_timeout_ms = 0; break;
        case 3: c.idle_timeout_ms = 0; break;
        case 4: c.max_connections = 0; break;
        case 5: c.max_stream_buffer = 0; break;
        }
        char want[64];
        snprintf(want, sizeof want, "config.%s: 0", fields[i]);
        CHECK(refused(&c, want));
    }
}

TEST(config_needs_a_handler_or_router)
{
    berth_config c = base();
    c.handler = NULL;
    CHECK(refused(&c, "a handler or a router"));
}

TEST(config_bad_listen_entries_are_named)
{
    const char *bad[][2] = {
        {"8080, nowhere", "'nowhere'"},
        {"127.0.0.1:99999", "'127.0.0.1:99999'"},
        {"::1:80", "brackets"},
        {"[::1]80", "[address]:port"},
        {"fd:x", "descriptor number"},
        {"8080 fast", "unknown option 'fast'"},
        {"8080,,8081", "empty entry"},
        {"8443 tls", "needs config.tls"},
        {"8080 h2c", "unknown option 'h2c' (tls, proxy, h1, h2)"},
#ifndef BERTH_HAVE_NGHTTP2
        {"8080 h2", "built without HTTP/2"},
#endif
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        berth_config c = base();
        c.listen = bad[i][0];
        CHECK(refused(&c, bad[i][1]));
    }
}

TEST(config_systemd_without_sockets_says_so)
{
    berth_config c = base();
    c.listen = "systemd";
    unsetenv("LISTEN_PID");
    CHECK(refused(&c, "LISTEN_FDS"));
}

TEST(config_tls_alpn_names_checked)
{
    const char *bad[][2] = {
        {"http/1.1,spdy/3.1", "unknown ALPN protocol"},
        {" , ", "no protocol in the ALPN list"},
#ifndef BERTH_HAVE_NGHTTP2
        {"h2", "ALPN protocol h2 needs berth built with nghttp2"},
#endif
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        berth_config c = base();
        berth_tls_config t;
        berth_tls_config_init(&t);
        t.alpn = bad[i][0];
        c.tls = &t;
        CHECK(refused(&c, bad[i][1]));
    }
}

#ifdef BERTH_HAVE_NGHTTP2
/* A TLS listener of one protocol (listen option h1 or h2) whose ALPN list
 * offers nothing of it would refuse every client: refused at once. */
TEST(config_tls_listener_protocol_offered)
{
    const char *bad[][3] = {
        {"127.0.0.1:0 tls h2", "http/1.1", "ALPN list has no h2"},
        {"127.0.0.1:0 tls h1", "h2", "ALPN list has no http/1.1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        berth_config c = base();
        berth_tls_config t;
        berth_tls_config_init(&t);
        t.alpn = bad[i][1];
        c.tls = &t;
        c.listen = bad[i][0];
        CHECK(refused(&c, bad[i][2]));
    }
}
#endif

TEST(config_tls_min_version_checked)
{
    berth_config c = base();
    berth_tls_config t;
    berth_tls_config_init(&t);
    t.min_version = 11;
    c.tls = &t;
    CHECK(refused(&c, "config.tls->min_version: 11"));
}

/* berth_notify: sd_notify's datagram, to a socket bound here; nothing to
 * do without NOTIFY_SOCKET; an address that is none refused. */
TEST(notify_sends_the_state_to_notify_socket)
{
    unsetenv("NOTIFY_SOCKET");
    CHECK(berth_notify("READY=1") == BERTH_ENOENT);
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    CHECK(berth_notify("READY=1") == BERTH_EINVAL);
    char dir[] = "/tmp/berth-notify-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/n", dir);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    CHECK(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0);
    setenv("NOTIFY_SOCKET", sa.sun_path, 1);
    CHECK(berth_notify("") == BERTH_EINVAL);
    CHECK(berth_notify("READY=1\nSTATUS=serving") == 0);
    char buf[64] = "";
    ssize_t n = recv(s, buf, sizeof buf - 1, MSG_DONTWAIT);
    CHECK(n == 22 && memcmp(buf, "READY=1\nSTATUS=serving", 22) == 0);
    close(s);
    unlink(sa.sun_path);
    CHECK(berth_notify("READY=1") == BERTH_ESYS); /* nobody listens there now */
    rmdir(dir);
    unsetenv("NOTIFY_SOCKET");
}
