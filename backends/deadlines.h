/* A worker's connection deadlines as a binary min-heap, so that a sweep
 * costs O(expired + changed) rather than O(connections) (issue 23).
 *
 * A key is a lower bound of its connection's deadline: the set lowers it
 * when a drive moves the deadline earlier (berth_ioset_driven), and leaves
 * it when the deadline moves later (the common case: a request renews the
 * idle deadline); the sweep finds such a stale key when it comes due, asks
 * the connection, and moves the key up to the real deadline. Every drive
 * of a connection goes through its set, and nothing else changes a
 * deadline, so no due connection is missed. */
#ifndef BERTH_DEADLINES_H
#define BERTH_DEADLINES_H

#include <stddef.h>
#include <stdint.h>

struct berth_io;

typedef struct berth_deadline_slot {
    uint64_t key;
    struct berth_io *io; /* io->heap_slot is this slot's index */
} berth_deadline_slot;

typedef struct berth_deadlines {
    berth_deadline_slot *slots;
    unsigned n, cap;
} berth_deadlines;

#define BERTH_DEADLINE_NONE 0xffffffffu /* io->heap_slot of a connection not in a heap */

/* Adds io with key; 0, or -1 out of memory (the heap is unchanged). */
int berth_deadlines_add(berth_deadlines *h, struct berth_io *io, uint64_t key);
void berth_deadlines_remove(berth_deadlines *h, struct berth_io *io);
/* Sets io's key (earlier or later) and restores the order. */
void berth_deadlines_set(berth_deadlines *h, struct berth_io *io, uint64_t key);
void berth_deadlines_free(berth_deadlines *h);
static inline const berth_deadline_slot *berth_deadlines_top(const berth_deadlines *h)
{
    return h->n ? &h->slots[0] : NULL;
}

#endif
