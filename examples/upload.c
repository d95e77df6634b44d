/* Streaming uploads to disk, with a limit of their own.
 *   PUT /files/{name}   the body is written to DIR/name as it arrives (up to
 *                       1 GiB on this route; other routes keep the 1 MiB
 *                       server limit); it appears under its name only once
 *                       complete, an upload cut short leaves nothing
 *   GET /files/{name}   the file, sent with sendfile
 * The open file is the request's data; the completion callback closes it
 * whatever happens (done, client gone, limit, stop).
 * Try: PORT=8080 ./upload /tmp & curl -T big.iso localhost:8080/files/big.iso */
#define _POSIX_C_SOURCE 200809L /* open flags, threads, clocks under -std=c11 */
#include <berth.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static berth_server *server;
static const char *dir;

static void on_signal(int sig) { (void)sig; berth_server_stop(server); }

typedef struct upload {
    int fd;
    char part[4096], path[4096];
} upload;

/* The decoded file name of the path, refused if it could leave dir. */
static int file_name(berth_req *req, char *name, size_t cap)
{
    long n = berth_req_param_decoded(req, "name", name, cap);
    return n > 0 && !strchr(name, '/') && name[0] != '.' ? 0 : -1;
}

static void upload_over(const berth_done *done, void *arg)
{
    upload *u = arg;
    close(u->fd);
    if (done->outcome != BERTH_DONE_COMPLETED || rename(u->part, u->path) != 0)
        unlink(u->part); /* cut short: nothing is left behind */
    free(u);
}

static int upload_piece(berth_req *req, const char *data, size_t len, void *user)
{
    (void)user;
    upload *u = berth_req_data(req);
    if (berth_req_body_first(req)) {
        char name[256];
        if (file_name(req, name, sizeof name) != 0)
            return 400;
        if (!(u = calloc(1, sizeof *u)))
            return 503;
        snprintf(u->path, sizeof u->path, "%s/%s", dir, name);
        snprintf(u->part, sizeof u->part, "%s/.%s.%p.part", dir, name, (void *)u);
        if ((u->fd = open(u->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
            free(u);
            return 500;
        }
        berth_req_set_data(req, u);
        berth_req_on_done(req, upload_over, u); /* closes it, exactly once */
    }
    while (len) {
        ssize_t n = write(u->fd, data, len);
        if (n <= 0)
            return 507; /* disk full, say */
        data += n, len -= (size_t)n;
    }
    return 0;
}

static void upload_end(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char out[64];
    int n = snprintf(out, sizeof out, "stored %llu bytes\n",
                     (unsigned long long)berth_req_body_received(req));
    berth_res_send(res, berth_req_data(req) ? 201 : 400, "text/plain", out, (size_t)n);
}

static void download(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char name[256], path[4096];
    int fd = -1;
    if (file_name(req, name, sizeof name) == 0) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
    if (size < 0 || berth_res_file(res, fd, 0, (uint64_t)size) != 0) { /* closes fd */
        berth_res_send(res, 404, "text/plain", "no such file\n", 13);
        return;
    }
    berth_res_header(res, "Content-Type", "application/octet-stream");
}

int main(int argc, char **argv)
{
    dir = argc > 1 ? argv[1] : ".";
    berth_router *r = berth_router_new();
    berth_route_opts up;
    berth_route_opts_init(&up);
    up.on_body = upload_piece;
    up.max_body = 1ull << 30;
    if (berth_router_add_opts(r, "PUT", "/files/{name}", upload_end, NULL, &up) ||
        berth_router_add(r, "GET", "/files/{name}", download, NULL)) {
        fprintf(stderr, "upload: %s\n", berth_router_error(r));
        return 1;
    }
    berth_config cfg;
    berth_config_init(&cfg);
    const char *port = getenv("PORT");
    cfg.port = port ? (unsigned)atoi(port) : 8080;
    cfg.router = r;
    cfg.max_body = 1 << 20; /* every other route */
    if (!(server = berth_server_new(&cfg)))
        return 1;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = berth_server_run(server);
    berth_server_free(server);
    berth_router_free(r);
    return rc ? 1 : 0;
}
