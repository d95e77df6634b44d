/* The ABI's helpers (abi.c): reading a struct of the application's whose
 * size it recorded (berth.h, "Structs and upgrades"), writing one berth
 * fills in. */
#ifndef BERTH_ABI_H
#define BERTH_ABI_H

#include <stddef.h>

#include "berth.h"

/* The size of T up to and including its member `last`. */
#define BERTH_SIZE_UPTO(T, last) (offsetof(T, last) + sizeof(((T *)0)->last))

/* The largest size a caller may record: more is a struct never filled by
 * its init macro (what its size member holds is left over), not read. */
#define BERTH_ABI_SIZE_MAX 4096

/* Copies the caller's struct `src` (its size recorded in its first member,
 * a size_t) over `dst`, which holds berth's defaults for all `dst_size`
 * bytes: the fields within the recorded size replace the defaults (an
 * older header's smaller struct keeps the defaults of the fields it
 * lacks), and dst's size becomes dst_size. 0, or BERTH_EINVAL when the
 * recorded size cannot be one an init macro wrote (below a size_t: 0 when
 * never initialised; above BERTH_ABI_SIZE_MAX), or names bytes beyond
 * dst_size that are not zero (fields of a newer berth.h this library does
 * not know, set to something). */
int berth_abi_read(void *dst, size_t dst_size, const void *src);

/* Writes berth's `src` of src_size bytes into the caller's struct of
 * dst_size bytes: as much as fits, zeros beyond what berth knows. */
void berth_abi_write(void *dst, size_t dst_size, const void *src, size_t src_size);

/* Fills the caller's struct `dst` of dst_size bytes from berth's
 * defaults `src` (src_size bytes), its size member set to dst_size: the
 * structs' init macros. */
void berth_abi_init(void *dst, size_t dst_size, void *src, size_t src_size);

#endif
