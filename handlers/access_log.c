#include "access_log.h"

#include <stdio.h>
#include <time.h>

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
    /* One fprintf per line: stdio's lock keeps lines of threads apart. */
    if (d->method.len)
        fprintf(stdout, "%s - - [%s] \"%.*s %.*s HTTP/1.%d\" %d %s %.6f%s\n", peer, when,
                (int)d->method.len, d->method.ptr, (int)d->target.len, d->target.ptr,
                d->version_minor, d->status, bytes, (double)d->duration_us / 1e6,
                d->outcome == BERTH_DONE_ABORTED ? " aborted"
                : d->outcome == BERTH_DONE_STOPPED ? " stopped" : "");
    else
        fprintf(stdout, "%s - - [%s] \"-\" %d %s %.6f\n", peer, when, d->status, bytes,
                (double)d->duration_us / 1e6);
}
