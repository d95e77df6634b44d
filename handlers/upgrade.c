/* berth-serve's signals: SIGTERM and SIGINT drain and stop (after
 * BERTH_DRAIN_DELAY_MS of /health answering 503), SIGUSR2 upgrades the
 * binary without dropping a connection, as nginx does: the executable is
 * started again with the listening sockets passed the systemd way, and
 * once it says READY=1 (sd_notify's protocol, to a socket of ours named
 * by NOTIFY_SOCKET) this process drains and exits. Until then nothing
 * changes here: a new process that fails or dies first leaves this one
 * serving, and the log says why.
 *
 * Why sd_notify rather than a pipe: the new process does what it would do
 * under systemd (berth_notify("READY=1") after its start), so the one
 * call serves both Type=notify units and upgrades, and a process of
 * another program (or another version) needs no descriptor convention of
 * ours. Why the same sockets rather than new ones on the same port: each
 * SO_REUSEPORT socket has its own accept queue, and what waits in the
 * queue of a socket that only the old process holds is reset when it
 * closes; passed sockets outlive it, queues and all. */
#include "upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "serve_env.h"

extern char **environ;

#define MAX_FDS 1024

static int wake_pipe[2] = {-1, -1};
/* The executable's path as it was started: exec'ing it starts whatever
 * binary is there now (the new one); /proc/self/exe itself would start
 * the old one again once its file was replaced. */
static char exe_path[PATH_MAX];

static void on_signal(int sig)
{
    int e = errno;
    char c = sig == SIGUSR2 ? 'U' : 'T';
    if (write(wake_pipe[1], &c, 1) < 0) {
        /* full: a byte is waiting already */
    }
    errno = e;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends "fmt" to buf (cap) at *len; -1 if it does not fit. */
static int append(char *buf, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > cap)
        return -1;
    memcpy(buf + *len, s, n + 1);
    *len += n;
    return 0;
}

/* The listening sockets (fds, *n) and what the new process is told of
 * them: LISTEN_FDNAMES (names) and the listen list (list) giving each
 * listener its options again. 0, or -1 with a message. */
static int sockets_of(berth_server *srv, int *fds, int *n, char *names, size_t ncap,
                      char *list, size_t lcap)
{
    size_t nl = 0, ll = 0;
    *n = 0;
    names[0] = list[0] = '\0';
    for (size_t i = 0;; i++) {
        int k = berth_server_listen_fds(srv, i, fds + *n, (size_t)(MAX_FDS - *n));
        if (k == BERTH_ENOENT)
            break;
        berth_listener_info li;
        if (k < 0 || k > MAX_FDS - *n || berth_server_listener(srv, i, &li) != 0) {
            fprintf(stderr, "berth-serve: upgrade: listener %zu: %s\n", i,
                    k < 0 ? berth_strerror(k) : "too many sockets");
            return -1;
        }
        char name[32], entry[96];
        snprintf(name, sizeof name, "berth%zu", i);
        for (int j = 0; j < k; j++)
            if ((*n + j > 0 && append(names, ncap, &nl, ":") != 0) ||
                append(names, ncap, &nl, name) != 0)
                goto too_long;
        snprintf(entry, sizeof entry, "%ssystemd:%s%s%s%s", i ? "," : "", name,
                 li.tls ? " tls" : "", li.proxy ? " proxy" : "",
                 li.http1 && !li.http2 ? " h1" : !li.http1 ? " h2" : "");
        if (append(list, lcap, &ll, entry) != 0)
            goto too_long;
        *n += k;
    }
    return 0;
too_long:
    fprintf(stderr, "berth-serve: upgrade: too many listening sockets\n");
    return -1;
}

/* environ without the variables set here, then those: the new process's
 * environment. The LISTEN_PID entry's digits are written by the child
 * (its pid is known only there). NULL when out of memory. */
static char **env_for(char *const *add, size_t nadd)
{
    static const char *const drop[] = {"LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=",
                                       "NOTIFY_SOCKET=", "BERTH_LISTEN="};
    size_t count = 0;
    while (environ[count])
        count++;
    char **env = calloc(count + nadd + 1, sizeof *env);
    if (!env)
        return NULL;
    size_t m = 0;
    for (size_t i = 0; i < count; i++) {
        int keep = 1;
        for (size_t d = 0; d < sizeof drop / sizeof drop[0]; d++)
            keep &= strncmp(environ[i], drop[d], strlen(drop[d])) != 0;
        if (keep)
            env[m++] = environ[i];
    }
    for (size_t i = 0; i < nadd; i++)
        env[m++] = add[i];
    return env;
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void child_exec(char **argv, char **env, char *pid_digits, const int *tmp, int n)
{
    char d[24];
    int len = 0;
    for (unsigned long p = (unsigned long)getpid(); p; p /= 10)
        d[len++] = (char)('0' + p % 10);
    for (int i = 0; i < len; i++)
        pid_digits[i] = d[len - 1 - i];
    pid_digits[len] = '\0';
    /* tmp[] are above 3 + n, so no dup2 overwrites one still to come;
     * dup2 clears close-on-exec on 3, 4, ... */
    for (int i = 0; i < n; i++)
        if (dup2(tmp[i], 3 + i) < 0)
            _exit(126);
    execve(exe_path, argv, env);
    static const char msg[] = "berth-serve: upgrade: cannot execute the new binary\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing more to say it with */
    }
    _exit(127);
}

/* Waits for READY=1 on sock from pid, its exit, or the deadline. 0 when
 * ready, -1 with a message otherwise (the child then stopped and reaped). */
static int wait_ready(int sock, pid_t pid, long long timeout_ms)
{
    long long until = now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {sock, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            char msg[512];
            ssize_t r = recv(sock, msg, sizeof msg - 1, MSG_DONTWAIT);
            if (r > 0) {
                msg[r] = '\0';
                /* newline-separated assignments (sd_notify(3)) */
                for (char *line = msg; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
                    if (strncmp(line, "READY=1", 7) == 0 && (line[7] == '\0' || line[7] == '\n'))
                        return 0;
            }
        }
        int status;
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            if (WIFEXITED(status))
                fprintf(stderr, "berth-serve: upgrade: the new process (pid %ld) exited with "
                        "status %d before it was ready; this one goes on serving\n", (long)pid,
                        WEXITSTATUS(status));
            else
                fprintf(stderr, "berth-serve: upgrade: the new process (pid %ld) was killed by "
                        "signal %d before it was ready; this one goes on serving\n", (long)pid,
                        WTERMSIG(status));
            return -1;
        }
        if (now_ms() >= until) {
            fprintf(stderr, "berth-serve: upgrade: the new process (pid %ld) was not ready within "
                    "%lld ms (BERTH_UPGRADE_TIMEOUT_MS); stopping it, this one goes on serving\n",
                    (long)pid, timeout_ms);
            /* Stopped as berth-serve stops: what it accepted is answered. */
            kill(pid, SIGTERM);
            long long grace = now_ms() + 10000;
            while (waitpid(pid, &status, WNOHANG) == 0 && now_ms() < grace)
                poll(NULL, 0, 20);
            if (waitpid(pid, &status, WNOHANG) == 0) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
            }
            return -1;
        }
    }
}

/* Starts the executable again on this server's sockets and waits for it.
 * 0 once it is ready (this process should now stop), -1 if it is not
 * (this process goes on serving; the log says why). */
static int upgrade(berth_server *srv, char **argv)
{
    static int fds[MAX_FDS];
    static char names[16 * MAX_FDS], list[64 * 64];
    int n = 0, tmp[MAX_FDS], ntmp = 0, sock = -1, rc = -1;
    char dir[] = "/tmp/berth-upgrade-XXXXXX", path[sizeof dir + 16] = "";
    char **env = NULL;
    if (sockets_of(srv, fds, &n, names, sizeof names, list, sizeof list) != 0)
        return -1;
    if (!mkdtemp(dir)) {
        fprintf(stderr, "berth-serve: upgrade: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/notify", dir);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    sock = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (sock < 0 || fcntl(sock, F_SETFD, FD_CLOEXEC) != 0 ||
        bind(sock, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "berth-serve: upgrade: a notification socket: %s\n", strerror(errno));
        goto out;
    }
    /* Above 3 + n, where the child's dup2s cannot overwrite them. */
    for (; ntmp < n; ntmp++) {
        tmp[ntmp] = fcntl(fds[ntmp], F_DUPFD_CLOEXEC, 3 + n);
        if (tmp[ntmp] < 0) {
            fprintf(stderr, "berth-serve: upgrade: dup: %s\n", strerror(errno));
            goto out;
        }
    }
    static char v_pid[40], v_fds[32], v_names[sizeof names + 32], v_notify[sizeof path + 16],
        v_listen[sizeof list + 16];
    snprintf(v_pid, sizeof v_pid, "LISTEN_PID=");
    snprintf(v_fds, sizeof v_fds, "LISTEN_FDS=%d", n);
    snprintf(v_names, sizeof v_names, "LISTEN_FDNAMES=%s", names);
    snprintf(v_notify, sizeof v_notify, "NOTIFY_SOCKET=%s", path);
    snprintf(v_listen, sizeof v_listen, "BERTH_LISTEN=%s", list);
    char *add[] = {v_pid, v_fds, v_names, v_notify, v_listen};
    env = env_for(add, sizeof add / sizeof add[0]);
    if (!env) {
        fprintf(stderr, "berth-serve: upgrade: out of memory\n");
        goto out;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "berth-serve: upgrade: fork: %s\n", strerror(errno));
        goto out;
    }
    if (pid == 0)
        child_exec(argv, env, v_pid + strlen("LISTEN_PID="), tmp, n);
    fprintf(stderr, "berth-serve: upgrade: started %s as pid %ld on %d socket%s; waiting for "
            "it to be ready\n", exe_path, (long)pid, n, n == 1 ? "" : "s");
    for (int i = 0; i < ntmp; i++)
        close(tmp[i]);
    ntmp = 0;
    long long timeout = (long long)env_number("BERTH_UPGRADE_TIMEOUT_MS", 30000, 3600000);
    rc = wait_ready(sock, pid, timeout);
    if (rc == 0)
        fprintf(stderr, "berth-serve: upgrade: pid %ld is ready; this process (pid %ld) drains "
                "and exits\n", (long)pid, (long)getpid());
out:
    for (int i = 0; i < ntmp; i++)
        close(tmp[i]);
    free(env);
    if (sock >= 0)
        close(sock);
    unlink(path);
    rmdir(dir);
    return rc;
}

/* Reads one signal's byte; 0 when none came within timeout_ms (-1: wait). */
static char next_signal(int timeout_ms)
{
    for (;;) {
        struct pollfd p = {wake_pipe[0], POLLIN, 0};
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        char c;
        if (read(wake_pipe[0], &c, 1) == 1)
            return c;
    }
}

int serve_signals_init(void)
{
    if (pipe(wake_pipe) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(wake_pipe[i], F_SETFD, FD_CLOEXEC);
        fcntl(wake_pipe[i], F_SETFL, O_NONBLOCK);
    }
    ssize_t len = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    exe_path[len > 0 ? len : 0] = '\0';
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    return 0;
}

void serve_until_stopped(berth_server *srv, char **argv)
{
    if (!exe_path[0] && argv[0] && strchr(argv[0], '/'))
        snprintf(exe_path, sizeof exe_path, "%s", argv[0]); /* no /proc (BSD, macOS) */
    berth_notify("READY=1"); /* systemd's Type=notify, or the process that started this one */
    unsigned long long delay = env_number("BERTH_DRAIN_DELAY_MS", 0, 3600000);
    for (;;) {
        char c = next_signal(-1);
        if (c == 'U') {
            if (!exe_path[0]) {
                fprintf(stderr, "berth-serve: upgrade: this process's executable is not known "
                        "(no /proc/self/exe, argv[0] not a path)\n");
                continue;
            }
            if (upgrade(srv, argv) == 0)
                break;
            continue;
        }
        if (c == 'T') {
            berth_notify("STOPPING=1");
            if (delay) {
                /* Health checks see 503 while requests are still served,
                 * until the balancer has taken this server out; a second
                 * SIGTERM ends the wait. */
                arena_set_draining(1);
                fprintf(stderr, "berth-serve: draining: /health answers 503 for %llu ms "
                        "(BERTH_DRAIN_DELAY_MS), then the stop\n", delay);
                long long until = now_ms() + (long long)delay;
                while (now_ms() < until && next_signal((int)(until - now_ms())) != 'T') {
                }
            }
            break;
        }
    }
    berth_server_stop(srv);
    berth_server_wait(srv);
}
