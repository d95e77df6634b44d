#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local berth_log_fn log_fn;
static _Thread_local void *log_user;

void berth_log_use(berth_log_fn fn, void *user)
{
    log_fn = fn;
    log_user = user;
}

void berth_logf(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_fn)
        log_fn(msg, log_user);
    else
        fprintf(stderr, "%s\n", msg);
}
