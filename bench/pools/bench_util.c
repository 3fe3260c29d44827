#define _GNU_SOURCE
#include "bench_util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- clocks */

uint64_t bench_now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static double g_ticks_per_ns = 1.0;
static uint64_t g_ticks_overhead;

void bench_ticks_calibrate(void)
{
    /* 20 ms against the monotonic clock gives the tick rate to well under 0.1%. */
    uint64_t ns0 = bench_now_ns(), t0 = bench_ticks();
    bench_sleep_ns(20 * 1000 * 1000);
    uint64_t ns1 = bench_now_ns(), t1 = bench_ticks();
    g_ticks_per_ns = (double)(t1 - t0) / (double)(ns1 - ns0);
    if (g_ticks_per_ns <= 0) g_ticks_per_ns = 1.0;

    /* The smallest of many empty regions is the timer's own cost. */
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 10000; i++) {
        uint64_t a = bench_ticks();
        uint64_t b = bench_ticks();
        if (b - a < best) best = b - a;
    }
    g_ticks_overhead = best;
}

double bench_ticks_per_ns(void) { return g_ticks_per_ns; }
uint64_t bench_ticks_overhead(void) { return g_ticks_overhead; }

uint64_t bench_ticks_to_ns(uint64_t ticks)
{
    uint64_t net = ticks > g_ticks_overhead ? ticks - g_ticks_overhead : 0;
    return (uint64_t)((double)net / g_ticks_per_ns);
}

/* ---------------------------------------------------------------- CPU time and memory */

static uint64_t timeval_ns(struct timeval tv)
{
    return (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
}

uint64_t bench_thread_cpu_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

bench_cpu bench_cpu_process(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    bench_cpu cpu = {
        timeval_ns(usage.ru_utime), timeval_ns(usage.ru_stime), (uint64_t)usage.ru_minflt,
        (uint64_t)usage.ru_nvcsw, (uint64_t)usage.ru_nivcsw,
    };
    return cpu;
}

bench_cpu bench_cpu_delta(bench_cpu before, bench_cpu after)
{
    bench_cpu delta = {
        after.user_ns - before.user_ns, after.system_ns - before.system_ns,
        after.minor_faults - before.minor_faults, after.voluntary_switches - before.voluntary_switches,
        after.involuntary_switches - before.involuntary_switches,
    };
    return delta;
}

uint64_t bench_status_kib(const char* field)
{
    FILE* status = fopen("/proc/self/status", "r");
    if (!status) return 0;
    char line[256];
    size_t length = strlen(field);
    uint64_t kib = 0;
    while (fgets(line, sizeof line, status)) {
        if (strncmp(line, field, length) == 0 && line[length] == ':') {
            kib = strtoull(line + length + 1, NULL, 10);
            break;
        }
    }
    fclose(status);
    return kib;
}

void* bench_map(size_t bytes)
{
    void* memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) bench_fail("mmap of %zu bytes failed: %s", bytes, strerror(errno));
    memset(memory, 0, bytes); /* fault it in now, outside every timed region */
    return memory;
}

void bench_unmap(void* memory, size_t bytes)
{
    if (memory) munmap(memory, bytes);
}

/* ---------------------------------------------------------------- threads */

void bench_thread_start(pthread_t* thread, void* (*body)(void*), void* argument)
{
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setstacksize(&attributes, BENCH_STACK_BYTES);
    int error = pthread_create(thread, &attributes, body, argument);
    pthread_attr_destroy(&attributes);
    if (error) bench_fail("pthread_create failed: %s", strerror(error));
}

static void* idle_body(void* unused)
{
    (void)unused;
    for (;;) pause();
    return NULL;
}

void bench_idle_thread_start(void)
{
    pthread_t thread;
    bench_thread_start(&thread, idle_body, NULL);
    pthread_detach(thread);
}

void bench_gate_wait(bench_gate* gate)
{
    while (!__atomic_load_n(&gate->open, __ATOMIC_ACQUIRE))
        syscall(SYS_futex, &gate->open, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}

void bench_gate_open(bench_gate* gate)
{
    __atomic_store_n(&gate->open, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &gate->open, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void bench_sleep_ns(uint64_t nanoseconds)
{
    struct timespec duration = {(time_t)(nanoseconds / 1000000000u), (long)(nanoseconds % 1000000000u)};
    while (nanosleep(&duration, &duration) != 0 && errno == EINTR) {
    }
}

typedef struct line_ping {
    _Alignas(128) uint64_t turn; /* odd: the peer's turn; even: the caller's */
    _Alignas(128) int stop;
} line_ping;

static void* line_pong(void* argument)
{
    line_ping* ping = argument;
    uint64_t expected = 1;
    while (!__atomic_load_n(&ping->stop, __ATOMIC_RELAXED)) {
        if (__atomic_load_n(&ping->turn, __ATOMIC_ACQUIRE) == expected) {
            __atomic_store_n(&ping->turn, expected + 1, __ATOMIC_RELEASE);
            expected += 2;
        } else {
            BENCH_CPU_RELAX();
        }
    }
    return NULL;
}

double bench_line_round_trip_ns(double seconds)
{
    line_ping* ping = bench_map(sizeof *ping);
    pthread_t peer;
    bench_thread_start(&peer, line_pong, ping);
    uint64_t trips = 0, next = 0;
    uint64_t t0 = bench_now_ns(), end = t0 + (uint64_t)(seconds * 1e9), t1 = t0;
    for (;;) {
        __atomic_store_n(&ping->turn, next + 1, __ATOMIC_RELEASE);
        next += 2;
        while (__atomic_load_n(&ping->turn, __ATOMIC_ACQUIRE) != next) BENCH_CPU_RELAX();
        if ((++trips & 255) == 0 && (t1 = bench_now_ns()) >= end) break;
    }
    __atomic_store_n(&ping->stop, 1, __ATOMIC_RELAXED);
    pthread_join(peer, NULL);
    bench_unmap(ping, sizeof *ping);
    return (double)(t1 - t0) / (double)trips;
}

/* ---------------------------------------------------------------- the process */

int bench_library_mapped(const char* name_part)
{
    FILE* maps = fopen("/proc/self/maps", "r");
    if (!maps) return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, maps)) found = strstr(line, name_part) != NULL;
    fclose(maps);
    return found;
}

void bench_fail(const char* format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    fputs("pools_bench: ", stderr);
    vfprintf(stderr, format, arguments);
    fputc('\n', stderr);
    va_end(arguments);
    exit(2);
}

/* ---------------------------------------------------------------- arguments */

const char* bench_arg(int argc, char** argv, const char* name, const char* fallback)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return fallback;
}

uint64_t bench_arg_u64(int argc, char** argv, const char* name, uint64_t fallback)
{
    const char* text = bench_arg(argc, argv, name, NULL);
    if (!text) return fallback;
    char* end;
    unsigned long long value = strtoull(text, &end, 10);
    if (*end != '\0') bench_fail("%s wants a whole number, not '%s'", name, text);
    return value;
}

double bench_arg_double(int argc, char** argv, const char* name, double fallback)
{
    const char* text = bench_arg(argc, argv, name, NULL);
    if (!text) return fallback;
    char* end;
    double value = strtod(text, &end);
    if (*end != '\0') bench_fail("%s wants a number, not '%s'", name, text);
    return value;
}

/* ---------------------------------------------------------------- JSON records */

static void field_name(bench_record* record, const char* name)
{
    printf("%s\"%s\": ", record->fields_in_section++ ? ", " : "", name);
}

void bench_record_begin(bench_record* record, const char* scenario, const char* allocator)
{
    record->fields_in_section = 0;
    record->section = 0;
    printf("{\"scenario\": \"%s\", \"allocator\": \"%s\", \"params\": {", scenario, allocator);
}

void bench_record_param_u64(bench_record* record, const char* name, uint64_t value)
{
    field_name(record, name);
    printf("%llu", (unsigned long long)value);
}

void bench_record_param_str(bench_record* record, const char* name, const char* value)
{
    field_name(record, name);
    printf("\"%s\"", value);
}

void bench_record_metrics(bench_record* record)
{
    record->section = 1;
    record->fields_in_section = 0;
    printf("}, \"metrics\": {");
}

void bench_record_u64(bench_record* record, const char* name, uint64_t value)
{
    field_name(record, name);
    printf("%llu", (unsigned long long)value);
}

void bench_record_double(bench_record* record, const char* name, double value)
{
    field_name(record, name);
    if (isfinite(value)) printf("%.6g", value);
    else printf("null"); /* JSON has no NaN or infinity */
}

void bench_record_str(bench_record* record, const char* name, const char* value)
{
    field_name(record, name);
    printf("\"%s\"", value);
}

void bench_record_end(bench_record* record)
{
    (void)record;
    printf("}}\n");
    fflush(stdout);
}
