/* The PROXY protocol header parser (v1 text, v2 binary). */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "../../core/proxy.h"
#include "test.h"

static long parse(const char *buf, size_t len, struct sockaddr_storage *p,
                  struct sockaddr_storage *l)
{
    return berth_proxy_parse(buf, len, p, l);
}

TEST(proxy_v1_tcp4_gives_both_addresses)
{
    struct sockaddr_storage p, l;
    const char h[] = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\nGET";
    CHECK_INT(parse(h, sizeof h - 1, &p, &l), sizeof h - 4);
    struct sockaddr_in *pi = (struct sockaddr_in *)&p, *li = (struct sockaddr_in *)&l;
    CHECK_INT(p.ss_family, AF_INET);
    CHECK_INT(ntohs(pi->sin_port), 56324);
    CHECK_INT(ntohs(li->sin_port), 443);
    CHECK_INT(ntohl(pi->sin_addr.s_addr), 0xC0000207);
}

TEST(proxy_v1_tcp6_and_unknown)
{
    struct sockaddr_storage p, l;
    const char h[] = "PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n";
    CHECK_INT(parse(h, sizeof h - 1, &p, &l), sizeof h - 1);
    CHECK_INT(p.ss_family, AF_INET6);
    const char u[] = "PROXY UNKNOWN whatever\r\n";
    CHECK_INT(parse(u, sizeof u - 1, &p, &l), sizeof u - 1);
    CHECK_INT(p.ss_family, AF_UNSPEC);
}

TEST(proxy_v1_incomplete_waits_bad_refused)
{
    struct sockaddr_storage p, l;
    CHECK_INT(parse("PRO", 3, &p, &l), 0);
    CHECK_INT(parse("PROXY TCP4 1.2.3.4", 18, &p, &l), 0);
    CHECK_INT(parse("GET / HTTP/1.1\r\n", 16, &p, &l), -1);
    const char *bad[] = {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n",
                         "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
                         "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INT(parse(bad[i], strlen(bad[i]), &p, &l), -1);
    char longline[200];
    memset(longline, 'x', sizeof longline);
    memcpy(longline, "PROXY ", 6);
    CHECK_INT(parse(longline, sizeof longline, &p, &l), -1); /* no CRLF within 107 bytes */
}

/* Found by fuzz-proxy: inet_pton stops at a NUL, so an address field with
 * one inside ("::fff\0junk") read as the address before it. */
TEST(proxy_v1_address_with_nul_or_cr_refused)
{
    struct sockaddr_storage p, l;
    const char h[] = "PROXY TCP6 ::1 ::fff\0\0b\xd0\x04\x11" "D\rf:1.2.3.4 65535 1\r\n";
    CHECK_INT(parse(h, sizeof h - 1, &p, &l), -1);
    const char h4[] = "PROXY TCP4 1.2.3.4\0x 5.6.7.8 1 2\r\n";
    CHECK_INT(parse(h4, sizeof h4 - 1, &p, &l), -1);
}

static size_t v2(char *b, int cmd, int fam, const unsigned char *addr, size_t alen)
{
    memcpy(b, "\r\n\r\n\0\r\nQUIT\n", 12);
    b[12] = (char)(0x20 | cmd);
    b[13] = (char)fam;
    b[14] = (char)(alen >> 8);
    b[15] = (char)alen;
    if (alen)
        memcpy(b + 16, addr, alen);
    return 16 + alen;
}

TEST(proxy_v2_tcp4_local_and_bad_version)
{
    struct sockaddr_storage p, l;
    char b[64];
    const unsigned char a4[12] = {10, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x90, 0x01, 0xbb};
    size_t n = v2(b, 1, 0x11, a4, sizeof a4);
    CHECK_INT(parse(b, n, &p, &l), (long)n);
    CHECK_INT(p.ss_family, AF_INET);
    CHECK_INT(ntohs(((struct sockaddr_in *)&p)->sin_port), 8080);
    CHECK_INT(ntohs(((struct sockaddr_in *)&l)->sin_port), 443);
    CHECK_INT(parse(b, n - 1, &p, &l), 0);
    n = v2(b, 0, 0x00, NULL, 0);
    CHECK_INT(parse(b, n, &p, &l), 16); /* LOCAL: the socket's addresses stand */
    CHECK_INT(p.ss_family, AF_UNSPEC);
    b[12] = 0x11; /* version 1 in a v2 header */
    CHECK_INT(parse(b, n, &p, &l), -1);
}
