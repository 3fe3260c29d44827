/*
 * bench_util.h: clocks, CPU time, memory figures, thread helpers and JSON output shared by the
 * pool benchmark drivers. Nothing here calls libnativepools.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Keeps the compiler from proving a pointer unused (and deleting a malloc/free pair). */
#define BENCH_ESCAPE(p) __asm__ volatile("" : : "g"(p) : "memory")

/* Spin-wait hint for the spinning loops of the cross-thread scenario. */
#if defined(__x86_64__) || defined(__i386__)
#define BENCH_CPU_RELAX() __builtin_ia32_pause()
#else
#define BENCH_CPU_RELAX() __asm__ volatile("" ::: "memory")
#endif

/* ---------------------------------------------------------------- clocks */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* A cheap cycle counter for sampled latencies (rdtsc on x86; the monotonic clock elsewhere). */
static inline uint64_t bench_ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_ia32_rdtsc();
#else
    return bench_now_ns();
#endif
}

/* Measures ticks per nanosecond and the cost of an empty timed region; call once before sampling. */
void bench_ticks_calibrate(void);
double bench_ticks_per_ns(void);
/* Ticks an empty start/stop pair reads; subtracted from every sample. */
uint64_t bench_ticks_overhead(void);
/* Converts a sampled tick difference to nanoseconds, minus the timer's own cost (never negative). */
uint64_t bench_ticks_to_ns(uint64_t ticks);

/* ---------------------------------------------------------------- CPU time and memory */

typedef struct bench_cpu {
    uint64_t user_ns;
    uint64_t system_ns;
    uint64_t minor_faults;
    uint64_t voluntary_switches;
    uint64_t involuntary_switches;
} bench_cpu;

/* CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID), in nanoseconds. */
uint64_t bench_thread_cpu_ns(void);

/* getrusage(RUSAGE_SELF): the whole process, every thread. */
bench_cpu bench_cpu_process(void);
/* after - before, field by field. */
bench_cpu bench_cpu_delta(bench_cpu before, bench_cpu after);

/* A "VmHWM"/"VmRSS" line of /proc/self/status in KiB, or 0 when unavailable. */
uint64_t bench_status_kib(const char* field);

/* Memory for the driver's own bookkeeping, straight from mmap so the allocator under test does
 * not see it; zeroed and faulted in. Exits on failure. */
void* bench_map(size_t bytes);
void bench_unmap(void* memory, size_t bytes);

/* ---------------------------------------------------------------- threads */

/* Worker threads use small stacks so 2,000 of them stay cheap. */
enum { BENCH_STACK_BYTES = 256 * 1024 };

/* pthread_create with BENCH_STACK_BYTES; exits on failure. */
void bench_thread_start(pthread_t* thread, void* (*body)(void*), void* argument);

/* Starts a thread that only sleeps, for the process's whole life. glibc and mimalloc take faster
 * paths while a process has a single thread; users' processes have more. */
void bench_idle_thread_start(void);

/* A start gate: waiters sleep in the kernel (futex) until bench_gate_open. */
typedef struct bench_gate {
    int open;
} bench_gate;
void bench_gate_wait(bench_gate* gate);
void bench_gate_open(bench_gate* gate);

/* Sleeps (parked, no CPU) for the given nanoseconds. */
void bench_sleep_ns(uint64_t nanoseconds);

/* Mean round trip of one cache line between this thread and a new one that pass it back and
 * forth for about the given time, in ns: what a block or a metadata line costs to move between
 * two cores right now. On a VM it changes as the host moves the vCPUs (about 30 ns on one
 * physical core, 70 ns within a shared L3, 350 ns across). */
double bench_line_round_trip_ns(double seconds);

/* ---------------------------------------------------------------- the process */

/* 1 when a mapped object of this process has this substring in its path (checks LD_PRELOAD took). */
int bench_library_mapped(const char* name_part);

/* Prints to stderr and exits 2. */
void bench_fail(const char* format, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---------------------------------------------------------------- arguments */

/* Value of "--name value" in argv, or fallback. */
const char* bench_arg(int argc, char** argv, const char* name, const char* fallback);
uint64_t bench_arg_u64(int argc, char** argv, const char* name, uint64_t fallback);
double bench_arg_double(int argc, char** argv, const char* name, double fallback);

/* ---------------------------------------------------------------- JSON records */

/*
 * One result record is one JSON object on one stdout line:
 *   {"scenario": ..., "allocator": ..., "params": {...}, "metrics": {...}}
 * Build it with begin, params/metrics fields, end. The collector (report.py) groups records by
 * scenario, allocator and params, and takes medians over runs.
 */
typedef struct bench_record {
    int fields_in_section;
    int section; /* 0 params, 1 metrics */
} bench_record;

void bench_record_begin(bench_record* record, const char* scenario, const char* allocator);
void bench_record_param_u64(bench_record* record, const char* name, uint64_t value);
void bench_record_param_str(bench_record* record, const char* name, const char* value);
/* Switches from params to metrics; must come once, after the params. */
void bench_record_metrics(bench_record* record);
void bench_record_u64(bench_record* record, const char* name, uint64_t value);
void bench_record_double(bench_record* record, const char* name, double value);
void bench_record_str(bench_record* record, const char* name, const char* value);
void bench_record_end(bench_record* record);

#endif /* BENCH_UTIL_H */
