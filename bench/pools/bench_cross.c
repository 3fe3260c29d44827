/*
 * Scenario 5: cross-thread frees. P producers each allocate blocks, write a sequence number and
 * a timestamp into them and push them through their own lock-free SPSC ring to a consumer thread,
 * which checks the sequence (FIFO, no block lost or duplicated) and frees the block.
 *
 * The same-thread baseline ("--mode same") runs 2P threads that do the same work through a ring
 * of their own: allocate, write, push; once W blocks are queued, pop the oldest, check, free.
 * Same thread count, same ring code, no block crossing threads.
 *
 * Waiting is CPU-bound: a side that finds the ring full or empty spins (pause) and yields the
 * core after SPINS_BEFORE_YIELD tries; nobody parks. Like scenario 3, the threads stop by
 * themselves at a deadline on the cycle counter; consumers count the frees made before it.
 *
 * Little's law: pairs/s x mean transit time (alloc to free, from the timestamps) = blocks in
 * flight, compared with the ring occupancy the consumers sample.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <string.h>

#include "allocators.h"
#include "bench_scenarios.h"
#include "bench_util.h"
#include "latency_histogram.h"
#include "spsc_ring.h"

enum { SPINS_BEFORE_YIELD = 256, SAMPLE_MASK = 15, MAX_RING = 1 << 16 };

/* Pushed by a producer after its last block: not a block, never freed. */
#define END_OF_STREAM ((void*)1)

typedef struct lane {
    _Alignas(128) spsc_ring ring;
    /* read-only while running */
    _Alignas(128) allocator* a;
    uint64_t window;           /* same mode: blocks kept queued before the oldest is freed */
    /* results, written by the consumer only, on lines of their own */
    _Alignas(128) uint64_t pairs; /* frees counted before the stop flag was seen */
    uint64_t content_errors;
    uint64_t occupancy_sum;
    uint64_t occupancy_samples;
    latency_histogram transit;
    pthread_t producer, consumer;
} lane;

static struct {
    _Alignas(128) uint64_t deadline_ticks;
    _Alignas(128) int ready;
    bench_gate gate;
} g_run;

enum { DEADLINE_MASK = 15 };

/* Reads the clock every 16th call only; once past the deadline it stays past. */
static inline int past_deadline(uint64_t n) { return (n & DEADLINE_MASK) == 0 && bench_ticks() >= g_run.deadline_ticks; }

static inline void backoff(unsigned* spins)
{
    if (++*spins < SPINS_BEFORE_YIELD) {
        BENCH_CPU_RELAX();
    } else {
        *spins = 0;
        sched_yield();
    }
}

static void arrive_and_wait(void)
{
    __atomic_add_fetch(&g_run.ready, 1, __ATOMIC_RELEASE);
    bench_gate_wait(&g_run.gate);
}

static inline void* produce(allocator* a, uint64_t sequence)
{
    uint64_t* block = allocator_alloc(a);
    ((volatile uint64_t*)block)[0] = sequence;
    ((volatile uint64_t*)block)[1] = bench_ticks();
    return block;
}

/* Checks, samples and frees one block; returns 1 when its sequence was the expected one. */
static inline int consume(lane* l, uint64_t* block, uint64_t expected, uint64_t n)
{
    int in_order = ((volatile uint64_t*)block)[0] == expected;
    if ((n & SAMPLE_MASK) == 0) {
        /* The producer stamped the block on another CPU, whose cycle counter may run a little
         * ahead of this one's: a transit shorter than that skew reads as negative, so count it as 0. */
        uint64_t now = bench_ticks(), stamped = ((volatile uint64_t*)block)[1];
        latency_record(&l->transit, now > stamped ? bench_ticks_to_ns(now - stamped) : 0);
        l->occupancy_sum += spsc_ring_occupancy(&l->ring);
        l->occupancy_samples++;
    }
    allocator_free(l->a, block);
    return in_order;
}

static void* producer_body(void* argument)
{
    lane* l = argument;
    void* warm = allocator_alloc(l->a); /* first call on this thread (runtime attach) before the gate */
    allocator_free(l->a, warm);
    arrive_and_wait();
    allocator* a = l->a;
    uint64_t sequence = 0;
    unsigned spins = 0;
    while (!past_deadline(sequence)) {
        void* block = produce(a, sequence);
        uint64_t tries = 0;
        while (!spsc_ring_push(&l->ring, block)) {
            if (past_deadline(++tries)) { /* out of time with the ring full: not sent, not counted */
                allocator_free(a, block);
                block = NULL;
                break;
            }
            backoff(&spins);
        }
        if (!block) break;
        sequence++;
    }
    while (!spsc_ring_push(&l->ring, END_OF_STREAM)) backoff(&spins);
    return NULL;
}

static void* consumer_body(void* argument)
{
    lane* l = argument;
    void* warm = allocator_alloc(l->a);
    allocator_free(l->a, warm);
    arrive_and_wait();
    uint64_t n = 0, errors = 0, counted = UINT64_MAX;
    unsigned spins = 0;
    for (;;) {
        void* block;
        if (!spsc_ring_pop(&l->ring, &block)) {
            backoff(&spins);
            continue;
        }
        if (block == END_OF_STREAM) break;
        errors += !consume(l, block, n, n);
        n++;
        if (counted == UINT64_MAX && past_deadline(n)) counted = n;
    }
    l->pairs = counted == UINT64_MAX ? n : counted;
    l->content_errors = errors;
    return NULL;
}

/* Same mode: one thread is both ends of its ring, keeping window blocks queued. */
static void* same_thread_body(void* argument)
{
    lane* l = argument;
    void* warm = allocator_alloc(l->a);
    allocator_free(l->a, warm);
    arrive_and_wait();
    uint64_t produced = 0, n = 0, errors = 0;
    while (!past_deadline(produced)) {
        if (!spsc_ring_push(&l->ring, produce(l->a, produced))) bench_fail("same-thread ring overflow");
        produced++;
        if (produced - n > l->window) {
            void* block = NULL;
            if (!spsc_ring_pop(&l->ring, &block)) bench_fail("same-thread ring underflow");
            errors += !consume(l, block, n, n);
            n++;
        }
    }
    l->pairs = n;
    void* block;
    while (spsc_ring_pop(&l->ring, &block)) { /* drain, uncounted */
        errors += ((volatile uint64_t*)block)[0] != n++;
        allocator_free(l->a, block);
    }
    l->content_errors = errors;
    return NULL;
}

int bench_cross_main(int argc, char** argv)
{
    const char* name = bench_arg(argc, argv, "--allocator", "nativepools");
    uint64_t pairs = bench_arg_u64(argc, argv, "--pairs", 1);
    const char* mode = bench_arg(argc, argv, "--mode", "cross");
    double seconds = bench_arg_double(argc, argv, "--seconds", 1.0);
    size_t block_size = (size_t)bench_arg_u64(argc, argv, "--size", 1024);
    uint64_t capacity = bench_arg_u64(argc, argv, "--ring", 256);
    uint64_t window = bench_arg_u64(argc, argv, "--window", 8);
    int cross = strcmp(mode, "cross") == 0;
    if (!cross && strcmp(mode, "same") != 0) bench_fail("--mode is cross or same");
    if (pairs == 0 || capacity < 2 || capacity > MAX_RING || (capacity & (capacity - 1)) || window >= capacity)
        bench_fail("--pairs > 0, --ring a power of two up to %d, --window below it", MAX_RING);

    bench_ticks_calibrate();
    /* The host may have moved the two vCPUs since the last run: the core-to-core round trip says
     * how far apart they are now (every figure of this scenario follows it). */
    double round_trip_before_ns = bench_line_round_trip_ns(0.1);
    allocator a;
    allocator_open(&a, name, block_size);
    /* cross: one lane per producer/consumer pair; same: one lane per thread (2P). */
    uint64_t lanes = cross ? pairs : 2 * pairs;
    uint64_t threads = 2 * pairs;
    lane* all = bench_map(lanes * sizeof(lane));
    void** slots = bench_map(lanes * capacity * sizeof(void*));
    for (uint64_t i = 0; i < lanes; i++) {
        all[i].a = &a;
        all[i].window = window;
        spsc_ring_init(&all[i].ring, slots + i * capacity, capacity);
        if (cross) {
            bench_thread_start(&all[i].producer, producer_body, &all[i]);
            bench_thread_start(&all[i].consumer, consumer_body, &all[i]);
        } else {
            bench_thread_start(&all[i].producer, same_thread_body, &all[i]);
        }
    }
    while (__atomic_load_n(&g_run.ready, __ATOMIC_ACQUIRE) < (int)threads) bench_sleep_ns(1000 * 1000);

    uint64_t wall_ns = (uint64_t)(seconds * 1e9);
    bench_cpu cpu0 = bench_cpu_process();
    uint64_t t0 = bench_now_ns();
    g_run.deadline_ticks = bench_ticks() + (uint64_t)((double)wall_ns * bench_ticks_per_ns());
    bench_gate_open(&g_run.gate);
    bench_sleep_ns(wall_ns);
    bench_cpu cpu = bench_cpu_delta(cpu0, bench_cpu_process());
    uint64_t cpu_window_ns = bench_now_ns() - t0; /* the main thread may wake after the deadline */

    uint64_t total = 0, errors = 0, lane_min = UINT64_MAX;
    double occupancy = 0;
    latency_histogram* transit = bench_map(sizeof *transit);
    for (uint64_t i = 0; i < lanes; i++) {
        pthread_join(all[i].producer, NULL);
        if (cross) pthread_join(all[i].consumer, NULL);
        total += all[i].pairs;
        errors += all[i].content_errors;
        if (all[i].pairs < lane_min) lane_min = all[i].pairs;
        if (all[i].occupancy_samples)
            occupancy += (double)all[i].occupancy_sum / (double)all[i].occupancy_samples;
        latency_merge(transit, &all[i].transit);
    }
    double round_trip_after_ns = bench_line_round_trip_ns(0.1);
    double pairs_per_s = (double)total / ((double)wall_ns / 1e9);
    double cpu_ns = (double)(cpu.user_ns + cpu.system_ns);

    bench_record r;
    bench_record_begin(&r, "cross_thread", name);
    bench_record_param_str(&r, "mode", mode);
    bench_record_param_u64(&r, "threads", threads);
    bench_record_param_u64(&r, "block_size", block_size);
    bench_record_param_u64(&r, "ring", capacity);
    bench_record_metrics(&r);
    bench_record_double(&r, "pairs_per_s", pairs_per_s);
    bench_record_u64(&r, "pairs", total);
    bench_record_u64(&r, "lane_pairs_min", lane_min);
    bench_record_u64(&r, "content_errors", errors);
    bench_record_double(&r, "cpu_cores_used", cpu_ns / (double)cpu_window_ns);
    bench_record_double(&r, "cpu_ns_per_pair", total ? cpu_ns / (double)total : 0.0);
    bench_record_double(&r, "cpu_system_s", (double)cpu.system_ns / 1e9);
    latency_record_metrics(&r, "transit", transit);
    bench_record_double(&r, "little_in_flight", pairs_per_s * latency_mean_ns(transit) / 1e9);
    bench_record_double(&r, "queued_sampled", occupancy);
    bench_record_double(&r, "core_round_trip_before_ns", round_trip_before_ns);
    bench_record_double(&r, "core_round_trip_after_ns", round_trip_after_ns);
    bench_record_end(&r);

    allocator_close(&a);
    bench_unmap(transit, sizeof *transit);
    bench_unmap(slots, lanes * capacity * sizeof(void*));
    bench_unmap(all, lanes * sizeof(lane));
    return 0;
}
