/* When an event-loop backend sweeps deadlines next (backends/drive.h). */
#include <stdint.h>

#include "../../backends/drive.h"
#include "test.h"

#include <string.h>

/* Issue 16: a sweep every 100 ms made a 408 up to 100 ms late, beyond the
 * +-100 ms test_hostile.py asks for under load: the next sweep is at the
 * earliest deadline, no sooner than 10 ms, no later than the period. */
TEST(sweep_next_is_the_earliest_deadline_within_bounds)
{
    CHECK(berth_sweep_next(UINT64_MAX, 1000, 100) == 1100); /* no deadline: the period */
    CHECK(berth_sweep_next(1500, 1000, 100) == 1100);       /* far: the period */
    CHECK(berth_sweep_next(1042, 1000, 100) == 1042);       /* near: at it */
    CHECK(berth_sweep_next(1003, 1000, 100) == 1010);       /* very near: the floor */
    CHECK(berth_sweep_next(900, 1000, 100) == 1010);        /* passed: the floor */
}

/* Issue 23: the sweep looks only at connections due by their heap key. A
 * connection here is a pipe whose deadline the test sets and whose
 * queries it counts; the drive loop finds nothing to read or write. */
typedef struct fake_conn {
    berth_pipe pipe;
    berth_io io;
    uint64_t deadline, after_timeout;
    int timeouts;
} fake_conn;

static int queries;

static uint64_t f_deadline(berth_pipe *p)
{
    queries++;
    return ((fake_conn *)p)->deadline;
}
static void f_on_timeout(berth_pipe *p)
{
    fake_conn *f = (fake_conn *)p;
    f->timeouts++;
    f->deadline = f->after_timeout;
}
static int f_zero(berth_pipe *p) { return (void)p, 0; }
static int f_open(berth_pipe *p) { return (void)p, BERTH_PIPE_OPEN; }
static int f_segs(berth_pipe *p, berth_seg *s, int max) { return (void)p, (void)s, (void)max, 0; }
static void f_nothing(berth_pipe *p) { (void)p; }

static const berth_pipe_ops fake_ops = {
    .wants_input = f_zero, .has_pending = f_zero, .pump = f_nothing, .out_segs = f_segs,
    .state = f_open, .deadline = f_deadline, .on_timeout = f_on_timeout, .drain = f_nothing,
    .abort = f_nothing, .free = f_nothing,
};

static void fake_driven(berth_io *io, int result, void *ctx) { (void)io, (void)result, (void)ctx; }

#define NCONN 1000

static void fake_init(fake_conn *f, uint64_t deadline)
{
    memset(f, 0, sizeof *f);
    f->pipe.ops = &fake_ops;
    f->deadline = deadline;
    f->after_timeout = UINT64_MAX;
    f->io.pipe = &f->pipe;
    f->io.heap_slot = BERTH_DEADLINE_NONE;
}

static int total_timeouts(const fake_conn *f, int n)
{
    int t = 0;
    for (int i = 0; i < n; i++)
        t += f[i].timeouts;
    return t;
}

TEST(sweep_asks_only_connections_due)
{
    static fake_conn f[NCONN];
    berth_ioset set;
    berth_ioset_init(&set, fake_driven, NULL);
    for (int i = 0; i < NCONN; i++) {
        fake_init(&f[i], 1000 + (uint64_t)i);
        CHECK(berth_ioset_add(&set, &f[i].io) == 0);
    }
    /* Nothing due: no connection is asked (one query each before). */
    queries = 0;
    CHECK(berth_ioset_sweep(&set, 500) == 1000);
    CHECK_INT(queries, 0);
    /* Ten due: those ten time out, once each, and only they are asked
     * (once before, once after their timeout). */
    queries = 0;
    CHECK(berth_ioset_sweep(&set, 1009) == 1010);
    CHECK_INT(total_timeouts(f, NCONN), 10);
    for (int i = 0; i < 10; i++)
        CHECK_INT(f[i].timeouts, 1);
    CHECK(queries <= 20);
    /* A drive that moves a deadline earlier is noted by the set. */
    f[500].deadline = 1012;
    berth_ioset_driven(&set, &f[500].io, 0);
    /* One that moved later unnoticed (a request renewed it) is asked when
     * its old key comes due, and not timed out. */
    f[10].deadline = 5000;
    queries = 0;
    CHECK(berth_ioset_sweep(&set, 1012) == 1013);
    CHECK_INT(f[500].timeouts, 1);
    CHECK_INT(f[10].timeouts, 0);
    CHECK_INT(f[11].timeouts, 1);
    CHECK_INT(f[12].timeouts, 1);
    CHECK_INT(total_timeouts(f, NCONN), 13);
    CHECK(queries <= 8);
    /* A timeout that leaves its deadline passed: once per sweep, not in a
     * loop, and due again at the next sweep. */
    f[13].after_timeout = 0;
    CHECK(berth_ioset_sweep(&set, 1013) == 1014);
    CHECK_INT(f[13].timeouts, 1);
    CHECK(berth_ioset_sweep(&set, 1013) == 1014); /* nothing due now */
    CHECK_INT(f[13].timeouts, 1);
    CHECK(berth_ioset_sweep(&set, 1014) == 1015);
    CHECK_INT(f[13].timeouts, 2);
    /* Removing keeps the order: the earliest left is the next answer (f[13]
     * moved later: its key is stale until the sweep asks it). */
    f[13].after_timeout = UINT64_MAX;
    f[13].deadline = UINT64_MAX;
    berth_ioset_driven(&set, &f[13].io, 0);
    for (int i = 14; i < 30; i++)
        berth_ioset_remove(&set, &f[i].io);
    CHECK(berth_ioset_sweep(&set, 1015) == 1030); /* f[13]'s stale key asked, moved up */
    CHECK_INT(set.count, NCONN - 16);
    berth_ioset_free(&set);
}

/* The heap against a brute-force minimum, through random adds, key
 * changes and removals. */
TEST(deadline_heap_keeps_order)
{
    static fake_conn f[200];
    berth_deadlines h = {NULL, 0, 0};
    uint64_t key[200];
    int in[200] = {0};
    unsigned seed = 12345;
    for (int i = 0; i < 200; i++)
        fake_init(&f[i], 0);
    for (int step = 0; step < 20000; step++) {
        seed = seed * 1103515245u + 12345u;
        int i = (int)((seed >> 8) % 200), op = (int)((seed >> 20) % 3);
        uint64_t k = (seed >> 4) % 1000;
        if (!in[i]) {
            CHECK(berth_deadlines_add(&h, &f[i].io, k) == 0);
            in[i] = 1, key[i] = k;
        } else if (op == 0) {
            berth_deadlines_remove(&h, &f[i].io);
            CHECK(f[i].io.heap_slot == BERTH_DEADLINE_NONE);
            in[i] = 0;
        } else {
            berth_deadlines_set(&h, &f[i].io, k);
            key[i] = k;
        }
        uint64_t min = UINT64_MAX;
        unsigned n = 0;
        for (int j = 0; j < 200; j++) {
            if (!in[j])
                continue;
            n++;
            min = key[j] < min ? key[j] : min;
            CHECK(h.slots[f[j].io.heap_slot].io == &f[j].io);
            CHECK(h.slots[f[j].io.heap_slot].key == key[j]);
        }
        CHECK(h.n == n);
        CHECK(n == 0 ? berth_deadlines_top(&h) == NULL : berth_deadlines_top(&h)->key == min);
        for (unsigned s = 1; s < h.n; s++)
            CHECK(h.slots[(s - 1) / 2].key <= h.slots[s].key);
    }
    berth_deadlines_free(&h);
}

/* Past 4,096 connections the heap's array is a mapping of its own
 * (deadlines.c): its growth from malloc blocks to mappings and back keeps
 * every slot, and the heap drains in key order. */
TEST(deadline_heap_grows_into_a_mapping_and_drains_in_order)
{
    enum { N = 10000 };
    static fake_conn f[N];
    berth_deadlines h = {NULL, 0, 0};
    unsigned seed = 777;
    for (int i = 0; i < N; i++) {
        fake_init(&f[i], 0);
        seed = seed * 1103515245u + 12345u;
        CHECK(berth_deadlines_add(&h, &f[i].io, (seed >> 8) % 100000) == 0);
    }
    CHECK(h.n == N);
    CHECK(h.cap * sizeof *h.slots >= 64 * 1024); /* the mapped size was reached */
    for (int i = 0; i < N; i++)
        CHECK(h.slots[f[i].io.heap_slot].io == &f[i].io);
    uint64_t last = 0;
    for (int i = 0; i < N; i++) {
        const berth_deadline_slot *top = berth_deadlines_top(&h);
        CHECK(top != NULL);
        if (!top)
            break;
        CHECK(top->key >= last);
        last = top->key;
        berth_deadlines_remove(&h, top->io);
    }
    CHECK(h.n == 0 && h.slots == NULL && h.cap == 0); /* the last one out unmaps it */
}
