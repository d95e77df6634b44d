/* The static-file handler: berth_static_mount serves a directory under a
 * URL prefix, with the open-file cache, precompressed siblings,
 * conditional and range requests. Built only on berth.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "static_cond.h"
#include "static_impl.h"

void berth_static_opts_init_sized(berth_static_opts *opts, size_t size)
{
    berth_static_opts d;
    memset(&d, 0, sizeof d);
    d.size = sizeof d;
    d.index = "index.html";
    d.precompressed = 1;
    d.cache_entries = 256;
    if (size < sizeof(size_t))
        return;
    memcpy(opts, &d, size < sizeof d ? size : sizeof d);
    if (size > sizeof d)
        memset((char *)opts + sizeof d, 0, size - sizeof d);
    opts->size = size;
}

/* The caller's options over the defaults, within the size it recorded
 * (berth.h, "Structs and upgrades"): 0, or BERTH_EINVAL when it never
 * called berth_static_opts_init, or set fields this library does not know.
 * (core/abi.c does the same for the core; this file uses berth.h only.) */
static int opts_read(berth_static_opts *o, const berth_static_opts *opts)
{
    berth_static_opts_init(o);
    if (!opts)
        return 0;
    if (opts->size < sizeof opts->size || opts->size > 4096) /* never initialised */
        return BERTH_EINVAL;
    for (size_t i = sizeof *o; i < opts->size; i++)
        if (((const unsigned char *)opts)[i])
            return BERTH_EINVAL;
    memcpy(o, opts, opts->size < sizeof *o ? opts->size : sizeof *o);
    o->size = sizeof *o;
    return 0;
}

/* The mount's errors go where berth's own do: through the application's
 * error hook (berth_config.on_error), so one API has one error format. */
static void send_status(berth_res *res, int status)
{
    berth_res_error(res, status);
}

/* The raw wildcard must not smuggle a separator or a NUL past decoding. */
static int raw_ok(berth_str raw)
{
    for (size_t i = 0; i + 2 < raw.len; i++) {
        if (raw.ptr[i] != '%')
            continue;
        char a = raw.ptr[i + 1], b = (char)(raw.ptr[i + 2] | 0x20);
        if ((a == '2' && b == 'f') || (a == '5' && b == 'c') || (a == '0' && b == '0'))
            return 0;
    }
    return 1;
}

static void redirect_to_slash(berth_req *req, berth_res *res)
{
    berth_str path = berth_req_path(req), q = berth_req_query_string(req);
    char loc[BERTH_STATIC_NAME_MAX + 512];
    int n = snprintf(loc, sizeof loc, "%.*s/%s%.*s", (int)path.len, path.ptr, q.len ? "?" : "",
                     (int)q.len, q.ptr);
    if (n < 0 || (size_t)n >= sizeof loc)
        return send_status(res, 404);
    berth_res_header(res, "Location", loc);
    berth_res_send(res, 301, "text/plain", "moved\n", 6);
}

static void serve_file(berth_req *req, berth_res *res, const struct berth_static *st,
                       static_file *f)
{
    int r = f->chosen;
    static_rep *rep = &f->rep[r];
    berth_res_header(res, "Content-Type", f->type);
    berth_res_header(res, "Last-Modified", f->last_modified);
    berth_res_header(res, "ETag", rep->etag);
    berth_res_header(res, "Accept-Ranges", "bytes");
    if (st->opts.precompressed)
        berth_res_header(res, "Vary", "Accept-Encoding");
    if (r != REP_PLAIN)
        berth_res_header(res, "Content-Encoding", r == REP_BR ? "br" : "gzip");
    if (berth_static_not_modified(req, rep->etag, f->mtime)) {
        berth_res_status(res, 304);
        return;
    }
    uint64_t off = 0, len = rep->size;
    int range = berth_static_range(req, rep->etag, f->last_modified, rep->size, &off, &len);
    char cr[80];
    if (range == RANGE_UNSATISFIABLE) {
        snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)rep->size);
        berth_res_header(res, "Content-Range", cr);
        return send_status(res, 416);
    }
    if (range == RANGE_OK) {
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)off,
                 (unsigned long long)(off + len - 1), (unsigned long long)rep->size);
        berth_res_header(res, "Content-Range", cr);
        berth_res_status(res, 206);
    }
    if (len == 0)
        return; /* an empty file: an empty body */
    int fd = rep->fd;
    rep->fd = -1; /* berth_res_file owns it from here, even on failure */
    if (berth_res_file(res, fd, off, len) != 0) { /* it shrank since it was opened */
        static const char *const about_the_file[] = {"Content-Range", "Last-Modified", "ETag",
                                                     "Accept-Ranges"};
        for (size_t i = 0; i < sizeof about_the_file / sizeof about_the_file[0]; i++)
            berth_res_header_remove(res, about_the_file[i]);
        send_status(res, 500);
    }
}

static void handle(berth_req *req, berth_res *res, void *user)
{
    const struct berth_static *cst = user;
    struct berth_static *st = (struct berth_static *)cst;
    berth_str raw = {"", 0};
    berth_req_param(req, "path", &raw);
    char name[BERTH_STATIC_NAME_MAX];
    long n = raw.len ? berth_req_param_decoded(req, "path", name, sizeof name - 64) : 0;
    if (n < 0)
        return send_status(res, n != BERTH_ENOENT && raw.len < sizeof name - 64 ? 400 : 404);
    name[n] = '\0';
    int slash = n > 0 && name[n - 1] == '/';
    if (slash)
        name[--n] = '\0';
    if (!raw_ok(raw) || (n > 0 && !berth_static_name_ok(name, (size_t)n, st->opts.dotfiles)))
        return send_status(res, 404);
    int q[REP_COUNT] = {1000, 0, 0};
    if (st->opts.precompressed) {
        q[REP_BR] = berth_req_accept_encoding(req, "br");
        q[REP_GZIP] = berth_req_accept_encoding(req, "gzip");
    }
    static_file f;
    if (berth_static_cache_get(st, n ? name : ".", q, &f) != 0)
        return send_status(res, errno == EMFILE || errno == ENFILE ? 503 : 404);
    if (f.is_dir) {
        berth_static_file_close(&f);
        if (!slash && n > 0)
            return redirect_to_slash(req, res);
        if (!st->opts.index || !st->opts.index[0])
            return send_status(res, 404);
        snprintf(name + n, sizeof name - (size_t)n, "%s%s", n ? "/" : "", st->opts.index);
        if (berth_static_cache_get(st, name, q, &f) != 0)
            return send_status(res, 404);
        if (f.is_dir) {
            berth_static_file_close(&f);
            return send_status(res, 404);
        }
    } else if (slash) {
        berth_static_file_close(&f);
        return send_status(res, 404); /* "file.txt/" names no file */
    }
    serve_file(req, res, st, &f);
    berth_static_file_close(&f);
}

static void handle_bare_prefix(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    redirect_to_slash(req, res);
}

int berth_static_mount(berth_router *router, const char *prefix, const char *root,
                       const berth_static_opts *opts, berth_static **out)
{
    berth_static_opts o;
    size_t plen = prefix ? strlen(prefix) : 0;
    while (plen > 0 && prefix[plen - 1] == '/')
        plen--;
    if (!out || !router || !prefix || prefix[0] != '/' || plen >= 200 || !root ||
        opts_read(&o, opts) != 0)
        return BERTH_EINVAL;
    *out = NULL;
    struct berth_static *st = calloc(1, sizeof *st);
    if (!st)
        return BERTH_ENOMEM;
    st->opts = o;
    st->cap = o.cache_entries; /* 0: no cache */
    st->entries = st->cap ? calloc(st->cap, sizeof *st->entries) : NULL;
    st->sweep_every_ms = berth_static_sweep_interval(st->cap);
    st->root = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if ((st->cap && !st->entries) || st->root < 0) {
        int err = errno, rc = st->root < 0 ? BERTH_ENOENT : BERTH_ENOMEM;
        free(st->entries);
        if (st->root >= 0)
            close(st->root);
        free(st);
        errno = err;
        return rc;
    }
    for (size_t i = 0; i < st->cap; i++)
        for (int r = 0; r < REP_COUNT; r++)
            st->entries[i].rep[r].fd = -1;
    pthread_mutex_init(&st->lock, NULL);
    snprintf(st->prefix, sizeof st->prefix, "%.*s", (int)plen, prefix);
    char pattern[300];
    snprintf(pattern, sizeof pattern, "%s/{path...}", st->prefix);
    int rc = berth_router_add(router, "GET", pattern, handle, st);
    if (rc != 0) {
        berth_static_free(st);
        return rc;
    }
    /* "/static" redirects to "/static/", unless the application has its own
     * route there. */
    if (plen > 0)
        berth_router_add(router, "GET", st->prefix, handle_bare_prefix, NULL);
    *out = st;
    return 0;
}

void berth_static_free(berth_static *st)
{
    if (!st)
        return;
    berth_static_cache_free(st);
    pthread_mutex_destroy(&st->lock);
    close(st->root);
    free(st->entries);
    free(st);
}
