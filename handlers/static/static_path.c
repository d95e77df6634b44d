/* Opening a file strictly beneath the root: openat2(RESOLVE_BENEATH) where
 * the kernel has it (Linux 5.6), openat(O_RESOLVE_BENEATH) on FreeBSD 13,
 * otherwise (macOS, an older kernel, a seccomp filter) a walk that refuses
 * every symlink. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__) && !defined(BERTH_PORTABLE)
#define HAVE_OPENAT2 1
#include <linux/openat2.h>
#include <sys/syscall.h>
#else
#define HAVE_OPENAT2 0
#endif

#include "static_impl.h"

int berth_static_name_ok(const char *name, size_t len, int dotfiles)
{
    /* name: the decoded path below the root; segments separated by '/'. */
    if (len == 0 || memchr(name, '\0', len) || memchr(name, '\\', len))
        return 0;
    const char *s = name, *end = name + len;
    while (s < end) {
        const char *e = memchr(s, '/', (size_t)(end - s));
        if (!e)
            e = end;
        size_t n = (size_t)(e - s);
        if (n == 0 && e != end)
            return 0; /* "//" or a leading '/': an absolute path */
        if (n > 0 && s[0] == '.' && (!dotfiles || n == 1 || (n == 2 && s[1] == '.')))
            return 0;
        s = e + 1;
    }
    return 1;
}

static int walk_open(int root, const char *name, int flags)
{
    /* Each component opened with O_NOFOLLOW: no symlink is followed at all. */
    char part[BERTH_STATIC_NAME_MAX];
    int dir = root;
    const char *s = name;
    for (;;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n >= sizeof part) {
            errno = ENAMETOOLONG;
            break;
        }
        memcpy(part, s, n);
        part[n] = '\0';
        int last = !e || e[1] == '\0';
        int fd = openat(dir, n ? part : ".",
                        (last ? flags : O_RDONLY | O_DIRECTORY) | O_NOFOLLOW | O_CLOEXEC);
        if (dir != root)
            close(dir);
        if (fd < 0 || last)
            return fd;
        dir = fd;
        s = e + 1;
    }
    if (dir != root)
        close(dir);
    return -1;
}

int berth_static_open(int root, const char *name, int flags)
{
#if HAVE_OPENAT2
    static int no_openat2;
    if (!__atomic_load_n(&no_openat2, __ATOMIC_RELAXED)) {
        struct open_how how = {
            .flags = (unsigned)(flags | O_CLOEXEC),
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, root, name, &how, sizeof how);
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
            return (int)fd;
        __atomic_store_n(&no_openat2, 1, __ATOMIC_RELAXED); /* old kernel or seccomp */
    }
#elif defined(O_RESOLVE_BENEATH) && !defined(BERTH_PORTABLE)
    return openat(root, name, flags | O_CLOEXEC | O_RESOLVE_BENEATH);
#endif
    return walk_open(root, name, flags);
}
