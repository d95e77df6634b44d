/* The deadline heap (deadlines.h): slots ordered by key, each knowing its
 * connection and each connection its slot, so that a key can be changed or
 * a connection removed in O(log n) without a search. */
#include "deadlines.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "drive.h"

#define FIRST_CAP 64
/* An array this big or bigger is a mapping of its own, not a malloc block.
 * glibc serves blocks over its mmap threshold (128 KiB) by mmap too, but
 * raises the threshold when one is freed, after which the next array of
 * 10,000 connections grew inside the worker's arena among the connections
 * and, once they had all closed, kept 4.8 MiB of that arena resident
 * (libuv: 8.3 MiB after 10,000 closed, 3.5 MiB with the threshold pinned
 * by MALLOC_MMAP_THRESHOLD_; bench/idle_memory.py). A mapping of our own
 * goes back whole when it is unmapped, whatever the allocator decided. */
#define MAP_MIN_BYTES (64 * 1024)

static void *slots_alloc(size_t bytes)
{
    if (bytes < MAP_MIN_BYTES)
        return malloc(bytes);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void slots_release(void *p, size_t bytes)
{
    if (!p)
        return;
    if (bytes < MAP_MIN_BYTES)
        free(p);
    else
        munmap(p, bytes);
}

static void place(berth_deadlines *h, unsigned i, berth_deadline_slot s)
{
    h->slots[i] = s;
    s.io->heap_slot = i;
}

static void sift_up(berth_deadlines *h, unsigned i)
{
    berth_deadline_slot s = h->slots[i];
    while (i) {
        unsigned parent = (i - 1) / 2;
        if (h->slots[parent].key <= s.key)
            break;
        place(h, i, h->slots[parent]);
        i = parent;
    }
    place(h, i, s);
}

static void sift_down(berth_deadlines *h, unsigned i)
{
    berth_deadline_slot s = h->slots[i];
    for (;;) {
        unsigned l = 2 * i + 1, m = l;
        if (l >= h->n)
            break;
        if (l + 1 < h->n && h->slots[l + 1].key < h->slots[l].key)
            m = l + 1;
        if (h->slots[m].key >= s.key)
            break;
        place(h, i, h->slots[m]);
        i = m;
    }
    place(h, i, s);
}

int berth_deadlines_add(berth_deadlines *h, berth_io *io, uint64_t key)
{
    if (h->n == h->cap) {
        unsigned cap = h->cap ? h->cap * 2 : FIRST_CAP;
        berth_deadline_slot *s = cap > h->cap ? slots_alloc((size_t)cap * sizeof *s) : NULL;
        if (!s)
            return -1;
        if (h->n)
            memcpy(s, h->slots, (size_t)h->n * sizeof *s);
        slots_release(h->slots, (size_t)h->cap * sizeof *s);
        h->slots = s;
        h->cap = cap;
    }
    h->slots[h->n] = (berth_deadline_slot){key, io};
    io->heap_slot = h->n;
    sift_up(h, h->n++);
    return 0;
}

void berth_deadlines_set(berth_deadlines *h, berth_io *io, uint64_t key)
{
    unsigned i = io->heap_slot;
    uint64_t old = h->slots[i].key;
    h->slots[i].key = key;
    if (key < old)
        sift_up(h, i);
    else if (key > old)
        sift_down(h, i);
}

void berth_deadlines_remove(berth_deadlines *h, berth_io *io)
{
    unsigned i = io->heap_slot;
    if (i == BERTH_DEADLINE_NONE)
        return;
    io->heap_slot = BERTH_DEADLINE_NONE;
    berth_deadline_slot last = h->slots[--h->n];
    if (i < h->n) {
        place(h, i, last); /* then up or down, whichever its key asks */
        if (i && h->slots[(i - 1) / 2].key > h->slots[i].key)
            sift_up(h, i);
        else
            sift_down(h, i);
    }
    /* The last one gone, the array goes too: kept, or shrunk step by step,
     * a late small block at the top of the thread's arena kept the memory
     * of every connection that had closed from going back to the system
     * (libuv: 13 MiB after 10,000 closed, against 3.5 MiB). */
    if (h->n == 0)
        berth_deadlines_free(h);
}

void berth_deadlines_free(berth_deadlines *h)
{
    slots_release(h->slots, (size_t)h->cap * sizeof *h->slots);
    h->slots = NULL;
    h->n = h->cap = 0;
}
