/* berth_req_accept_encoding: q-values, "*", identity, x-gzip, repeated
 * fields, malformed elements. */
#include <stdlib.h>
#include <string.h>

#include "../../core/request.h"
#include "test.h"

/* A request with the given Accept-Encoding values (NULL-terminated). */
static struct berth_req *req_with(const char *const *values)
{
    size_t n = 0;
    while (values[n])
        n++;
    struct berth_req *r = calloc(1, sizeof *r + (n + 1) * sizeof(berth_header));
    r->head.headers = r->headers;
    r->head.max_headers = n + 1;
    r->headers[0].name = (berth_str){"Host", 4};
    r->headers[0].value = (berth_str){"a", 1};
    for (size_t i = 0; i < n; i++) {
        r->headers[i + 1].name = (berth_str){"accept-ENCODING", 15};
        r->headers[i + 1].value = (berth_str){values[i], strlen(values[i])};
    }
    r->head.nheaders = n + 1;
    return r;
}

static int q_of(const char *value, const char *coding)
{
    const char *v[] = {value, NULL};
    struct berth_req *r = req_with(value ? v : v + 1);
    int q = berth_req_accept_encoding(r, coding);
    free(r);
    return q;
}

TEST(accept_without_the_field_only_identity)
{
    CHECK_INT(q_of(NULL, "gzip"), 0);
    CHECK_INT(q_of(NULL, "identity"), 1000);
}

TEST(accept_listed_codings_get_their_weight)
{
    CHECK_INT(q_of("gzip, deflate, br", "br"), 1000);
    CHECK_INT(q_of("br;q=1, gzip;q=0.8", "gzip"), 800);
    CHECK_INT(q_of("br;q=1, gzip;q=0.8", "br"), 1000);
    CHECK_INT(q_of("gzip;q=0.125", "gzip"), 125);
    CHECK_INT(q_of("gzip ; Q=0.5", "gzip"), 500);
    CHECK_INT(q_of("GZIP", "gzip"), 1000);
    CHECK_INT(q_of("x-gzip", "gzip"), 1000);
    CHECK_INT(q_of("gzip", "br"), 0);
}

TEST(accept_q_zero_refuses)
{
    CHECK_INT(q_of("gzip;q=0", "gzip"), 0);
    CHECK_INT(q_of("gzip;q=0.000", "gzip"), 0);
    CHECK_INT(q_of("*;q=0", "identity"), 0);
    CHECK_INT(q_of("identity;q=0, *", "identity"), 0);
}

TEST(accept_star_covers_what_is_not_named)
{
    CHECK_INT(q_of("*", "br"), 1000);
    CHECK_INT(q_of("*;q=0.3", "gzip"), 300);
    CHECK_INT(q_of("gzip;q=0, *", "gzip"), 0);
    CHECK_INT(q_of("br, *;q=0", "gzip"), 0);
    CHECK_INT(q_of("br, *;q=0", "br"), 1000);
}

TEST(accept_identity_is_fine_unless_refused)
{
    CHECK_INT(q_of("gzip", "identity"), 1000);
    CHECK_INT(q_of("", "identity"), 1000);
    CHECK_INT(q_of("", "gzip"), 0);
}

TEST(accept_repeated_fields_are_one_list)
{
    const char *v[] = {"br;q=0.1", "gzip;q=0.9", NULL};
    struct berth_req *r = req_with(v);
    CHECK_INT(berth_req_accept_encoding(r, "gzip"), 900);
    CHECK_INT(berth_req_accept_encoding(r, "br"), 100);
    free(r);
}

TEST(accept_malformed_elements_are_ignored)
{
    CHECK_INT(q_of("gzip;q=2", "gzip"), 0);
    CHECK_INT(q_of("gzip;q=1.5", "gzip"), 0);
    CHECK_INT(q_of("gzip;q=0.1234", "gzip"), 0);
    CHECK_INT(q_of("gzip;q=", "gzip"), 0);
    CHECK_INT(q_of("gzip;q=abc, br", "br"), 1000);
    CHECK_INT(q_of("gzip x", "gzip"), 0);
    CHECK_INT(q_of(",,, gzip ,", "gzip"), 1000);
    CHECK_INT(q_of("gzip;level=1", "gzip"), 1000); /* other params: no weight */
    CHECK_INT(q_of("gzi", "gzip"), 0);
    CHECK_INT(q_of("gzipp", "gzip"), 0);
}
