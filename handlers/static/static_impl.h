/* The static-file handler's parts; built only on berth.h. */
#ifndef BERTH_STATIC_IMPL_H
#define BERTH_STATIC_IMPL_H

#include <berth.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BERTH_STATIC_NAME_MAX 1024

enum { REP_PLAIN, REP_GZIP, REP_BR, REP_COUNT };

/* One representation of a file: the file itself or a compressed sibling. */
typedef struct static_rep {
    int fd;          /* -1: none */
    uint64_t size;
    char etag[48];   /* "size-mtime[-gz|-br]", quoted */
} static_rep;

typedef struct static_entry {
    char name[BERTH_STATIC_NAME_MAX]; /* "" : free slot */
    dev_t dev;
    ino_t ino;
    int64_t mtime_ns;
    time_t mtime;
    int is_dir;
    int64_t checked;  /* monotonic second of the last stat */
    const char *type;
    char last_modified[32];
    static_rep rep[REP_COUNT];
} static_entry;

struct berth_static {
    int root;
    berth_static_opts opts;
    char prefix[256];
    pthread_mutex_t lock;
    size_t cap;
    static_entry *entries;
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

#endif
