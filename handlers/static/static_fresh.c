/* Keeping the open-file cache true to the disk, and its descriptors few.
 *
 * A descriptor tells by itself whether its file is still there: a removed
 * file, or one a rename replaced, has no links left (st_nlink 0), and a
 * rewrite in place changes its size, mtime or ctime. So a request checks
 * the descriptors of its entry with fstat (no path walk) when the last
 * check is STATIC_VERIFY_MS old: a file removed or replaced by another
 * process is not served that long after. The application's own changes
 * go through berth_static_invalidate and are never served after it
 * returns. What a descriptor cannot tell (a sibling .gz/.br added next to
 * a file) is checked by name once a second (static_cache.c), or at once
 * through berth_static_invalidate.
 *
 * Descriptors of removed files hold their disk space. Requests on any
 * name sweep the cache a batch at a time (bounded work, no thread of our
 * own), so those are closed within about a second under traffic without a
 * request of their name; berth_static_sweep does a whole pass on demand
 * (a mount that gets no requests), berth_static_invalidate at once. */
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "static_impl.h"

#define SWEEP_BATCH 32      /* entries checked per step */
#define SWEEP_CYCLE_MS 1000 /* a whole pass of a cache up to SWEEP_BATCH * 100 entries */
#define SWEEP_MIN_MS 10     /* larger caches: a step at most this often, a longer pass */

int64_t berth_static_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no system call */
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void berth_static_entry_clear(static_entry *e)
{
    for (int r = 0; r < REP_COUNT; r++) {
        if (e->rep[r].fd >= 0)
            close(e->rep[r].fd);
        e->rep[r].fd = -1;
    }
    e->name[0] = '\0';
}

int berth_static_rep_intact(const static_rep *rep, int is_dir)
{
    struct stat s;
    if (fstat(rep->fd, &s) != 0 || s.st_nlink == 0)
        return 0;
    if (is_dir) /* its mtime moves with every file added: only removal counts */
        return 1;
    return (uint64_t)s.st_size == rep->size &&
           (int64_t)STATIC_MTIM(&s).tv_sec * 1000000000 + STATIC_MTIM(&s).tv_nsec == rep->mtime_ns &&
           (int64_t)STATIC_CTIM(&s).tv_sec * 1000000000 + STATIC_CTIM(&s).tv_nsec == rep->ctime_ns;
}

int berth_static_entry_intact(const static_entry *e)
{
    for (int r = 0; r < REP_COUNT; r++)
        if (e->rep[r].fd >= 0 && !berth_static_rep_intact(&e->rep[r], e->is_dir))
            return 0;
    return 1;
}

int berth_static_entry_verify(static_entry *e, int64_t now_ms)
{
    if (now_ms - e->verified_ms < STATIC_VERIFY_MS)
        return 1;
    if (!berth_static_entry_intact(e))
        return 0;
    e->verified_ms = now_ms;
    return 1;
}

int64_t berth_static_sweep_interval(size_t cap)
{
    size_t steps = (cap + SWEEP_BATCH - 1) / SWEEP_BATCH;
    int64_t every = steps ? SWEEP_CYCLE_MS / (int64_t)steps : SWEEP_CYCLE_MS;
    return every < SWEEP_MIN_MS ? SWEEP_MIN_MS : every;
}

void berth_static_sweep_step(struct berth_static *st, int64_t now_ms)
{
    if (now_ms - st->swept_ms < st->sweep_every_ms)
        return;
    st->swept_ms = now_ms;
    for (size_t i = 0; i < SWEEP_BATCH && i < st->cap; i++) {
        static_entry *e = &st->entries[st->sweep_next];
        st->sweep_next = (st->sweep_next + 1) % st->cap;
        if (e->name[0] && !berth_static_entry_verify(e, now_ms))
            berth_static_entry_clear(e);
    }
}

size_t berth_static_sweep(berth_static *st)
{
    size_t dropped = 0;
    if (!st || st->cap == 0)
        return 0;
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < st->cap; i++) {
        static_entry *e = &st->entries[i];
        if (e->name[0] && !berth_static_entry_intact(e)) {
            berth_static_entry_clear(e);
            dropped++;
        }
    }
    pthread_mutex_unlock(&st->lock);
    return dropped;
}

/* Does invalidating path (n bytes, no leading or trailing '/') concern the
 * entry named name: the file itself, a name beneath it (a directory), or
 * the file whose sibling path is? */
static int covers(const char *name, const char *path, size_t n)
{
    size_t len = strlen(name);
    if (len >= n && memcmp(name, path, n) == 0 && (name[n] == '\0' || name[n] == '/'))
        return 1;
    return n == len + 3 && memcmp(path, name, len) == 0 &&
           (memcmp(path + len, ".gz", 3) == 0 || memcmp(path + len, ".br", 3) == 0);
}

void berth_static_invalidate(berth_static *st, const char *path)
{
    if (!st || st->cap == 0)
        return;
    const char *p = path ? path : "";
    while (*p == '/')
        p++;
    size_t n = strlen(p);
    while (n > 0 && p[n - 1] == '/')
        n--;
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < st->cap; i++) {
        static_entry *e = &st->entries[i];
        if (e->name[0] && (n == 0 || covers(e->name, p, n)))
            berth_static_entry_clear(e);
    }
    pthread_mutex_unlock(&st->lock);
}
