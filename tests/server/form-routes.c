/* Routes that use berth's form, multipart, cookie and URL-encoding calls
 * as an application would, answering what they read so that
 * tests/e2e/test_forms.py can compare it with what real clients sent:
 *
 *   POST /form             the buffered urlencoded body: "name=value\n" per
 *                          pair, decoded; ?get=NAME: that value alone
 *                          (berth_req_form); 400 for a bad escape
 *   POST /upload-form      multipart/form-data streamed through on_body into
 *                          berth_multipart_feed: per part "part NAME
 *                          filename=F type=T size=N fnv=H" (FNV-1a 64 of the
 *                          content) and "value=V" for fields without a file;
 *                          "max_piece=N" (the largest on_data piece: the file
 *                          arrived in pieces, never whole).
 *                          ?max_parts=N&max_header=N set the limits
 *   GET  /cookies          "name=value\n" for every cookie; ?get=NAME: one
 *   GET  /set-cookie       a Set-Cookie from the query (name, value, path,
 *                          domain, max_age, expires, secure, httponly,
 *                          samesite=strict|lax|none, partitioned); 400 with
 *                          berth's reason when refused
 *   GET  /encode?s=S       berth_url_encode of S decoded (plus=1: '+' for
 *                          space), and a Location header built with it */
#include "form-routes.h"
#include "upload-routes.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void send_text(berth_res *res, int status, const char *text, size_t len)
{
    berth_res_send(res, status, "text/plain", text, len);
}

/* POST /form */
static void form_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char name[256], value[8192];
    if (berth_req_query(req, "get", name, sizeof name) >= 0) {
        long n = berth_req_form(req, name, value, sizeof value);
        if (n == BERTH_ENOENT)
            send_text(res, 404, "absent\n", 7);
        else if (n < 0)
            send_text(res, 400, berth_strerror((int)n), strlen(berth_strerror((int)n)));
        else
            send_text(res, 200, value, (size_t)n);
        return;
    }
    berth_str rest = berth_req_body(req), n, v;
    size_t cap = rest.len + 64, len = 0;
    char *out = malloc(cap);
    if (!out) {
        berth_res_error(res, 500);
        return;
    }
    while (berth_form_next(&rest, &n, &v) == 0) {
        /* a decoded name and value are never longer than their encoding */
        long nl = berth_url_decode(n.ptr, n.len, out + len, cap - len, 1);
        long vl = nl < 0 ? nl : berth_url_decode(v.ptr, v.len, out + len + (size_t)nl + 1,
                                                  cap - len - (size_t)nl - 1, 1);
        if (nl < 0 || vl < 0) {
            free(out);
            berth_res_send(res, 400, "text/plain", "bad escape\n", 11);
            return;
        }
        out[len + (size_t)nl] = '=';
        len += (size_t)nl + 1 + (size_t)vl;
        out[len++] = '\n';
    }
    berth_res_send(res, 200, "text/plain", out, len);
    free(out);
}

/* POST /upload-form */
struct upload {
    berth_multipart *mp;
    char out[32768];
    size_t out_len;
    uint64_t size, fnv;
    char value[256];
    size_t value_len;
    int has_file;
    size_t max_piece;
};

static void out_printf(struct upload *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct upload *u, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(u->out + u->out_len, sizeof u->out - u->out_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        u->out_len += (size_t)n < sizeof u->out - u->out_len ? (size_t)n : 0;
}

static int up_part(berth_multipart *mp, berth_str name, berth_str filename, berth_str type,
                   void *user)
{
    (void)mp;
    struct upload *u = user;
    u->size = 0;
    u->fnv = 0xcbf29ce484222325ull;
    u->value_len = 0;
    u->has_file = filename.ptr != NULL;
    out_printf(u, "part %.*s filename=%.*s type=%.*s", (int)name.len, name.ptr,
               u->has_file ? (int)filename.len : 1, u->has_file ? filename.ptr : "-",
               (int)type.len, type.ptr);
    return 0;
}

static int up_data(berth_multipart *mp, const char *data, size_t len, void *user)
{
    (void)mp;
    struct upload *u = user;
    for (size_t i = 0; i < len; i++)
        u->fnv = (u->fnv ^ (unsigned char)data[i]) * 0x100000001b3ull;
    u->size += len;
    if (len > u->max_piece)
        u->max_piece = len;
    size_t room = sizeof u->value - u->value_len;
    size_t k = len < room ? len : room;
    memcpy(u->value + u->value_len, data, k);
    u->value_len += k;
    return 0;
}

static int up_part_end(berth_multipart *mp, void *user)
{
    (void)mp;
    struct upload *u = user;
    out_printf(u, " size=%" PRIu64 " fnv=%016" PRIx64 "\n", u->size, u->fnv);
    if (!u->has_file)
        out_printf(u, "value=%.*s\n", (int)u->value_len, u->value);
    return 0;
}

static void upload_done(const berth_done *done, void *arg)
{
    (void)done;
    struct upload *u = arg;
    berth_multipart_free(u->mp);
    free(u);
}

static int upload_body(berth_req *req, const char *data, size_t len, void *user)
{
    (void)user;
    struct upload *u = berth_req_data(req);
    if (berth_req_body_first(req)) {
        berth_str ct = {"", 0};
        berth_req_header(req, "Content-Type", &ct);
        if (!berth_str_eq_nocase((berth_str){ct.ptr, ct.len < 19 ? ct.len : 19},
                                 "multipart/form-data"))
            return 415;
        berth_multipart_config cfg;
        berth_multipart_config_init(&cfg);
        cfg.on_part = up_part;
        cfg.on_data = up_data;
        cfg.on_part_end = up_part_end;
        int64_t v;
        if (berth_req_query_int(req, "max_parts", &v) == 0)
            cfg.max_parts = (unsigned)v;
        if (berth_req_query_int(req, "max_header", &v) == 0)
            cfg.max_part_header = (size_t)v;
        if (!(u = calloc(1, sizeof *u)))
            return 500;
        if (!(u->mp = berth_multipart_new(ct, &cfg, u))) {
            free(u);
            return 400; /* no valid boundary */
        }
        berth_req_set_data(req, u);
        berth_req_on_done(req, upload_done, u);
    }
    if (berth_multipart_feed(u->mp, data, len) < 0)
        return berth_multipart_status(u->mp);
    return 0;
}

static void upload_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    struct upload *u = berth_req_data(req);
    if (berth_multipart_end(u->mp) < 0) {
        const char *why = berth_multipart_error(u->mp);
        berth_res_send(res, berth_multipart_status(u->mp), "text/plain", why, strlen(why));
        return;
    }
    out_printf(u, "parts=%u max_piece=%zu\n", berth_multipart_parts(u->mp), u->max_piece);
    send_text(res, 200, u->out, u->out_len);
}

/* GET /cookies */
static void cookies_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char name[256], out[8192];
    size_t len = 0;
    berth_str v;
    if (berth_req_query(req, "get", name, sizeof name) >= 0) {
        if (berth_req_cookie(req, name, &v) != 0)
            send_text(res, 404, "absent\n", 7);
        else
            send_text(res, 200, v.ptr, v.len);
        return;
    }
    size_t count = berth_req_header_count(req);
    for (size_t i = 0; i < count; i++) {
        berth_str hn, hv, n;
        berth_req_header_at(req, i, &hn, &hv);
        if (!berth_str_eq_nocase(hn, "Cookie"))
            continue;
        while (berth_cookie_next(&hv, &n, &v) == 0) {
            int k = snprintf(out + len, sizeof out - len, "%.*s=%.*s\n", (int)n.len, n.ptr,
                             (int)v.len, v.ptr);
            if (k > 0 && (size_t)k < sizeof out - len)
                len += (size_t)k;
        }
    }
    send_text(res, 200, out, len);
}

/* GET /set-cookie */
static void set_cookie_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char name[256], value[4200], path[1100], domain[1100], ss[16];
    berth_cookie c;
    berth_cookie_init(&c);
    if (berth_req_query(req, "name", name, sizeof name) >= 0)
        c.name = name;
    if (berth_req_query(req, "value", value, sizeof value) >= 0)
        c.value = value;
    if (berth_req_query(req, "path", path, sizeof path) >= 0)
        c.path = path;
    if (berth_req_query(req, "domain", domain, sizeof domain) >= 0)
        c.domain = domain;
    int64_t v;
    if (berth_req_query_int(req, "max_age", &v) == 0)
        c.max_age = v;
    if (berth_req_query_int(req, "expires", &v) == 0)
        c.expires = v;
    c.secure = berth_req_query_int(req, "secure", &v) == 0 && v;
    c.http_only = berth_req_query_int(req, "httponly", &v) == 0 && v;
    c.partitioned = berth_req_query_int(req, "partitioned", &v) == 0 && v;
    if (berth_req_query(req, "samesite", ss, sizeof ss) >= 0)
        c.same_site = !strcmp(ss, "strict") ? BERTH_SAMESITE_STRICT
                      : !strcmp(ss, "lax")  ? BERTH_SAMESITE_LAX
                      : !strcmp(ss, "none") ? BERTH_SAMESITE_NONE
                                            : 99;
    int rc = berth_res_cookie(res, &c);
    if (rc < 0) {
        const char *why = berth_strerror(rc);
        send_text(res, 400, why, strlen(why));
        return;
    }
    send_text(res, 200, "set\n", 4);
}

/* GET /encode */
static void encode_route(berth_req *req, berth_res *res, void *user)
{
    (void)user;
    char s[2048], out[3 * 2048 + 1], loc[3 * 2048 + 16];
    long n = berth_req_query(req, "s", s, sizeof s);
    if (n < 0) {
        send_text(res, 400, "no s\n", 5);
        return;
    }
    int64_t plus = 0;
    berth_req_query_int(req, "plus", &plus);
    long e = berth_url_encode(s, (size_t)n, out, sizeof out, (int)plus);
    if (e < 0) {
        send_text(res, 500, "no room\n", 8);
        return;
    }
    snprintf(loc, sizeof loc, "/files/%s", out);
    berth_res_header(res, "Location", loc);
    send_text(res, 200, out, (size_t)e);
}

void form_routes_add(berth_router *r, berth_config *cfg)
{
    upload_routes_add(r, cfg);
    berth_router_add(r, "POST", "/form", form_route, NULL);
    berth_route_opts up;
    berth_route_opts_init(&up);
    up.on_body = upload_body;
    up.max_body = 1ull << 30;
    berth_router_add_opts(r, "POST", "/upload-form", upload_route, NULL, &up);
    berth_router_add(r, "GET", "/cookies", cookies_route, NULL);
    berth_router_add(r, "GET", "/set-cookie", set_cookie_route, NULL);
    berth_router_add(r, "GET", "/encode", encode_route, NULL);
}
