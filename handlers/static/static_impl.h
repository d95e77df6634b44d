/* The static-file handler's parts; built only on berth.h. */
#ifndef BERTH_STATIC_IMPL_H
#define BERTH_STATIC_IMPL_H

#include <berth.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BERTH_STATIC_NAME_MAX 1024

/* struct stat's times with nanoseconds: POSIX's st_mtim and st_ctim,
 * macOS's st_mtimespec and st_ctimespec. */
#ifdef __APPLE__
#define STATIC_MTIM(s) ((s)->st_mtimespec)
#define STATIC_CTIM(s) ((s)->st_ctimespec)
#else
#define STATIC_MTIM(s) ((s)->st_mtim)
#define STATIC_CTIM(s) ((s)->st_ctim)
#endif

enum { REP_PLAIN, REP_GZIP, REP_BR, REP_COUNT };

/* One representation of a file: the file itself or a compressed sibling. */
typedef struct static_rep {
    int fd;          /* -1: none */
    uint64_t size;
    int64_t mtime_ns, ctime_ns; /* as fstat saw them when opened */
    char etag[48];   /* "size-mtime[-gz|-br]", quoted */
} static_rep;

typedef struct static_entry {
    char name[BERTH_STATIC_NAME_MAX]; /* "" : free slot */
    dev_t dev;
    ino_t ino;
    int64_t mtime_ns;
    time_t mtime;
    int is_dir;
    int64_t checked;  /* monotonic second of the last stat by name */
    int64_t verified_ms; /* monotonic ms of the last fstat of its descriptors */
    const char *type;
    char last_modified[32];
    static_rep rep[REP_COUNT];
} static_entry;

struct berth_static {
    int root;
    berth_static_opts opts;
    char prefix[256];
    pthread_mutex_t lock;
    size_t cap;             /* 0: no cache, every request opens its file */
    static_entry *entries;
    /* The sweep (static_fresh.c): a batch of entries checked against the
     * disk, by any request, every sweep_every_ms. */
    size_t sweep_next;
    int64_t swept_ms, sweep_every_ms;
};

/* What a request gets from the cache: dup'ed descriptors it owns. */
typedef struct static_file {
    int is_dir;
    int chosen;      /* REP_*: the one whose fd is open (none for a directory) */
    time_t mtime;
    const char *type;
    char last_modified[32];
    static_rep rep[REP_COUNT];
} static_file;

const char *berth_static_type(const char *name);
int berth_static_name_ok(const char *name, size_t len, int dotfiles);
int berth_static_open(int root, const char *name, int flags);
/* 0 and *out, with the representation of the highest weight q[REP_*] (0:
 * refused) chosen and its descriptor dup'ed (close with
 * berth_static_file_close), or -1 with errno. */
int berth_static_cache_get(struct berth_static *st, const char *name, const int q[REP_COUNT],
                           static_file *out);
void berth_static_file_close(static_file *f);
void berth_static_cache_free(struct berth_static *st);

/* static_fresh.c: is what the cache holds still what is on disk? */
/* Closes an entry's descriptors and frees its slot. */
void berth_static_entry_clear(static_entry *e);
/* 1 if the descriptor of rep is still the file at its name as it was when
 * opened: linked (a removed or renamed-over file has no links left), same
 * size, mtime and ctime (a rewrite in place). One fstat. */
int berth_static_rep_intact(const static_rep *rep, int is_dir);
/* A cached entry's descriptors are checked (fstat) by a request at most
 * every STATIC_VERIFY_MS: changes by other processes are seen within it,
 * at the cost of at most 3 fstat per entry per interval, however many
 * requests it serves. Checking on every request (1-2 fstat: the file and
 * the sibling served) cost about 7% more CPU per request in the static
 * bench profile; the application's own changes need no window
 * (berth_static_invalidate). */
#define STATIC_VERIFY_MS 100
/* 1 if every descriptor the entry holds is intact. */
int berth_static_entry_intact(const static_entry *e);
/* 1 if the entry was checked less than STATIC_VERIFY_MS ago, or is intact
 * now (and then counts as checked now); 0: it is outdated. */
int berth_static_entry_verify(static_entry *e, int64_t now_ms);
/* Under st->lock: when sweep_every_ms has passed, checks the next batch
 * of entries and clears those not intact. */
void berth_static_sweep_step(struct berth_static *st, int64_t now_ms);
/* The interval of sweep steps for a cache of cap entries. */
int64_t berth_static_sweep_interval(size_t cap);
int64_t berth_static_now_ms(void);

#endif
