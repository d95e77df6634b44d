#include "clock.h"

#include <string.h>

static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

void berth_clock_format_date(time_t t, char *out)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    memcpy(out, days[tm.tm_wday], 3);
    out[3] = ',';
    out[4] = ' ';
    put2(out + 5, tm.tm_mday);
    out[7] = ' ';
    memcpy(out + 8, months[tm.tm_mon], 3);
    out[11] = ' ';
    int year = tm.tm_year + 1900;
    put2(out + 12, year / 100 % 100);
    put2(out + 14, year % 100);
    out[16] = ' ';
    put2(out + 17, tm.tm_hour);
    out[19] = ':';
    put2(out + 20, tm.tm_min);
    out[22] = ':';
    put2(out + 23, tm.tm_sec);
    memcpy(out + 25, " GMT", 4);
    out[BERTH_DATE_LEN] = '\0';
}


void berth_clock_update(berth_clock *clock)
{
    struct timespec ts;
    clock_gettime(BERTH_CLOCK_MONOTONIC_CHEAP, &ts);
    clock->now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    clock_gettime(BERTH_CLOCK_REALTIME_CHEAP, &ts);
    if (ts.tv_sec != clock->date_sec) {
        clock->date_sec = ts.tv_sec;
        berth_clock_format_date(ts.tv_sec, clock->date);
    }
}

uint64_t berth_clock_precise_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
