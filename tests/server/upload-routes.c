/* Routes whose multipart/form-data body berth parses itself
 * (berth_route_opts.multipart), written as an application would: no
 * on_body, no parser of their own. What they answer lets
 * tests/e2e/test_upload_route.py compare it with what curl sent:
 *
 *   POST /mp-route    per part "part NAME filename=F size=N fnv=H"
 *                     (FNV-1a 64 of its content), then "parts=N"
 *                     (berth_req_multipart's count). ?fail=S: the part
 *                     callback of the second part returns S (the
 *                     request, reached by berth_multipart_req, says so)
 *   POST /mp-route-2  the same with max_parts 2
 *   GET  /mp-none     "null" when berth_req_multipart is NULL (a route
 *                     without the option)
 * Per-upload state is a request value (berth_req_set_value) freed by a
 * completion callback (berth_req_add_done). */
#include "upload-routes.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char upload_key; /* the request value's key: its address */

typedef struct upload {
    char out[4096];
    size_t len;
    uint64_t size, fnv;
} upload;

static void upload_free(const berth_done *done, void *arg)
{
    (void)done;
    free(arg);
}

/* The request's upload, made by its first part. */
static upload *upload_of(berth_req *req)
{
    upload *u = berth_req_value(req, &upload_key);
    if (u)
        return u;
    if (!(u = calloc(1, sizeof *u)))
        return NULL;
    if (berth_req_add_done(req, upload_free, u) != 0) {
        free(u);
        return NULL;
    }
    berth_req_set_value(req, &upload_key, u);
    return u;
}

static void out_printf(upload *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(upload *u, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(u->out + u->len, sizeof u->out - u->len, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof u->out - u->len)
        u->len += (size_t)n;
}

static int part_begin(berth_multipart *mp, berth_str name, berth_str filename, berth_str type,
                      void *user)
{
    (void)type, (void)user;
    berth_req *req = berth_multipart_req(mp);
    int64_t fail;
    if (berth_multipart_parts(mp) == 2 && berth_req_query_int(req, "fail", &fail) == 0)
        return (int)fail;
    upload *u = upload_of(req);
    if (!u)
        return 503;
    u->size = 0;
    u->fnv = 0xcbf29ce484222325ull;
    out_printf(u, "part %.*s filename=%.*s", (int)name.len, name.ptr,
               filename.ptr ? (int)filename.len : 1, filename.ptr ? filename.ptr : "-");
    return 0;
}

static int part_data(berth_multipart *mp, const char *data, size_t len, void *user)
{
    (void)user;
    upload *u = berth_req_value(berth_multipart_req(mp), &upload_key);
    for (size_t i = 0; i < len; i++)
        u->fnv = (u->fnv ^ (unsigned char)data[i]) * 0x100000001b3ull;
    u->size += len;
    return 0;
}

static int part_end(berth_multipart *mp, void *user)
{
    (void)user;
    upload *u = berth_req_value(berth_multipart_req(mp), &upload_key);
    out_printf(u, " size=%" PRIu64 " fnv=%016" PRIx64 "\n", u->size, u->fnv);
    return 0;
}

/* Runs only for a complete body with a part at least: berth answered
 * the rest. */
static void uploaded(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    upload *u = berth_req_value(req, &upload_key);
    berth_res_sendf(res, 200, "text/plain", "%.*sparts=%u\n", (int)u->len, u->out,
                    berth_multipart_parts(berth_req_multipart(req)));
}

static void none(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    berth_res_sendf(res, 200, "text/plain", "%s", berth_req_multipart(req) ? "set" : "null");
}

void upload_routes_add(berth_router *r, berth_config *cfg)
{
    static berth_multipart_config form, two;
    berth_multipart_config_init(&form);
    form.on_part = part_begin;
    form.on_data = part_data;
    form.on_part_end = part_end;
    two = form;
    two.max_parts = 2;
    berth_route_opts o;
    berth_route_opts_init(&o);
    o.multipart = &form;
    berth_router_add_opts(r, "POST", "/mp-route", uploaded, NULL, &o);
    o.multipart = &two;
    berth_router_add_opts(r, "POST", "/mp-route-2", uploaded, NULL, &o);
    berth_router_add(r, "GET", "/mp-none", none, NULL);
    const char *v = getenv("BERTH_TEST_ON_ERROR");
    if (v && strcmp(v, "json") == 0)
        cfg->on_error = berth_on_error_json;
}
