/* The open-file cache: a hot file costs no open, stat or path lookup per
 * request, only a dup of its descriptor; its descriptors are checked with
 * fstat at most every STATIC_VERIFY_MS (static_fresh.c).
 * berth_res_file owns and closes what it gets, so an entry replaced while
 * a response is still sending is safe. Names are checked against the disk
 * (siblings added) at most once a second. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "static_impl.h"

#define PROBE 8 /* slots looked at per name; the stalest is replaced */

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int64_t mtime_ns(const struct stat *s)
{
    return (int64_t)STATIC_MTIM(s).tv_sec * 1000000000 + STATIC_MTIM(s).tv_nsec;
}

static void rep_set(static_rep *rep, int fd, const struct stat *s)
{
    rep->fd = fd;
    rep->size = (uint64_t)s->st_size;
    rep->mtime_ns = mtime_ns(s);
    rep->ctime_ns = (int64_t)STATIC_CTIM(s).tv_sec * 1000000000 + STATIC_CTIM(s).tv_nsec;
}

/* A sibling counts if it is a regular file not older than the file. */
static void load_sibling(struct berth_static *st, static_entry *e, int r, const char *suffix)
{
    char name[BERTH_STATIC_NAME_MAX + 4];
    snprintf(name, sizeof name, "%s%s", e->name, suffix);
    int fd = berth_static_open(st->root, name, O_RDONLY);
    struct stat s;
    if (fd < 0)
        return;
    if (fstat(fd, &s) != 0 || !S_ISREG(s.st_mode) || mtime_ns(&s) < e->mtime_ns) {
        close(fd);
        return;
    }
    rep_set(&e->rep[r], fd, &s);
    snprintf(e->rep[r].etag, sizeof e->rep[r].etag, "\"%llx-%llx-%s\"",
             (unsigned long long)s.st_size, (unsigned long long)e->mtime_ns, suffix + 1);
}

static int entry_load(struct berth_static *st, static_entry *e, const char *name)
{
    snprintf(e->name, sizeof e->name, "%s", name);
    int fd = berth_static_open(st->root, name, O_RDONLY);
    struct stat s;
    if (fd < 0 || fstat(fd, &s) != 0 || !(S_ISREG(s.st_mode) || S_ISDIR(s.st_mode))) {
        int err = fd < 0 ? errno : ENOENT;
        if (fd >= 0)
            close(fd);
        e->name[0] = '\0';
        errno = err;
        return -1;
    }
    e->dev = s.st_dev;
    e->ino = s.st_ino;
    e->mtime_ns = mtime_ns(&s);
    e->mtime = STATIC_MTIM(&s).tv_sec;
    e->is_dir = S_ISDIR(s.st_mode);
    e->verified_ms = berth_static_now_ms();
    e->checked = e->verified_ms / 1000;
    e->type = berth_static_type(name);
    struct tm tm;
    gmtime_r(&e->mtime, &tm);
    strftime(e->last_modified, sizeof e->last_modified, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    rep_set(&e->rep[REP_PLAIN], fd, &s);
    snprintf(e->rep[REP_PLAIN].etag, sizeof e->rep[REP_PLAIN].etag, "\"%llx-%llx\"",
             (unsigned long long)s.st_size, (unsigned long long)e->mtime_ns);
    if (!e->is_dir && st->opts.precompressed) {
        load_sibling(st, e, REP_GZIP, ".gz");
        load_sibling(st, e, REP_BR, ".br");
    }
    return 0;
}

/* Still what is on disk? Checked by name, so a replaced file is seen. */
static int entry_fresh(struct berth_static *st, static_entry *e, int64_t now)
{
    if (e->checked == now)
        return 1;
    struct stat s;
    if (fstatat(st->root, e->name, &s, 0) != 0 || s.st_dev != e->dev || s.st_ino != e->ino ||
        mtime_ns(&s) != e->mtime_ns || (!e->is_dir && (uint64_t)s.st_size != e->rep[0].size))
        return 0;
    for (int r = REP_GZIP; r < REP_COUNT; r++) { /* a sibling added or removed */
        char name[BERTH_STATIC_NAME_MAX + 4];
        snprintf(name, sizeof name, "%s%s", e->name, r == REP_GZIP ? ".gz" : ".br");
        struct stat c;
        int has = !e->is_dir && st->opts.precompressed && fstatat(st->root, name, &c, 0) == 0 &&
                  S_ISREG(c.st_mode) && mtime_ns(&c) >= e->mtime_ns;
        if (has != (e->rep[r].fd >= 0) || (has && (uint64_t)c.st_size != e->rep[r].size))
            return 0;
    }
    e->checked = now;
    return 1;
}

/* The representation the client weighs highest (br before gzip at equal
 * weight; q = 0 refuses). */
static int choose(const static_entry *e, const int q[REP_COUNT])
{
    int qb = e->rep[REP_BR].fd >= 0 ? q[REP_BR] : 0, qg = e->rep[REP_GZIP].fd >= 0 ? q[REP_GZIP] : 0;
    return qb > 0 && qb >= qg ? REP_BR : qg > 0 ? REP_GZIP : REP_PLAIN;
}

/* The chosen representation's descriptor for out: a dup of the cache's
 * (take 0), or the entry's own (take 1: an entry that is not kept). */
static int copy_out(static_entry *e, int chosen, int take, static_file *out)
{
    out->is_dir = e->is_dir;
    out->mtime = e->mtime;
    out->type = e->type;
    memcpy(out->last_modified, e->last_modified, sizeof out->last_modified);
    out->chosen = chosen;
    for (int r = 0; r < REP_COUNT; r++) {
        out->rep[r] = e->rep[r];
        out->rep[r].fd = -1;
    }
    if (e->is_dir)
        return 0;
    int *fd = &e->rep[chosen].fd;
    if (take) {
        out->rep[chosen].fd = *fd;
        *fd = -1;
    } else {
        out->rep[chosen].fd = fcntl(*fd, F_DUPFD_CLOEXEC, 0);
    }
    return out->rep[chosen].fd >= 0 ? 0 : -1;
}

/* cache_entries 0: the files are opened for this request and nothing
 * stays open after its response. */
static int get_uncached(struct berth_static *st, const char *name, const int q[REP_COUNT],
                        static_file *out)
{
    static_entry e;
    for (int r = 0; r < REP_COUNT; r++)
        e.rep[r].fd = -1;
    if (entry_load(st, &e, name) != 0)
        return -1;
    int rc = copy_out(&e, choose(&e, q), 1, out);
    int err = errno;
    berth_static_entry_clear(&e);
    errno = err;
    return rc;
}

int berth_static_cache_get(struct berth_static *st, const char *name, const int q[REP_COUNT],
                           static_file *out)
{
    if (st->cap == 0)
        return get_uncached(st, name, q, out);
    int64_t now_ms = berth_static_now_ms(), now = now_ms / 1000;
    size_t start = (size_t)(hash(name) % st->cap), victim = start;
    pthread_mutex_lock(&st->lock);
    berth_static_sweep_step(st, now_ms);
    for (size_t i = 0; i < PROBE && i < st->cap; i++) {
        static_entry *e = &st->entries[(start + i) % st->cap];
        if (e->name[0] && strcmp(e->name, name) == 0) {
            if (entry_fresh(st, e, now) && berth_static_entry_verify(e, now_ms)) {
                int rc = copy_out(e, choose(e, q), 0, out);
                pthread_mutex_unlock(&st->lock);
                return rc;
            }
            berth_static_entry_clear(e);
            victim = (start + i) % st->cap;
            break;
        }
        if (!e->name[0])
            victim = (start + i) % st->cap;
        else if (st->entries[victim].name[0] && e->checked < st->entries[victim].checked)
            victim = (start + i) % st->cap;
    }
    static_entry *e = &st->entries[victim];
    berth_static_entry_clear(e);
    int rc = entry_load(st, e, name);
    if (rc == 0)
        rc = copy_out(e, choose(e, q), 0, out);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

void berth_static_file_close(static_file *f)
{
    for (int r = 0; r < REP_COUNT; r++)
        if (f->rep[r].fd >= 0)
            close(f->rep[r].fd), f->rep[r].fd = -1;
}

void berth_static_cache_free(struct berth_static *st)
{
    for (size_t i = 0; i < st->cap; i++)
        berth_static_entry_clear(&st->entries[i]);
}
