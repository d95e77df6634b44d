/* berth-serve's access log (BERTH_ACCESS_LOG=1): one line per request to
 * stdout, in the Common Log Format followed by the time taken in seconds:
 *   127.0.0.1 - - [10/Oct/2025:13:55:36 +0000] "GET /json/3 HTTP/1.1" 200 312 0.000215
 * An after hook (berth_config.after), built only on the public header. */
#ifndef HANDLERS_ACCESS_LOG_H
#define HANDLERS_ACCESS_LOG_H

#include <berth.h>

void access_log(const berth_done *done, void *user);

#endif
