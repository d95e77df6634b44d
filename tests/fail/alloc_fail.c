/* Allocation failure on demand, as SQLite's tests inject it: every
 * allocation of the program is counted, and the Nth one fails
 * (BERTH_FAIL_ALLOC=N; 0 or unset: none fails).
 *
 * Counted: malloc, calloc, realloc and strdup called from the objects
 * linked into the program (berth's internal library and the program: the
 * linker wraps them, -Wl,--wrap=...), and the allocations of the shared
 * libraries berth uses, through their own allocator hooks: wolfSSL
 * (wolfSSL_SetAllocators), libuv (uv_replace_allocator) and libdeflate
 * (libdeflate_set_memory_allocator). libc's own allocations (inside
 * pthread_create, say) are not, nor libuv's reallocs: libuv grows its
 * table of watched descriptors with realloc and aborts when that fails
 * (unix/core.c, maybe_resize), by design. */
#include "alloc_fail.h"

#include <stdlib.h> /* first: FreeBSD 13's execinfo.h needs its sys/cdefs.h */

#include <execinfo.h>
#include <libdeflate.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/memory.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);

static atomic_long calls;
static long fail_at;
static atomic_int failed; /* the Nth call came and was refused */
static int trace;         /* BERTH_FAIL_ALLOC_TRACE=1: print where it was */

/* 1 if this allocation is the one to refuse. */
static int refuse(void)
{
    long n = atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed) + 1;
    if (n != fail_at)
        return 0;
    atomic_store(&failed, 1);
    if (trace) {
        void *frames[32];
        int k = backtrace(frames, 32);
        fprintf(stderr, "alloc_fail: allocation %ld refused at:\n", n);
        backtrace_symbols_fd(frames, k, 2);
    }
    return 1;
}

void *__wrap_malloc(size_t n) { return refuse() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return refuse() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return refuse() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return refuse() ? NULL : __real_strdup(s); }

/* The shared libraries' hooks: through the same counter. */
static void *lib_malloc(size_t n) { return __wrap_malloc(n); }
static void *lib_calloc(size_t n, size_t size) { return __wrap_calloc(n, size); }
static void *lib_realloc(void *p, size_t n) { return __wrap_realloc(p, n); }
static void lib_free(void *p) { free(p); }

int alloc_fail_init(void)
{
    const char *v = getenv("BERTH_FAIL_ALLOC");
    fail_at = v ? atol(v) : 0;
    const char *t = getenv("BERTH_FAIL_ALLOC_TRACE");
    trace = t && *t == '1';
    if (uv_replace_allocator(lib_malloc, __real_realloc, lib_calloc, lib_free) != 0)
        return -1;
    libdeflate_set_memory_allocator(lib_malloc, lib_free);
#if defined(WOLFSSL_STATIC_MEMORY) || defined(WOLFSSL_DEBUG_MEMORY)
    fprintf(stderr, "alloc_fail: this wolfSSL's allocator hooks differ: its allocations are not counted\n");
#else
    if (wolfSSL_SetAllocators(lib_malloc, lib_free, lib_realloc) != 0)
        return -1;
#endif
    return 0;
}

long alloc_fail_calls(void) { return atomic_load(&calls); }
int alloc_fail_hit(void) { return atomic_load(&failed); }
long alloc_fail_target(void) { return fail_at; }
