/* On-the-fly compression of in-memory response bodies (gzip, with
 * libdeflate): the decision (client, status, type, size, the handler's own
 * coding), the headers it implies (Content-Encoding, Vary, a weakened
 * ETag) and the bytes. Bytes to bytes only; the compressor and its output
 * buffers belong to the worker, so a compressed response costs no malloc
 * once the worker is warm. */
#ifndef BERTH_COMPRESS_H
#define BERTH_COMPRESS_H

#include <stddef.h>

struct berth_worker;
struct berth_req;
struct berth_res;

/* The types compressed when berth_config.compress_types is NULL. */
extern const char berth_comp_default_types[];

/* Applies the server's compression rule to a response before it is
 * serialized: may replace res's body with its gzip form and add headers.
 * The client's weight for gzip comes from req, or (req NULL: a deferred
 * response, whose request is gone) is gzip_q. Never fails the response:
 * without memory it stays as it is. */
void berth_comp_apply(struct berth_worker *w, const struct berth_req *req, int gzip_q,
                      struct berth_res *res);
/* 1 if the media type (parameters allowed) matches the comma-separated
 * list of patterns: type and subtype, where a subtype `*` is any and
 * `*+suffix` any ending in +suffix, and a type `*` is any. */
int berth_comp_type_matches(const char *list, const char *type, size_t len);
/* -1 if every entry of a type list is well formed, else the offset of the
 * first bad one (for the configuration's message). */
long berth_comp_types_check(const char *list);
/* Frees the worker's compressor. */
void berth_comp_free(struct berth_worker *w);

#endif
