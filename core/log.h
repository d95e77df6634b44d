/* berth's messages: to the configuration's log callback when the thread
 * is inside berth_server_new or berth_server_start of a server that has
 * one, else to stderr. */
#ifndef BERTH_LOG_H
#define BERTH_LOG_H

#include "berth.h"

/* Messages of this thread go to fn(user) until the next call (fn NULL:
 * stderr). */
void berth_log_use(berth_log_fn fn, void *user);
/* One message, printf-style, without the trailing newline. */
__attribute__((format(printf, 1, 2))) void berth_logf(const char *fmt, ...);

#endif
