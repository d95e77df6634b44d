#include "file-routes.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int64_t query_or(berth_req *req, const char *name, int64_t fallback)
{
    int64_t v;
    return berth_req_query_int(req, name, &v) == 0 ? v : fallback;
}

/* GET /file?path=&off=&len=: a file, or a range of it, with berth_res_file
 * (sendfile where the connection allows). A test server only: any path. */
static void file_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char path[4096];
    if (berth_req_query(req, "path", path, sizeof path) <= 0) {
        berth_res_send(res, 400, "text/plain", "path?\n", 6);
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        berth_res_send(res, 404, "text/plain", "no such file\n", 13);
        return;
    }
    int64_t off = query_or(req, "off", 0);
    int64_t len = query_or(req, "len", (int64_t)st.st_size - off);
    if (off < 0 || len < 0 || berth_res_file(res, fd, (uint64_t)off, (uint64_t)len) != 0) {
        berth_res_send(res, 416, "text/plain", "bad range\n", 10);
        return;
    }
    berth_res_header(res, "Content-Type", "application/octet-stream");
}

/* GET /mapped?path=: a file mmap'd and lent with berth_res_body_external;
 * /stats counts the releases. */
typedef struct mapping {
    void *p;
    size_t len;
} mapping;

static atomic_int releases;

int file_routes_releases(void) { return atomic_load(&releases); }

static void mapping_release(void *arg)
{
    mapping *m = arg;
    munmap(m->p, m->len);
    free(m);
    atomic_fetch_add(&releases, 1);
}

static void mapped_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char path[4096];
    int fd = berth_req_query(req, "path", path, sizeof path) > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    struct stat st;
    mapping *m = calloc(1, sizeof *m);
    if (fd < 0 || !m || fstat(fd, &st) != 0 || st.st_size == 0 ||
        (m->p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
        if (fd >= 0)
            close(fd);
        free(m);
        berth_res_send(res, 404, "text/plain", "cannot map\n", 11);
        return;
    }
    close(fd);
    m->len = (size_t)st.st_size;
    berth_res_body_external(res, m->p, m->len, mapping_release, m);
}

void file_routes_add(berth_router *r)
{
    berth_router_add(r, "GET", "/file", file_route, NULL);
    berth_router_add(r, "GET", "/mapped", mapped_route, NULL);
}
