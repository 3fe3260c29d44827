/*
 * Scenario 6: thread churn against one libnativepools pool. THREADS short-lived threads are
 * started in waves of WAVE; each allocates BLOCKS blocks, writes its id into them, checks them,
 * and frees them, except that even-numbered threads hand KEEP blocks to the main thread, which
 * checks and frees them after the wave (cross-thread frees). Every thread exits right after its
 * last free, so any per-thread cache the library keeps is abandoned with blocks in it.
 *
 * Afterwards: capacity (after the first wave, highest after any wave, at the end), in_use (0 when
 * every block came back), peak_in_use, the threads still holding a cache and the depot, and
 * validate(). Capacity that keeps climbing wave after wave means blocks cached by exited threads
 * are not coming back. The figures are printed beside the most blocks ever live at once
 * (WAVE x BLOCKS) and beside the bound the header states for np_pool_stats.magazine_capacity:
 * capacity beyond in_use below threads x 2 x magazine_capacity plus a growth step, taking as
 * threads the most alive at once (WAVE plus the main thread).
 */
#define _GNU_SOURCE
#include <string.h>

#include "allocators.h"
#include "bench_scenarios.h"
#include "bench_util.h"

enum { MAX_BLOCKS = 1024 };

typedef struct churner {
    np_pool pool;
    uint64_t id;
    uint64_t blocks;
    uint64_t keep;            /* blocks handed to the main thread */
    uint64_t content_errors;
    void* kept[MAX_BLOCKS];
    pthread_t thread;
} churner;

static inline uint64_t pattern(uint64_t id, uint64_t j) { return (id << 20) ^ j ^ 0xc3c3c3ull; }

static void* churner_body(void* argument)
{
    churner* c = argument;
    void* blocks[MAX_BLOCKS];
    for (uint64_t j = 0; j < c->blocks; j++) {
        np_status status = np_pool_alloc(c->pool, &blocks[j]);
        if (status != NP_OK) allocator_np_failed("np_pool_alloc", status);
        *(volatile uint64_t*)blocks[j] = pattern(c->id, j);
    }
    for (uint64_t j = 0; j < c->blocks; j++) {
        c->content_errors += *(volatile uint64_t*)blocks[j] != pattern(c->id, j);
        if (j < c->keep) {
            c->kept[j] = blocks[j];
            continue;
        }
        np_status status = np_pool_free(c->pool, blocks[j]);
        if (status != NP_OK) allocator_np_failed("np_pool_free", status);
    }
    return NULL;
}

static np_pool_stats pool_stats(np_pool pool)
{
    np_pool_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    np_status status = np_pool_get_stats(pool, &stats);
    if (status != NP_OK) allocator_np_failed("np_pool_get_stats", status);
    return stats;
}

int bench_churn_main(int argc, char** argv)
{
    uint64_t threads = bench_arg_u64(argc, argv, "--threads", 10000);
    uint64_t wave = bench_arg_u64(argc, argv, "--wave", 100);
    uint64_t blocks = bench_arg_u64(argc, argv, "--blocks", 32);
    uint64_t keep = bench_arg_u64(argc, argv, "--keep", 4);
    size_t block_size = (size_t)bench_arg_u64(argc, argv, "--size", 264);
    if (wave == 0 || blocks == 0 || blocks > MAX_BLOCKS || keep > blocks)
        bench_fail("--wave > 0, 0 < --blocks <= %d, --keep <= --blocks", MAX_BLOCKS);

    allocator a;
    allocator_open(&a, "nativepools", block_size);
    churner* wave_threads = bench_map(wave * sizeof(churner));
    uint64_t capacity_first = 0, capacity_max = 0, spare_max = 0, cached_threads_max = 0;
    uint64_t content_errors = 0, waves = 0;

    bench_cpu cpu0 = bench_cpu_process();
    uint64_t t0 = bench_now_ns();
    for (uint64_t started = 0; started < threads; waves++) {
        uint64_t count = threads - started < wave ? threads - started : wave;
        for (uint64_t i = 0; i < count; i++) {
            churner* c = &wave_threads[i];
            c->pool = a.pool;
            c->id = started + i;
            c->blocks = blocks;
            c->keep = (c->id % 2 == 0) ? keep : 0;
            c->content_errors = 0;
            bench_thread_start(&c->thread, churner_body, c);
        }
        for (uint64_t i = 0; i < count; i++) {
            churner* c = &wave_threads[i];
            pthread_join(c->thread, NULL);
            content_errors += c->content_errors;
            for (uint64_t j = 0; j < c->keep; j++) {
                content_errors += *(volatile uint64_t*)c->kept[j] != pattern(c->id, j);
                np_status status = np_pool_free(a.pool, c->kept[j]);
                if (status != NP_OK) allocator_np_failed("np_pool_free (main thread)", status);
            }
        }
        started += count;
        np_pool_stats after_wave = pool_stats(a.pool);
        if (waves == 0) capacity_first = after_wave.capacity;
        if (after_wave.capacity > capacity_max) capacity_max = after_wave.capacity;
        if (after_wave.capacity - after_wave.in_use > spare_max) spare_max = after_wave.capacity - after_wave.in_use;
        if (after_wave.cached_threads > cached_threads_max) cached_threads_max = after_wave.cached_threads;
    }
    uint64_t wall_ns = bench_now_ns() - t0;
    bench_cpu cpu = bench_cpu_delta(cpu0, bench_cpu_process());

    np_pool_stats end = pool_stats(a.pool);
    np_pool_validation report;
    memset(&report, 0, sizeof report);
    report.struct_size = sizeof report;
    np_status validate = np_pool_validate(a.pool, &report);

    bench_record r;
    bench_record_begin(&r, "thread_churn", "nativepools");
    bench_record_param_u64(&r, "threads", threads);
    bench_record_param_u64(&r, "wave", wave);
    bench_record_param_u64(&r, "blocks_per_thread", blocks);
    bench_record_param_u64(&r, "kept_by_even_threads", keep);
    bench_record_param_u64(&r, "block_size", block_size);
    bench_record_metrics(&r);
    bench_record_double(&r, "wall_s", (double)wall_ns / 1e9);
    bench_record_double(&r, "threads_per_s", (double)threads / ((double)wall_ns / 1e9));
    bench_record_double(&r, "cpu_user_s", (double)cpu.user_ns / 1e9);
    bench_record_double(&r, "cpu_system_s", (double)cpu.system_ns / 1e9);
    bench_record_u64(&r, "live_blocks_bound", wave * blocks);
    bench_record_u64(&r, "capacity_after_first_wave", capacity_first);
    bench_record_u64(&r, "capacity_max", capacity_max);
    bench_record_u64(&r, "capacity_end", end.capacity);
    bench_record_double(&r, "capacity_end_over_live_bound", (double)end.capacity / (double)(wave * blocks));
    uint64_t blocks_per_chunk = end.chunks ? end.capacity / end.chunks : 0;
    uint64_t stated_bound = (wave + 1) * 2 * end.magazine_capacity + blocks_per_chunk;
    bench_record_u64(&r, "chunks_end", end.chunks);
    bench_record_u64(&r, "magazine_capacity", end.magazine_capacity);
    bench_record_u64(&r, "spare_capacity_max", spare_max);
    bench_record_u64(&r, "spare_capacity_stated_bound", stated_bound);
    bench_record_str(&r, "spare_capacity_within_stated_bound", spare_max <= stated_bound ? "yes" : "no");
    bench_record_u64(&r, "cached_threads_max_after_wave", cached_threads_max);
    bench_record_u64(&r, "cached_threads_end", end.cached_threads);
    bench_record_u64(&r, "depot_blocks_end", end.depot_blocks);
    bench_record_u64(&r, "in_use_end", end.in_use);
    bench_record_u64(&r, "peak_in_use", end.peak_in_use);
    bench_record_u64(&r, "allocations", end.allocations);
    bench_record_u64(&r, "frees", end.frees);
    bench_record_u64(&r, "created", end.created);
    bench_record_u64(&r, "reused", end.reused);
    bench_record_str(&r, "validate", np_status_name(validate));
    bench_record_u64(&r, "validate_counts_checked", report.counts_checked);
    bench_record_u64(&r, "validate_free_listed", report.free_listed);
    bench_record_u64(&r, "validate_allocated", report.allocated);
    bench_record_u64(&r, "validate_errors", report.errors);
    bench_record_u64(&r, "content_errors", content_errors);
    bench_record_u64(&r, "vm_hwm_kib", bench_status_kib("VmHWM"));
    bench_record_end(&r);

    allocator_close(&a);
    bench_unmap(wave_threads, wave * sizeof(churner));
    return 0;
}
