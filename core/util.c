/* Small public helpers: string comparison, URL decoding, reason phrases. */
#include <string.h>

#include "ascii.h"
#include "berth.h"

int berth_str_eq_nocase(berth_str s, const char *cstr)
{
    return berth_str_ieq(s, cstr, strlen(cstr));
}

int berth_str_eq_bytes(berth_str s, const char *cstr)
{
    size_t n = strlen(cstr);
    return s.len == n && (n == 0 || memcmp(s.ptr, cstr, n) == 0);
}

long berth_url_decode(const char *src, size_t len, char *dst, size_t cap, int plus_as_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len || (hi = berth_hex_value((unsigned char)src[i + 1])) < 0 ||
                (lo = berth_hex_value((unsigned char)src[i + 2])) < 0)
                return BERTH_EINVAL;
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_as_space) {
            c = ' ';
        }
        if (o + 1 >= cap)
            return BERTH_ENOSPC;
        dst[o++] = c;
    }
    if (cap == 0)
        return BERTH_ENOSPC;
    dst[o] = '\0';
    return (long)o;
}

const char *berth_status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}
