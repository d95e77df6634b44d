/* Content-Type from a file name's extension. */
#include <string.h>
#include <strings.h>

#include "static_impl.h"

static const struct {
    const char *ext, *type;
} types[] = {
    {"html", "text/html; charset=utf-8"},       {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},         {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},  {"json", "application/json; charset=utf-8"},
    {"map", "application/json; charset=utf-8"}, {"txt", "text/plain; charset=utf-8"},
    {"xml", "application/xml; charset=utf-8"},  {"svg", "image/svg+xml; charset=utf-8"},
    {"png", "image/png"},                       {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},                     {"gif", "image/gif"},
    {"webp", "image/webp"},                     {"avif", "image/avif"},
    {"ico", "image/x-icon"},                    {"woff", "font/woff"},
    {"woff2", "font/woff2"},                    {"ttf", "font/ttf"},
    {"wasm", "application/wasm"},               {"pdf", "application/pdf"},
};

const char *berth_static_type(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash + 1 : name, '.');
    if (dot && dot[1])
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}
