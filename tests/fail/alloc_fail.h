/* Allocation failure on demand (alloc_fail.c). */
#ifndef BERTH_TEST_ALLOC_FAIL_H
#define BERTH_TEST_ALLOC_FAIL_H

/* Reads BERTH_FAIL_ALLOC and hooks the shared libraries' allocators; call
 * first, before any of them allocates. 0, or -1 if a hook was refused. */
int alloc_fail_init(void);
/* Allocations counted so far. */
long alloc_fail_calls(void);
/* 1 once the allocation to refuse was refused. */
int alloc_fail_hit(void);
/* BERTH_FAIL_ALLOC's N (0: none). */
long alloc_fail_target(void);

#endif
