/* core/cookie.c: the Cookie field walked and looked up (over several
 * Cookie fields, as HTTP/2 clients send them), Set-Cookie built with
 * each attribute, and every refusal RFC 6265bis asks for. */
#include "../../core/request.h"
#include "test.h"

TEST(cookie_next_walks_pairs)
{
    berth_str rest = {"a=1; b=\"two\";c=;  d = x y ;noeq; =v; e=\"\"", 40}, n, v;
    rest.len = strlen(rest.ptr);
    CHECK_INT(berth_cookie_next(&rest, &n, &v), 0);
    CHECK(berth_str_eq_bytes(n, "a") && berth_str_eq_bytes(v, "1"));
    CHECK_INT(berth_cookie_next(&rest, &n, &v), 0);
    CHECK(berth_str_eq_bytes(n, "b") && berth_str_eq_bytes(v, "two"));
    CHECK_INT(berth_cookie_next(&rest, &n, &v), 0);
    CHECK(berth_str_eq_bytes(n, "c") && v.len == 0);
    CHECK_INT(berth_cookie_next(&rest, &n, &v), 0);
    CHECK(berth_str_eq_bytes(n, "d") && berth_str_eq_bytes(v, "x y"));
    CHECK_INT(berth_cookie_next(&rest, &n, &v), 0); /* noeq and =v skipped */
    CHECK(berth_str_eq_bytes(n, "e") && v.len == 0);
    CHECK_INT(berth_cookie_next(&rest, &n, &v), BERTH_ENOENT);
    berth_str empty = {"", 0};
    CHECK_INT(berth_cookie_next(&empty, &n, &v), BERTH_ENOENT);
}

TEST(req_cookie_looks_in_every_cookie_field)
{
    struct berth_req *req = calloc(1, sizeof *req);
    CHECK(req);
    berth_header h[3] = {
        {{"Cookie", 6}, {"sid=abc; theme=dark", 19}},
        {{"Accept", 6}, {"lang=xx", 7}},
        {{"cookie", 6}, {"lang=en; sid=second", 19}},
    };
    req->head.headers = h;
    req->head.nheaders = 3;
    berth_str v;
    int ok = berth_req_cookie(req, "sid", &v) == 0 && berth_str_eq_bytes(v, "abc") &&
             berth_req_cookie(req, "lang", &v) == 0 && berth_str_eq_bytes(v, "en") &&
             berth_req_cookie(req, "theme", &v) == 0 && berth_str_eq_bytes(v, "dark") &&
             berth_req_cookie(req, "SID", &v) == BERTH_ENOENT &&
             berth_req_cookie(req, "the", &v) == BERTH_ENOENT;
    free(req);
    CHECK(ok);
}

TEST(cookie_format_attributes)
{
    berth_cookie c;
    berth_cookie_init(&c);
    char buf[512];
    c.name = "sid";
    c.value = "abc123";
    CHECK_INT(berth_cookie_format(&c, buf, sizeof buf), 10);
    CHECK(strcmp(buf, "sid=abc123") == 0);
    c.path = "/";
    c.domain = "example.com";
    c.max_age = 3600;
    c.expires = 784111777; /* RFC 9110's example date */
    c.secure = 1;
    c.http_only = 1;
    c.same_site = BERTH_SAMESITE_NONE;
    c.partitioned = 1;
    long n = berth_cookie_format(&c, buf, sizeof buf);
    const char *want = "sid=abc123; Path=/; Domain=example.com; Max-Age=3600; "
                       "Expires=Sun, 06 Nov 1994 08:49:37 GMT; Secure; HttpOnly; "
                       "SameSite=None; Partitioned";
    if (n < 0 || strcmp(buf, want) != 0)
        fprintf(stderr, "  got %ld: %s\n", n, buf);
    CHECK_INT(n, (long)strlen(want));
    CHECK(strcmp(buf, want) == 0);
    c.same_site = BERTH_SAMESITE_LAX;
    c.partitioned = 0;
    c.secure = 0;
    c.max_age = 0; /* removes it */
    c.expires = 0;
    c.domain = NULL;
    CHECK(berth_cookie_format(&c, buf, sizeof buf) > 0);
    CHECK(strcmp(buf, "sid=abc123; Path=/; Max-Age=0; HttpOnly; SameSite=Lax") == 0);
    c.same_site = BERTH_SAMESITE_STRICT;
    c.value = "\"quoted\"";
    c.path = NULL;
    c.http_only = 0;
    c.max_age = -1;
    CHECK(berth_cookie_format(&c, buf, sizeof buf) > 0);
    CHECK(strcmp(buf, "sid=\"quoted\"; SameSite=Strict") == 0);
    c.value = NULL;
    c.same_site = 0;
    CHECK_INT(berth_cookie_format(&c, buf, sizeof buf), 4);
    CHECK(strcmp(buf, "sid=") == 0);
    /* room: exactly, and one byte short (the NUL) */
    CHECK_INT(berth_cookie_format(&c, buf, 5), 4);
    CHECK_INT(berth_cookie_format(&c, buf, 4), BERTH_ENOSPC);
    CHECK_INT(berth_cookie_format(&c, buf, 0), BERTH_ENOSPC);
}

TEST(cookie_format_refusals)
{
    char buf[8192];
    static char big[4097];
    memset(big, 'v', 4096);
    static char longpath[1026];
    longpath[0] = '/';
    memset(longpath + 1, 'p', 1024);
    struct {
        const char *name, *value, *domain, *path;
        int64_t max_age, expires;
        int secure, same_site, partitioned;
    } bad[] = {
        {NULL, "v", NULL, NULL, -1, 0, 0, 0, 0},
        {"", "v", NULL, NULL, -1, 0, 0, 0, 0},
        {"a b", "v", NULL, NULL, -1, 0, 0, 0, 0},
        {"a=b", "v", NULL, NULL, -1, 0, 0, 0, 0},
        {"a;", "v", NULL, NULL, -1, 0, 0, 0, 0},
        {"a", "v w", NULL, NULL, -1, 0, 0, 0, 0},
        {"a", "v;w", NULL, NULL, -1, 0, 0, 0, 0},
        {"a", "v,w", NULL, NULL, -1, 0, 0, 0, 0},
        {"a", "v\\w", NULL, NULL, -1, 0, 0, 0, 0},
        {"a", "v\"w", NULL, NULL, -1, 0, 0, 0, 0},
        {"a", "\"v", NULL, NULL, -1, 0, 0, 0, 0},
        {"a", "v\r\nX: y", NULL, NULL, -1, 0, 0, 0, 0},
        {"a", "\x7f", NULL, NULL, -1, 0, 0, 0, 0},
        {"a", "\xc3\xa9", NULL, NULL, -1, 0, 0, 0, 0},
        {"a", big, NULL, NULL, -1, 0, 0, 0, 0},          /* 4097 with the name */
        {"a", "v", "ex ample.com", NULL, -1, 0, 0, 0, 0},
        {"a", "v", "example.com;x", NULL, -1, 0, 0, 0, 0},
        {"a", "v", "", NULL, -1, 0, 0, 0, 0},
        {"a", "v", NULL, "/a;b", -1, 0, 0, 0, 0},
        {"a", "v", NULL, "/a\nb", -1, 0, 0, 0, 0},
        {"a", "v", NULL, longpath, -1, 0, 0, 0, 0},
        {"a", "v", NULL, NULL, -2, 0, 0, 0, 0},
        {"a", "v", NULL, NULL, -1, -5, 0, 0, 0},
        {"a", "v", NULL, NULL, -1, INT64_C(253402300800), 0, 0, 0},
        {"a", "v", NULL, NULL, -1, 0, 0, BERTH_SAMESITE_NONE, 0},  /* None without Secure */
        {"a", "v", NULL, NULL, -1, 0, 0, 0, 1},                    /* Partitioned without */
        {"a", "v", NULL, NULL, -1, 0, 1, 4, 0},                    /* no such SameSite */
        {"__Secure-a", "v", NULL, NULL, -1, 0, 0, 0, 0},
        {"__Host-a", "v", NULL, "/", -1, 0, 0, 0, 0},
        {"__Host-a", "v", NULL, "/x", -1, 0, 1, 0, 0},
        {"__Host-a", "v", NULL, NULL, -1, 0, 1, 0, 0},
        {"__host-a", "v", "example.com", "/", -1, 0, 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        berth_cookie c;
        berth_cookie_init(&c);
        c.name = bad[i].name;
        c.value = bad[i].value;
        c.domain = bad[i].domain;
        c.path = bad[i].path;
        c.max_age = bad[i].max_age;
        c.expires = bad[i].expires;
        c.secure = bad[i].secure;
        c.same_site = bad[i].same_site;
        c.partitioned = bad[i].partitioned;
        long n = berth_cookie_format(&c, buf, sizeof buf);
        if (n != BERTH_EINVAL)
            fprintf(stderr, "  case %zu accepted: %s\n", i, n > 0 ? buf : "");
        CHECK_INT(n, BERTH_EINVAL);
    }
    /* the same, made right */
    berth_cookie c;
    berth_cookie_init(&c);
    c.name = "__Host-a";
    c.value = "v";
    c.path = "/";
    c.secure = 1;
    CHECK(berth_cookie_format(&c, buf, sizeof buf) > 0);
    c.name = "a";
    c.value = big + 2; /* 4094 + 1 bytes */
    CHECK(berth_cookie_format(&c, buf, sizeof buf) > 0);
    c.expires = INT64_C(253402300799);
    CHECK(berth_cookie_format(&c, buf, sizeof buf) > 0);
    CHECK(strstr(buf, "Expires=Fri, 31 Dec 9999 23:59:59 GMT"));
    /* not filled by its init macro */
    berth_cookie z;
    memset(&z, 0, sizeof z);
    z.name = "a";
    CHECK_INT(berth_cookie_format(&z, buf, sizeof buf), BERTH_EINVAL);
    CHECK_INT(berth_cookie_format(NULL, buf, sizeof buf), BERTH_EINVAL);
}

TEST(res_cookie_adds_the_header)
{
    struct berth_res res;
    berth_res_init(&res, NULL, NULL);
    berth_cookie c;
    berth_cookie_init(&c);
    c.name = "a";
    c.value = "1";
    c.http_only = 1;
    CHECK_INT(berth_res_cookie(&res, &c), 0);
    c.name = "b";
    c.same_site = BERTH_SAMESITE_NONE; /* refused: nothing added */
    CHECK_INT(berth_res_cookie(&res, &c), BERTH_EINVAL);
    c.secure = 1;
    CHECK_INT(berth_res_cookie(&res, &c), 0);
    int ok = res.hdr_len == strlen("Set-Cookie: a=1; HttpOnly\r\n"
                                   "Set-Cookie: b=1; Secure; HttpOnly; SameSite=None\r\n") &&
             memcmp(res.hdr, "Set-Cookie: a=1; HttpOnly\r\nSet-Cookie: b=1; Secure; HttpOnly; "
                             "SameSite=None\r\n", res.hdr_len) == 0;
    if (!ok)
        fprintf(stderr, "  headers: %.*s\n", (int)res.hdr_len, res.hdr);
    berth_res_release(&res);
    CHECK(ok);
}
