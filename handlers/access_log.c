#include "access_log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* A header value for a quoted field of the log: '"', '\' and bytes
 * outside printable ASCII as \xHH (as nginx writes them), so a client
 * cannot forge a line or a field; "-" when absent. */
static void quoted(char *out, size_t cap, int found, berth_str v)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (!found) {
        snprintf(out, cap, "-");
        return;
    }
    for (size_t i = 0; i < v.len && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

static const char *why(const berth_done *d)
{
    if (d->outcome == BERTH_DONE_COMPLETED)
        return "";
    switch (d->reason) {
    case BERTH_REASON_CLIENT_CLOSED: return " client-closed";
    case BERTH_REASON_CLIENT_RESET: return " client-reset";
    case BERTH_REASON_TLS: return " tls";
    case BERTH_REASON_HEADER_TIMEOUT: return " header-timeout";
    case BERTH_REASON_BODY_TIMEOUT: return " body-timeout";
    case BERTH_REASON_WRITE_TIMEOUT: return " write-timeout";
    case BERTH_REASON_LIMIT: return " limit";
    case BERTH_REASON_BAD_REQUEST: return " bad-request";
    case BERTH_REASON_NO_ROUTE: return " no-route";
    case BERTH_REASON_REFUSED: return " refused";
    case BERTH_REASON_STOP: return " stopped";
    case BERTH_REASON_INTERNAL: return " internal";
    default: return "";
    }
}

void access_log(const berth_done *d, void *user)
{
    (void)user;
    char when[40];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    const char *peer = d->peer && d->peer->text[0] ? d->peer->text : "-";
    char bytes[24] = "-";
    if (d->bytes_sent)
        snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)d->bytes_sent);
    berth_str v = {"", 0};
    char referer[512], agent[512];
    quoted(referer, sizeof referer, berth_done_req_header(d, "Referer", &v) == 0, v);
    quoted(agent, sizeof agent, berth_done_req_header(d, "User-Agent", &v) == 0, v);
    char id[72]; /* berth_req_id's: the proxy's X-Request-Id (BERTH_REQUEST_ID_HEADER), or berth's */
    if (berth_done_request_id(d, id, sizeof id) < 0)
        snprintf(id, sizeof id, "-");
    char idq[300];
    quoted(idq, sizeof idq, 1, (berth_str){id, strlen(id)});
    /* One fprintf per line: stdio's lock keeps lines of threads apart. */
    /* HTTP/2.0 for an h2 stream's (a library before 1.1 does not say) */
    int version = d->size >= offsetof(berth_done, http_version) + sizeof d->http_version &&
                          d->http_version
                      ? d->http_version
                      : 10 + d->version_minor;
    if (d->method.len)
        fprintf(stdout, "%s - - [%s] \"%.*s %.*s HTTP/%d.%d\" %d %s \"%s\" \"%s\" %.6f %s%s%s\n",
                peer, when, (int)d->method.len, d->method.ptr, (int)d->target.len, d->target.ptr,
                version / 10, version % 10, d->status, bytes, referer, agent,
                (double)d->duration_us / 1e6, idq,
                d->outcome == BERTH_DONE_ABORTED ? " aborted"
                : d->outcome == BERTH_DONE_STOPPED ? " stopped"
                : d->outcome == BERTH_DONE_REJECTED ? " rejected" : "",
                d->outcome == BERTH_DONE_STOPPED ? "" : why(d));
    else
        fprintf(stdout, "%s - - [%s] \"-\" %d %s \"-\" \"-\" %.6f %s rejected%s\n", peer, when,
                d->status, bytes, (double)d->duration_us / 1e6, idq, why(d));
}
