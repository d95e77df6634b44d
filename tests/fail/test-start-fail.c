/* Failures of the system calls and libraries the backends start with and
 * run on, injected one at a time (linked with -Wl,--wrap for each, against
 * the internal library: the shipped one carries no test switch).
 *
 * A start that fails part-way (the kth thread, eventfd, poller, loop or
 * poll refused, for every k the start makes) must stop and join what it
 * started and free what it made: no thread left running, no descriptor
 * left open, nothing used after berth_server_free (ASan), and the same
 * server may be started again and serve.
 *
 * At run time: a reactor whose poller fails still stops; a fast
 * connection whose receive or send timeout cannot be set is closed (a read
 * without a deadline waited for ever); a fast thread without its wake
 * descriptor (the application owns SIGURG) answers 503 rather than
 * signalling the application's SIGURG; a libuv connection that cannot be
 * watched is closed and the next one served. */
#include <berth.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

/* ---- injection ---------------------------------------------------------- */

enum { F_THREAD, F_EVENTFD, F_EPOLL, F_EPOLL_WAIT, F_UV_LOOP, F_UV_POLL, F_UV_ASYNC, F_RCVTIMEO,
       F_SNDTIMEO, F_URING_RING, F_URING_BUFS, F_COUNT };
static const char *const fn_name[F_COUNT] = {"pthread_create", "eventfd", "epoll_create1",
                                             "epoll_wait", "uv_loop_init", "uv_poll_init",
                                             "uv_async_init", "SO_RCVTIMEO", "SO_SNDTIMEO",
                                             "io_uring_queue_init_params", "io_uring_register_buf_ring"};
static atomic_long calls[F_COUNT];
static atomic_long fail_at[F_COUNT];  /* the call to refuse (1-based); 0: none */
static atomic_int fail_from[F_COUNT]; /* refuse every call from now on */

/* 1 if this call of fn is to fail. */
static int refuse(int fn)
{
    long n = atomic_fetch_add(&calls[fn], 1) + 1;
    return atomic_load(&fail_from[fn]) || n == atomic_load(&fail_at[fn]);
}

static void arm(int fn, long k)
{
    atomic_store(&calls[fn], 0);
    atomic_store(&fail_at[fn], k);
}

static void disarm(void)
{
    for (int i = 0; i < F_COUNT; i++) {
        atomic_store(&fail_at[i], 0);
        atomic_store(&fail_from[i], 0);
    }
}

int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int __real_eventfd(unsigned int v, int flags);
int __real_epoll_create1(int flags);
int __real_epoll_wait(int fd, struct epoll_event *ev, int max, int timeout);
int __real_uv_loop_init(uv_loop_t *l);
int __real_uv_poll_init(uv_loop_t *l, uv_poll_t *p, int fd);
int __real_uv_async_init(uv_loop_t *l, uv_async_t *a, uv_async_cb cb);
int __real_setsockopt(int fd, int level, int opt, const void *v, socklen_t len);
#ifdef BERTH_TEST_URING
#include <liburing.h>
/* A worker's ring and its provided buffers (the probe that decides whether
 * io_uring can be used at all calls io_uring_queue_init, not refused here:
 * test_uring.py refuses io_uring with a seccomp filter instead). */
int __real_io_uring_queue_init_params(unsigned entries, struct io_uring *ring, struct io_uring_params *p);
int __real_io_uring_register_buf_ring(struct io_uring *ring, struct io_uring_buf_reg *reg, unsigned flags);
int __wrap_io_uring_queue_init_params(unsigned entries, struct io_uring *ring, struct io_uring_params *p)
{
    return refuse(F_URING_RING) ? -ENOMEM : __real_io_uring_queue_init_params(entries, ring, p);
}
int __wrap_io_uring_register_buf_ring(struct io_uring *ring, struct io_uring_buf_reg *reg, unsigned flags)
{
    return refuse(F_URING_BUFS) ? -ENOMEM : __real_io_uring_register_buf_ring(ring, reg, flags);
}
#endif

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    return refuse(F_THREAD) ? EAGAIN : __real_pthread_create(t, a, fn, arg);
}
int __wrap_eventfd(unsigned int v, int flags)
{
    if (refuse(F_EVENTFD)) {
        errno = EMFILE;
        return -1;
    }
    return __real_eventfd(v, flags);
}
int __wrap_epoll_create1(int flags)
{
    if (refuse(F_EPOLL)) {
        errno = EMFILE;
        return -1;
    }
    return __real_epoll_create1(flags);
}
int __wrap_epoll_wait(int fd, struct epoll_event *ev, int max, int timeout)
{
    if (refuse(F_EPOLL_WAIT)) {
        errno = EBADF;
        return -1;
    }
    return __real_epoll_wait(fd, ev, max, timeout);
}
int __wrap_uv_loop_init(uv_loop_t *l) { return refuse(F_UV_LOOP) ? UV_EMFILE : __real_uv_loop_init(l); }
int __wrap_uv_poll_init(uv_loop_t *l, uv_poll_t *p, int fd)
{
    return refuse(F_UV_POLL) ? UV_ENOMEM : __real_uv_poll_init(l, p, fd);
}
int __wrap_uv_async_init(uv_loop_t *l, uv_async_t *a, uv_async_cb cb)
{
    return refuse(F_UV_ASYNC) ? UV_EMFILE : __real_uv_async_init(l, a, cb);
}
int __wrap_setsockopt(int fd, int level, int opt, const void *v, socklen_t len)
{
    int fn = level != SOL_SOCKET ? -1 : opt == SO_RCVTIMEO ? F_RCVTIMEO : opt == SO_SNDTIMEO ? F_SNDTIMEO : -1;
    if (fn >= 0 && refuse(fn)) {
        errno = ENOMEM;
        return -1;
    }
    return __real_setsockopt(fd, level, opt, v, len);
}

/* ---- checks -------------------------------------------------------------- */

static int failures, checks;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                 \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static int threads_now(void) { return count_dir("/proc/self/task"); }
static int fds_now(void) { return count_dir("/proc/self/fd") - 1; /* opendir's own */ }

/* The process's threads back to n, within 5 s (a detached fast thread
 * finishes its exit after the join saw it done). */
static int threads_back_to(int n)
{
    for (int i = 0; i < 500 && threads_now() != n; i++)
        usleep(10000);
    return threads_now();
}

/* ---- a server ------------------------------------------------------------ */

static void hello(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_res_send(res, 200, "text/plain", "hello", 5);
}

static void *answer(void *arg)
{
    usleep(20000);
    berth_stream_send(arg, 200, "text/plain", "deferred", 8);
    return NULL;
}

/* Answered from another thread: the connection's thread waits for it. */
static void deferred(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    berth_stream *s = berth_res_defer(res);
    pthread_t t;
    if (!s || __real_pthread_create(&t, NULL, answer, s) != 0) {
        if (s)
            berth_stream_send(s, 500, "text/plain", "no thread", 9);
        return;
    }
    pthread_detach(t);
}

static berth_router *router;

/* The worker-thread and stop hooks (berth.h, "Worker threads and the
 * stop"): every thread_init has its thread_exit, on that thread, whatever
 * part of a start failed; a failed start runs no on_stop. */
static atomic_int hook_inits, hook_exits, hook_wrong, hook_stops;
static _Thread_local int hook_mine;

static void *hook_init(void *user)
{
    (void)user;
    atomic_fetch_add(&hook_inits, 1);
    hook_mine = 1;
    return &hook_mine;
}

static void hook_exit(void *data, void *user)
{
    (void)user;
    if (data != &hook_mine || !hook_mine)
        atomic_fetch_add(&hook_wrong, 1);
    hook_mine = 0;
    atomic_fetch_add(&hook_exits, 1);
}

static void hook_stop(berth_server *srv, void *user)
{
    (void)srv, (void)user;
    atomic_fetch_add(&hook_stops, 1);
}

static berth_server *server_new(const char *backend, int threads, int tls)
{
    static berth_tls_config tc;
    berth_tls_config_init(&tc);
    tc.port = 0;
    tc.ktls = 0;
    const char *certs = getenv("BERTH_TEST_CERTS");
    static char cert[512], key[512];
    snprintf(cert, sizeof cert, "%s/server.crt", certs ? certs : "tests/certs");
    snprintf(key, sizeof key, "%s/server.key", certs ? certs : "tests/certs");
    tc.cert_file = cert;
    tc.key_file = key;
    berth_config c;
    berth_config_init(&c);
    c.host = "127.0.0.1";
    c.port = 0;
    c.backend = backend;
    c.threads = threads;
    c.router = router;
    c.tls = tls ? &tc : NULL;
    c.header_timeout_ms = 1000;
    c.drain_timeout_ms = 2000;
    c.thread_init = hook_init;
    c.thread_exit = hook_exit;
    c.on_stop = hook_stop;
    return berth_server_new(&c);
}

static int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Reads what comes within ms (until EOF or a pause after data); the bytes
 * read, -1 for a timeout with nothing, -2 for a reset. eof: the peer
 * closed. */
static int read_some(int fd, char *buf, size_t cap, int ms, int *eof)
{
    size_t got = 0;
    *eof = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, got ? 200 : ms);
        if (n <= 0)
            return got ? (int)got : -1;
        ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);
        if (r < 0)
            return got ? (int)got : -2;
        if (r == 0) {
            *eof = 1;
            break;
        }
        got += (size_t)r;
        if (got == cap - 1)
            break;
    }
    buf[got] = 0;
    return (int)got;
}

/* One GET on a new connection: the answer's first bytes in out. */
static int get(uint16_t port, const char *path, char *out, size_t cap)
{
    int fd = connect_to(port);
    if (fd < 0)
        return -1;
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    int eof, r = send(fd, req, (size_t)n, MSG_NOSIGNAL) == n ? read_some(fd, out, cap, 5000, &eof) : -1;
    close(fd);
    return r;
}

/* ---- a start that fails part-way ------------------------------------------ */

/* What a successful start of this server calls, per function. */
static void count_start(const char *backend, int threads, long counts[F_COUNT])
{
    berth_server *srv = server_new(backend, threads, 1);
    disarm();
    for (int f = 0; f < F_COUNT; f++)
        arm(f, 0);
    int rc = berth_server_start(srv);
    for (int f = 0; f < F_COUNT; f++)
        counts[f] = atomic_load(&calls[f]);
    CHECK(rc == 0, "%s: a start without failures", backend);
    berth_server_stop(srv);
    berth_server_wait(srv);
    berth_server_free(srv);
}

static void start_fails(const char *backend, int fn, long k, int again)
{
    int threads0 = threads_now(), fds0 = fds_now();
    atomic_store(&hook_inits, 0);
    atomic_store(&hook_exits, 0);
    atomic_store(&hook_stops, 0);
    berth_server *srv = server_new(backend, 3, 1);
    if (!srv) {
        CHECK(srv, "%s: server_new", backend);
        return;
    }
    disarm();
    arm(fn, k);
    int rc = berth_server_start(srv);
    disarm();
    CHECK(rc == BERTH_ESYS, "%s: start with %s #%ld refused answers BERTH_ESYS (%d)", backend, fn_name[fn], k, rc);
    int left = threads_back_to(threads0);
    CHECK(left == threads0, "%s: %s #%ld refused: %d threads left running", backend, fn_name[fn], k,
          left - threads0);
    CHECK(atomic_load(&hook_inits) == atomic_load(&hook_exits) && !atomic_load(&hook_wrong) &&
          !atomic_load(&hook_stops), "%s: %s #%ld refused: %d thread inits, %d exits (%d on "
          "another thread), %d stop hooks", backend, fn_name[fn], k, atomic_load(&hook_inits),
          atomic_load(&hook_exits), atomic_load(&hook_wrong), atomic_load(&hook_stops));
    if (again) {
        /* The same server starts and serves after all. */
        CHECK(berth_server_start(srv) == 0, "%s: started again after %s #%ld", backend, fn_name[fn], k);
        char buf[512];
        int n = get(berth_server_port(srv), "/hello", buf, sizeof buf);
        CHECK(n > 0 && strstr(buf, "200 OK") && strstr(buf, "\r\n\r\nhello"),
              "%s: served after a failed start: %.60s", backend, n > 0 ? buf : "(nothing)");
        berth_server_stop(srv);
        berth_server_wait(srv);
        CHECK(atomic_load(&hook_stops) == 1, "%s: on_stop ran %d times", backend,
              atomic_load(&hook_stops));
        CHECK(atomic_load(&hook_inits) == atomic_load(&hook_exits) && !atomic_load(&hook_wrong),
              "%s: served after a failed start: %d thread inits, %d exits", backend,
              atomic_load(&hook_inits), atomic_load(&hook_exits));
    }
    berth_server_free(srv);
    left = threads_back_to(threads0);
    int fds = fds_now();
    CHECK(left == threads0 && fds == fds0, "%s: %s #%ld refused: after free, %d threads and %d "
          "descriptors more than before", backend, fn_name[fn], k, left - threads0, fds - fds0);
}

static void start_failures(const char *backend)
{
    long counts[F_COUNT];
    count_start(backend, 3, counts);
    int cases = 0;
    for (int fn = 0; fn < F_COUNT; fn++) {
        if (fn == F_EPOLL_WAIT || fn == F_RCVTIMEO || fn == F_SNDTIMEO)
            continue; /* not start's */
        for (long k = 1; k <= counts[fn]; k++, cases++)
            start_fails(backend, fn, k, k == counts[fn] || k == 1);
    }
    printf("%s: %d start failures injected (threads %ld, eventfd %ld, epoll %ld, uv_loop %ld, "
           "uv_poll %ld, uv_async %ld)\n", backend, cases, counts[F_THREAD], counts[F_EVENTFD],
           counts[F_EPOLL], counts[F_UV_LOOP], counts[F_UV_POLL], counts[F_UV_ASYNC]);
    CHECK(cases >= 3, "%s: the start made calls to refuse", backend);
}

/* ---- failures at run time ------------------------------------------------- */

static void *stop_later(void *arg)
{
    usleep(300000);
    berth_server_stop(arg);
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The poller fails for good: the worker still sees the stop and ends. */
static void reactor_poller_fails(void)
{
    berth_server *srv = server_new("reactor", 1, 0);
    CHECK(berth_server_start(srv) == 0, "reactor: start");
    usleep(50000);
    atomic_store(&fail_from[F_EPOLL_WAIT], 1);
    pthread_t t;
    __real_pthread_create(&t, NULL, stop_later, srv);
    double t0 = now_s();
    alarm(30); /* before the fix this wait never returned */
    berth_server_wait(srv);
    alarm(0);
    disarm();
    pthread_join(t, NULL);
    CHECK(now_s() - t0 < 10, "reactor: a stop with a failing poller took %.1f s", now_s() - t0);
    berth_server_free(srv);
}

/* fast: a socket whose receive timeout cannot be set is not read without
 * a deadline (it was: the connection waited for ever); one whose send
 * timeout cannot be set is not served. */
static void fast_timeouts_fail(int fn)
{
    berth_server *srv = server_new("fast:1", 1, 0);
    CHECK(berth_server_start(srv) == 0, "fast: start");
    arm(fn, 1);
    atomic_store(&fail_from[fn], 1);
    int fd = connect_to(berth_server_port(srv));
    char buf[256];
    int eof;
    double t0 = now_s();
    /* The client sends nothing: with no deadline the read never ends. */
    int n = read_some(fd, buf, sizeof buf, 8000, &eof);
    CHECK((n == 0 && eof) || n == -2, "fast: %s refused: the connection is closed at once (read %d, "
          "eof %d, after %.1f s)", fn_name[fn], n, eof, now_s() - t0);
    close(fd);
    disarm();
    n = get(berth_server_port(srv), "/hello", buf, sizeof buf);
    CHECK(n > 0 && strstr(buf, "200 OK"), "fast: served once %s works again", fn_name[fn]);
    berth_server_stop(srv);
    berth_server_wait(srv);
    berth_server_free(srv);
}

static atomic_int app_sigurg;
static void app_sigurg_handler(int sig)
{
    (void)sig;
    atomic_fetch_add(&app_sigurg, 1);
}

/* fast, where the application owns SIGURG: a connection thread without
 * its eventfd cannot be woken for a deferred response. It answers 503; it
 * must not signal the application's SIGURG nor fall back to polling. */
static void fast_wake_fd_fails(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = app_sigurg_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGURG, &sa, &old);
    berth_server *srv = server_new("fast:1", 1, 0);
    CHECK(berth_server_start(srv) == 0, "fast: start");
    atomic_store(&fail_from[F_EVENTFD], 1);
    atomic_store(&app_sigurg, 0);
    char buf[512];
    int n = get(berth_server_port(srv), "/deferred", buf, sizeof buf);
    int sigs = atomic_load(&app_sigurg);
    CHECK(n > 0 && strstr(buf, "HTTP/1.1 503 "), "fast: no eventfd: answered %.40s",
          n > 0 ? buf : "(nothing)");
    CHECK(sigs == 0, "fast: no eventfd: berth sent the application's SIGURG %d times", sigs);
    disarm();
    n = get(berth_server_port(srv), "/deferred", buf, sizeof buf);
    CHECK(n > 0 && strstr(buf, "200 OK") && strstr(buf, "deferred"), "fast: served once eventfd "
          "works: %.40s", n > 0 ? buf : "(nothing)");
    berth_server_stop(srv);
    berth_server_wait(srv);
    berth_server_free(srv);
    sigaction(SIGURG, &old, NULL);
}

/* libuv: a connection that cannot be watched is closed, and the worker
 * goes on (an unwatched poll handle was started and closed: a crash). */
static void libuv_poll_init_fails(void)
{
    berth_server *srv = server_new("libuv", 1, 0);
    CHECK(berth_server_start(srv) == 0, "libuv: start");
    arm(F_UV_POLL, 1);
    int fd = connect_to(berth_server_port(srv));
    const char req[] = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
    ssize_t sent = send(fd, req, sizeof req - 1, MSG_NOSIGNAL);
    char buf[512];
    int eof, n = read_some(fd, buf, sizeof buf, 5000, &eof);
    CHECK(sent > 0 && ((n == 0 && eof) || n == -2), "libuv: unwatched connection closed (read %d)", n);
    close(fd);
    disarm();
    n = get(berth_server_port(srv), "/hello", buf, sizeof buf);
    CHECK(n > 0 && strstr(buf, "200 OK"), "libuv: the next connection is served");
    berth_server_stop(srv);
    berth_server_wait(srv);
    berth_server_free(srv);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    router = berth_router_new();
    berth_router_add(router, "GET", "/hello", hello, NULL);
    berth_router_add(router, "GET", "/deferred", deferred, NULL);
    const char *only = getenv("BERTH_TEST_BACKENDS");
#ifdef BERTH_TEST_URING
    const char *backends[] = {"reactor", "libuv", "fast:3", "uring"};
#else
    const char *backends[] = {"reactor", "libuv", "fast:3"};
#endif
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (!only || strstr(only, backends[i][0] == 'f' ? "fast" : backends[i]))
            start_failures(backends[i]);
    reactor_poller_fails();
    fast_timeouts_fail(F_RCVTIMEO);
    fast_timeouts_fail(F_SNDTIMEO);
    fast_wake_fd_fails();
    libuv_poll_init_fails();
    berth_router_free(router);
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
