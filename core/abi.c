/* The version, the error texts, and the copying of structs whose size the
 * application recorded (berth.h, "Structs and upgrades"; docs/API.md). */
#include "abi.h"

#include <string.h>

unsigned berth_version(void) { return BERTH_VERSION_NUM; }
const char *berth_version_string(void) { return BERTH_VERSION; }

const char *berth_strerror(int err)
{
    switch (err) {
    case BERTH_OK: return "success";
    case BERTH_EINVAL: return "invalid argument";
    case BERTH_ENOENT: return "not found";
    case BERTH_ENOSPC: return "does not fit the buffer";
    case BERTH_ENOMEM: return "out of memory";
    case BERTH_EAGAIN: return "buffer full, try again";
    case BERTH_EGONE: return "client gone or response over";
    case BERTH_ETIMEDOUT: return "timed out";
    case BERTH_ESTATE: return "not allowed in this state or on this thread";
    case BERTH_EEXIST: return "already exists";
    case BERTH_ESYS: return "system call failed";
    default: return "unknown error";
    }
}

int berth_abi_read(void *dst, size_t dst_size, const void *src)
{
    size_t size;
    memcpy(&size, src, sizeof size);
    if (size < sizeof size || size > BERTH_ABI_SIZE_MAX)
        return BERTH_EINVAL;
    /* A program built against a newer header: what this library does not
     * know must be left at zero (Linux's openat2 and clone3 take the same
     * rule), or the program would silently lose what it asked for. */
    for (size_t i = dst_size; i < size; i++)
        if (((const unsigned char *)src)[i])
            return BERTH_EINVAL;
    memcpy(dst, src, size < dst_size ? size : dst_size);
    memcpy(dst, &dst_size, sizeof dst_size);
    return 0;
}

void berth_abi_write(void *dst, size_t dst_size, const void *src, size_t src_size)
{
    memcpy(dst, src, dst_size < src_size ? dst_size : src_size);
    if (dst_size > src_size)
        memset((char *)dst + src_size, 0, dst_size - src_size);
}

void berth_abi_init(void *dst, size_t dst_size, void *src, size_t src_size)
{
    if (dst_size < sizeof(size_t))
        return; /* not even its size fits: nothing can be recorded */
    berth_abi_write(dst, dst_size, src, src_size);
    memcpy(dst, &dst_size, sizeof dst_size); /* the caller's size, for the readers */
}
