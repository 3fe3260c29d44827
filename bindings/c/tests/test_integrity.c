/*
 * Integrity scenarios: S12 (fragmentation: freed slots are reused before the pool grows) and
 * S13 (the free list stays exact after 1,000 and 10,000 alloc/free cycles, on one thread and
 * across threads).
 */
#include "np_test_support.h"

#include <stdlib.h>

/* ------------------------------------------------------------------ S12 */

static void s12_fragmentation_reuses_freed_slots(void)
{
    enum { FIRST = 10000, REFILL = 5000 };
    np_pool pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    const size_t size = 264;
    void **blocks = malloc(FIRST * sizeof *blocks);
    void **freed = malloc(REFILL * sizeof *freed);
    void **refill = malloc(REFILL * sizeof *refill);
    NP_ASSERT(blocks != NULL && freed != NULL && refill != NULL);

    for (size_t i = 0; i < FIRST; i++) {
        NP_ASSERT_OK(np_pool_alloc(pool, &blocks[i]));
        np_fill_pattern(blocks[i], size, i);
    }
    for (size_t i = 0; i < FIRST; i += 2) {
        freed[i / 2] = blocks[i];
        NP_ASSERT_OK(np_pool_free(pool, blocks[i]));
    }
    np_pool_stats fragmented = NP_STATS(pool);
    NP_ASSERT_EQ(FIRST - REFILL, fragmented.in_use);
    NP_CHECK_POOL(pool);

    for (size_t i = 0; i < REFILL; i++) {
        NP_ASSERT_OK(np_pool_alloc(pool, &refill[i]));
        np_fill_pattern(refill[i], size, FIRST + i);
    }
    np_pool_stats refilled = NP_STATS(pool);
    NP_ASSERT_EQ(fragmented.capacity, refilled.capacity);
    NP_ASSERT_EQ(fragmented.chunks, refilled.chunks);
    NP_ASSERT_EQ(fragmented.created, refilled.created);
    NP_ASSERT_EQ(fragmented.reused + REFILL, refilled.reused);
    NP_ASSERT_EQ(FIRST, refilled.in_use);

    /* Each new block is one of the freed slots, and each freed slot came back exactly once. */
    np_sort_pointers(freed, REFILL);
    np_sort_pointers(refill, REFILL);
    for (size_t i = 0; i < REFILL; i++) NP_ASSERT_PTR_EQ(freed[i], refill[i]);

    /* The kept half was not disturbed. */
    for (size_t i = 1; i < FIRST; i += 2) NP_ASSERT_PATTERN(blocks[i], size, i);
    NP_CHECK_POOL(pool);
    for (size_t i = 1; i < FIRST; i += 2) NP_ASSERT_OK(np_pool_free(pool, blocks[i]));
    for (size_t i = 0; i < REFILL; i++) NP_ASSERT_OK(np_pool_free(pool, refill[i]));
    NP_ASSERT_EQ(0, NP_STATS(pool).in_use);
    free(blocks);
    free(freed);
    free(refill);
    NP_DESTROY_POOL(pool);
}

/* ------------------------------------------------------------------ S13 */

enum { MAX_LIVE = 512 };

/* The blocks one thread holds between cycles, with the tags written into them. */
typedef struct cycler {
    np_pool pool;
    size_t block_size;
    unsigned index;
    uint64_t random;
    unsigned cycles;
    size_t live;
    void *blocks[MAX_LIVE];
    uint64_t tags[MAX_LIVE];
    uint64_t next_tag;
} cycler;

/* One cycle: allocate 1-32 blocks (room permitting), then free a random 0-32 of the held ones. */
static void run_cycle(cycler *c)
{
    unsigned take = 1 + (unsigned)np_random_below(&c->random, 32);
    for (unsigned i = 0; i < take && c->live < MAX_LIVE; i++) {
        void *block = NULL;
        NP_ASSERT_OK(np_pool_alloc(c->pool, &block));
        uint64_t tag = NP_TAG(c->index, 0, c->next_tag++);
        np_fill_pattern(block, c->block_size, tag);
        c->blocks[c->live] = block;
        c->tags[c->live] = tag;
        c->live++;
    }
    unsigned give = (unsigned)np_random_below(&c->random, 33);
    for (unsigned i = 0; i < give && c->live > 0; i++) {
        size_t victim = (size_t)np_random_below(&c->random, c->live);
        NP_ASSERT_PATTERN(c->blocks[victim], c->block_size, c->tags[victim]);
        NP_ASSERT_OK(np_pool_free(c->pool, c->blocks[victim]));
        c->live--;
        c->blocks[victim] = c->blocks[c->live];
        c->tags[victim] = c->tags[c->live];
    }
}

static void *cycler_run(void *raw)
{
    cycler *c = raw;
    for (unsigned n = 0; n < c->cycles; n++) run_cycle(c);
    return NULL;
}

/* After a quiescent point: the validation's counts match what the cyclers hold, exactly. */
static void check_free_list(np_pool pool, const cycler *cyclers, size_t count)
{
    size_t held = 0;
    for (size_t i = 0; i < count; i++) {
        held += cyclers[i].live;
        for (size_t b = 0; b < cyclers[i].live; b++)
            NP_ASSERT_PATTERN(cyclers[i].blocks[b], cyclers[i].block_size, cyclers[i].tags[b]);
    }
    np_pool_stats s = NP_STATS(pool);
    np_pool_validation v = NP_VALIDATE(pool);
    NP_ASSERT_EQ(held, s.in_use);
    NP_ASSERT_EQ(held, v.allocated);
    NP_ASSERT_EQ(s.capacity - held, v.free);
    NP_ASSERT_EQ(s.capacity - held, v.free_listed);
    NP_CHECK_POOL(pool);
}

static void release_all(np_pool pool, cycler *cyclers, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        size_t freed = 0;
        NP_ASSERT_OK(np_pool_free_batch(pool, (void *const *)cyclers[i].blocks, cyclers[i].live, &freed));
        NP_ASSERT_EQ(cyclers[i].live, freed);
        cyclers[i].live = 0;
    }
    check_free_list(pool, cyclers, count);
    np_pool_stats s = NP_STATS(pool);
    NP_ASSERT_EQ(s.allocations, s.frees);
}

static void s13_free_list_integrity_one_thread(void)
{
    static cycler c;
    memset(&c, 0, sizeof c);
    c.pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    c.block_size = 264;
    c.random = 0x1234567887654321ULL;
    for (unsigned n = 0; n < 1000; n++) run_cycle(&c);
    check_free_list(c.pool, &c, 1);
    for (unsigned n = 1000; n < 10000; n++) run_cycle(&c);
    check_free_list(c.pool, &c, 1);
    release_all(c.pool, &c, 1);
    NP_DESTROY_POOL(c.pool);
}

static void s13_free_list_integrity_four_threads(void)
{
    enum { THREADS = 4 };
    static cycler c[THREADS];
    np_pool pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_MEDIUM);
    memset(c, 0, sizeof c);
    for (unsigned i = 0; i < THREADS; i++) {
        c[i].pool = pool;
        c[i].block_size = 1024;
        c[i].index = i;
        c[i].random = 0x9E3779B97F4A7C15ULL * (i + 1);
        c[i].cycles = 1000;
    }
    np_threads_run(THREADS, cycler_run, c, sizeof c[0]);
    check_free_list(pool, c, THREADS);

    /* New threads carry on with the same blocks: frees now cross threads. */
    for (unsigned i = 0; i < THREADS; i++) c[i].cycles = NP_SIZE(29000, 99000);
    np_threads_run(THREADS, cycler_run, c, sizeof c[0]);
    check_free_list(pool, c, THREADS);
    release_all(pool, c, THREADS);
    NP_DESTROY_POOL(pool);
}

static const np_test_case cases[] = {
    {"S12", "fragmentation_refill_reuses_exactly_the_freed_slots", s12_fragmentation_reuses_freed_slots},
    {"S13", "free_list_exact_after_1000_and_10000_cycles_one_thread", s13_free_list_integrity_one_thread},
    {"S13", "free_list_exact_after_1000_and_10000_cycles_four_threads", s13_free_list_integrity_four_threads},
};

const np_test_suite np_suite_integrity = {"integrity", cases, NP_COUNT_OF(cases)};
