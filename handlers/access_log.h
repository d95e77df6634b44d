/* berth-serve's access log (BERTH_ACCESS_LOG=1): one line per request to
 * stdout, in the Combined Log Format (the Common one with the request's
 * Referer and User-Agent, from berth_done_req_header) followed by the time
 * taken in seconds and, for a request not completed, its outcome and
 * reason (berth_done.reason):
 *   127.0.0.1 - - [10/Oct/2025:13:55:36 +0000] "GET /json/3 HTTP/1.1" 200 312 "-" "curl/7.88.1" 0.000215
 *   127.0.0.1 - - [10/Oct/2025:13:55:37 +0000] "GET /nope HTTP/1.1" 404 10 "-" "-" 0.000031 rejected no-route
 * An after hook (berth_config.after), built only on the public header. */
#ifndef HANDLERS_ACCESS_LOG_H
#define HANDLERS_ACCESS_LOG_H

#include <berth.h>

void access_log(const berth_done *done, void *user);

#endif
