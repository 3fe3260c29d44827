/*
 * ipc_util.c: the board (shared page of all processes of one run), cross-process futex waits,
 * per-process CPU and syscall figures, the raw shared-memory channel, option parsing.
 */
#define _GNU_SOURCE
#include "ipc_bench.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/perf_event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- transports */

static const char* const transport_names[] = {"nativepools", "shm", "uds", "uds_epoll", "zmq"};

const char* ipc_transport_name(ipc_transport t) { return transport_names[t]; }

ipc_transport ipc_transport_parse(const char* name)
{
    for (size_t i = 0; i < sizeof transport_names / sizeof transport_names[0]; i++)
        if (name && strcmp(name, transport_names[i]) == 0) return (ipc_transport)i;
    ipc_fail("unknown transport '%s' (nativepools shm uds uds_epoll zmq)", name ? name : "");
}

/* ---------------------------------------------------------------- the board */

size_t ipc_board_bytes(uint32_t clients)
{
    size_t bytes = sizeof(ipc_board) + (size_t)clients * sizeof(ipc_slot);
    return (bytes + 4095) & ~(size_t)4095;
}

ipc_board* ipc_board_map(int fd, uint32_t clients)
{
    void* memory = mmap(NULL, ipc_board_bytes(clients), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (memory == MAP_FAILED) ipc_fail("mmap of the board failed: %s", strerror(errno));
    return memory;
}

static long futex(uint32_t* word, int op, uint32_t value, const struct timespec* timeout)
{
    return syscall(SYS_futex, word, op, value, timeout, NULL, 0);
}

void ipc_word_set(uint32_t* word, uint32_t value)
{
    __atomic_store_n(word, value, __ATOMIC_SEQ_CST);
    futex(word, FUTEX_WAKE, INT_MAX, NULL);
}

uint32_t ipc_word_add(uint32_t* word, uint32_t value)
{
    uint32_t now = __atomic_add_fetch(word, value, __ATOMIC_SEQ_CST);
    futex(word, FUTEX_WAKE, INT_MAX, NULL);
    return now;
}

int ipc_word_wait_at_least(uint32_t* word, uint32_t value, uint32_t timeout_ms)
{
    uint64_t deadline = timeout_ms ? bench_now_ns() + (uint64_t)timeout_ms * 1000000u : UINT64_MAX;
    for (;;) {
        uint32_t now = __atomic_load_n(word, __ATOMIC_ACQUIRE);
        if (now >= value) return 1;
        uint64_t t = bench_now_ns();
        if (t >= deadline) return 0;
        uint64_t slice = deadline - t < 100000000u ? deadline - t : 100000000u; /* 100 ms at most */
        struct timespec timeout = {(time_t)(slice / 1000000000u), (long)(slice % 1000000000u)};
        futex(word, FUTEX_WAIT, now, &timeout);
    }
}

/* ---------------------------------------------------------------- measuring a side */

static long tracepoint_id(const char* name)
{
    static const char* const roots[] = {"/sys/kernel/tracing/events/", "/sys/kernel/debug/tracing/events/"};
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s%s/id", roots[i], name);
        FILE* f = fopen(path, "r");
        if (!f) continue;
        long id = -1;
        if (fscanf(f, "%ld", &id) != 1) id = -1;
        fclose(f);
        if (id >= 0) return id;
    }
    return -1;
}

int ipc_syscall_counter_open(void)
{
    const char* off = getenv("IPC_BENCH_SYSCALLS"); /* "0": no counter (to measure what it costs) */
    if (off && strcmp(off, "0") == 0) return -1;
    long id = tracepoint_id("raw_syscalls/sys_enter");
    if (id < 0) return -1;
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.config = (uint64_t)id;
    attr.inherit = 1; /* threads started later count too; read() sums them */
    attr.sample_period = 0;
    int fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
    return fd;
}

uint64_t ipc_syscall_counter_read(int fd)
{
    if (fd < 0) return IPC_UNKNOWN;
    uint64_t value;
    if (read(fd, &value, sizeof value) != (ssize_t)sizeof value) return IPC_UNKNOWN;
    return value;
}

ipc_snapshot ipc_snapshot_take(int syscall_fd)
{
    ipc_snapshot s;
    s.syscalls = ipc_syscall_counter_read(syscall_fd);
    s.cpu = bench_cpu_process();
    return s;
}

void ipc_side_fill(ipc_side* side, ipc_snapshot before, ipc_snapshot after)
{
    side->cpu = bench_cpu_delta(before.cpu, after.cpu);
    side->syscalls = before.syscalls == IPC_UNKNOWN || after.syscalls == IPC_UNKNOWN
                         ? IPC_UNKNOWN
                         : after.syscalls - before.syscalls;
    side->vm_hwm_kib = bench_status_kib("VmHWM");
    side->vm_rss_kib = bench_status_kib("VmRSS");
}

/* ---------------------------------------------------------------- raw shared-memory channel */

ipc_shm_channel ipc_shm_map(int fd)
{
    uint8_t* memory = mmap(NULL, IPC_SHM_CHANNEL_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (memory == MAP_FAILED) ipc_fail("mmap of the shm channel failed: %s", strerror(errno));
    ipc_shm_channel c = {
        (ipc_shm_direction*)memory,
        (ipc_shm_direction*)(memory + IPC_SHM_DIRECTION_BYTES),
        (uint32_t*)(memory + 2 * IPC_SHM_DIRECTION_BYTES),
    };
    return c;
}

uint32_t ipc_shm_wait(ipc_shm_direction* d, uint32_t seen, uint64_t spin_ticks, const uint32_t* stop, uint64_t* waits)
{
    uint32_t now = __atomic_load_n(&d->seq, __ATOMIC_ACQUIRE);
    if (now != seen) return now;
    uint64_t spin_until = bench_ticks() + spin_ticks;
    while (bench_ticks() < spin_until) {
        BENCH_CPU_RELAX();
        now = __atomic_load_n(&d->seq, __ATOMIC_ACQUIRE);
        if (now != seen) return now;
    }
    for (;;) {
        /* Dekker: flag, full fence, recheck; the writer publishes, fences, then reads the flag. */
        __atomic_store_n(&d->sleeping, 1, __ATOMIC_SEQ_CST);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        now = __atomic_load_n(&d->seq, __ATOMIC_ACQUIRE);
        if (now == seen && !__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
            struct timespec timeout = {0, 100000000}; /* 100 ms: rechecks stop */
            (*waits)++;
            futex(&d->seq, FUTEX_WAIT, seen, &timeout);
            now = __atomic_load_n(&d->seq, __ATOMIC_ACQUIRE);
        }
        __atomic_store_n(&d->sleeping, 0, __ATOMIC_RELAXED);
        if (now != seen || __atomic_load_n(stop, __ATOMIC_ACQUIRE)) return now;
    }
}

void ipc_shm_publish(ipc_shm_direction* d, uint32_t seq, uint64_t* wakes)
{
    __atomic_store_n(&d->seq, seq, __ATOMIC_SEQ_CST);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&d->sleeping, __ATOMIC_RELAXED)) {
        (*wakes)++;
        futex(&d->seq, FUTEX_WAKE, 1, NULL);
    }
}

/* ---------------------------------------------------------------- options */

void ipc_options_parse(ipc_options* o, int argc, char** argv)
{
    memset(o, 0, sizeof *o);
    o->transport = ipc_transport_parse(bench_arg(argc, argv, "--transport", "nativepools"));
    o->address = bench_arg(argc, argv, "--address", "");
    o->board_fd = (int)bench_arg_u64(argc, argv, "--board-fd", 0);
    o->channel_fd = (int)bench_arg_u64(argc, argv, "--channel-fd", 0);
    o->clients = (uint32_t)bench_arg_u64(argc, argv, "--clients", 1);
    o->index = (uint32_t)bench_arg_u64(argc, argv, "--index", 0);
    o->size = (uint32_t)bench_arg_u64(argc, argv, "--size", 64);
    o->workers = (uint32_t)bench_arg_u64(argc, argv, "--workers", 1);
    o->ring_size = (uint32_t)bench_arg_u64(argc, argv, "--ring-size", 0);
    o->max_message = (uint32_t)bench_arg_u64(argc, argv, "--max-message", 0);
    o->spin_us = (uint32_t)bench_arg_u64(argc, argv, "--spin-us", 0);
    o->window = (uint32_t)bench_arg_u64(argc, argv, "--window", 0);
    o->warmup_ms = bench_arg_u64(argc, argv, "--warmup-ms", 200);
    o->warmup_calls = bench_arg_u64(argc, argv, "--warmup-calls", 20000);
    if (o->size < 16) ipc_fail("--size must be at least 16 (the echo check stamps 16 bytes)");
}

void ipc_fail(const char* format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    fprintf(stderr, "ipc_bench[%d]: ", (int)getpid());
    vfprintf(stderr, format, arguments);
    fputc('\n', stderr);
    va_end(arguments);
    exit(2);
}

void ipc_record_begin(bench_record* record, const char* scenario, const char* transport)
{
    record->fields_in_section = 0;
    record->section = 0;
    printf("{\"scenario\": \"%s\", \"transport\": \"%s\", \"params\": {", scenario, transport);
}
