/*
 * Million-scale scenarios: S09 (10 threads x 1,000,000 allocations at full size), S10 (1,000,000
 * sequential allocations, then frees) and S11 (rapid alloc/free cycles on one thread).
 */
#include "np_test_support.h"

#include <stdlib.h>

/* ------------------------------------------------------------------ S09 */

enum { S09_THREADS = 10, S09_WINDOW = 32 };

typedef struct window_worker {
    np_pool pool;
    size_t block_size;
    unsigned index;
    unsigned long long allocations;
    np_gate *gate;
} window_worker;

/* Allocates `allocations` blocks, keeping the latest S09_WINDOW alive; each is checked before its free. */
static void *window_worker_run(void *raw)
{
    window_worker *me = raw;
    void *window[S09_WINDOW];
    uint64_t tags[S09_WINDOW];
    np_gate_wait(me->gate);
    for (unsigned long long n = 0; n < me->allocations; n++) {
        unsigned slot = (unsigned)(n % S09_WINDOW);
        if (n >= S09_WINDOW) {
            NP_ASSERT_PATTERN(window[slot], me->block_size, tags[slot]);
            NP_ASSERT_OK(np_pool_free(me->pool, window[slot]));
        }
        NP_ASSERT_OK(np_pool_alloc(me->pool, &window[slot]));
        tags[slot] = NP_TAG(me->index, n >> 24, n);
        np_fill_pattern(window[slot], me->block_size, tags[slot]);
    }
    unsigned long long live = me->allocations < S09_WINDOW ? me->allocations : S09_WINDOW;
    for (unsigned slot = 0; slot < live; slot++) {
        NP_ASSERT_PATTERN(window[slot], me->block_size, tags[slot]);
        NP_ASSERT_OK(np_pool_free(me->pool, window[slot]));
    }
    return NULL;
}

static void s09_ten_threads_million_allocations(void)
{
    np_pool pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    np_pool_stats before = NP_STATS(pool);
    unsigned long long per_thread = NP_SIZE(500000ULL, 1000000ULL);
    window_worker workers[S09_THREADS];
    np_gate gate;
    np_gate_init(&gate, S09_THREADS);
    for (unsigned i = 0; i < S09_THREADS; i++) {
        workers[i].pool = pool;
        workers[i].block_size = (size_t)before.block_size;
        workers[i].index = i;
        workers[i].allocations = per_thread;
        workers[i].gate = &gate;
    }
    np_threads_run(S09_THREADS, window_worker_run, workers, sizeof workers[0]);
    np_gate_destroy(&gate);

    np_pool_stats s = NP_STATS(pool);
    unsigned long long total = per_thread * S09_THREADS;
    NP_ASSERT_EQ(total, s.allocations);
    NP_ASSERT_EQ(total, s.frees);
    NP_ASSERT_EQ(0, s.in_use);
    NP_ASSERT_CMP(s.peak_in_use, <=, S09_THREADS * S09_WINDOW);
    /*
     * The pool only grows when its free list is empty, that is when every block is held by a
     * thread (at most the windows, plus one block per thread between a free and its push).
     * So it never needs more than the chunk that covers those plus one more.
     */
    unsigned long long per_chunk = 65536 / s.block_stride + (65536 % s.block_stride != 0);
    unsigned long long bound = ((S09_THREADS * (S09_WINDOW + 1)) / per_chunk + 2) * per_chunk;
    NP_ASSERT_CMP(s.capacity, <=, bound);
    NP_ASSERT_CMP(s.created, <=, s.capacity);
    NP_ASSERT_EQ(total - s.created, s.reused);
    NP_DESTROY_POOL(pool);
}

/* ------------------------------------------------------------------ S10 */

static void s10_million_sequential_allocations_then_frees(void)
{
    const size_t count = 1000000;
    np_pool pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    const size_t size = 264;
    void **blocks = malloc(count * sizeof *blocks);
    NP_ASSERT_NOT_NULL(blocks);

    for (size_t i = 0; i < count; i++) {
        NP_ASSERT_OK(np_pool_alloc(pool, &blocks[i]));
        np_fill_pattern(blocks[i], size, i);
    }
    np_pool_stats full = NP_STATS(pool);
    NP_ASSERT_EQ(count, full.in_use);
    NP_ASSERT_EQ(count, full.created);
    NP_ASSERT_EQ(0, full.reused);
    NP_ASSERT_EQ(count, full.peak_in_use);
    /* Default growth adds a quarter of the capacity per step (whole 64 KiB chunks, at most
       32 MiB), and only when nothing is free: at most a quarter more than needed, plus a chunk. */
    unsigned long long per_chunk = full.capacity / full.chunks;
    unsigned long long needed = (count + per_chunk - 1) / per_chunk;
    NP_ASSERT_EQ(per_chunk * full.chunks, full.capacity);
    NP_ASSERT(full.chunks >= needed);
    NP_ASSERT_MSG(full.chunks <= needed + needed / 4 + 1, "%llu chunks for %llu needed", (unsigned long long)full.chunks, needed);
    NP_CHECK_POOL(pool);

    /* Every block still holds its own pattern: no block was handed out twice. */
    for (size_t i = 0; i < count; i++) NP_ASSERT_PATTERN(blocks[i], size, i);
    for (size_t i = 0; i < count; i++) NP_ASSERT_OK(np_pool_free(pool, blocks[i]));

    np_pool_stats empty = NP_STATS(pool);
    NP_ASSERT_EQ(0, empty.in_use);
    NP_ASSERT_EQ(count, empty.frees);
    NP_ASSERT_EQ(full.capacity, empty.capacity);
    NP_CHECK_POOL(pool);

    /* A second million comes entirely from the free list. */
    size_t again = NP_SIZE(count / 10, count);
    for (size_t i = 0; i < again; i++) NP_ASSERT_OK(np_pool_alloc(pool, &blocks[i]));
    np_pool_stats reused = NP_STATS(pool);
    NP_ASSERT_EQ(again, reused.reused);
    NP_ASSERT_EQ(count, reused.created);
    NP_ASSERT_EQ(full.capacity, reused.capacity);
    size_t freed = 0;
    NP_ASSERT_OK(np_pool_free_batch(pool, (void *const *)blocks, again, &freed));
    NP_ASSERT_EQ(again, freed);
    free(blocks);
    NP_DESTROY_POOL(pool);
}

/* ------------------------------------------------------------------ S11 */

static void s11_rapid_alloc_free_cycles_one_thread(void)
{
    unsigned long long cycles = NP_SIZE(5000000ULL, 20000000ULL);
    np_pool pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    void *first = NULL;
    for (unsigned long long n = 0; n < cycles; n++) {
        void *block = NULL;
        NP_ASSERT_OK(np_pool_alloc(pool, &block));
        if (n == 0) {
            first = block;
        } else {
            /* The free list is LIFO: a lone block that is freed is the next one handed out. */
            NP_ASSERT_PTR_EQ(first, block);
            /* Free and alloc never touch the block (metadata is out of band): last cycle's words are there. */
            uint64_t head, tail;
            memcpy(&head, block, sizeof head);
            memcpy(&tail, (char *)block + 256, sizeof tail);
            NP_ASSERT_EQ(n - 1, head);
            NP_ASSERT_EQ(~(n - 1), tail);
        }
        uint64_t head = n, tail = ~n;
        memcpy(block, &head, sizeof head);
        memcpy((char *)block + 256, &tail, sizeof tail);
        NP_ASSERT_OK(np_pool_free(pool, block));
    }
    np_pool_stats s = NP_STATS(pool);
    NP_ASSERT_EQ(cycles, s.allocations);
    NP_ASSERT_EQ(cycles, s.frees);
    NP_ASSERT_EQ(1, s.created);
    NP_ASSERT_EQ(cycles - 1, s.reused);
    NP_ASSERT_EQ(1, s.peak_in_use);
    NP_ASSERT_EQ(1, s.chunks);
    NP_DESTROY_POOL(pool);
}

static const np_test_case cases[] = {
    {"S09", "ten_threads_million_allocations_each_checked", s09_ten_threads_million_allocations},
    {"S10", "million_sequential_allocations_then_frees", s10_million_sequential_allocations_then_frees},
    {"S11", "rapid_alloc_free_cycles_one_thread_lifo", s11_rapid_alloc_free_cycles_one_thread},
};

const np_test_suite np_suite_million = {"million", cases, NP_COUNT_OF(cases)};
