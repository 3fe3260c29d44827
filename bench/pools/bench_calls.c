/*
 * Scenarios 1 and 2: the cost of one call, single-threaded (with one idle thread in the process).
 *
 *   calls  ns per alloc+free pair of one 264 B block, one call per operation; for nativepools
 *          also ns per pair of no-op export calls (np_version twice), the transition baseline.
 *   batch  ns per block when 64 blocks are taken and returned together: np_pool_alloc_batch +
 *          np_pool_free_batch for nativepools, 64 single calls each way for everything else
 *          (and for nativepools too, as "single" calls, to show what batching buys).
 *
 * Each process runs ROUNDS short rounds after a warm-up and reports the fastest, by wall time and
 * by the thread's CPU time separately: on a shared machine the fastest round is the one least
 * disturbed by other processes, and CPU time leaves out time the thread sat preempted. run.sh
 * starts several processes and the report takes the median and min-max over them.
 */
#define _GNU_SOURCE
#include <string.h>
#include <time.h>

#include "allocators.h"
#include "bench_util.h"
#include "bench_scenarios.h"

enum { ROUNDS = 15, BATCH_BLOCKS = 64 };

/* Wall and CPU nanoseconds of one timed loop. */
typedef struct timing {
    uint64_t wall_ns;
    uint64_t cpu_ns;
} timing;

/* Keeps the lowest wall and the lowest CPU time seen, each on its own. */
static void keep_fastest(timing* best, timing candidate)
{
    if (best->wall_ns == 0 || candidate.wall_ns < best->wall_ns) best->wall_ns = candidate.wall_ns;
    if (best->cpu_ns == 0 || candidate.cpu_ns < best->cpu_ns) best->cpu_ns = candidate.cpu_ns;
}

static timing time_noop_pairs(uint64_t iterations)
{
    uint64_t cpu0 = bench_thread_cpu_ns(), t0 = bench_now_ns();
    for (uint64_t i = 0; i < iterations; i++) {
        uint32_t a = np_version();
        uint32_t b = np_version();
        BENCH_ESCAPE(a);
        BENCH_ESCAPE(b);
    }
    timing t = {bench_now_ns() - t0, bench_thread_cpu_ns() - cpu0};
    return t;
}

static timing time_np_pairs(np_pool pool, uint64_t iterations)
{
    uint64_t cpu0 = bench_thread_cpu_ns(), t0 = bench_now_ns();
    for (uint64_t i = 0; i < iterations; i++) {
        void* block;
        np_status status = np_pool_alloc(pool, &block);
        if (status != NP_OK) allocator_np_failed("np_pool_alloc", status);
        BENCH_ESCAPE(block);
        status = np_pool_free(pool, block);
        if (status != NP_OK) allocator_np_failed("np_pool_free", status);
    }
    timing t = {bench_now_ns() - t0, bench_thread_cpu_ns() - cpu0};
    return t;
}

static timing time_allocator_pairs(allocator* a, uint64_t iterations)
{
    uint64_t cpu0 = bench_thread_cpu_ns(), t0 = bench_now_ns();
    for (uint64_t i = 0; i < iterations; i++) {
        void* block = allocator_alloc(a);
        BENCH_ESCAPE(block);
        allocator_free(a, block);
    }
    timing t = {bench_now_ns() - t0, bench_thread_cpu_ns() - cpu0};
    return t;
}

int bench_calls_main(int argc, char** argv)
{
    const char* name = bench_arg(argc, argv, "--allocator", "nativepools");
    uint64_t iterations = bench_arg_u64(argc, argv, "--iterations", 200000);
    const size_t block_size = 264;

    bench_idle_thread_start();
    allocator a;
    allocator_open(&a, name, block_size);

    timing noop = {0, 0}, pair = {0, 0};
    int is_np = a.kind == ALLOCATOR_NATIVEPOOLS;
    /* Warm-up: runtime start, first-call thread attach, the pool's first chunk, caches. */
    if (is_np) {
        time_noop_pairs(iterations);
        time_np_pairs(a.pool, iterations);
    } else {
        time_allocator_pairs(&a, iterations);
    }
    for (int round = 0; round < ROUNDS; round++) {
        if (is_np) {
            keep_fastest(&noop, time_noop_pairs(iterations));
            keep_fastest(&pair, time_np_pairs(a.pool, iterations));
        } else {
            keep_fastest(&pair, time_allocator_pairs(&a, iterations));
        }
    }

    bench_record r;
    bench_record_begin(&r, "single_call", name);
    bench_record_param_u64(&r, "block_size", block_size);
    bench_record_metrics(&r);
    bench_record_double(&r, "pair_ns", (double)pair.wall_ns / (double)iterations);
    bench_record_double(&r, "pair_cpu_ns", (double)pair.cpu_ns / (double)iterations);
    if (is_np) {
        bench_record_double(&r, "noop_pair_ns", (double)noop.wall_ns / (double)iterations);
        bench_record_double(&r, "noop_pair_cpu_ns", (double)noop.cpu_ns / (double)iterations);
        bench_record_double(&r, "ratio_to_noop", (double)pair.wall_ns / (double)noop.wall_ns);
        bench_record_double(&r, "ratio_to_noop_cpu", (double)pair.cpu_ns / (double)noop.cpu_ns);
    }
    bench_record_u64(&r, "iterations_per_round", iterations);
    bench_record_u64(&r, "rounds", ROUNDS);
    bench_record_end(&r);
    allocator_close(&a);
    return 0;
}

static timing time_np_batches(np_pool pool, uint64_t batches)
{
    void* blocks[BATCH_BLOCKS];
    uint64_t cpu0 = bench_thread_cpu_ns(), t0 = bench_now_ns();
    for (uint64_t i = 0; i < batches; i++) {
        size_t taken = 0;
        np_status status = np_pool_alloc_batch(pool, blocks, BATCH_BLOCKS, &taken);
        if (status != NP_OK) allocator_np_failed("np_pool_alloc_batch", status);
        BENCH_ESCAPE(blocks);
        status = np_pool_free_batch(pool, blocks, BATCH_BLOCKS, NULL);
        if (status != NP_OK) allocator_np_failed("np_pool_free_batch", status);
    }
    timing t = {bench_now_ns() - t0, bench_thread_cpu_ns() - cpu0};
    return t;
}

static timing time_single_call_batches(allocator* a, uint64_t batches)
{
    void* blocks[BATCH_BLOCKS];
    uint64_t cpu0 = bench_thread_cpu_ns(), t0 = bench_now_ns();
    for (uint64_t i = 0; i < batches; i++) {
        for (int j = 0; j < BATCH_BLOCKS; j++) blocks[j] = allocator_alloc(a);
        BENCH_ESCAPE(blocks);
        for (int j = 0; j < BATCH_BLOCKS; j++) allocator_free(a, blocks[j]);
    }
    timing t = {bench_now_ns() - t0, bench_thread_cpu_ns() - cpu0};
    return t;
}

int bench_batch_main(int argc, char** argv)
{
    const char* name = bench_arg(argc, argv, "--allocator", "nativepools");
    size_t block_size = (size_t)bench_arg_u64(argc, argv, "--size", 264);
    uint64_t batches = bench_arg_u64(argc, argv, "--batches", 1000);
    /* "batch" (nativepools only) or "single": one call per block. */
    const char* calls = bench_arg(argc, argv, "--calls", "single");
    int batched = strcmp(calls, "batch") == 0;

    bench_idle_thread_start();
    allocator a;
    allocator_open(&a, name, block_size);
    if (batched && a.kind != ALLOCATOR_NATIVEPOOLS) bench_fail("--calls batch is for nativepools only");

    timing best = {0, 0};
    if (batched) time_np_batches(a.pool, batches);
    else time_single_call_batches(&a, batches);
    for (int round = 0; round < ROUNDS; round++)
        keep_fastest(&best, batched ? time_np_batches(a.pool, batches) : time_single_call_batches(&a, batches));

    double blocks = (double)batches * BATCH_BLOCKS;
    bench_record r;
    bench_record_begin(&r, "batch", name);
    bench_record_param_u64(&r, "block_size", block_size);
    bench_record_param_str(&r, "calls", calls);
    bench_record_metrics(&r);
    bench_record_double(&r, "block_ns", (double)best.wall_ns / blocks);
    bench_record_double(&r, "block_cpu_ns", (double)best.cpu_ns / blocks);
    bench_record_u64(&r, "batch_blocks", BATCH_BLOCKS);
    bench_record_u64(&r, "batches_per_round", batches);
    bench_record_u64(&r, "rounds", ROUNDS);
    bench_record_end(&r);
    allocator_close(&a);
    return 0;
}
