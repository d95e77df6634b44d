/* The field list walker (core/field_list.c): RFC 9110 5.6.1's examples,
 * quoted-strings, parameters (5.6.6), and what each user of it decides
 * with it (Connection, Transfer-Encoding, Vary, Accept-Encoding, media
 * type lists). */
#include <string.h>

#include "../../core/compress.h"
#include "../../core/field_list.h"
#include "test.h"

/* The elements of v joined by '|', e.g. "foo|bar". */
static const char *elements(const char *v)
{
    static char out[256];
    berth_list l = berth_list_of(v, strlen(v));
    berth_str item;
    size_t n = 0;
    out[0] = '\0';
    while (berth_list_next(&l, &item)) {
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%.*s", n ? "|" : "", (int)item.len,
                              item.ptr);
    }
    return out;
}

#define CHECK_STR(a, b)                                                                       \
    do {                                                                                      \
        const char *a_ = (a), *b_ = (b);                                                      \
        if (strcmp(a_, b_) != 0) {                                                            \
            fprintf(stderr, "  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__,   \
                    #a, a_, b_);                                                              \
            *failed = 1;                                                                      \
            return;                                                                           \
        }                                                                                     \
    } while (0)

TEST(list_rfc9110_examples)
{
    /* 5.6.1.2: valid, and how a recipient must read them */
    CHECK_STR(elements("foo,bar"), "foo|bar");
    CHECK_STR(elements("foo ,bar,"), "foo|bar");
    CHECK_STR(elements("foo , ,bar,charlie"), "foo|bar|charlie");
    /* ... and lists with no element, which are empty */
    CHECK_STR(elements(""), "");
    CHECK_STR(elements(","), "");
    CHECK_STR(elements(",   ,"), "");
    CHECK_STR(elements(" \t "), "");
}

TEST(list_ows_inside_an_element_stays)
{
    CHECK_STR(elements("\tgzip ;q=0.5 ,\t br"), "gzip ;q=0.5|br");
    CHECK_STR(elements("a b, c"), "a b|c");
}

TEST(list_commas_in_quoted_strings_do_not_split)
{
    CHECK_STR(elements("a;p=\"x,y\", b"), "a;p=\"x,y\"|b");
    CHECK_STR(elements("\"a,b\" , c"), "\"a,b\"|c");
    /* a quoted-pair: the escaped quote does not end the string */
    CHECK_STR(elements("a;p=\"x\\\",y\", b"), "a;p=\"x\\\",y\"|b");
    CHECK_STR(elements("a;p=\"x\\\\\",y"), "a;p=\"x\\\\\"|y");
    /* unterminated: the rest is one element */
    CHECK_STR(elements("a;p=\"x, b, c"), "a;p=\"x, b, c");
}

/* value and parameters of one element, as "value{name=val}{name=val}" or
 * with "!" where berth_param_next refused the rest. */
static const char *split(const char *v)
{
    static char out[256];
    berth_str item = {v, strlen(v)}, params, name, value;
    berth_str val = berth_list_value(item, &params);
    size_t n = (size_t)snprintf(out, sizeof out, "%.*s", (int)val.len, val.ptr);
    int rc;
    while ((rc = berth_param_next(&params, &name, &value)) > 0)
        n += (size_t)snprintf(out + n, sizeof out - n, "{%.*s=%.*s}", (int)name.len, name.ptr,
                              (int)value.len, value.ptr);
    if (rc < 0)
        snprintf(out + n, sizeof out - n, "!");
    return out;
}

TEST(list_parameters)
{
    CHECK_STR(split("gzip"), "gzip");
    CHECK_STR(split("gzip;q=0.5"), "gzip{q=0.5}");
    CHECK_STR(split("gzip ; q=0.5 ;level=1"), "gzip{q=0.5}{level=1}");
    CHECK_STR(split("text/html; charset=\"utf-8\""), "text/html{charset=\"utf-8\"}");
    CHECK_STR(split("a;p=\"x;y\";z=1"), "a{p=\"x;y\"}{z=1}");
    CHECK_STR(split("a;;b=1;"), "a{b=1}"); /* empty parameters */
    CHECK_STR(split("a;flag"), "a{flag=}");
    CHECK_STR(split("a; =1"), "a!");
    CHECK_STR(split("a;b="), "a!");
    CHECK_STR(split("a;b = 1"), "a!"); /* no whitespace around '=' (5.6.6) */
    CHECK_STR(split("a;b=1 2"), "a!");
    CHECK_STR(split("a;b=\"open"), "a!");
    CHECK_STR(split("a;b=\"x\\\""), "a!"); /* the last quote is escaped */
    CHECK_STR(split(" ;b=1"), "{b=1}");
}

TEST(list_has_whole_elements_ignoring_case)
{
    berth_str v = {"keep-alive, Close", 17};
    CHECK(berth_list_has(v, "close", 5));
    CHECK(berth_list_has(v, "KEEP-ALIVE", 10));
    berth_str w = {"closed, close;x, \"close\", xclose", 32};
    CHECK(!berth_list_has(w, "close", 5));
    berth_str q = {"a;p=\", close\"", 13};
    CHECK(!berth_list_has(q, "close", 5)); /* inside a quoted-string */
    berth_str e = {"", 0};
    CHECK(!berth_list_has(e, "close", 5));
}

TEST(list_media_type_patterns)
{
    const char *list = " text/* ,, application/json, application/*+json ,";
    CHECK(berth_comp_types_check(list) < 0);
    CHECK(berth_comp_type_matches(list, "text/html; charset=utf-8", 24));
    CHECK(berth_comp_type_matches(list, " Application/JSON ", 18));
    CHECK(berth_comp_type_matches(list, "application/problem+json", 24));
    CHECK(!berth_comp_type_matches(list, "application/jsonx", 17));
    CHECK(!berth_comp_type_matches(list, "image/png", 9));
    CHECK(!berth_comp_type_matches(list, "text", 4));
    const char *bad = "text/html, image/ png";
    CHECK_INT(berth_comp_types_check(bad), 11); /* where the bad entry starts */
    CHECK_INT(berth_comp_types_check("a/b, */x"), -1);
    CHECK(berth_comp_types_check("a/b, x") == 5);
}
