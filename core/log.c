#include "log.h"

#include <stdarg.h>
#include <stdio.h>

void berth_log_init(berth_log *log, berth_log_fn fn, void *user)
{
    log->fn = fn;
    log->user = user;
    atomic_init(&log->said, 0);
}

static void say(berth_log *log, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (log && log->fn)
        log->fn(msg, log->user);
    else
        fprintf(stderr, "%s\n", msg);
}

void berth_logf(berth_log *log, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(log, fmt, ap);
    va_end(ap);
}

void berth_log_once(berth_log *log, unsigned once, const char *fmt, ...)
{
    if (log && (atomic_fetch_or(&log->said, once) & once))
        return;
    va_list ap;
    va_start(ap, fmt);
    say(log, fmt, ap);
    va_end(ap);
}
