/* Server-sent events over a deferred response (WHATWG HTML, section
 * "Server-sent events"). Built only on the public API. */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

static void keepalive(berth_stream *s, void *arg)
{
    (void)arg;
    static const char comment[] = ": keep-alive\n\n";
    berth_stream_write(s, comment, sizeof comment - 1); /* full buffer: skip one */
}

berth_stream *berth_sse_start(berth_res *res, unsigned keepalive_ms)
{
    berth_res_header(res, "Cache-Control", "no-cache");
    berth_stream *s = berth_res_defer(res);
    if (!s)
        return NULL;
    berth_stream_start(s, 200, "text/event-stream");
    if (keepalive_ms)
        berth_stream_timer(s, keepalive_ms, keepalive_ms, keepalive, NULL);
    return s;
}

static int has_line_break(const char *s)
{
    return s && (strchr(s, '\n') || strchr(s, '\r'));
}

int berth_sse_fields_bad(const char *event, const char *id)
{
    return has_line_break(event) || has_line_break(id);
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

size_t berth_sse_frame_size(const char *event, const char *id, const char *data, size_t len)
{
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        if (data[i] == '\n' || (data[i] == '\r' && !(i + 1 < len && data[i + 1] == '\n')))
            lines++;
    return len + lines * 7 + 1 + (event ? strlen(event) + 8 : 0) + (id ? strlen(id) + 5 : 0);
}

size_t berth_sse_frame(char *buf, const char *event, const char *id, const char *data, size_t len)
{
    char *p = buf;
    if (event) {
        p = put(p, "event: ", 7);
        p = put(p, event, strlen(event));
        *p++ = '\n';
    }
    if (id) {
        p = put(p, "id: ", 4);
        p = put(p, id, strlen(id));
        *p++ = '\n';
    }
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && data[i] != '\n' && data[i] != '\r')
            continue;
        p = put(p, "data: ", 6);
        p = put(p, data + start, i - start);
        *p++ = '\n';
        if (i < len && data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    *p++ = '\n';
    return (size_t)(p - buf);
}

int berth_sse_send(berth_stream *s, const char *event, const char *id, const char *data,
                   size_t len)
{
    if (berth_sse_fields_bad(event, id))
        return BERTH_EINVAL; /* would break the framing */
    char *buf = malloc(berth_sse_frame_size(event, id, data, len));
    if (!buf)
        return BERTH_ENOMEM;
    int rc = berth_stream_write(s, buf, berth_sse_frame(buf, event, id, data, len));
    free(buf);
    return rc;
}
