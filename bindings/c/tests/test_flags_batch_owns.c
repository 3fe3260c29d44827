/*
 * Flags, batches and ownership: S20 (zero-on-alloc, poison-on-free), S22 (np_pool_owns) and S23
 * (np_pool_alloc_batch / np_pool_free_batch, partial and invalid batches, across threads).
 */
#include "np_test_support.h"

#include <stdatomic.h>
#include <stdlib.h>

/* Asserts that `count` blocks are distinct and, sorted, at least `stride` apart. */
static void assert_distinct_blocks(void *const *blocks, size_t count, size_t stride)
{
    void **sorted = malloc(count * sizeof *sorted);
    NP_ASSERT_NOT_NULL(sorted);
    memcpy(sorted, blocks, count * sizeof *sorted);
    np_sort_pointers(sorted, count);
    for (size_t i = 1; i < count; i++)
        NP_ASSERT_MSG((uintptr_t)sorted[i] - (uintptr_t)sorted[i - 1] >= stride, "blocks %p and %p overlap",
                      sorted[i - 1], sorted[i]);
    free(sorted);
}

/* ------------------------------------------------------------------ S20 */

static void s20_zero_on_alloc_returns_zeroed_reused_blocks(void)
{
    enum { COUNT = 10, SIZE = 200 };
    np_pool pool = NP_MAKE_SIZED_POOL(SIZE, 0, 0, NP_POOL_ZERO_ON_ALLOC);
    void *blocks[COUNT];
    size_t count = 0;

    for (size_t i = 0; i < COUNT; i++) {
        NP_ASSERT_OK(np_pool_alloc(pool, &blocks[i]));
        NP_ASSERT_ALL_BYTES(blocks[i], SIZE, 0);
        memset(blocks[i], 0xAB, SIZE);
    }
    for (size_t i = 0; i < COUNT; i++) NP_ASSERT_OK(np_pool_free(pool, blocks[i]));
    for (size_t i = 0; i < COUNT; i++) {
        NP_ASSERT_OK(np_pool_alloc(pool, &blocks[i]));
        NP_ASSERT_ALL_BYTES(blocks[i], SIZE, 0);
        memset(blocks[i], 0xCD, SIZE);
    }
    NP_ASSERT_EQ(COUNT, NP_STATS(pool).reused);

    /* The batch path zeroes too. */
    size_t freed = 0;
    NP_ASSERT_OK(np_pool_free_batch(pool, (void *const *)blocks, COUNT, &freed));
    NP_ASSERT_EQ(COUNT, freed);
    NP_ASSERT_OK(np_pool_alloc_batch(pool, blocks, COUNT, &count));
    NP_ASSERT_EQ(COUNT, count);
    for (size_t i = 0; i < COUNT; i++) NP_ASSERT_ALL_BYTES(blocks[i], SIZE, 0);
    np_pool_stats s = NP_STATS(pool);
    NP_ASSERT_EQ(2 * COUNT, s.reused);
    NP_ASSERT_EQ(COUNT, s.created);
    NP_ASSERT_OK(np_pool_free_batch(pool, (void *const *)blocks, COUNT, NULL));
    NP_DESTROY_POOL(pool);
}

static void s20_poison_on_free_reports_writes_after_free(void)
{
    enum { SIZE = 128 };
    np_pool pool = NP_MAKE_SIZED_POOL(SIZE, 0, 0, NP_POOL_POISON_ON_FREE);
    void *blocks[8];
    np_pool_validation report;

    for (size_t i = 0; i < 8; i++) {
        NP_ASSERT_OK(np_pool_alloc(pool, &blocks[i]));
        np_fill_pattern(blocks[i], SIZE, i);
    }
    /* A block freed and handed out again holds the poison, and an untouched one is no violation. */
    void *victim = blocks[3];
    NP_ASSERT_OK(np_pool_free(pool, victim));
    NP_VALIDATE(pool);
    NP_ASSERT_OK(np_pool_alloc(pool, &blocks[3]));
    NP_ASSERT_PTR_EQ(victim, blocks[3]);
    NP_ASSERT_ALL_BYTES(blocks[3], SIZE, NP_POOL_POISON_BYTE);
    NP_ASSERT_EQ(0, NP_STATS(pool).poison_violations);

    /* A write after free: validate reports it... */
    NP_ASSERT_OK(np_pool_free(pool, victim));
    ((unsigned char *)victim)[SIZE - 1] = 0x42;
    memset(&report, 0, sizeof report);
    report.struct_size = sizeof report;
    NP_ASSERT_STATUS(NP_E_CORRUPTED, np_pool_validate(pool, &report));
    NP_ASSERT_EQ(1, report.poison_violations);
    NP_ASSERT_STATUS(NP_E_CORRUPTED, np_last_error_status());
    NP_ASSERT_EQ(0, NP_STATS(pool).poison_violations); /* counted when the block is handed out */

    /* ...and handing the block out again counts it; the pool is clean afterwards. */
    NP_ASSERT_OK(np_pool_alloc(pool, &blocks[3]));
    NP_ASSERT_PTR_EQ(victim, blocks[3]);
    NP_ASSERT_EQ(1, NP_STATS(pool).poison_violations);
    NP_VALIDATE(pool);

    /* Several violations are each found. */
    for (size_t i = 0; i < 8; i++) NP_ASSERT_OK(np_pool_free(pool, blocks[i]));
    ((unsigned char *)blocks[0])[0] = 0;
    ((unsigned char *)blocks[4])[SIZE / 2] = 0;
    ((unsigned char *)blocks[7])[SIZE - 1] = 0;
    NP_ASSERT_STATUS(NP_E_CORRUPTED, np_pool_validate(pool, &report));
    NP_ASSERT_EQ(3, report.poison_violations);
    for (size_t i = 0; i < 8; i++) NP_ASSERT_OK(np_pool_alloc(pool, &blocks[i]));
    NP_ASSERT_EQ(4, NP_STATS(pool).poison_violations);
    for (size_t i = 0; i < 8; i++) NP_ASSERT_OK(np_pool_free(pool, blocks[i]));
    NP_DESTROY_POOL(pool);
}

static void s20_zero_and_poison_together(void)
{
    enum { SIZE = 96 };
    np_pool pool = NP_MAKE_SIZED_POOL(SIZE, 0, 0, NP_POOL_ZERO_ON_ALLOC | NP_POOL_POISON_ON_FREE);
    void *block = NULL, *again = NULL;
    NP_ASSERT_OK(np_pool_alloc(pool, &block));
    memset(block, 0x77, SIZE);
    NP_ASSERT_OK(np_pool_free(pool, block));
    NP_ASSERT_OK(np_pool_alloc(pool, &again));
    NP_ASSERT_PTR_EQ(block, again);
    NP_ASSERT_ALL_BYTES(again, SIZE, 0);
    NP_ASSERT_EQ(0, NP_STATS(pool).poison_violations);

    NP_ASSERT_OK(np_pool_free(pool, again));
    ((unsigned char *)again)[5] = 1;
    NP_ASSERT_STATUS(NP_E_CORRUPTED, np_pool_validate(pool, NULL));
    NP_ASSERT_OK(np_pool_alloc(pool, &again));
    NP_ASSERT_ALL_BYTES(again, SIZE, 0);
    NP_ASSERT_EQ(1, NP_STATS(pool).poison_violations);
    NP_ASSERT_OK(np_pool_free(pool, again));
    NP_DESTROY_POOL(pool);
}

/* ------------------------------------------------------------------ S22 */

static int32_t owned_by(np_pool pool, const void *pointer)
{
    int32_t result = -1;
    NP_ASSERT_OK(np_pool_owns(pool, pointer, &result));
    return result;
}

static void s22_owns_allocated_free_foreign_interior(void)
{
    np_pool pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    np_pool other = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    void *block = NULL, *freed = NULL, *elsewhere = NULL;
    double on_stack = 0;
    void *heap = malloc(264);
    NP_ASSERT_NOT_NULL(heap);
    NP_ASSERT_OK(np_pool_alloc(pool, &block));
    NP_ASSERT_OK(np_pool_alloc(pool, &freed));
    NP_ASSERT_OK(np_pool_alloc(other, &elsewhere));
    np_fill_pattern(block, 264, 1);
    NP_ASSERT_OK(np_pool_free(pool, freed));
    np_pool_stats before = NP_STATS(pool);
    size_t stride = (size_t)before.block_stride;

    NP_ASSERT_EQ(NP_BLOCK_ALLOCATED, owned_by(pool, block));
    NP_ASSERT_EQ(NP_BLOCK_FREE, owned_by(pool, freed));
    void *handed_out[2] = {block, freed};
    NP_ASSERT_EQ(NP_BLOCK_FREE, owned_by(pool, np_block_never_handed_out(pool, block, handed_out, 2)));
    NP_ASSERT_EQ(NP_BLOCK_NOT_OWNED, owned_by(pool, (char *)block + 8));     /* interior */
    NP_ASSERT_EQ(NP_BLOCK_NOT_OWNED, owned_by(pool, (char *)block + 1));     /* misaligned */
    /* The pool's first block: walk down from `block` while the pool still owns what it finds. */
    char *lowest = block;
    while (owned_by(pool, lowest - stride) != NP_BLOCK_NOT_OWNED) lowest -= stride;
    NP_ASSERT_EQ(NP_BLOCK_NOT_OWNED, owned_by(pool, lowest - 1));                        /* just before the pool */
    NP_ASSERT_EQ(NP_BLOCK_NOT_OWNED, owned_by(pool, lowest + before.capacity * stride)); /* past its committed chunk */
    NP_ASSERT(owned_by(pool, lowest + (before.capacity - 1) * stride) != NP_BLOCK_NOT_OWNED); /* its last block */
    NP_ASSERT_EQ(NP_BLOCK_NOT_OWNED, owned_by(pool, elsewhere));
    NP_ASSERT_EQ(NP_BLOCK_ALLOCATED, owned_by(other, elsewhere));
    NP_ASSERT_EQ(NP_BLOCK_NOT_OWNED, owned_by(other, block));
    NP_ASSERT_EQ(NP_BLOCK_NOT_OWNED, owned_by(pool, &on_stack));
    NP_ASSERT_EQ(NP_BLOCK_NOT_OWNED, owned_by(pool, heap));
    NP_ASSERT_EQ(NP_BLOCK_NOT_OWNED, owned_by(pool, NULL));

    /* Asking changes nothing: no counter moves and the block keeps its contents. */
    np_pool_stats after = NP_STATS(pool);
    NP_ASSERT_EQ(before.allocations, after.allocations);
    NP_ASSERT_EQ(before.frees, after.frees);
    NP_ASSERT_EQ(0, after.double_frees + after.foreign_frees + after.invalid_frees);
    NP_ASSERT_PATTERN(block, 264, 1);

    NP_ASSERT_OK(np_pool_free(pool, block));
    NP_ASSERT_EQ(NP_BLOCK_FREE, owned_by(pool, block));
    NP_ASSERT_OK(np_pool_free(other, elsewhere));
    free(heap);
    NP_DESTROY_POOL(pool);
    NP_DESTROY_POOL(other);
}

/* ------------------------------------------------------------------ S23 */

static void s23_batch_round_trip(void)
{
    enum { COUNT = 1000, SIZE = 1024 };
    np_pool pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_MEDIUM);
    void **blocks = malloc(COUNT * sizeof *blocks);
    size_t count = 99, freed = 99;
    NP_ASSERT_NOT_NULL(blocks);

    NP_ASSERT_OK(np_pool_alloc_batch(pool, NULL, 0, &count));
    NP_ASSERT_EQ(0, count);
    NP_ASSERT_OK(np_pool_free_batch(pool, NULL, 0, &freed));
    NP_ASSERT_EQ(0, freed);

    NP_ASSERT_OK(np_pool_alloc_batch(pool, blocks, COUNT, &count));
    NP_ASSERT_EQ(COUNT, count);
    assert_distinct_blocks(blocks, COUNT, SIZE);
    for (size_t i = 0; i < COUNT; i++) np_fill_pattern(blocks[i], SIZE, i);
    for (size_t i = 0; i < COUNT; i++) NP_ASSERT_PATTERN(blocks[i], SIZE, i);
    np_pool_stats out = NP_STATS(pool);
    NP_ASSERT_EQ(COUNT, out.allocations);
    NP_ASSERT_EQ(COUNT, out.in_use);
    NP_ASSERT_OK(np_pool_free_batch(pool, (void *const *)blocks, COUNT, &freed));
    NP_ASSERT_EQ(COUNT, freed);
    np_pool_stats back = NP_STATS(pool);
    NP_ASSERT_EQ(COUNT, back.frees);
    NP_ASSERT_EQ(0, back.in_use);
    free(blocks);
    NP_DESTROY_POOL(pool);
}

static void s23_partial_batch_at_max_blocks(void)
{
    enum { MAX = 100, SINGLES = 60, BATCH = 64 };
    np_pool pool = NP_MAKE_SIZED_POOL(64, MAX, 0, 0);
    void *singles[SINGLES], *batch[BATCH], *all[MAX];
    size_t count = 0;
    for (size_t i = 0; i < SINGLES; i++) NP_ASSERT_OK(np_pool_alloc(pool, &singles[i]));
    for (size_t i = 0; i < BATCH; i++) batch[i] = &batch[i]; /* garbage the call must overwrite */

    NP_ASSERT_STATUS(NP_E_POOL_EXHAUSTED, np_pool_alloc_batch(pool, batch, BATCH, &count));
    NP_ASSERT_EQ(MAX - SINGLES, count);
    for (size_t i = 0; i < count; i++) NP_ASSERT_EQ(NP_BLOCK_ALLOCATED, owned_by(pool, batch[i]));
    for (size_t i = count; i < BATCH; i++) NP_ASSERT_PTR_EQ(NULL, batch[i]);
    np_pool_stats s = NP_STATS(pool);
    NP_ASSERT_EQ(MAX, s.in_use);
    NP_ASSERT_EQ(MAX, s.allocations);
    NP_ASSERT_EQ(1, s.failed_allocations);

    memcpy(all, singles, sizeof singles);
    memcpy(all + SINGLES, batch, count * sizeof *batch);
    assert_distinct_blocks(all, MAX, 64);
    size_t freed = 0;
    NP_ASSERT_OK(np_pool_free_batch(pool, (void *const *)all, MAX, &freed));
    NP_ASSERT_EQ(MAX, freed);
    NP_DESTROY_POOL(pool);
}

static void s23_free_batch_skips_and_counts_invalid_entries(void)
{
    np_pool pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    np_pool other = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    void *valid[4], *freed_before = NULL, *elsewhere = NULL;
    double on_stack = 0;
    for (size_t i = 0; i < 4; i++) {
        NP_ASSERT_OK(np_pool_alloc(pool, &valid[i]));
        np_fill_pattern(valid[i], 264, i);
    }
    NP_ASSERT_OK(np_pool_alloc(pool, &freed_before));
    NP_ASSERT_OK(np_pool_free(pool, freed_before));
    NP_ASSERT_OK(np_pool_alloc(other, &elsewhere));

    void *entries[] = {
        valid[0],
        NULL,                     /* NP_E_NULL_POINTER: the first invalid entry, so the status */
        freed_before,             /* double free */
        &on_stack,                /* foreign */
        (char *)valid[1] + 8,     /* interior */
        (char *)valid[1] + 1,     /* misaligned */
        valid[1],
        elsewhere,                /* foreign: another pool's block */
        valid[2],
        valid[2],                 /* the same block twice in one batch: the second is a double free */
    };
    size_t freed = 0;
    NP_ASSERT_STATUS(NP_E_NULL_POINTER, np_pool_free_batch(pool, (void *const *)entries, NP_COUNT_OF(entries), &freed));
    NP_ASSERT_EQ(3, freed);
    np_pool_stats s = NP_STATS(pool);
    NP_ASSERT_EQ(1 + 3, s.frees); /* the earlier single free, then the batch's three */
    NP_ASSERT_EQ(2, s.double_frees);
    NP_ASSERT_EQ(2, s.foreign_frees);
    NP_ASSERT_EQ(2, s.invalid_frees);
    NP_ASSERT_EQ(1, s.in_use);
    NP_ASSERT_EQ(NP_BLOCK_FREE, owned_by(pool, valid[0]));
    NP_ASSERT_EQ(NP_BLOCK_ALLOCATED, owned_by(pool, valid[3]));
    NP_ASSERT_PATTERN(valid[3], 264, 3);
    NP_ASSERT_EQ(NP_BLOCK_ALLOCATED, owned_by(other, elsewhere));
    NP_CHECK_POOL(pool);

    /* Without a NULL the status is the first invalid entry's own. */
    void *second[] = {valid[3], (char *)valid[3] + 16};
    NP_ASSERT_STATUS(NP_E_INTERIOR_POINTER, np_pool_free_batch(pool, (void *const *)second, 2, NULL));
    NP_ASSERT_EQ(0, NP_STATS(pool).in_use);
    NP_ASSERT_OK(np_pool_free(other, elsewhere));
    NP_DESTROY_POOL(pool);
    NP_DESTROY_POOL(other);
}

/* Batches allocated on producer threads, checked and freed as batches on consumer threads. */
enum { BATCH_BLOCKS = 32, BATCH_SIZE = 264 };

typedef struct block_batch {
    void *blocks[BATCH_BLOCKS];
    uint64_t first_tag;
} block_batch;

typedef struct batch_handoff {
    np_pool pool;
    np_channel queue;
    unsigned producers, batches_per_producer;
    atomic_uint producers_done;
    atomic_ullong blocks_freed;
} batch_handoff;

typedef struct batch_party {
    batch_handoff *shared;
    unsigned index;
} batch_party;

static void *batch_producer_run(void *raw)
{
    batch_party *me = raw;
    batch_handoff *h = me->shared;
    for (unsigned n = 0; n < h->batches_per_producer; n++) {
        block_batch *batch = malloc(sizeof *batch);
        size_t count = 0;
        NP_ASSERT_NOT_NULL(batch);
        NP_ASSERT_OK(np_pool_alloc_batch(h->pool, batch->blocks, BATCH_BLOCKS, &count));
        NP_ASSERT_EQ(BATCH_BLOCKS, count);
        batch->first_tag = NP_TAG(me->index, n, 0);
        for (size_t i = 0; i < BATCH_BLOCKS; i++) np_fill_pattern(batch->blocks[i], BATCH_SIZE, batch->first_tag + i);
        np_message message = {h->pool, batch, sizeof *batch, 0};
        np_channel_send(&h->queue, &message);
    }
    if (atomic_fetch_add(&h->producers_done, 1) + 1 == h->producers) np_channel_close(&h->queue);
    return NULL;
}

static void *batch_consumer_run(void *raw)
{
    batch_party *me = raw;
    batch_handoff *h = me->shared;
    np_message message;
    while (np_channel_receive(&h->queue, &message, 1)) {
        block_batch *batch = message.block;
        size_t freed = 0;
        for (size_t i = 0; i < BATCH_BLOCKS; i++) NP_ASSERT_PATTERN(batch->blocks[i], BATCH_SIZE, batch->first_tag + i);
        NP_ASSERT_OK(np_pool_free_batch(h->pool, (void *const *)batch->blocks, BATCH_BLOCKS, &freed));
        NP_ASSERT_EQ(BATCH_BLOCKS, freed);
        atomic_fetch_add(&h->blocks_freed, freed);
        free(batch);
    }
    return NULL;
}

static void s23_batches_cross_threads(void)
{
    enum { PRODUCERS = 3, CONSUMERS = 3 };
    batch_handoff h;
    batch_party parties[PRODUCERS + CONSUMERS];
    pthread_t threads[PRODUCERS + CONSUMERS];
    h.pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    h.producers = PRODUCERS;
    h.batches_per_producer = NP_SIZE(5000, 20000);
    np_channel_init_bounded(&h.queue, 64);
    atomic_init(&h.producers_done, 0);
    atomic_init(&h.blocks_freed, 0);
    for (unsigned i = 0; i < PRODUCERS + CONSUMERS; i++) {
        parties[i].shared = &h;
        parties[i].index = i;
        np_thread_start(&threads[i], i < PRODUCERS ? batch_producer_run : batch_consumer_run, &parties[i]);
    }
    for (unsigned i = 0; i < PRODUCERS + CONSUMERS; i++) np_thread_join(threads[i]);
    np_test_stop_if_failed();

    unsigned long long total = (unsigned long long)PRODUCERS * h.batches_per_producer * BATCH_BLOCKS;
    NP_ASSERT_EQ(total, atomic_load(&h.blocks_freed));
    np_pool_stats s = NP_STATS(h.pool);
    NP_ASSERT_EQ(total, s.allocations);
    NP_ASSERT_EQ(total, s.frees);
    NP_ASSERT_EQ(0, s.in_use);
    np_channel_destroy(&h.queue);
    NP_DESTROY_POOL(h.pool);
}

static const np_test_case cases[] = {
    {"S20", "zero_on_alloc_returns_zeroed_reused_blocks", s20_zero_on_alloc_returns_zeroed_reused_blocks},
    {"S20", "poison_on_free_reports_writes_after_free", s20_poison_on_free_reports_writes_after_free},
    {"S20", "zero_and_poison_together", s20_zero_and_poison_together},
    {"S22", "owns_allocated_free_foreign_interior_misaligned", s22_owns_allocated_free_foreign_interior},
    {"S23", "batch_round_trip_and_empty_batches", s23_batch_round_trip},
    {"S23", "partial_batch_at_max_blocks", s23_partial_batch_at_max_blocks},
    {"S23", "free_batch_skips_and_counts_invalid_entries", s23_free_batch_skips_and_counts_invalid_entries},
    {"S23", "batches_allocated_and_freed_on_different_threads", s23_batches_cross_threads},
};

const np_test_suite np_suite_flags_batch_owns = {"flags_batch_owns", cases, NP_COUNT_OF(cases)};
