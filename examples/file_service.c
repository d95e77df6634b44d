/* Files over TLS in FILES_DIR (default .): POST /files (multipart/form-data, every part a file,
 * written as it arrives and named once complete: a client gone mid-upload leaves nothing; 100 MiB
 * a request; 201, Location: the last), GET /files (the names, JSON), GET /files/{name} (Range,
 * ETag), DELETE /files/{name}. Names with '/', '\' or a leading '.' are refused; errors are JSON.
 * TLS_CERT, TLS_KEY: PEM files, else self-signed. Try: FILES_DIR=/tmp PORT=8443 ./file_service &
 *   curl -k -F a=@x.iso -F b=@y.png https://localhost:8443/files */
#define _POSIX_C_SOURCE 200809L /* openat, renameat, fdopendir under -std=c11 */
#include <berth.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#pragma GCC diagnostic ignored "-Wunused-parameter" /* callbacks have fixed signatures */

static berth_server *server;
static berth_static *files; /* serves GET /files/{name} */
static int dir;             /* FILES_DIR: the *at calls stay in it */
/* A request's upload; fd: the part being written (named part until complete), or -1. */
typedef struct upload { berth_multipart *mp; int fd; unsigned stored; char name[256], part[32]; } upload;
static void on_signal(int sig) { berth_server_stop(server); }
static void as_json(berth_req *q, berth_res *res, int st, void *u) { berth_res_error_json(res, st, NULL); }
static int bad_name(const char *s, size_t n) {
    return !n || n > 255 || *s == '.' || memchr(s, '/', n) || memchr(s, '\\', n) || memchr(s, 0, n);
}
static int part_begin(berth_multipart *mp, berth_str field, berth_str file, berth_str type, void *user) {
    upload *u = user;
    if (!file.ptr || bad_name(file.ptr, file.len)) return 400;
    snprintf(u->name, sizeof u->name, "%.*s", (int)file.len, file.ptr);
    snprintf(u->part, sizeof u->part, ".%p", (void *)u); /* unique while u lives */
    return (u->fd = openat(dir, u->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 ? 500 : 0;
}
static int part_data(berth_multipart *mp, const char *data, size_t len, void *user) {
    return write(((upload *)user)->fd, data, len) != (ssize_t)len ? 507 : 0; /* a full disk */
}
static int part_end(berth_multipart *mp, void *user) {
    upload *u = user;
    close(u->fd), u->fd = -1;
    if (renameat(dir, u->part, dir, u->name) != 0) return unlinkat(dir, u->part, 0), 500;
    berth_static_invalidate(files, u->name); /* replaced: not served as it was */
    return u->stored++, 0;
}
static void upload_over(const berth_done *done, void *arg) { /* once, however the request ended */
    upload *u = arg;
    if (u->fd >= 0) close(u->fd), unlinkat(dir, u->part, 0); /* cut short: client gone, limit, stop */
    berth_multipart_free(u->mp);
    free(u);
}
static int upload_piece(berth_req *req, const char *data, size_t len, void *form) {
    upload *u = berth_req_data(req);
    if (berth_req_body_first(req)) {
        if (!(u = calloc(1, sizeof *u))) return 503;
        u->fd = -1, berth_req_set_data(req, u), berth_req_on_done(req, upload_over, u);
        berth_str type = {"", 0}; berth_req_header(req, "Content-Type", &type);
        if (!(u->mp = berth_multipart_new(type, form, u))) return 415;
    }
    return berth_multipart_feed(u->mp, data, len) ? berth_multipart_status(u->mp) : 0;
}
static void upload_end(berth_req *req, berth_res *res, void *form) {
    upload *u = berth_req_data(req);
    char loc[800] = "/files/";
    if (berth_multipart_end(u->mp)) { berth_res_error_json(res, 400, berth_multipart_error(u->mp)); return; }
    berth_url_encode(u->name, strlen(u->name), loc + 7, sizeof loc - 7, 0);
    berth_res_header(res, "Location", loc);
    berth_res_sendf(res, 201, "application/json", "{\"stored\":%u}", u->stored);
}
static void list(berth_req *req, berth_res *res, void *user) {
    char *out = NULL, esc[6 * 256]; /* a name escaped */
    size_t len = 0, n = 0;
    FILE *f = open_memstream(&out, &len);
    DIR *d = fdopendir(openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (struct dirent *e; f && d && (e = readdir(d));)
        if (*e->d_name != '.' && berth_json_escape(esc, sizeof esc, e->d_name, strlen(e->d_name)) >= 0)
            fprintf(f, "%s\"%s\"", n++ ? "," : "[", esc);
    if (d) closedir(d);
    if (f && !fclose(f) && d) berth_res_sendf(res, 200, "application/json", "%s]", n ? out : "[");
    else berth_res_error_json(res, 503, NULL);
    free(out);
}
static void remove_file(berth_req *req, berth_res *res, void *user) {
    char name[256];
    long n = berth_req_param_decoded(req, "name", name, sizeof name);
    if (n < 0 || bad_name(name, (size_t)n)) berth_res_error_json(res, 400, "bad file name");
    else if (unlinkat(dir, name, 0) != 0) berth_res_error_json(res, 404, NULL);
    else berth_static_invalidate(files, name), berth_res_status(res, 204);
}

int main(void) {
    const char *port = getenv("PORT"), *root = getenv("FILES_DIR") ? getenv("FILES_DIR") : ".";
    berth_multipart_config form; berth_multipart_config_init(&form);
    form.on_part = part_begin, form.on_data = part_data, form.on_part_end = part_end;
    berth_route_opts up; berth_route_opts_init(&up);
    up.on_body = upload_piece, up.max_body = 100 << 20; /* others: the server's 64 MiB */
    berth_static_opts so; berth_static_opts_init(&so);
    so.precompressed = 0; /* an uploaded x.gz is not x */
    berth_router *r = berth_router_new();
    if ((dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        berth_router_add_opts(r, "POST", "/files", upload_end, &form, &up) ||
        berth_router_add(r, "GET", "/files", list, NULL) || /* before the mount's redirect */
        berth_router_add(r, "DELETE", "/files/{name}", remove_file, NULL) ||
        berth_static_mount(r, "/files", root, &so, &files))
        return perror(root), 1;
    berth_tls_config tls; berth_tls_config_init(&tls); /* neither file: a self-signed certificate */
    tls.cert_file = getenv("TLS_CERT"), tls.key_file = getenv("TLS_KEY");
    char listen[64]; snprintf(listen, sizeof listen, "%s tls", port ? port : "8443"); /* TLS only */
    berth_config cfg; berth_config_init(&cfg);
    cfg.listen = listen, cfg.tls = &tls, cfg.router = r, cfg.on_error = as_json;
    if (!(server = berth_server_new(&cfg))) return 1;
    signal(SIGINT, on_signal), signal(SIGTERM, on_signal);
    int rc = berth_server_run(server);
    berth_server_free(server), berth_static_free(files), berth_router_free(r);
    return rc ? 1 : 0;
}
