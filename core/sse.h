/* Server-sent events' framing (sse.c), shared with topics (topic.c),
 * which frame one event once for every subscriber. */
#ifndef BERTH_SSE_H
#define BERTH_SSE_H

#include <berth.h>
#include <stddef.h>

/* 1 if event or id holds a line break (it would break the framing). */
int berth_sse_fields_bad(const char *event, const char *id);
/* Bytes the frame of one event takes (at most: the size to allocate). */
size_t berth_sse_frame_size(const char *event, const char *id, const char *data, size_t len);
/* Writes the frame into buf (berth_sse_frame_size bytes); its length. */
size_t berth_sse_frame(char *buf, const char *event, const char *id, const char *data, size_t len);

#endif
