/* core/form.c: berth_url_encode against berth_url_decode (every byte, both
 * space forms), and urlencoded forms: walking pairs, lookups by decoded
 * name, bad escapes, the caller's room, the request's buffered body. */
#include "../../core/request.h"
#include "test.h"

TEST(url_encode_leaves_only_unreserved_bytes)
{
    char in[256], out[3 * 256 + 1], back[257];
    for (int i = 0; i < 256; i++)
        in[i] = (char)i;
    long n = berth_url_encode(in, 256, out, sizeof out, 0);
    /* 66 unreserved bytes stay, 190 become three each */
    CHECK_INT(n, 66 + 190 * 3);
    CHECK_INT(out[n], '\0');
    for (long i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '.' || c == '_' || c == '~' || c == '%';
        CHECK(ok);
    }
    CHECK_INT(berth_url_decode(out, (size_t)n, back, sizeof back, 0), 256);
    CHECK(memcmp(back, in, 256) == 0);
    /* '+' must be encoded for a '+'-as-space decoder to read it back */
    CHECK_INT(berth_url_encode("a b+c/d?e&f=g%h~", 16, out, sizeof out, 1), 28);
    CHECK(strcmp(out, "a+b%2Bc%2Fd%3Fe%26f%3Dg%25h~") == 0);
    CHECK_INT(berth_url_decode(out, 28, back, sizeof back, 1), 16);
    CHECK(strcmp(back, "a b+c/d?e&f=g%h~") == 0);
    CHECK_INT(berth_url_encode("a b", 3, out, sizeof out, 0), 5);
    CHECK(strcmp(out, "a%20b") == 0);
    CHECK_INT(berth_url_encode("\xc3\xa9", 2, out, sizeof out, 0), 6);
    CHECK(strcmp(out, "%C3%A9") == 0);
}

TEST(url_encode_room)
{
    char out[8];
    CHECK_INT(berth_url_encode("", 0, out, 0, 0), BERTH_ENOSPC);
    CHECK_INT(berth_url_encode("", 0, out, 1, 0), 0);
    CHECK_INT(berth_url_encode("abc", 3, out, 3, 0), BERTH_ENOSPC); /* no room for NUL */
    CHECK_INT(berth_url_encode("abc", 3, out, 4, 0), 3);
    CHECK_INT(berth_url_encode("a/", 2, out, 4, 0), BERTH_ENOSPC);  /* %2F cut */
    CHECK_INT(berth_url_encode("a/", 2, out, 5, 0), 4);
    CHECK(strcmp(out, "a%2F") == 0);
}

TEST(form_next_walks_pairs)
{
    berth_str rest = {"&a=1&&b&=x&c=&", 14}, n, v;
    CHECK_INT(berth_form_next(&rest, &n, &v), 0);
    CHECK(berth_str_eq_bytes(n, "a") && berth_str_eq_bytes(v, "1"));
    CHECK_INT(berth_form_next(&rest, &n, &v), 0);
    CHECK(berth_str_eq_bytes(n, "b") && v.len == 0);
    CHECK_INT(berth_form_next(&rest, &n, &v), 0);
    CHECK(n.len == 0 && berth_str_eq_bytes(v, "x"));
    CHECK_INT(berth_form_next(&rest, &n, &v), 0);
    CHECK(berth_str_eq_bytes(n, "c") && v.len == 0);
    CHECK_INT(berth_form_next(&rest, &n, &v), BERTH_ENOENT);
    CHECK_INT(berth_form_next(&rest, &n, &v), BERTH_ENOENT);
    berth_str empty = {"", 0};
    CHECK_INT(berth_form_next(&empty, &n, &v), BERTH_ENOENT);
}

TEST(form_value_decodes_names_and_values)
{
    const char *f = "user+name=J%C3%B6rg+M&tags%5B%5D=a&tags%5B%5D=b&e=x%3Dy%26z&plus=%2B";
    berth_str form = {f, strlen(f)};
    char buf[64];
    CHECK_INT(berth_form_value(form, "user name", buf, sizeof buf), 7);
    CHECK(strcmp(buf, "J\xc3\xb6rg M") == 0);
    CHECK_INT(berth_form_value(form, "tags[]", buf, sizeof buf), 1);
    CHECK(strcmp(buf, "a") == 0); /* the first */
    CHECK_INT(berth_form_value(form, "e", buf, sizeof buf), 5);
    CHECK(strcmp(buf, "x=y&z") == 0);
    CHECK_INT(berth_form_value(form, "plus", buf, sizeof buf), 1);
    CHECK(strcmp(buf, "+") == 0);
    CHECK_INT(berth_form_value(form, "missing", buf, sizeof buf), BERTH_ENOENT);
    CHECK_INT(berth_form_value(form, "user", buf, sizeof buf), BERTH_ENOENT); /* whole names */
    CHECK_INT(berth_form_value(form, "user name", buf, 7), BERTH_ENOSPC);
}

TEST(form_value_refuses_bad_escapes)
{
    char buf[32];
    berth_str v = {"a=%zz", 5};
    CHECK_INT(berth_form_value(v, "a", buf, sizeof buf), BERTH_EINVAL);
    berth_str cut = {"a=1%2", 5};
    CHECK_INT(berth_form_value(cut, "a", buf, sizeof buf), BERTH_EINVAL);
    /* a name that does not decode, before the one asked for, is an error;
     * after it, the lookup has its answer already */
    berth_str before = {"%g=1&a=2", 8};
    CHECK_INT(berth_form_value(before, "a", buf, sizeof buf), BERTH_EINVAL);
    berth_str after = {"a=2&%g=1", 8};
    CHECK_INT(berth_form_value(after, "a", buf, sizeof buf), 1);
    berth_str nul = {"a%00b=1", 7};
    CHECK_INT(berth_form_value(nul, "a", buf, sizeof buf), BERTH_ENOENT);
}

TEST(req_form_reads_the_buffered_body)
{
    struct berth_req *req = calloc(1, sizeof *req);
    CHECK(req);
    char buf[16];
    CHECK_INT(berth_req_form(req, "a", buf, sizeof buf), BERTH_ENOENT); /* no body */
    static const char body[] = "a=1&b=two+words";
    req->body = body;
    req->body_len = sizeof body - 1;
    long n = berth_req_form(req, "b", buf, sizeof buf);
    int ok = n == 9 && strcmp(buf, "two words") == 0;
    free(req);
    CHECK(ok);
}
