/*
 * Scenario 4: a fresh process allocates N blocks (writing one word into each, as a user would),
 * then frees them all in the same order. run.sh starts one process per measurement, so every
 * figure includes the allocator's growth from nothing: page faults, chunk commits, heap setup.
 *
 * For nativepools the runtime's start (the first call into the library, a few ms) and
 * np_pool_create are timed separately and left out of the total. The pointer array comes from
 * mmap and is faulted in before timing. Memory: VmHWM and VmRSS after the frees, with the values
 * before the allocations so the allocator's own part shows.
 */
#define _GNU_SOURCE
#include <string.h>

#include "allocators.h"
#include "bench_scenarios.h"
#include "bench_util.h"

int bench_fresh_main(int argc, char** argv)
{
    const char* name = bench_arg(argc, argv, "--allocator", "nativepools");
    uint64_t count = bench_arg_u64(argc, argv, "--count", 1000000);
    size_t block_size = (size_t)bench_arg_u64(argc, argv, "--size", 264);

    bench_idle_thread_start();
    void** blocks = bench_map(count * sizeof(void*));

    uint64_t runtime_start_ns = 0;
    if (strcmp(name, "nativepools") == 0) { /* start the runtime before anything is timed */
        uint64_t t = bench_now_ns();
        BENCH_ESCAPE(np_version());
        runtime_start_ns = bench_now_ns() - t;
    }
    uint64_t hwm_before = bench_status_kib("VmHWM"), rss_before = bench_status_kib("VmRSS");
    uint64_t create0 = bench_now_ns();
    allocator a;
    allocator_open(&a, name, block_size);
    uint64_t create_ns = bench_now_ns() - create0;

    bench_cpu cpu0 = bench_cpu_process();
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        void* block = allocator_alloc(&a);
        *(volatile uint64_t*)block = i;
        blocks[i] = block;
    }
    uint64_t t1 = bench_now_ns();
    bench_cpu cpu_alloc = bench_cpu_process();
    uint64_t content_errors = 0;
    for (uint64_t i = 0; i < count; i++) {
        content_errors += *(volatile uint64_t*)blocks[i] != i;
        allocator_free(&a, blocks[i]);
    }
    uint64_t t2 = bench_now_ns();
    bench_cpu cpu = bench_cpu_delta(cpu0, bench_cpu_process());
    bench_cpu cpu_of_alloc = bench_cpu_delta(cpu0, cpu_alloc);
    uint64_t hwm_after = bench_status_kib("VmHWM"), rss_after = bench_status_kib("VmRSS");

    bench_record r;
    bench_record_begin(&r, "fresh_process", name);
    bench_record_param_u64(&r, "count", count);
    bench_record_param_u64(&r, "block_size", block_size);
    bench_record_metrics(&r);
    bench_record_double(&r, "total_ms", (double)(t2 - t0) / 1e6);
    bench_record_double(&r, "alloc_ms", (double)(t1 - t0) / 1e6);
    bench_record_double(&r, "free_ms", (double)(t2 - t1) / 1e6);
    bench_record_double(&r, "ns_per_alloc", (double)(t1 - t0) / (double)count);
    bench_record_double(&r, "ns_per_free", (double)(t2 - t1) / (double)count);
    bench_record_double(&r, "cpu_user_ms", (double)cpu.user_ns / 1e6);
    bench_record_double(&r, "cpu_system_ms", (double)cpu.system_ns / 1e6);
    bench_record_u64(&r, "minor_faults", cpu.minor_faults);
    bench_record_u64(&r, "minor_faults_alloc", cpu_of_alloc.minor_faults);
    if (a.kind != ALLOCATOR_MALLOC) bench_record_double(&r, "create_us", (double)create_ns / 1e3);
    if (runtime_start_ns) bench_record_double(&r, "runtime_start_ms", (double)runtime_start_ns / 1e6);
    bench_record_u64(&r, "vm_hwm_before_kib", hwm_before);
    bench_record_u64(&r, "vm_hwm_kib", hwm_after);
    bench_record_u64(&r, "vm_hwm_growth_kib", hwm_after - hwm_before);
    bench_record_u64(&r, "vm_rss_before_kib", rss_before);
    bench_record_u64(&r, "vm_rss_after_free_kib", rss_after);
    bench_record_u64(&r, "content_errors", content_errors);
    bench_record_end(&r);

    allocator_close(&a);
    bench_unmap(blocks, count * sizeof(void*));
    return 0;
}
