/*
 * Scenario 3: thread scaling. T threads share one allocator; each keeps a window of W live blocks
 * and in a loop frees the oldest (after checking it still holds what it wrote), allocates a new
 * one and writes to it. Fixed wall time: every thread is created, fills its window and parks on a
 * futex gate; the gate opens with a deadline, and each thread stops by itself at the deadline
 * (checked on the cycle counter every 16 iterations). The threads do not wait for a stop flag from
 * the main thread: with 2,000 busy threads a sleeping main thread can wake seconds late.
 *
 * Reported: total pairs/s, pairs per thread (min/median/max, threads with none), CPU time, and
 * the latency of every 64th iteration (rdtsc). Little's law: pairs/s x the mean time of an
 * iteration while running (samples without a preemption in them) is the mean number of threads
 * busy in an iteration; it must agree with the CPU cores the process used (getrusage), a little
 * below it (the loop does a few things outside the timed part), or above it when threads sleep
 * inside the allocator (a contended mutex), which uses no CPU.
 *
 * When the process gets fewer slices than it has threads, some threads may not run at all before
 * the deadline; the time from the gate opening to each thread's first iteration shows whether a
 * thread without progress was the scheduler's doing (it first ran after the deadline).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "allocators.h"
#include "bench_scenarios.h"
#include "bench_util.h"
#include "latency_histogram.h"

enum { MAX_WINDOW = 64, SAMPLE_MASK = 63 };

/* 128-byte aligned so no two workers share a cache line (or its adjacent-line prefetch pair). */
typedef struct worker {
    _Alignas(128) allocator* a;
    uint64_t index;
    uint64_t window;
    uint64_t pairs;
    uint64_t content_errors;
    uint64_t first_run_ticks;   /* cycle counter at its first loop iteration */
    uint64_t cpu_ns;            /* the thread's CPU time from its first iteration to the deadline */
    pthread_t thread;
    latency_histogram latency;
} worker;

/* The deadline sits alone on its cache line: every thread reads it, nobody writes it while running. */
static struct {
    _Alignas(128) uint64_t deadline_ticks;
    uint64_t gate_ticks;        /* when the gate opened */
    _Alignas(128) int ready;
    bench_gate gate;
} g_run;

enum { DEADLINE_MASK = 15 };

static inline uint64_t tag_of(uint64_t thread, uint64_t iteration)
{
    return (thread << 40) ^ iteration ^ 0x5a5a5a5a5aull;
}

static void* worker_body(void* argument)
{
    worker* w = argument;
    allocator* a = w->a;
    void* blocks[MAX_WINDOW];
    uint64_t tags[MAX_WINDOW];
    const uint64_t mask = w->window - 1, index = w->index;

    for (uint64_t i = 0; i < w->window; i++) {
        blocks[i] = allocator_alloc(a);
        tags[i] = tag_of(index, i);
        *(volatile uint64_t*)blocks[i] = tags[i];
    }
    __atomic_add_fetch(&g_run.ready, 1, __ATOMIC_RELEASE);
    bench_gate_wait(&g_run.gate);

    const uint64_t deadline = g_run.deadline_ticks;
    uint64_t n = 0, errors = 0;
    w->first_run_ticks = bench_ticks();
    uint64_t cpu0 = bench_thread_cpu_ns();
    for (;; n++) {
        uint64_t start = 0;
        if ((n & DEADLINE_MASK) == 0) {
            start = bench_ticks();
            if (start >= deadline) break;
        }
        int sampled = (n & SAMPLE_MASK) == 0; /* a subset of the iterations that read the clock */
        uint64_t slot = n & mask;

        void* oldest = blocks[slot];
        if (*(volatile uint64_t*)oldest != tags[slot]) errors++;
        allocator_free(a, oldest);
        void* fresh = allocator_alloc(a);
        uint64_t tag = tag_of(index, n + mask + 1);
        *(volatile uint64_t*)fresh = tag;
        blocks[slot] = fresh;
        tags[slot] = tag;

        if (sampled) latency_record(&w->latency, bench_ticks_to_ns(bench_ticks() - start));
    }
    w->cpu_ns = bench_thread_cpu_ns() - cpu0;
    w->pairs = n;
    w->content_errors = errors;
    for (uint64_t i = 0; i < w->window; i++) {
        if (*(volatile uint64_t*)blocks[i] != tags[i]) w->content_errors++;
        allocator_free(a, blocks[i]);
    }
    return NULL;
}

static int compare_u64(const void* x, const void* y)
{
    uint64_t a = *(const uint64_t*)x, b = *(const uint64_t*)y;
    return a < b ? -1 : a > b;
}

/* For nativepools: after every thread returned its blocks, in_use must be 0 and validate OK. */
static void record_np_end_state(bench_record* r, np_pool pool)
{
    np_pool_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    np_status status = np_pool_get_stats(pool, &stats);
    if (status != NP_OK) allocator_np_failed("np_pool_get_stats", status);
    bench_record_u64(r, "end_in_use", stats.in_use);
    bench_record_u64(r, "end_capacity", stats.capacity);
    bench_record_u64(r, "end_cached_threads", stats.cached_threads); /* every worker has exited */
    bench_record_str(r, "end_validate", np_status_name(np_pool_validate(pool, NULL)));
}

int bench_threads_main(int argc, char** argv)
{
    const char* name = bench_arg(argc, argv, "--allocator", "nativepools");
    uint64_t threads = bench_arg_u64(argc, argv, "--threads", 2);
    double seconds = bench_arg_double(argc, argv, "--seconds", 1.0);
    size_t block_size = (size_t)bench_arg_u64(argc, argv, "--size", 1024);
    uint64_t window = bench_arg_u64(argc, argv, "--window", 8);
    if (threads == 0 || window == 0 || window > MAX_WINDOW || (window & (window - 1)))
        bench_fail("--threads must be > 0 and --window a power of two up to %d", MAX_WINDOW);

    bench_ticks_calibrate();
    allocator a;
    allocator_open(&a, name, block_size);
    size_t workers_bytes = threads * sizeof(worker);
    worker* workers = bench_map(workers_bytes);

    uint64_t spawn0 = bench_now_ns();
    for (uint64_t i = 0; i < threads; i++) {
        workers[i].a = &a;
        workers[i].index = i;
        workers[i].window = window;
        bench_thread_start(&workers[i].thread, worker_body, &workers[i]);
    }
    while (__atomic_load_n(&g_run.ready, __ATOMIC_ACQUIRE) < (int)threads) bench_sleep_ns(1000 * 1000);
    uint64_t spawn_ns = bench_now_ns() - spawn0;

    uint64_t wall_ns = (uint64_t)(seconds * 1e9);
    bench_cpu cpu0 = bench_cpu_process();
    uint64_t t0 = bench_now_ns();
    g_run.gate_ticks = bench_ticks();
    g_run.deadline_ticks = g_run.gate_ticks + (uint64_t)((double)wall_ns * bench_ticks_per_ns());
    bench_gate_open(&g_run.gate);
    bench_sleep_ns(wall_ns);
    bench_cpu cpu = bench_cpu_delta(cpu0, bench_cpu_process());
    uint64_t main_woke_late_ns = bench_now_ns() - t0 - wall_ns;
    for (uint64_t i = 0; i < threads; i++) pthread_join(workers[i].thread, NULL);

    uint64_t* per_thread = bench_map(threads * sizeof(uint64_t));
    latency_histogram* latency = bench_map(sizeof *latency);
    uint64_t total = 0, errors = 0, idle_threads = 0, last_first_run = 0, worker_cpu_ns = 0;
    for (uint64_t i = 0; i < threads; i++) {
        worker_cpu_ns += workers[i].cpu_ns;
        uint64_t first_run = workers[i].first_run_ticks - g_run.gate_ticks;
        if (first_run > last_first_run) last_first_run = first_run;
        per_thread[i] = workers[i].pairs;
        total += workers[i].pairs;
        errors += workers[i].content_errors;
        idle_threads += workers[i].pairs == 0;
        latency_merge(latency, &workers[i].latency);
    }
    qsort(per_thread, threads, sizeof(uint64_t), compare_u64);

    double pairs_per_s = (double)total / ((double)wall_ns / 1e9);
    double busy = pairs_per_s * latency_running_mean_ns(latency) / 1e9;
    double cores_used = (double)worker_cpu_ns / (double)wall_ns;

    bench_record r;
    bench_record_begin(&r, "threads", name);
    bench_record_param_u64(&r, "threads", threads);
    bench_record_param_u64(&r, "block_size", block_size);
    bench_record_param_u64(&r, "window", window);
    bench_record_metrics(&r);
    bench_record_double(&r, "pairs_per_s", pairs_per_s);
    bench_record_u64(&r, "pairs", total);
    bench_record_double(&r, "wall_s", (double)wall_ns / 1e9);
    bench_record_u64(&r, "thread_pairs_min", per_thread[0]);
    bench_record_u64(&r, "thread_pairs_median", per_thread[threads / 2]);
    bench_record_u64(&r, "thread_pairs_max", per_thread[threads - 1]);
    bench_record_u64(&r, "threads_without_progress", idle_threads);
    bench_record_u64(&r, "content_errors", errors);
    /* Process figures from the gate to the main thread's wake-up, which may be after the deadline. */
    bench_record_double(&r, "cpu_user_s", (double)cpu.user_ns / 1e9);
    bench_record_double(&r, "cpu_system_s", (double)cpu.system_ns / 1e9);
    /* The workers' own CPU time within the run. */
    bench_record_double(&r, "cpu_cores_used", cores_used);
    bench_record_double(&r, "cpu_ns_per_pair", total ? (double)worker_cpu_ns / (double)total : 0.0);
    bench_record_u64(&r, "voluntary_switches", cpu.voluntary_switches);
    bench_record_u64(&r, "involuntary_switches", cpu.involuntary_switches);
    latency_record_metrics(&r, "iteration", latency);
    bench_record_double(&r, "little_busy_threads", busy);
    bench_record_double(&r, "little_busy_over_cores_used", cores_used > 0 ? busy / cores_used : 0.0);
    bench_record_double(&r, "last_thread_first_run_s", (double)bench_ticks_to_ns(last_first_run) / 1e9);
    bench_record_double(&r, "spawn_s", (double)spawn_ns / 1e9);
    bench_record_double(&r, "main_woke_late_s", (double)main_woke_late_ns / 1e9);
    if (a.kind == ALLOCATOR_NATIVEPOOLS) record_np_end_state(&r, a.pool);
    bench_record_end(&r);

    allocator_close(&a);
    bench_unmap(latency, sizeof *latency);
    bench_unmap(per_thread, threads * sizeof(uint64_t));
    bench_unmap(workers, workers_bytes);
    return 0;
}
