/* BERTH_STATIC_DIR on the test server: the directory at /static/ (cache of
 * 256 entries) and /nocache/ (no cache), and an application's own changes
 * to its files, each followed by berth_static_invalidate unless the query
 * says invalidate=0:
 *   DELETE /admin/static/{path...}   removes the file (204; 404 if absent)
 *   PUT    /admin/static/{path...}   writes the body to a temporary file
 *                                    and renames it over path (204)
 *   POST   /admin/static-sweep       berth_static_sweep: {"dropped":N}
 * Names holding ".." or starting with '/' are refused (400). */
#include "static-routes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static berth_static *cached, *uncached;
static int root = -1;

/* The decoded name below the root, or 0 after answering 400. */
static int admin_name(berth_req *req, berth_res *res, char *name, size_t cap)
{
    long n = berth_req_param_decoded(req, "path", name, cap);
    if (n <= 0 || name[0] == '/' || strstr(name, "..")) {
        berth_res_send(res, 400, "text/plain", "bad name\n", 9);
        return 0;
    }
    return 1;
}

static void invalidate_unless_asked(berth_req *req, const char *name)
{
    int64_t v;
    if (berth_req_query_int(req, "invalidate", &v) == 0 && v == 0)
        return;
    berth_static_invalidate(cached, name);
}

static void delete_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char name[1024];
    if (!admin_name(req, res, name, sizeof name))
        return;
    if (unlinkat(root, name, 0) != 0) {
        berth_res_send(res, 404, "text/plain", "no such file\n", 13);
        return;
    }
    invalidate_unless_asked(req, name);
    berth_res_status(res, 204);
}

static void put_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char name[1024], tmp[1100];
    if (!admin_name(req, res, name, sizeof name))
        return;
    snprintf(tmp, sizeof tmp, "%s.put-%d", name, (int)getpid());
    berth_str body = berth_req_body(req);
    int fd = openat(root, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int ok = fd >= 0 && write(fd, body.ptr, body.len) == (ssize_t)body.len;
    if (fd >= 0)
        close(fd);
    if (!ok || renameat(root, tmp, root, name) != 0) {
        unlinkat(root, tmp, 0);
        berth_res_send(res, 500, "text/plain", "cannot write\n", 13);
        return;
    }
    invalidate_unless_asked(req, name);
    berth_res_status(res, 204);
}

static void sweep_route(berth_req *req, berth_res *res, void *user)
{
    (void)req, (void)user;
    char buf[64];
    int n = snprintf(buf, sizeof buf, "{\"dropped\":%zu}", berth_static_sweep(cached));
    berth_res_send(res, 200, "application/json", buf, (size_t)n);
}

int static_routes_add(berth_router *r)
{
    const char *dir = getenv("BERTH_STATIC_DIR");
    if (!dir || !*dir)
        return 0;
    berth_static_opts none;
    berth_static_opts_init(&none);
    none.cache_entries = 0;
    int rc = berth_static_mount(r, "/static", dir, NULL, &cached);
    if (rc == 0)
        rc = berth_static_mount(r, "/nocache", dir, &none, &uncached);
    root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rc != 0 || root < 0) {
        fprintf(stderr, "berth-test-server: BERTH_STATIC_DIR %s: %s (%s)\n", dir,
                berth_strerror(rc), strerror(errno));
        return -1;
    }
    berth_router_add(r, "DELETE", "/admin/static/{path...}", delete_route, NULL);
    berth_router_add(r, "PUT", "/admin/static/{path...}", put_route, NULL);
    berth_router_add(r, "POST", "/admin/static-sweep", sweep_route, NULL);
    return 0;
}

void static_routes_free(void)
{
    berth_static_free(cached);
    berth_static_free(uncached);
    if (root >= 0)
        close(root);
    cached = uncached = NULL;
    root = -1;
}
