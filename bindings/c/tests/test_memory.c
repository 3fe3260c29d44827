/*
 * Memory scenarios: S17 (no leak over 100,000 cycles nor over thread churn), S19 (trim gives
 * back only chunks with no block in use) and S21 (destroy with blocks still out).
 */
#include "np_ipc_support.h"
#include "np_test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* ------------------------------------------------------------------ S17 */

/*
 * Cycles n in [first, first + count): a few blocks out and back, plus a rejected free now and
 * then (the error path must not leak either).
 */
static void run_leak_cycles(np_pool pool, unsigned long long first, unsigned long long count, uint64_t *random)
{
    void *blocks[16];
    for (unsigned long long n = first; n < first + count; n++) {
        unsigned taken = 1 + (unsigned)np_random_below(random, 16);
        for (unsigned i = 0; i < taken; i++) {
            NP_ASSERT_OK(np_pool_alloc(pool, &blocks[i]));
            memcpy(blocks[i], &n, sizeof n);
        }
        for (unsigned i = 0; i < taken; i++) {
            NP_ASSERT(memcmp(blocks[i], &n, sizeof n) == 0);
            NP_ASSERT_OK(np_pool_free(pool, blocks[i]));
        }
        if (n % 100 == 0) NP_ASSERT_STATUS(NP_E_DOUBLE_FREE, np_pool_free(pool, blocks[0]));
    }
}

static void s17_no_leak_over_100000_cycles(void)
{
    const unsigned long long warm_up = 10000, cycles = NP_SIZE(100000ULL, 2000000ULL);
    const size_t tolerance = 2u << 20; /* allocator and page noise, far below one block per cycle */
    np_pool pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    uint64_t random = 42;

    run_leak_cycles(pool, 0, warm_up, &random);
    /* Count the measured cycles alone: reset_stats zeroes the event counters, not the pool. */
    NP_ASSERT_OK(np_pool_reset_stats(pool));
    np_pool_stats warm = NP_STATS(pool);
    NP_ASSERT_EQ(0, warm.allocations + warm.frees + warm.created + warm.reused + warm.double_frees);
    NP_ASSERT_EQ(0, warm.peak_in_use);
    NP_ASSERT(warm.capacity > 0);
    uint64_t replay = random; /* the same generator state gives the same block counts */
    unsigned long long expected_allocations = 0;
    for (unsigned long long n = 0; n < cycles; n++) expected_allocations += 1 + np_random_below(&replay, 16);

    size_t resident_before = np_resident_bytes();
    run_leak_cycles(pool, warm_up, cycles, &random);
    size_t resident_after = np_resident_bytes();

    np_pool_stats s = NP_STATS(pool);
    NP_ASSERT_EQ(warm.capacity, s.capacity);
    NP_ASSERT_EQ(warm.chunks, s.chunks);
    NP_ASSERT_EQ(0, s.created); /* every allocation after warm-up reused a block */
    NP_ASSERT_EQ(expected_allocations, s.allocations);
    NP_ASSERT_EQ(expected_allocations, s.reused);
    NP_ASSERT_EQ(expected_allocations, s.frees);
    NP_ASSERT_CMP(s.peak_in_use, <=, 16);
    NP_ASSERT_EQ(cycles / 100, s.double_frees);
    NP_ASSERT_MSG(resident_after <= resident_before + tolerance,
                  "resident memory grew from %zu to %zu bytes over %llu cycles", resident_before, resident_after,
                  cycles);
    NP_DESTROY_POOL(pool);
}

/* Thread churn: threads that call in and exit must not leave memory or blocks behind. */
typedef struct churner {
    np_pool pool;
    unsigned index;
} churner;

static void *churner_run(void *raw)
{
    churner *me = raw;
    void *blocks[8];
    for (unsigned i = 0; i < 8; i++) {
        NP_ASSERT_OK(np_pool_alloc(me->pool, &blocks[i]));
        np_fill_pattern(blocks[i], 264, NP_TAG(me->index, 0, i));
    }
    for (unsigned i = 0; i < 8; i++) {
        NP_ASSERT_PATTERN(blocks[i], 264, NP_TAG(me->index, 0, i));
        NP_ASSERT_OK(np_pool_free(me->pool, blocks[i]));
    }
    return NULL;
}

static void s17_no_leak_over_thread_churn(void)
{
    enum { THREADS = 8 };
    const unsigned warm_rounds = 100, rounds = NP_SIZE(400u, 4000u);
    const size_t tolerance = 4u << 20;
    np_pool pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    churner churners[THREADS];
    np_pool_stats warm = {0};
    size_t resident_before = 0;
    for (unsigned i = 0; i < THREADS; i++) {
        churners[i].pool = pool;
        churners[i].index = i;
    }
    for (unsigned round = 0; round < warm_rounds + rounds; round++) {
        if (round == warm_rounds) {
            warm = NP_STATS(pool);
            resident_before = np_resident_bytes();
        }
        np_threads_run(THREADS, churner_run, churners, sizeof churners[0]);
    }
    size_t resident_after = np_resident_bytes();
    np_pool_stats s = NP_STATS(pool);
    NP_ASSERT_EQ(0, s.in_use);
    NP_ASSERT_EQ((unsigned long long)(warm_rounds + rounds) * THREADS * 8, s.allocations);
    /* Every exited thread's cache came back to the depot. Capacity is bounded by what the
     * threads alive at once may cache (two magazines each) plus a growth step, not by the number
     * of threads: when a new thread asks before a dead one's cache is reclaimed, the pool may
     * grow once, but a thread that kept its blocks would add 8 per thread, 25,600 here. */
    const unsigned long long per_chunk = (64u * 1024 + s.block_stride - 1) / s.block_stride;
    const unsigned long long bound = (THREADS + 1) * 2 * s.magazine_capacity + (unsigned long long)THREADS * 8 + per_chunk;
    NP_ASSERT_EQ(0, s.cached_threads);
    NP_ASSERT_EQ(s.capacity, s.depot_blocks);
    NP_ASSERT_MSG(s.capacity <= (warm.capacity > bound ? warm.capacity : bound),
                  "capacity grew from %llu to %llu blocks (bound %llu)", (unsigned long long)warm.capacity,
                  (unsigned long long)s.capacity, bound);
    NP_ASSERT_MSG(resident_after <= resident_before + tolerance,
                  "resident memory grew from %zu to %zu bytes over %u rounds of %d threads", resident_before,
                  resident_after, rounds, THREADS);
    NP_DESTROY_POOL(pool);
}

/* ------------------------------------------------------------------ S19 */

/*
 * Puts every block of a full pool in address order, so blocks[i] is block i and lives in chunk
 * i / blocks_per_chunk: one reservation holds the pool, committed a chunk at a time.
 */
static void sort_whole_pool(void **blocks, size_t count, size_t stride)
{
    np_sort_pointers(blocks, count);
    for (size_t i = 1; i < count; i++)
        NP_ASSERT_MSG((uintptr_t)blocks[i] - (uintptr_t)blocks[i - 1] == stride,
                      "blocks %zu and %zu of a full pool are not one stride apart", i - 1, i);
}

static void s19_trim_releases_only_chunks_with_no_block_in_use(void)
{
    np_pool pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    const size_t size = 264;
    void *first = NULL;
    NP_ASSERT_OK(np_pool_alloc(pool, &first));
    const size_t per_chunk = (size_t)NP_STATS(pool).capacity, total = 10 * per_chunk;
    const unsigned long long stride = NP_STATS(pool).block_stride;
    void **blocks = malloc(total * sizeof *blocks);
    NP_ASSERT_NOT_NULL(blocks);
    blocks[0] = first;
    for (size_t i = 1; i < total; i++) NP_ASSERT_OK(np_pool_alloc(pool, &blocks[i]));
    sort_whole_pool(blocks, total, (size_t)stride);
    for (size_t i = 0; i < total; i++) np_fill_pattern(blocks[i], size, i);

    /*
     * Keep one block in chunk 2, the last block of chunk 6 and the first of chunk 8: chunk 7
     * is released between two chunks that stay, sharing pages with both.
     */
    const size_t kept[3] = {2 * per_chunk + 5, 7 * per_chunk - 1, 8 * per_chunk};
    for (size_t i = 0; i < total; i++)
        if (i != kept[0] && i != kept[1] && i != kept[2]) NP_ASSERT_OK(np_pool_free(pool, blocks[i]));
    np_pool_stats before = NP_STATS(pool);
    NP_ASSERT_EQ(10, before.chunks);

    uint64_t released = 0;
    NP_ASSERT_OK(np_pool_trim(pool, &released));
    np_pool_stats trimmed = NP_STATS(pool);
    NP_ASSERT_EQ(3, trimmed.chunks);
    NP_ASSERT_EQ(3 * per_chunk, trimmed.capacity);
    NP_ASSERT_EQ(7, trimmed.chunks_released);
    NP_ASSERT_EQ(3, trimmed.in_use);
    /* Whole pages inside the 7 released chunks go back; pages shared with a kept chunk may stay. */
    NP_ASSERT_CMP(released, <=, 7 * per_chunk * stride);
    NP_ASSERT_CMP(released, >=, 7 * (per_chunk * stride - 2 * np_page_size()));
    for (size_t k = 0; k < 3; k++) {
        int32_t owned = -1;
        NP_ASSERT_PATTERN(blocks[kept[k]], size, kept[k]);
        NP_ASSERT_OK(np_pool_owns(pool, blocks[kept[k]], &owned));
        NP_ASSERT_EQ(NP_BLOCK_ALLOCATED, owned);
    }
    int32_t owned = -1;
    NP_ASSERT_OK(np_pool_owns(pool, blocks[0], &owned));
    NP_ASSERT_EQ(NP_BLOCK_NOT_OWNED, owned); /* its chunk is gone */
    NP_ASSERT_OK(np_pool_owns(pool, blocks[2 * per_chunk], &owned));
    NP_ASSERT_EQ(NP_BLOCK_FREE, owned); /* its chunk stayed */
    NP_CHECK_POOL(pool);

    /* Trimming again finds nothing to release. */
    NP_ASSERT_OK(np_pool_trim(pool, &released));
    NP_ASSERT_EQ(0, released);
    NP_ASSERT_EQ(3, NP_STATS(pool).chunks);

    /* Later allocations use the free blocks of the kept chunks first, then grow again. */
    size_t again = 0;
    for (size_t i = 0; i < total; i++) {
        if (i == kept[0] || i == kept[1] || i == kept[2]) continue;
        NP_ASSERT_OK(np_pool_alloc(pool, &blocks[i]));
        np_fill_pattern(blocks[i], size, total + i);
        again++;
    }
    np_pool_stats regrown = NP_STATS(pool);
    NP_ASSERT_EQ(10, regrown.chunks);
    NP_ASSERT_EQ(total, regrown.capacity);
    NP_ASSERT_EQ(trimmed.reused + (3 * per_chunk - 3), regrown.reused);
    NP_ASSERT_EQ(trimmed.created + (again - (3 * per_chunk - 3)), regrown.created);
    for (size_t i = 0; i < total; i++) {
        int is_kept = i == kept[0] || i == kept[1] || i == kept[2];
        NP_ASSERT_PATTERN(blocks[i], size, is_kept ? i : total + i);
    }
    NP_CHECK_POOL(pool);

    /* With everything free, trim releases every chunk; the pool still works afterwards. */
    for (size_t i = 0; i < total; i++) NP_ASSERT_OK(np_pool_free(pool, blocks[i]));
    NP_ASSERT_OK(np_pool_trim(pool, &released));
    np_pool_stats empty = NP_STATS(pool);
    NP_ASSERT_EQ(0, empty.chunks);
    NP_ASSERT_EQ(0, empty.capacity);
    NP_ASSERT_EQ(17, empty.chunks_released);
    NP_CHECK_POOL(pool);
    NP_ASSERT_OK(np_pool_alloc(pool, &first));
    np_fill_pattern(first, size, 1);
    NP_ASSERT_EQ(per_chunk, NP_STATS(pool).capacity);
    NP_ASSERT_PATTERN(first, size, 1);
    NP_ASSERT_OK(np_pool_free(pool, first));
    free(blocks);
    NP_DESTROY_POOL(pool);
}

/* Blocks of a released chunk come back zeroed (zero-on-alloc), while its neighbours keep their data. */
static void s19_trim_then_regrow_zero_on_alloc(void)
{
    np_pool pool = NP_MAKE_SIZED_POOL(264, 0, 0, NP_POOL_ZERO_ON_ALLOC);
    void *first = NULL;
    NP_ASSERT_OK(np_pool_alloc(pool, &first));
    const size_t per_chunk = (size_t)NP_STATS(pool).capacity, total = 3 * per_chunk;
    void **blocks = malloc(total * sizeof *blocks);
    NP_ASSERT_NOT_NULL(blocks);
    blocks[0] = first;
    for (size_t i = 1; i < total; i++) NP_ASSERT_OK(np_pool_alloc(pool, &blocks[i]));
    sort_whole_pool(blocks, total, (size_t)NP_STATS(pool).block_stride);
    for (size_t i = 0; i < total; i++) {
        NP_ASSERT_ALL_BYTES(blocks[i], 264, 0);
        memset(blocks[i], 0xAB, 264);
    }
    const size_t left = per_chunk - 1, right = 2 * per_chunk; /* the neighbours of chunk 1 */
    for (size_t i = 0; i < total; i++)
        if (i != left && i != right) NP_ASSERT_OK(np_pool_free(pool, blocks[i]));
    NP_ASSERT_OK(np_pool_trim(pool, NULL));
    NP_ASSERT_EQ(2, NP_STATS(pool).chunks);
    NP_ASSERT_ALL_BYTES(blocks[left], 264, 0xAB);
    NP_ASSERT_ALL_BYTES(blocks[right], 264, 0xAB);

    for (size_t i = 0; i < total; i++) {
        if (i == left || i == right) continue;
        NP_ASSERT_OK(np_pool_alloc(pool, &blocks[i]));
        NP_ASSERT_ALL_BYTES(blocks[i], 264, 0);
    }
    NP_ASSERT_EQ(3, NP_STATS(pool).chunks);
    NP_ASSERT_ALL_BYTES(blocks[left], 264, 0xAB);
    NP_ASSERT_ALL_BYTES(blocks[right], 264, 0xAB);
    for (size_t i = 0; i < total; i++) NP_ASSERT_OK(np_pool_free(pool, blocks[i]));
    free(blocks);
    NP_DESTROY_POOL(pool);
}

/* ------------------------------------------------------------------ S21 */

static void s21_destroy_with_blocks_out_makes_the_handle_stale(void)
{
    np_pool pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_MEDIUM);
    void *blocks[10];
    for (size_t i = 0; i < 10; i++) {
        NP_ASSERT_OK(np_pool_alloc(pool, &blocks[i]));
        np_fill_pattern(blocks[i], 1024, i);
    }
    NP_ASSERT_EQ(10, NP_STATS(pool).in_use);
    NP_ASSERT_OK(np_pool_destroy(pool));

    void *block = NULL;
    size_t count = 0;
    uint64_t released = 0;
    int32_t owned = -1;
    np_pool_stats stats;
    np_pool_validation report;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    memset(&report, 0, sizeof report);
    report.struct_size = sizeof report;
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_pool_alloc(pool, &block));
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_pool_free(pool, blocks[0]));
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_pool_alloc_batch(pool, blocks, 2, &count));
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_pool_free_batch(pool, (void *const *)blocks, 2, &count));
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_pool_reserve(pool, 1));
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_pool_trim(pool, &released));
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_pool_owns(pool, blocks[0], &owned));
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_pool_validate(pool, &report));
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_pool_get_stats(pool, &stats));
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_pool_reset_stats(pool));
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_pool_destroy(pool));
    NP_ASSERT_OK(np_pool_destroy(0));

    /* New pools never bring an old handle back to life, even when they reuse its slot. */
    for (int i = 0; i < 100; i++) {
        np_pool fresh = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
        NP_ASSERT(fresh != pool);
        NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_pool_alloc(pool, &block));
        NP_ASSERT_OK(np_pool_destroy(fresh));
        NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_pool_destroy(fresh));
    }
}

static void s21_destroy_with_blocks_out_returns_the_memory(void)
{
    const int cycles = NP_SIZE(200, 2000);
    const size_t tolerance = 8u << 20;
    size_t resident_before = 0;
    for (int cycle = 0; cycle < cycles + 10; cycle++) {
        if (cycle == 10) resident_before = np_resident_bytes();
        /* 100 large blocks: 1 MiB written and left out at destroy. */
        np_pool pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_LARGE);
        void *blocks[100];
        size_t count = 0;
        NP_ASSERT_OK(np_pool_alloc_batch(pool, blocks, 100, &count));
        NP_ASSERT_EQ(100, count);
        for (size_t i = 0; i < 100; i++) np_fill_pattern(blocks[i], 10240, i);
        NP_ASSERT_PATTERN(blocks[99], 10240, 99);
        NP_ASSERT_OK(np_pool_destroy(pool));
    }
    size_t resident_after = np_resident_bytes();
    NP_ASSERT_MSG(resident_after <= resident_before + tolerance,
                  "resident memory grew from %zu to %zu bytes over %d destroyed pools with 1 MiB out each",
                  resident_before, resident_after, cycles);
}

/* Threads create pools, leave blocks out, destroy them: every handle is new and dies with its pool. */
enum { LIFECYCLE_THREADS = 4 };

typedef struct lifecycle_worker {
    unsigned index;
    unsigned pools;
    np_pool *handles; /* every handle this worker was given */
    np_pool shared;   /* a long-lived pool everyone also uses meanwhile */
} lifecycle_worker;

static void *lifecycle_worker_run(void *raw)
{
    lifecycle_worker *me = raw;
    for (unsigned n = 0; n < me->pools; n++) {
        np_pool pool = NP_MAKE_PRESET_POOL((int32_t)(1 + n % 3));
        void *blocks[4], *shared_block = NULL;
        size_t count = 0;
        me->handles[n] = pool;
        NP_ASSERT_OK(np_pool_alloc_batch(pool, blocks, 4, &count));
        NP_ASSERT_EQ(4, count);
        for (size_t i = 0; i < 4; i++) np_fill_pattern(blocks[i], 264, NP_TAG(me->index, n, i));
        NP_ASSERT_OK(np_pool_alloc(me->shared, &shared_block));
        np_fill_pattern(shared_block, 264, NP_TAG(me->index, n, 9));
        for (size_t i = 0; i < 4; i++) NP_ASSERT_PATTERN(blocks[i], 264, NP_TAG(me->index, n, i));
        NP_ASSERT_OK(np_pool_destroy(pool)); /* with its 4 blocks still out */
        NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_pool_alloc(pool, &blocks[0]));
        NP_ASSERT_PATTERN(shared_block, 264, NP_TAG(me->index, n, 9));
        NP_ASSERT_OK(np_pool_free(me->shared, shared_block));
    }
    return NULL;
}

static int compare_handles(const void *a, const void *b)
{
    np_pool x = *(const np_pool *)a, y = *(const np_pool *)b;
    return (x > y) - (x < y);
}

static void s21_pools_created_and_destroyed_concurrently(void)
{
    const unsigned per_thread = NP_SIZE(300u, 3000u);
    lifecycle_worker workers[LIFECYCLE_THREADS];
    np_pool *handles = malloc(LIFECYCLE_THREADS * per_thread * sizeof *handles);
    np_pool shared = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    NP_ASSERT_NOT_NULL(handles);
    for (unsigned i = 0; i < LIFECYCLE_THREADS; i++) {
        workers[i].index = i;
        workers[i].pools = per_thread;
        workers[i].handles = handles + i * per_thread;
        workers[i].shared = shared;
    }
    np_threads_run(LIFECYCLE_THREADS, lifecycle_worker_run, workers, sizeof workers[0]);

    size_t total = (size_t)LIFECYCLE_THREADS * per_thread;
    qsort(handles, total, sizeof *handles, compare_handles);
    for (size_t i = 0; i < total; i++) {
        NP_ASSERT(handles[i] != 0);
        if (i > 0) NP_ASSERT_MSG(handles[i] != handles[i - 1], "handle %llx was handed out twice", (unsigned long long)handles[i]);
        NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_pool_destroy(handles[i]));
    }
    np_pool_stats s = NP_STATS(shared);
    NP_ASSERT_EQ(total, s.allocations);
    NP_ASSERT_EQ(0, s.in_use);
    free(handles);
    NP_DESTROY_POOL(shared);
}

/* ------------------------------------------------------------------ S16: a limited address space */

/* The process's VmSize in bytes (0 when unknown). */
static unsigned long long address_space_in_use(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %llu kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib * 1024;
}

/*
 * The child: RLIMIT_AS 4 GiB above what the process uses. An unbounded pool (it reserves 64 GiB)
 * is refused with NP_E_OUT_OF_MEMORY and a detail that says what to change; a pool with
 * max_blocks set works; so does the bad-input path.
 */
int np_child_address_limit(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    NP_CHILD_CHECK(np_version() == NP_VERSION_NUMBER, "library and header differ"); /* starts the runtime */
    unsigned long long limit = address_space_in_use() + (4ull << 30);
    struct rlimit rl = {limit, limit};
    NP_CHILD_CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit failed");
    np_pool_options options;
    NP_CHILD_OK(np_pool_options_init(&options));
    options.block_size = 256;
    np_pool pool = 0;
    np_status status = np_pool_create(&options, &pool);
    char detail[512];
    np_last_error_message(detail, sizeof detail);
    NP_CHILD_CHECK(status == NP_E_OUT_OF_MEMORY && pool == 0, "unbounded pool under a limit: %s", np_status_name(status));
    NP_CHILD_CHECK(strstr(detail, "address space is limited") && strstr(detail, "max_blocks"), "detail: %s", detail);
    options.max_blocks = 100000;
    NP_CHILD_OK(np_pool_create(&options, &pool));
    void *block = NULL;
    NP_CHILD_OK(np_pool_alloc(pool, &block));
    NP_CHILD_CHECK(np_pool_free(pool, block) == NP_OK && np_pool_free(pool, block) == NP_E_DOUBLE_FREE, "frees");
    NP_CHILD_OK(np_pool_destroy(pool));
    np_child_say("ok: %s", detail);
    return 0;
}

static void s16_limited_address_space_refuses_clearly_and_bounded_pools_work(void)
{
    np_ipc_child child;
    char line[600];
    NP_IPC_SPAWN(&child, "address-limit", "-");
    NP_IPC_CHILD_LINE(&child, "ok:", 60, line, sizeof line);
    NP_IPC_CHILD_OK(&child, 60);
    printf("   S16: under RLIMIT_AS: %s\n", line);
}

static const np_test_case cases[] = {
    {"S16", "limited_address_space_refuses_clearly_and_bounded_pools_work",
     s16_limited_address_space_refuses_clearly_and_bounded_pools_work},
    {"S17", "no_leak_over_100000_alloc_free_cycles", s17_no_leak_over_100000_cycles},
    {"S17", "no_leak_over_thread_churn", s17_no_leak_over_thread_churn},
    {"S19", "trim_releases_only_chunks_with_no_block_in_use", s19_trim_releases_only_chunks_with_no_block_in_use},
    {"S19", "trim_then_regrow_zero_on_alloc_keeps_neighbours", s19_trim_then_regrow_zero_on_alloc},
    {"S21", "destroy_with_blocks_out_makes_the_handle_stale", s21_destroy_with_blocks_out_makes_the_handle_stale},
    {"S21", "destroy_with_blocks_out_returns_the_memory", s21_destroy_with_blocks_out_returns_the_memory},
    {"S21", "pools_created_and_destroyed_concurrently", s21_pools_created_and_destroyed_concurrently},
};

const np_test_suite np_suite_memory = {"memory", cases, NP_COUNT_OF(cases)};
