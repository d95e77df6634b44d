/* What completion callbacks learn beyond berth_done's fields (done.c):
 * the request's and the response's headers, and a copy of the request
 * for a deferred response, which outlives the request's memory. */
#ifndef BERTH_DONE_H
#define BERTH_DONE_H

#include "parse.h"

/* berth_done.priv: valid during the callbacks only. */
struct berth_done_priv {
    const berth_header *req;  /* the request's headers (nreq of them) */
    size_t nreq;
    const char *res;          /* the response's "Name: value\r\n" lines */
    size_t res_len;
    struct berth_exch *exch;  /* values, the request ID (exch.c) */
    struct berth_worker *w;
};

/* A request's method, target and headers copied into one allocation. */
typedef struct berth_req_kept {
    berth_str method, target;
    size_t nheaders;
    berth_header headers[];
} berth_req_kept;

/* The copy of head (free() it), or NULL when out of memory. */
berth_req_kept *berth_req_keep(const berth_head *head);

#endif
