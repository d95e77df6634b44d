/* core/multipart.c: parts, their headers and content, from bodies fed
 * whole, at every single split point and byte by byte (the same record
 * each time); the boundary from Content-Type; preamble, padding,
 * epilogue; each malformed body and each limit with its code and status;
 * a callback's refusal. */
#include <stdio.h>

#include "berth.h"
#include "test.h"

/* What the callbacks saw, as text: "P name|filename|type" (filename '-'
 * when absent), "D" and the content (pieces joined), "E". */
struct seen {
    char log[8192];
    size_t len;
    int in_data;
    int stop_at; /* on_part of this part number (1-based) refuses with 415 */
    int parts;
    size_t max_piece;
};

static void say(struct seen *s, const char *p, size_t n)
{
    if (s->len + n < sizeof s->log) {
        memcpy(s->log + s->len, p, n);
        s->len += n;
        s->log[s->len] = '\0';
    }
}

static int on_part(berth_multipart *mp, berth_str name, berth_str filename, berth_str type,
                   void *user)
{
    (void)mp;
    struct seen *s = user;
    char line[512];
    int n = snprintf(line, sizeof line, "P %.*s|%.*s|%.*s\n", (int)name.len, name.ptr,
                     filename.ptr ? (int)filename.len : 1, filename.ptr ? filename.ptr : "-",
                     (int)type.len, type.ptr);
    say(s, line, (size_t)n);
    s->in_data = 0;
    return ++s->parts == s->stop_at ? 415 : 0;
}

static int on_data(berth_multipart *mp, const char *p, size_t n, void *user)
{
    (void)mp;
    struct seen *s = user;
    if (!s->in_data)
        say(s, "D", 1);
    s->in_data = 1;
    if (n > s->max_piece)
        s->max_piece = n;
    say(s, p, n);
    return 0;
}

static int on_part_end(berth_multipart *mp, void *user)
{
    (void)mp;
    struct seen *s = user;
    say(s, "\nE\n", 3);
    s->in_data = 0;
    return 0;
}

static berth_multipart *make(const char *ctype, struct seen *s, unsigned max_parts,
                             size_t max_head, size_t max_total)
{
    berth_multipart_config cfg;
    berth_multipart_config_init(&cfg);
    cfg.on_part = on_part;
    cfg.on_data = on_data;
    cfg.on_part_end = on_part_end;
    if (max_parts)
        cfg.max_parts = max_parts;
    if (max_head)
        cfg.max_part_header = max_head;
    if (max_total)
        cfg.max_header_total = max_total;
    berth_str ct = {ctype, strlen(ctype)};
    return berth_multipart_new(ct, &cfg, s);
}

/* Feeds body in pieces cut at `cuts` (ascending offsets; NULL: whole;
 * cuts == (size_t *)1: byte by byte), then ends. The first failure of
 * feed, else end's answer. */
static int feed_cut(berth_multipart *mp, const char *body, size_t len, const size_t *cuts,
                    size_t ncuts, int bytewise)
{
    size_t off = 0;
    int rc = 0;
    if (bytewise) {
        for (; off < len && rc == 0; off++)
            rc = berth_multipart_feed(mp, body + off, 1);
    } else {
        for (size_t i = 0; i <= ncuts && rc == 0; i++) {
            size_t to = i < ncuts ? cuts[i] : len;
            rc = berth_multipart_feed(mp, body + off, to - off);
            off = to;
        }
    }
    return rc ? rc : berth_multipart_end(mp);
}

#define CT "multipart/form-data; boundary=XyZ"
static const char browser[] =
    "ignored preamble\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"title\"\r\n"
    "\r\n"
    "Hello, world\r\n"
    "--XyZ  \t\r\n" /* transport padding */
    "Content-Disposition: form-data; name=\"upload\"; filename=\"a b.txt\"\r\n"
    "Content-Type: text/plain\r\n"
    "X-Extra: yes\r\n"
    "\r\n"
    "line one\r\n--XyQ not a delimiter\r\n-\r\n--Xy\r\r\n\r\n" /* looks like it, is not */
    "\r\n--XyZ\r\n"
    "content-disposition: FORM-DATA; filename=\"\"; name=empty\r\n"
    "\r\n"
    "\r\n--XyZ--\r\n"
    "epilogue, also ignored\r\n--XyZ\r\n";
static const char browser_log[] =
    "P title|-|\nDHello, world\nE\n"
    "P upload|a b.txt|text/plain\n"
    "Dline one\r\n--XyQ not a delimiter\r\n-\r\n--Xy\r\r\n\r\n\nE\n"
    "P empty||\n\nE\n";

TEST(multipart_parts_whole)
{
    struct seen s = {0};
    berth_multipart *mp = make(CT, &s, 0, 0, 0);
    CHECK(mp);
    CHECK_INT(feed_cut(mp, browser, sizeof browser - 1, NULL, 0, 0), 0);
    CHECK_INT(berth_multipart_parts(mp), 3);
    CHECK_INT(berth_multipart_status(mp), 0);
    CHECK(strcmp(berth_multipart_error(mp), "") == 0);
    berth_multipart_free(mp);
    if (strcmp(s.log, browser_log) != 0)
        fprintf(stderr, "  got:\n%s\n", s.log);
    CHECK(strcmp(s.log, browser_log) == 0);
}

TEST(multipart_split_invariance)
{
    size_t len = sizeof browser - 1;
    struct seen s = {0};
    berth_multipart *mp = make(CT, &s, 0, 0, 0);
    CHECK(mp);
    CHECK_INT(feed_cut(mp, browser, len, NULL, 0, 1), 0);
    berth_multipart_free(mp);
    CHECK(strcmp(s.log, browser_log) == 0);
    CHECK(s.max_piece <= 7); /* a byte, or the delimiter's bytes held back: "\r\n--XyZ" */
    /* every single cut, and every pair of cuts */
    for (size_t a = 0; a <= len; a++) {
        for (size_t b = a; b <= len; b += (a % 7 == 0 ? 1 : 13)) {
            struct seen t = {0};
            size_t cuts[2] = {a, b};
            mp = make(CT, &t, 0, 0, 0);
            CHECK(mp);
            int rc = feed_cut(mp, browser, len, cuts, 2, 0);
            berth_multipart_free(mp);
            if (rc != 0 || strcmp(t.log, browser_log) != 0)
                fprintf(stderr, "  cuts at %zu, %zu: rc %d\n%s\n", a, b, rc, t.log);
            CHECK_INT(rc, 0);
            CHECK(strcmp(t.log, browser_log) == 0);
        }
    }
}

/* A large content goes out as it comes: no piece longer than what was fed. */
TEST(multipart_content_is_not_held)
{
    static char body[300000];
    size_t n = (size_t)snprintf(body, sizeof body,
                                "--XyZ\r\nContent-Disposition: form-data; name=f; "
                                "filename=big\r\n\r\n");
    size_t start = n;
    for (size_t i = 0; i < 256 * 1024; i++)
        body[n++] = (char)(i * 7 % 251 == 13 ? '\r' : 'a' + i % 26);
    memcpy(body + n, "\r\n--XyZ--", 9);
    n += 9;
    struct seen s = {0};
    berth_multipart *mp = make(CT, &s, 0, 0, 0);
    CHECK(mp);
    size_t fed = 0;
    int rc = 0;
    while (fed < n && rc == 0) {
        size_t k = n - fed < 1000 ? n - fed : 1000;
        rc = berth_multipart_feed(mp, body + fed, k);
        fed += k;
    }
    CHECK_INT(rc, 0);
    CHECK_INT(berth_multipart_end(mp), 0);
    berth_multipart_free(mp);
    CHECK(s.max_piece <= 1000);
    /* the log holds the start of it: "P f|big|\nD" then the content */
    CHECK(strncmp(s.log, "P f|big|\nD", 10) == 0);
    CHECK(memcmp(s.log + 10, body + start, 100) == 0);
}

TEST(multipart_boundary_from_content_type)
{
    struct seen s = {0};
    const char *bad[] = {
        "text/plain; boundary=x",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"",
        "multipart/form-data; boundary=\"a \"",   /* ends in a space */
        "multipart/form-data; boundary=\"a\\\"b\"", /* '"' is not a bchar */
        "multipart/form-data; boundary=a b",      /* not parameters */
        "multipart/form-data; boundary=\"unterminated",
        /* 71 characters */
        "multipart/form-data; boundary=12345678901234567890123456789012345678901234567890123456789012345678901",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        berth_multipart *mp = make(bad[i], &s, 0, 0, 0);
        if (mp)
            fprintf(stderr, "  accepted: %s\n", bad[i]);
        CHECK(!mp);
    }
    const char *good[] = {
        "multipart/form-data; boundary=XyZ",
        "Multipart/Form-Data;charset=utf-8;BOUNDARY=XyZ",
        "multipart/form-data; boundary=\"XyZ\"; boundary=other", /* the first */
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        struct seen t = {0};
        berth_multipart *mp = make(good[i], &t, 0, 0, 0);
        CHECK(mp);
        int rc = feed_cut(mp, browser, sizeof browser - 1, NULL, 0, 0);
        berth_multipart_free(mp);
        CHECK_INT(rc, 0);
        CHECK(strcmp(t.log, browser_log) == 0);
    }
    /* 70 characters, every class of bchars, quoted */
    const char *b70 = "multipart/form-data; boundary=\"a'()+_,-./:=? z"
                      "12345678901234567890123456789012345678901234567\"";
    const char *body70 = "--a'()+_,-./:=? z12345678901234567890123456789012345678901234567\r\n"
                         "Content-Disposition: form-data; name=x\r\n\r\nv\r\n"
                         "--a'()+_,-./:=? z12345678901234567890123456789012345678901234567--";
    struct seen t = {0};
    berth_multipart *mp = make(b70, &t, 0, 0, 0);
    CHECK(mp);
    CHECK_INT(feed_cut(mp, body70, strlen(body70), NULL, 0, 1), 0);
    berth_multipart_free(mp);
    CHECK(strcmp(t.log, "P x|-|\nDv\nE\n") == 0);
    /* and the config must come from its init macro */
    berth_multipart_config cfg;
    memset(&cfg, 0, sizeof cfg);
    berth_str ct = {CT, strlen(CT)};
    CHECK(!berth_multipart_new(ct, &cfg, NULL));
    CHECK(!berth_multipart_new(ct, NULL, NULL));
}

struct bad_case {
    const char *body;
    int rc, status;
};

TEST(multipart_malformed_bodies)
{
    const struct bad_case cases[] = {
        /* the final delimiter missing: only end() can tell */
        {"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue", BERTH_EINVAL, 400},
        {"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue\r\n--XyZ", BERTH_EINVAL, 400},
        {"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nvalue\r\n--XyZ-", BERTH_EINVAL, 400},
        {"", BERTH_EINVAL, 400},
        {"just a preamble", BERTH_EINVAL, 400},
        {"--XyZ--", BERTH_EINVAL, 400}, /* no part */
        /* bad lines */
        {"--XyZ\n", BERTH_EINVAL, 400},
        {"--XyZ\r\r\n", BERTH_EINVAL, 400},
        {"--XyZ x\r\n", BERTH_EINVAL, 400},
        {"--XyZ-x\r\n", BERTH_EINVAL, 400},
        {"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZ!", BERTH_EINVAL, 400},
        /* a line that begins with the delimiter (RFC 2046 5.1.1: it may not) */
        {"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZx\r\n--XyZ--",
         BERTH_EINVAL, 400},
        /* headers */
        {"--XyZ\r\n\r\nno headers\r\n--XyZ--", BERTH_EINVAL, 400},
        {"--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--", BERTH_EINVAL, 400},
        {"--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--XyZ--", BERTH_EINVAL, 400},
        {"--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--", BERTH_EINVAL, 400},
        {"--XyZ\r\nContent-Disposition: form-data; filename=f\r\n\r\nv\r\n--XyZ--", BERTH_EINVAL, 400},
        {"--XyZ\r\nContent-Disposition: form-data; name=a b\r\n\r\nv\r\n--XyZ--", BERTH_EINVAL, 400},
        {"--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--XyZ--", BERTH_EINVAL, 400},
        {"--XyZ\r\n Content-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZ--", BERTH_EINVAL, 400},
        {"--XyZ\r\nContent-Disposition: form-data; name=a\r\n folded\r\n\r\nv\r\n--XyZ--",
         BERTH_EINVAL, 400},
        {"--XyZ\r\nBad Name: x\r\nContent-Disposition: form-data; name=a\r\n\r\n", BERTH_EINVAL, 400},
        {"--XyZ\r\nX: a\nb\r\nContent-Disposition: form-data; name=a\r\n\r\n", BERTH_EINVAL, 400},
        {"--XyZ\r\nX: a\rb\r\nContent-Disposition: form-data; name=a\r\n\r\n", BERTH_EINVAL, 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len = strlen(cases[i].body);
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            struct seen s = {0};
            berth_multipart *mp = make(CT, &s, 0, 0, 0);
            CHECK(mp);
            int rc = feed_cut(mp, cases[i].body, len, NULL, 0, bytewise);
            int st = berth_multipart_status(mp);
            const char *why = berth_multipart_error(mp);
            if (rc != cases[i].rc || st != cases[i].status)
                fprintf(stderr, "  case %zu (%s): rc %d status %d (%s)\n", i,
                        bytewise ? "bytewise" : "whole", rc, st, why);
            CHECK_INT(rc, cases[i].rc);
            CHECK_INT(st, cases[i].status);
            CHECK(why[0] != '\0');
            /* the failure holds */
            CHECK_INT(berth_multipart_feed(mp, "--XyZ--", 7), rc);
            CHECK_INT(berth_multipart_end(mp), rc);
            berth_multipart_free(mp);
        }
    }
}

TEST(multipart_nul_in_a_header_value)
{
    static const char body[] = "--XyZ\r\nX: a\0b\r\nContent-Disposition: form-data; name=a\r\n\r\n";
    struct seen s = {0};
    berth_multipart *mp = make(CT, &s, 0, 0, 0);
    CHECK(mp);
    CHECK_INT(feed_cut(mp, body, sizeof body - 1, NULL, 0, 0), BERTH_EINVAL);
    berth_multipart_free(mp);
}

static const char three[] = "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
                            "--XyZ\r\nContent-Disposition: form-data; name=b\r\n\r\n2\r\n"
                            "--XyZ\r\nContent-Disposition: form-data; name=c\r\n\r\n3\r\n"
                            "--XyZ--";

TEST(multipart_limits)
{
    /* header section of a part: 45 bytes of field and 2+2 of CRLF = 49 */
    size_t head = strlen("Content-Disposition: form-data; name=a\r\n\r\n");
    struct {
        unsigned parts;
        size_t head, total;
        int rc, status, seen_parts;
    } cases[] = {
        {3, head, 3 * head, 0, 0, 3},                 /* just fits */
        {2, 0, 0, BERTH_ENOSPC, 413, 2},              /* a third part */
        {0, head - 1, 0, BERTH_ENOSPC, 413, 0},       /* one byte over */
        {0, 0, 3 * head - 1, BERTH_ENOSPC, 413, 2},   /* all together */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            struct seen s = {0};
            berth_multipart *mp = make(CT, &s, cases[i].parts, cases[i].head, cases[i].total);
            CHECK(mp);
            int rc = feed_cut(mp, three, sizeof three - 1, NULL, 0, bytewise);
            if (rc != cases[i].rc)
                fprintf(stderr, "  case %zu: rc %d (%s)\n", i, rc, berth_multipart_error(mp));
            CHECK_INT(rc, cases[i].rc);
            CHECK_INT(berth_multipart_status(mp), cases[i].status);
            CHECK_INT(s.parts, cases[i].seen_parts);
            berth_multipart_free(mp);
        }
    }
}

TEST(multipart_callback_refuses)
{
    struct seen s = {0};
    s.stop_at = 2;
    berth_multipart *mp = make(CT, &s, 0, 0, 0);
    CHECK(mp);
    CHECK_INT(feed_cut(mp, three, sizeof three - 1, NULL, 0, 0), BERTH_ESTATE);
    CHECK_INT(berth_multipart_status(mp), 415);
    CHECK_INT(s.parts, 2);
    if (strcmp(s.log, "P a|-|\nD1\nE\nP b|-|\n") != 0)
        fprintf(stderr, "  log: %s\n", s.log);
    CHECK(strcmp(s.log, "P a|-|\nD1\nE\nP b|-|\n") == 0); /* nothing after the refusal */
    berth_multipart_free(mp);
}

static berth_multipart *hdr_mp;
static int hdr_ok;

static int header_part(berth_multipart *mp, berth_str name, berth_str filename, berth_str type,
                       void *user)
{
    (void)name, (void)filename, (void)user;
    berth_str v;
    hdr_mp = mp;
    hdr_ok = berth_multipart_header(mp, "x-extra", &v) == 0 && berth_str_eq_bytes(v, "yes") &&
             berth_multipart_header(mp, "X-Missing", &v) == BERTH_ENOENT &&
             berth_multipart_header(mp, "content-type", &v) == 0 &&
             v.ptr == type.ptr && berth_str_eq_bytes(v, "text/plain");
    return hdr_ok ? 1 : 2; /* stop at the first part that has X-Extra, or any */
}

TEST(multipart_header_lookup)
{
    static const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=\"q\\\"\\\\\"\r\n"
                               "Content-Type:text/plain  \r\nX-Extra:   yes\r\n\r\nv\r\n--XyZ--";
    berth_multipart_config cfg;
    berth_multipart_config_init(&cfg);
    cfg.on_part = header_part;
    berth_str ct = {CT, strlen(CT)};
    berth_multipart *mp = berth_multipart_new(ct, &cfg, NULL);
    CHECK(mp);
    CHECK_INT(berth_multipart_feed(mp, body, sizeof body - 1), BERTH_ESTATE);
    CHECK(hdr_ok);
    CHECK_INT(berth_multipart_status(mp), 400); /* 1 is no status */
    berth_str v;
    CHECK_INT(berth_multipart_header(mp, "X-Extra", &v), BERTH_ENOENT); /* outside on_part */
    berth_multipart_free(mp);
}

static berth_str quoted_name;
static char quoted_buf[32];
static int quoted_part(berth_multipart *mp, berth_str name, berth_str filename, berth_str type,
                       void *user)
{
    (void)mp, (void)filename, (void)type, (void)user;
    memcpy(quoted_buf, name.ptr, name.len < 31 ? name.len : 31);
    quoted_name.ptr = quoted_buf;
    quoted_name.len = name.len;
    return 0;
}

TEST(multipart_quoted_name)
{
    static const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=\"q\\\"\\\\;x\"\r\n"
                               "\r\nv\r\n--XyZ--";
    berth_multipart_config cfg;
    berth_multipart_config_init(&cfg);
    cfg.on_part = quoted_part;
    berth_str ct = {CT, strlen(CT)};
    berth_multipart *mp = berth_multipart_new(ct, &cfg, NULL);
    CHECK(mp);
    CHECK_INT(berth_multipart_feed(mp, body, sizeof body - 1), 0);
    CHECK_INT(berth_multipart_end(mp), 0);
    berth_multipart_free(mp);
    CHECK(berth_str_eq_bytes(quoted_name, "q\"\\;x"));
}
