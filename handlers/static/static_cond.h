/* Conditional and range requests for the static handler. */
#ifndef BERTH_STATIC_COND_H
#define BERTH_STATIC_COND_H

#include <berth.h>
#include <stdint.h>
#include <strings.h>
#include <time.h>

enum { RANGE_NONE, RANGE_OK, RANGE_UNSATISFIABLE };

/* 1 if If-None-Match (or, without it, If-Modified-Since) says the client's
 * copy is current: the answer is 304. */
int berth_static_not_modified(const berth_req *req, const char *etag, time_t mtime);
/* A single byte range of Range, if If-Range allows it: RANGE_OK and
 * *off and *len; RANGE_NONE to send the whole; RANGE_UNSATISFIABLE for 416. */
int berth_static_range(const berth_req *req, const char *etag, const char *last_modified,
                       uint64_t size, uint64_t *off, uint64_t *len);

#endif
