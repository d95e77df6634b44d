/* Serves one file at GET /: berth_res_file hands the open file to berth,
 * which sends it with sendfile (no copy through this program) and closes
 * it when the response is done, also if the client leaves halfway.
 *   PORT=8080 send_file PATH     then: curl -o copy http://127.0.0.1:8080/ */
#define _POSIX_C_SOURCE 200809L /* open flags, threads, clocks under -std=c11 */
#include <berth.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *path;
static berth_server *server;

static void file(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
    if (size < 0 || berth_res_file(res, fd, 0, (uint64_t)size) != 0) { /* closes fd */
        berth_res_send(res, 404, "text/plain", "not found\n", 10);
        return;
    }
    berth_res_header(res, "Content-Type", "application/octet-stream");
}

static void on_signal(int sig) { (void)sig, berth_server_stop(server); }

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: send_file PATH [PORT] (or PORT in the environment)\n");
        return 2;
    }
    path = argv[1];
    berth_config cfg;
    berth_config_init(&cfg);
    cfg.handler = file;
    const char *port = argc > 2 ? argv[2] : getenv("PORT");
    cfg.port = port ? (unsigned)atoi(port) : 8080;
    server = berth_server_new(&cfg);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = server ? berth_server_run(server) : -1;
    berth_server_free(server);
    return rc == 0 ? 0 : 1;
}
