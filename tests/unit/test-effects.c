/* What a server does to its process (issue 22, berth.h "Signals and the
 * environment"): SIGPIPE's disposition and the application thread's mask
 * untouched; fast's SIGURG handler only while a fast server runs, and only
 * where the application left SIGURG alone; no environment read but
 * HTTP_BACKEND (ignored under CGI). Real servers on 127.0.0.1, port 0. */
#include <berth.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"

static char said[512];

static void keep(const char *msg, void *user)
{
    (void)user;
    snprintf(said, sizeof said, "%s", msg);
}

static void h(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_res_send(res, 200, "text/plain", "ok", 2);
}

static berth_server *started(const char *backend)
{
    berth_config c;
    berth_config_init(&c);
    c.handler = h;
    c.host = "127.0.0.1";
    c.port = 0;
    c.threads = 1;
    c.backend = backend;
    c.log = keep;
    berth_server *s = berth_server_new(&c);
    if (s && berth_server_start(s) != 0) {
        berth_server_free(s);
        return NULL;
    }
    return s;
}

static void stopped(berth_server *s)
{
    berth_server_stop(s);
    berth_server_wait(s);
    berth_server_free(s);
}

static void (*handler_of(int sig))(int)
{
    struct sigaction sa;
    sigaction(sig, NULL, &sa);
    return sa.sa_handler;
}

static int blocked_here(int sig)
{
    sigset_t m;
    pthread_sigmask(SIG_BLOCK, NULL, &m);
    return sigismember(&m, sig);
}

TEST(effects_sigpipe_left_alone_on_every_backend)
{
    static const char *const backends[] = {"reactor", "fast:1", "libuv"};
    for (int i = 0; i < 3; i++) {
        berth_server *s = started(backends[i]);
        CHECK(s != NULL);
        int dfl = handler_of(SIGPIPE) == SIG_DFL, blocked = blocked_here(SIGPIPE);
        stopped(s);
        CHECK(dfl);      /* neither ignored nor caught */
        CHECK(!blocked); /* the application's thread keeps its mask */
        CHECK(handler_of(SIGPIPE) == SIG_DFL);
    }
}

TEST(effects_fast_sigurg_handler_only_while_it_runs)
{
    CHECK(handler_of(SIGURG) == SIG_DFL);
    berth_server *a = started("fast:1"), *b = started("fast:1");
    CHECK(a != NULL && b != NULL);
    int during = handler_of(SIGURG) != SIG_DFL && handler_of(SIGURG) != SIG_IGN;
    stopped(a);
    int one_left = handler_of(SIGURG) != SIG_DFL; /* b still runs: still needed */
    stopped(b);
    CHECK(during);
    CHECK(one_left);
    CHECK(handler_of(SIGURG) == SIG_DFL);
    berth_server *r = started("reactor"), *u = started("libuv");
    CHECK(r != NULL && u != NULL);
    int elsewhere = handler_of(SIGURG) == SIG_DFL;
    stopped(r);
    stopped(u);
    CHECK(elsewhere);
}

TEST(effects_fast_leaves_an_applications_sigurg_alone)
{
    signal(SIGURG, SIG_IGN);
    berth_server *s = started("fast:1");
    int kept = handler_of(SIGURG) == SIG_IGN;
    if (s)
        stopped(s);
    int after = handler_of(SIGURG) == SIG_IGN;
    signal(SIGURG, SIG_DFL);
    CHECK(s != NULL);
    CHECK(kept);
    CHECK(after);
}

/* The CPUs berth's default thread count follows: the affinity mask on
 * Linux, the online CPUs elsewhere (no sched_getaffinity on macOS). */
static int cpus(void)
{
#ifdef __linux__
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
#else
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 0;
#endif
}

TEST(effects_library_reads_no_berth_threads_nor_berth_ktls)
{
    int n = cpus();
    CHECK(n > 0);
    char other[16];
    snprintf(other, sizeof other, "%d", n == 3 ? 4 : 3);
    setenv("BERTH_THREADS", other, 1);
    setenv("BERTH_KTLS", "off", 1);
    berth_config c;
    berth_config_init(&c);
    c.handler = h;
    c.backend = "reactor";
    c.log = keep;
    berth_server *s = berth_server_new(&c);
    int threads = s ? berth_server_threads(s) : -1;
    berth_server_free(s);
    berth_tls_config tls;
    berth_tls_config_init(&tls);
    unsetenv("BERTH_THREADS");
    unsetenv("BERTH_KTLS");
    CHECK_INT(threads, n); /* berth-serve reads BERTH_THREADS, not the library */
    CHECK_INT(tls.ktls, 1);
}

static const char *backend_from_env(void)
{
    static char name[16];
    berth_config c;
    berth_config_init(&c);
    c.handler = h;
    c.log = keep;
    said[0] = '\0';
    berth_server *s = berth_server_new(&c);
    snprintf(name, sizeof name, "%s", s ? berth_server_backend(s) : "");
    berth_server_free(s);
    return name;
}

TEST(effects_http_backend_is_read_but_not_under_cgi)
{
    setenv("HTTP_BACKEND", "libuv", 1);
    unsetenv("REQUEST_METHOD");
    char plain[16];
    snprintf(plain, sizeof plain, "%s", backend_from_env());
    int quiet = said[0] == '\0';
    setenv("REQUEST_METHOD", "GET", 1); /* a CGI program: HTTP_BACKEND is a header */
    char cgi[16];
    snprintf(cgi, sizeof cgi, "%s", backend_from_env());
    unsetenv("REQUEST_METHOD");
    unsetenv("HTTP_BACKEND");
    CHECK(strcmp(plain, "libuv") == 0);
    CHECK(quiet);
    CHECK(strcmp(cgi, "reactor") == 0);
    CHECK(strstr(said, "HTTP_BACKEND='libuv' ignored") != NULL);
}
