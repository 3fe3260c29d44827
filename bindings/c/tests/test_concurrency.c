/*
 * Concurrency scenarios: S01-S08 (preset pools, mixed pools, 10/20/50/2000 threads) and S14
 * (producers allocate, consumers free). Every block is written with a pattern naming its writer
 * and checked by the thread that frees it, which for half of them is another thread. In S05-S07
 * one more thread validates, reads stats and trims all along, as the threading contract allows.
 */
#include "np_test_support.h"

#include <stdatomic.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ the mixed workload */

enum { MAX_POOLS = 3, MAX_BLOCKS_PER_ROUND = 64 };

typedef struct mixed_workload {
    /* set by the test */
    np_pool pools[MAX_POOLS];
    size_t pool_count;
    unsigned threads;
    unsigned rounds;
    unsigned blocks_per_round; /* even: half stay with their writer, half go to the next thread */
    int use_batches;           /* odd rounds use np_pool_alloc_batch / np_pool_free_batch */
    int check_ownership;       /* np_pool_owns: ALLOCATED in its pool, NOT_OWNED in the others */
    int observe;               /* one more thread validates, reads stats and trims meanwhile */
    /* set by run_mixed_workload */
    size_t block_sizes[MAX_POOLS];
    np_channel *mailboxes; /* mailboxes[i]: blocks thread i must check and free */
    np_gate gate;
    atomic_ullong allocations[MAX_POOLS], frees[MAX_POOLS];
    atomic_int stop_observer;
    unsigned long long validations, trims;
} mixed_workload;

typedef struct mixed_worker {
    mixed_workload *work;
    unsigned index;
} mixed_worker;

/* Checks a block written by the previous thread of the ring, then frees it. */
static void check_and_free_message(const mixed_worker *me, const np_message *message, unsigned long long *frees)
{
    const mixed_workload *work = me->work;
    unsigned writer = (unsigned)(message->tag >> 48);
    NP_ASSERT_EQ((me->index + work->threads - 1) % work->threads, writer);
    NP_ASSERT_PATTERN(message->block, message->size, message->tag);
    NP_ASSERT_OK(np_pool_free(message->pool, message->block));
    for (size_t p = 0; p < work->pool_count; p++)
        if (work->pools[p] == message->pool) frees[p]++;
}

static void *mixed_worker_run(void *raw)
{
    mixed_worker *me = raw;
    mixed_workload *work = me->work;
    const unsigned count = work->blocks_per_round, half = count / 2;
    np_channel *outbox = &work->mailboxes[(me->index + 1) % work->threads];
    np_channel *inbox = &work->mailboxes[me->index];
    unsigned long long allocations[MAX_POOLS] = {0}, frees[MAX_POOLS] = {0};
    unsigned long long expected_incoming = (unsigned long long)work->rounds * half, received = 0;
    void *blocks[MAX_BLOCKS_PER_ROUND];
    np_message message;

    np_gate_wait(&work->gate);
    for (unsigned round = 0; round < work->rounds; round++) {
        size_t p = (me->index + round) % work->pool_count;
        np_pool pool = work->pools[p];
        size_t size = work->block_sizes[p];
        int batch = work->use_batches && (round % 2 == 1);

        if (batch) {
            size_t allocated = 0;
            NP_ASSERT_OK(np_pool_alloc_batch(pool, blocks, count, &allocated));
            NP_ASSERT_EQ(count, allocated);
        } else {
            for (unsigned j = 0; j < count; j++) NP_ASSERT_OK(np_pool_alloc(pool, &blocks[j]));
        }
        allocations[p] += count;
        for (unsigned j = 0; j < count; j++) {
            NP_ASSERT_NOT_NULL(blocks[j]);
            np_fill_pattern(blocks[j], size, NP_TAG(me->index, round, j));
        }
        if (work->check_ownership) {
            for (size_t q = 0; q < work->pool_count; q++) {
                int32_t owned = -1;
                NP_ASSERT_OK(np_pool_owns(work->pools[q], blocks[0], &owned));
                NP_ASSERT_EQ(q == p ? NP_BLOCK_ALLOCATED : NP_BLOCK_NOT_OWNED, owned);
            }
        }
        for (unsigned j = 0; j < half; j++) {
            message.pool = pool;
            message.block = blocks[j];
            message.size = size;
            message.tag = NP_TAG(me->index, round, j);
            np_channel_send(outbox, &message);
        }
        while (np_channel_receive(inbox, &message, 0)) {
            check_and_free_message(me, &message, frees);
            received++;
        }
        /* The half this thread kept must still hold what it wrote. */
        for (unsigned j = half; j < count; j++) NP_ASSERT_PATTERN(blocks[j], size, NP_TAG(me->index, round, j));
        if (batch) {
            size_t freed = 0;
            NP_ASSERT_OK(np_pool_free_batch(pool, (void *const *)&blocks[half], count - half, &freed));
            NP_ASSERT_EQ(count - half, freed);
        } else {
            for (unsigned j = half; j < count; j++) NP_ASSERT_OK(np_pool_free(pool, blocks[j]));
        }
        frees[p] += count - half;
    }
    while (received < expected_incoming) {
        NP_ASSERT(np_channel_receive(inbox, &message, 1));
        check_and_free_message(me, &message, frees);
        received++;
    }
    for (size_t p = 0; p < work->pool_count; p++) {
        atomic_fetch_add(&work->allocations[p], allocations[p]);
        atomic_fetch_add(&work->frees[p], frees[p]);
    }
    return NULL;
}

/* Validates, reads stats and trims while the workers run: all of it is allowed concurrently. */
static void *observer_run(void *raw)
{
    mixed_workload *work = raw;
    while (!atomic_load(&work->stop_observer) && !np_test_failed()) {
        for (size_t p = 0; p < work->pool_count; p++) {
            np_pool_validation report;
            memset(&report, 0, sizeof report);
            report.struct_size = sizeof report;
            NP_ASSERT_OK(np_pool_validate(work->pools[p], &report));
            NP_ASSERT_EQ(0, report.errors);
            work->validations++;
            np_pool_stats stats = NP_STATS(work->pools[p]);
            NP_ASSERT_EQ(0, stats.double_frees + stats.foreign_frees + stats.invalid_frees + stats.failed_allocations);
            if (work->validations % 8 == 0) {
                uint64_t released = 0;
                NP_ASSERT_OK(np_pool_trim(work->pools[p], &released));
                work->trims++;
            }
        }
    }
    return NULL;
}

static void run_mixed_workload(mixed_workload *work)
{
    NP_ASSERT(work->pool_count >= 1 && work->pool_count <= MAX_POOLS);
    NP_ASSERT(work->blocks_per_round % 2 == 0 && work->blocks_per_round <= MAX_BLOCKS_PER_ROUND);
    for (size_t p = 0; p < work->pool_count; p++) {
        work->block_sizes[p] = (size_t)NP_STATS(work->pools[p]).block_size;
        atomic_init(&work->allocations[p], 0);
        atomic_init(&work->frees[p], 0);
    }
    atomic_init(&work->stop_observer, 0);
    work->mailboxes = malloc(work->threads * sizeof *work->mailboxes);
    mixed_worker *workers = malloc(work->threads * sizeof *workers);
    NP_ASSERT(work->mailboxes != NULL && workers != NULL);
    for (unsigned i = 0; i < work->threads; i++) {
        np_channel_init(&work->mailboxes[i]);
        workers[i].work = work;
        workers[i].index = i;
    }
    np_gate_init(&work->gate, work->threads);

    pthread_t observer;
    if (work->observe) np_thread_start(&observer, observer_run, work);
    np_threads_run(work->threads, mixed_worker_run, workers, sizeof *workers);
    if (work->observe) {
        atomic_store(&work->stop_observer, 1);
        np_thread_join(observer);
        np_test_stop_if_failed();
        NP_ASSERT_CMP(work->validations, >, 0);
    }

    unsigned long long expected_total = (unsigned long long)work->threads * work->rounds * work->blocks_per_round;
    unsigned long long counted_total = 0;
    for (size_t p = 0; p < work->pool_count; p++) {
        np_pool_stats stats = NP_STATS(work->pools[p]);
        NP_ASSERT_EQ(atomic_load(&work->allocations[p]), stats.allocations);
        NP_ASSERT_EQ(atomic_load(&work->frees[p]), stats.frees);
        NP_ASSERT_EQ(stats.allocations, stats.frees);
        NP_ASSERT_EQ(0, stats.in_use);
        NP_ASSERT_EQ(0, stats.failed_allocations + stats.double_frees + stats.foreign_frees + stats.invalid_frees);
        NP_ASSERT_CMP(stats.peak_in_use, >=, work->blocks_per_round);
        counted_total += stats.allocations;
        NP_CHECK_POOL(work->pools[p]);
    }
    NP_ASSERT_EQ(expected_total, counted_total);

    np_gate_destroy(&work->gate);
    for (unsigned i = 0; i < work->threads; i++) np_channel_destroy(&work->mailboxes[i]);
    free(work->mailboxes);
    free(workers);
}

/* One preset pool, `threads` threads; with `observe`, validate/stats/trim run concurrently. */
static void run_preset_pool(int32_t preset, unsigned threads, unsigned rounds, unsigned blocks_per_round, int observe)
{
    mixed_workload work;
    memset(&work, 0, sizeof work);
    work.pools[0] = NP_MAKE_PRESET_POOL(preset);
    work.pool_count = 1;
    work.threads = threads;
    work.rounds = rounds;
    work.blocks_per_round = blocks_per_round;
    work.observe = observe;
    run_mixed_workload(&work);
    NP_DESTROY_POOL(work.pools[0]);
}

static void s01_small_pool_4_threads(void) { run_preset_pool(NP_POOL_PRESET_SMALL, 4, NP_SIZE(5000, 50000), 16, 0); }
static void s02_medium_pool_4_threads(void) { run_preset_pool(NP_POOL_PRESET_MEDIUM, 4, NP_SIZE(5000, 50000), 16, 0); }
static void s03_large_pool_4_threads(void) { run_preset_pool(NP_POOL_PRESET_LARGE, 4, NP_SIZE(2500, 20000), 16, 0); }

static void s04_mixed_three_pools_8_threads(void)
{
    mixed_workload work;
    memset(&work, 0, sizeof work);
    work.pools[0] = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    work.pools[1] = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_MEDIUM);
    work.pools[2] = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_LARGE);
    work.pool_count = 3;
    work.threads = 8;
    work.rounds = NP_SIZE(4000, 30000);
    work.blocks_per_round = 16;
    work.use_batches = 1;
    work.check_ownership = 1;
    run_mixed_workload(&work);
    for (size_t p = 0; p < 3; p++) NP_DESTROY_POOL(work.pools[p]);
}

static void s05_stress_10_threads(void) { run_preset_pool(NP_POOL_PRESET_SMALL, 10, NP_SIZE(4000, 40000), 16, 1); }
static void s06_stress_20_threads(void) { run_preset_pool(NP_POOL_PRESET_SMALL, 20, NP_SIZE(2000, 20000), 16, 1); }
static void s07_stress_50_threads(void) { run_preset_pool(NP_POOL_PRESET_SMALL, 50, NP_SIZE(1000, 8000), 16, 1); }

static void s08_stress_2000_threads(void)
{
    mixed_workload work;
    memset(&work, 0, sizeof work);
    work.pools[0] = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    work.pools[1] = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_MEDIUM);
    work.pool_count = 2;
    work.threads = 2000;
    work.rounds = NP_SIZE(10, 250);
    work.blocks_per_round = 4;
    work.use_batches = 1;
    run_mixed_workload(&work);
    NP_DESTROY_POOL(work.pools[0]);
    NP_DESTROY_POOL(work.pools[1]);
}

/* ------------------------------------------------------------------ validate under tight churn */

typedef struct churner {
    np_pool pool;
    unsigned long long cycles;
    atomic_uint *running;
} churner;

static void *churner_run(void *raw)
{
    churner *me = raw;
    for (unsigned long long n = 0; n < me->cycles; n++) {
        void *block = NULL;
        NP_ASSERT_OK(np_pool_alloc(me->pool, &block));
        NP_ASSERT_OK(np_pool_free(me->pool, block));
    }
    atomic_fetch_sub(me->running, 1);
    return NULL;
}

/*
 * The threading contract allows validate() concurrently with alloc and free: on an intact pool
 * it must return NP_OK (it compares counts only when nobody allocated or freed meanwhile).
 * Tight alloc/free loops make every moment of the walk overlap an operation in flight.
 */
static void s05_validate_during_tight_alloc_free_reports_no_corruption(void)
{
    enum { THREADS = 10 };
    np_pool pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    churner churners[THREADS];
    pthread_t threads[THREADS];
    atomic_uint running;
    unsigned long long validations = 0, checked = 0;
    atomic_init(&running, THREADS);
    for (unsigned i = 0; i < THREADS; i++) {
        churners[i].pool = pool;
        churners[i].cycles = NP_SIZE(200000ULL, 2000000ULL);
        churners[i].running = &running;
        np_thread_start(&threads[i], churner_run, &churners[i]);
    }
    np_status first_failure = NP_OK;
    char detail[256] = "";
    while (atomic_load(&running) > 0 && !np_test_failed()) {
        np_pool_validation report;
        memset(&report, 0, sizeof report);
        report.struct_size = sizeof report;
        np_status status = np_pool_validate(pool, &report);
        validations++;
        checked += report.counts_checked;
        if (status != NP_OK && first_failure == NP_OK) {
            first_failure = status;
            np_last_error_message(detail, sizeof detail);
        }
    }
    for (unsigned i = 0; i < THREADS; i++) np_thread_join(threads[i]);
    np_test_stop_if_failed();
    NP_ASSERT_MSG(first_failure == NP_OK,
                  "validate returned %s on an intact pool while 10 threads allocated and freed "
                  "(%llu validations, %llu with counts checked); detail: %s",
                  np_status_name(first_failure), validations, checked, detail);
    np_pool_stats s = NP_STATS(pool);
    NP_ASSERT_EQ(THREADS * churners[0].cycles, s.allocations);
    NP_DESTROY_POOL(pool);
}

/* ------------------------------------------------------------------ S14 producers and consumers */

typedef struct handoff {
    np_pool pool;
    size_t block_size;
    unsigned producers, consumers, blocks_per_producer;
    np_channel queue;
    atomic_uint producers_done;
    atomic_uchar *seen; /* seen[producer * blocks_per_producer + seq]: how often a consumer got it */
    atomic_ullong consumed;
} handoff;

typedef struct handoff_party {
    handoff *shared;
    unsigned index;
} handoff_party;

static void *producer_run(void *raw)
{
    handoff_party *me = raw;
    handoff *h = me->shared;
    np_message message;
    for (unsigned seq = 0; seq < h->blocks_per_producer; seq++) {
        message.pool = h->pool;
        message.size = h->block_size;
        message.tag = NP_TAG(me->index, 0, seq);
        NP_ASSERT_OK(np_pool_alloc(h->pool, &message.block));
        np_fill_pattern(message.block, message.size, message.tag);
        np_channel_send(&h->queue, &message);
    }
    if (atomic_fetch_add(&h->producers_done, 1) + 1 == h->producers) np_channel_close(&h->queue);
    return NULL;
}

static void *consumer_run(void *raw)
{
    handoff_party *me = raw;
    handoff *h = me->shared;
    np_message message;
    unsigned long long consumed = 0;
    while (np_channel_receive(&h->queue, &message, 1)) {
        unsigned producer = (unsigned)(message.tag >> 48);
        unsigned seq = (unsigned)(message.tag & 0xFFFFFFu);
        NP_ASSERT_CMP(producer, <, h->producers);
        NP_ASSERT_CMP(seq, <, h->blocks_per_producer);
        NP_ASSERT_PATTERN(message.block, message.size, message.tag);
        NP_ASSERT_EQ(0, atomic_fetch_add(&h->seen[(size_t)producer * h->blocks_per_producer + seq], 1));
        NP_ASSERT_OK(np_pool_free(h->pool, message.block));
        consumed++;
    }
    atomic_fetch_add(&h->consumed, consumed);
    return NULL;
}

static void s14_producers_allocate_consumers_free(void)
{
    enum { QUEUE_LIMIT = 1024 };
    handoff h;
    memset(&h, 0, sizeof h);
    h.pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_MEDIUM);
    h.block_size = 1024;
    h.producers = NP_SIZE(4, 8);
    h.consumers = NP_SIZE(4, 8);
    h.blocks_per_producer = NP_SIZE(100000, 500000);
    np_channel_init_bounded(&h.queue, QUEUE_LIMIT);
    atomic_init(&h.producers_done, 0);
    atomic_init(&h.consumed, 0);
    size_t total = (size_t)h.producers * h.blocks_per_producer;
    h.seen = calloc(total, sizeof *h.seen);
    NP_ASSERT_NOT_NULL(h.seen);

    unsigned parties = h.producers + h.consumers;
    handoff_party *party = malloc(parties * sizeof *party);
    pthread_t *threads = malloc(parties * sizeof *threads);
    NP_ASSERT(party != NULL && threads != NULL);
    for (unsigned i = 0; i < parties; i++) {
        party[i].shared = &h;
        party[i].index = i < h.producers ? i : i - h.producers;
        np_thread_start(&threads[i], i < h.producers ? producer_run : consumer_run, &party[i]);
    }
    for (unsigned i = 0; i < parties; i++) np_thread_join(threads[i]);
    np_test_stop_if_failed();

    NP_ASSERT_EQ(total, atomic_load(&h.consumed));
    for (size_t i = 0; i < total; i++) NP_ASSERT_MSG(atomic_load(&h.seen[i]) == 1, "block %zu was consumed %u times", i, (unsigned)atomic_load(&h.seen[i]));
    np_pool_stats stats = NP_STATS(h.pool);
    NP_ASSERT_EQ(total, stats.allocations);
    NP_ASSERT_EQ(total, stats.frees);
    NP_ASSERT_EQ(0, stats.in_use);
    /* In flight at once: the queue, plus one block per producer (being written) and per consumer (being checked). */
    NP_ASSERT_CMP(stats.peak_in_use, <=, QUEUE_LIMIT + parties);
    NP_ASSERT_EQ(0, stats.double_frees + stats.foreign_frees + stats.invalid_frees + stats.failed_allocations);
    NP_DESTROY_POOL(h.pool);

    np_channel_destroy(&h.queue);
    free(h.seen);
    free(party);
    free(threads);
}

static const np_test_case cases[] = {
    {"S01", "small_pool_4_threads_cross_thread_contents", s01_small_pool_4_threads},
    {"S02", "medium_pool_4_threads_cross_thread_contents", s02_medium_pool_4_threads},
    {"S03", "large_pool_4_threads_cross_thread_contents", s03_large_pool_4_threads},
    {"S04", "mixed_ops_three_preset_pools_8_threads", s04_mixed_three_pools_8_threads},
    {"S05", "stress_10_threads_with_concurrent_validate_and_trim", s05_stress_10_threads},
    {"S05", "validate_during_tight_alloc_free_reports_no_corruption", s05_validate_during_tight_alloc_free_reports_no_corruption},
    {"S06", "stress_20_threads_with_concurrent_validate_and_trim", s06_stress_20_threads},
    {"S07", "stress_50_threads_with_concurrent_validate_and_trim", s07_stress_50_threads},
    {"S08", "stress_2000_threads_two_pools", s08_stress_2000_threads},
    {"S14", "producers_allocate_consumers_free_every_block_checked_once", s14_producers_allocate_consumers_free},
};

const np_test_suite np_suite_concurrency = {"concurrency", cases, NP_COUNT_OF(cases)};
