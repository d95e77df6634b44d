/* The ABI's helpers (abi.c): reading a struct of the application's whose
 * size it recorded (berth.h, "Structs and upgrades"), writing one berth
 * fills in. */
#ifndef BERTH_ABI_H
#define BERTH_ABI_H

#include <stddef.h>

#include "berth.h"

/* The size of T up to and including `last`: its size in release 1.0, the
 * smallest a caller may record. */
#define BERTH_SIZE_UPTO(T, last) (offsetof(T, last) + sizeof(((T *)0)->last))

/* Copies the caller's struct `src` (its size recorded in its first member,
 * a size_t) over `dst`, which holds berth's defaults for all `dst_size`
 * bytes: the fields within the recorded size replace the defaults, and
 * dst's size becomes dst_size. 0, or BERTH_EINVAL when the recorded size
 * is below `min` (0: never initialised) or names bytes beyond dst_size
 * that are not zero (fields of a newer berth.h this library does not
 * know, set to something). */
int berth_abi_read(void *dst, size_t dst_size, const void *src, size_t min);

/* Writes berth's `src` of src_size bytes into the caller's struct of
 * dst_size bytes: as much as fits, zeros beyond what berth knows. */
void berth_abi_write(void *dst, size_t dst_size, const void *src, size_t src_size);

/* Fills the caller's struct `dst` of dst_size bytes from berth's
 * defaults `src` (src_size bytes), its size member set to dst_size: the
 * structs' init macros. */
void berth_abi_init(void *dst, size_t dst_size, void *src, size_t src_size);

#endif
