/* A worker's notion of time: a monotonic millisecond counter for deadlines
 * and the HTTP Date header, formatted at most once a second. Backends call
 * berth_clock_update once per loop iteration; both clocks are read through
 * the vDSO, so no system call is made. */
#ifndef BERTH_CLOCK_H
#define BERTH_CLOCK_H

#include <stdint.h>
#include <time.h>

/* The clocks read at every batch: the kernel's coarse ones where they
 * exist (a vDSO read at tick resolution, all that millisecond deadlines and
 * the Date header need), FreeBSD's _FAST ones, else the precise ones
 * (macOS). */
#if defined(CLOCK_MONOTONIC_COARSE)
#define BERTH_CLOCK_MONOTONIC_CHEAP CLOCK_MONOTONIC_COARSE
#define BERTH_CLOCK_REALTIME_CHEAP CLOCK_REALTIME_COARSE
#elif defined(CLOCK_MONOTONIC_FAST)
#define BERTH_CLOCK_MONOTONIC_CHEAP CLOCK_MONOTONIC_FAST
#define BERTH_CLOCK_REALTIME_CHEAP CLOCK_REALTIME_FAST
#else
#define BERTH_CLOCK_MONOTONIC_CHEAP CLOCK_MONOTONIC
#define BERTH_CLOCK_REALTIME_CHEAP CLOCK_REALTIME
#endif

#define BERTH_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

typedef struct berth_clock {
    uint64_t now_ms;              /* monotonic */
    time_t date_sec;              /* second the date string was made for */
    char date[BERTH_DATE_LEN + 1];
} berth_clock;

void berth_clock_update(berth_clock *clock);
/* The precise monotonic clock in microseconds (a vDSO read, about 20 ns):
 * for durations, where the cheap clock's tick is too coarse. */
uint64_t berth_clock_precise_us(void);
/* Formats an IMF-fixdate (RFC 9110 5.6.7) of t into out (30 bytes). */
void berth_clock_format_date(time_t t, char *out);

#endif
