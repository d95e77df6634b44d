/* Files over TLS, kept in the directory $FILES_DIR (default .):
 *   POST   /files         multipart/form-data, every part a file: each is
 *                         written as it arrives and takes its name only once
 *                         complete (a client gone mid-upload leaves nothing);
 *                         100 MiB a request; 201 {"stored":N}, Location: the last
 *   GET    /files         the names, a JSON array
 *   GET    /files/{name}  the file (Range, ETag: berth's static files)
 *   DELETE /files/{name}  removes it (204)
 * A name with '/', '\' or a leading '.' is refused (400); every error is JSON.
 * TLS only: TLS_CERT and TLS_KEY (PEM files), else a self-signed certificate.
 * Try: FILES_DIR=/tmp PORT=8443 ./file_service &
 *      curl -k -F a=@x.iso -F b=@y.png https://localhost:8443/files */
#define _POSIX_C_SOURCE 200809L /* openat, renameat, open_memstream under -std=c11 */
#include <berth.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static berth_server *server;
static berth_static *files; /* the mount serving GET /files/{name} */
static const char *root;    /* FILES_DIR */
static int dir;             /* it open: the other file calls are *at calls in it */

/* One request's upload: the part being written (fd -1 between parts)
 * under a hidden name until it is complete. */
typedef struct upload {
    int fd;
    char name[256], part[32];
} upload;

static void on_signal(int sig) { (void)sig; berth_server_stop(server); }

/* 1 for a name that could leave the directory or hide in it. */
static int bad_name(const char *s, size_t n)
{
    return n == 0 || n > 255 || s[0] == '.' || memchr(s, '/', n) || memchr(s, '\\', n) ||
           memchr(s, '\0', n);
}

/* Once, however the request ended: a part still open was cut short (the
 * client gone, the limit, the stop) and is removed. */
static void upload_over(const berth_done *done, void *arg)
{
    (void)done;
    upload *u = arg;
    if (u->fd >= 0) {
        close(u->fd);
        unlinkat(dir, u->part, 0);
    }
    free(u);
}

/* The part callbacks of the POST route, whose body berth parses: a
 * non-zero return is the status berth answers (as JSON: on_error). */
static int part_begin(berth_multipart *mp, berth_str field, berth_str filename, berth_str type,
                      void *user)
{
    (void)field, (void)type, (void)user;
    berth_req *req = berth_multipart_req(mp);
    upload *u = berth_req_data(req);
    if (!filename.ptr || bad_name(filename.ptr, filename.len))
        return 400;
    if (!u) { /* the first part */
        if (!(u = calloc(1, sizeof *u)))
            return 503;
        berth_req_set_data(req, u);
        berth_req_on_done(req, upload_over, u);
    }
    snprintf(u->name, sizeof u->name, "%.*s", (int)filename.len, filename.ptr);
    snprintf(u->part, sizeof u->part, ".%p", (void *)u); /* unique while u lives */
    u->fd = openat(dir, u->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    return u->fd < 0 ? 500 : 0;
}

static int part_data(berth_multipart *mp, const char *data, size_t len, void *user)
{
    (void)user;
    upload *u = berth_req_data(berth_multipart_req(mp));
    return write(u->fd, data, len) == (ssize_t)len ? 0 : 507; /* a full disk */
}

static int part_end(berth_multipart *mp, void *user)
{
    (void)user;
    upload *u = berth_req_data(berth_multipart_req(mp));
    close(u->fd);
    u->fd = -1;
    if (renameat(dir, u->part, dir, u->name) != 0) {
        unlinkat(dir, u->part, 0);
        return 500;
    }
    berth_static_invalidate(files, u->name); /* replaced: not served as it was */
    return 0;
}

/* The body was complete, with a part at least (berth answered 400 else). */
static void upload_end(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    upload *u = berth_req_data(req);
    char location[7 + 3 * 255 + 1] = "/files/";
    berth_url_encode(u->name, strlen(u->name), location + 7, sizeof location - 7, 0);
    berth_res_header(res, "Location", location);
    /* every part begun was stored: one that failed failed the request */
    berth_res_sendf(res, 201, "application/json", "{\"stored\":%u}",
                    berth_multipart_parts(berth_req_multipart(req)));
}

static void list(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    char *names = NULL, escaped[6 * 255 + 1];
    size_t len = 0, n = 0;
    FILE *out = open_memstream(&names, &len);
    DIR *d = opendir(root);
    for (struct dirent *e; out && d && (e = readdir(d));) {
        if (e->d_name[0] != '.' && /* ., .. and parts being written */
            berth_json_escape(escaped, sizeof escaped, e->d_name, strlen(e->d_name)) >= 0)
            fprintf(out, "%s\"%s\"", n++ ? "," : "", escaped);
    }
    if (d)
        closedir(d);
    if (out && fclose(out) == 0 && d)
        berth_res_sendf(res, 200, "application/json", "[%s]", names);
    else
        berth_res_error_json(res, 503, NULL);
    free(names);
}

static void remove_file(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char name[256];
    long n = berth_req_param_decoded(req, "name", name, sizeof name);
    if (n < 0 || bad_name(name, (size_t)n)) {
        berth_res_error_json(res, 400, "bad file name");
    } else if (unlinkat(dir, name, 0) != 0) {
        berth_res_error_json(res, 404, NULL);
    } else {
        berth_static_invalidate(files, name);
        berth_res_status(res, 204);
    }
}

int main(void)
{
    root = getenv("FILES_DIR") ? getenv("FILES_DIR") : ".";
    berth_multipart_config form;
    berth_multipart_config_init(&form);
    form.on_part = part_begin;
    form.on_data = part_data;
    form.on_part_end = part_end;
    berth_route_opts up;
    berth_route_opts_init(&up);
    up.multipart = &form; /* berth parses the body: no on_body */
    up.max_body = 100 << 20; /* the other routes keep the server's limit */
    berth_static_opts so;
    berth_static_opts_init(&so);
    so.precompressed = 0; /* an uploaded x.gz is not x compressed */
    if ((dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        perror(root);
        return 1;
    }
    berth_router *r = berth_router_new();
    if (!r || berth_router_add_opts(r, "POST", "/files", upload_end, NULL, &up) ||
        berth_router_add(r, "GET", "/files", list, NULL) || /* not the mount's redirect */
        berth_router_add(r, "DELETE", "/files/{name}", remove_file, NULL) ||
        berth_static_mount(r, "/files", root, &so, &files)) {
        fprintf(stderr, "file_service: %s\n", r ? berth_router_error(r) : "out of memory");
        return 1;
    }
    berth_tls_config tls;
    berth_tls_config_init(&tls);
    tls.cert_file = getenv("TLS_CERT"); /* neither: a self-signed certificate */
    tls.key_file = getenv("TLS_KEY");
    char listen[64]; /* TLS only: no plaintext listener */
    snprintf(listen, sizeof listen, "%s tls", getenv("PORT") ? getenv("PORT") : "8443");
    berth_config cfg;
    berth_config_init(&cfg);
    cfg.listen = listen;
    cfg.tls = &tls;
    cfg.router = r;
    cfg.on_error = berth_on_error_json; /* berth's own errors as JSON too */
    if (!(server = berth_server_new(&cfg)))
        return 1;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = berth_server_run(server);
    berth_server_free(server);
    berth_static_free(files);
    berth_router_free(r);
    return rc ? 1 : 0;
}
