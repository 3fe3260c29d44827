/*
 * ipc_run.c: the orchestrator of one measurement. It never calls libnativepools: it spawns the
 * server and the clients (this binary, re-executed with "serve" / "client"), drives the board's
 * phases, and prints one JSON record with the merged figures.
 *
 *   ipc_bench run --scenario pingpong|fanin|pipeline --transport T [--size 64] [--clients 1]
 *                 [--workers 1] [--window 0] [--seconds 2] [--ring-size 0] [--max-message 0]
 *                 [--spin-us 0] [--warmup-ms 200] [--warmup-calls 20000]
 *                 [--server-cpu N] [--client-cpu M] [--quiet-wait S]
 *
 * --server-cpu / --client-cpu pin the server process / every client process to one CPU (the same
 * one: both peers share a core; different ones: each has its own). Unpinned by default.
 * --quiet-wait S waits up to S seconds, before the run, for the machine to be under 10 % busy.
 *
 * Phases: server READY -> clients connected and warmed up (ready == N) -> server BEGIN snapshot
 * -> gate opens (start_ns, end_ns) -> every client past end_ns (done == N) -> server END snapshot
 * -> release clients -> server QUIT -> every child must exit 0.
 */
#define _GNU_SOURCE
#include "ipc_bench.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nativepools.h"

#ifdef IPC_HAVE_ZMQ
#include <zmq.h>
#endif

static pid_t* g_children;      /* [0] server, [1..N] clients */
static int* g_exited;          /* 1 once reaped */
static uint32_t g_child_count;
static ipc_board* g_board;

static void kill_children(void)
{
    for (uint32_t i = 0; i < g_child_count; i++)
        if (g_children[i] > 0 && !g_exited[i]) kill(g_children[i], SIGKILL);
    for (uint32_t i = 0; i < g_child_count; i++)
        if (g_children[i] > 0 && !g_exited[i]) waitpid(g_children[i], NULL, 0);
}

static void run_failed(const char* format, ...) __attribute__((format(printf, 1, 2), noreturn));
static void run_failed(const char* format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    fputs("ipc_bench run: ", stderr);
    vfprintf(stderr, format, arguments);
    fputc('\n', stderr);
    va_end(arguments);
    if (g_board) {
        if (g_board->server_status) fprintf(stderr, "   server: %s\n", g_board->server_message);
        for (uint32_t i = 0; i < g_board->clients; i++)
            if (g_board->slots[i].status) fprintf(stderr, "   client %u: %s\n", i, g_board->slots[i].message);
    }
    kill_children();
    exit(1);
}

/* Fails when a child ended before its time. */
static void check_children(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (uint32_t i = 0; i < g_child_count; i++) {
            if (g_children[i] != pid) continue;
            g_exited[i] = 1;
            run_failed("%s %u (pid %d) ended early: %s %d", i == 0 ? "server" : "client", i == 0 ? 0 : i - 1, (int)pid,
                       WIFEXITED(status) ? "exit" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        }
    }
}

static void wait_word(uint32_t* word, uint32_t value, uint32_t timeout_s, const char* what)
{
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_s * 1000000000u;
    while (!ipc_word_wait_at_least(word, value, 200)) {
        check_children();
        if (g_board->server_phase == IPC_PHASE_FAILED) run_failed("the server failed");
        if (bench_now_ns() > deadline) run_failed("timed out after %u s waiting for %s (%u of %u)", timeout_s, what, *word, value);
    }
    if (g_board->server_phase == IPC_PHASE_FAILED) run_failed("the server failed");
}

static long g_server_cpu = -1, g_client_cpu = -1;

/* Starts this binary with argv; cpu >= 0 pins the child to that CPU first (exec keeps it). */
static pid_t spawn(char** argv, long cpu)
{
    pid_t pid = fork();
    if (pid < 0) run_failed("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (cpu >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET((int)cpu, &set);
            if (sched_setaffinity(0, sizeof set, &set) != 0) {
                fprintf(stderr, "ipc_bench run: sched_setaffinity(%ld): %s\n", cpu, strerror(errno));
                _exit(126);
            }
        }
        execv("/proc/self/exe", argv);
        fprintf(stderr, "ipc_bench run: exec failed: %s\n", strerror(errno));
        _exit(127);
    }
    return pid;
}

/* The machine's busy and total CPU time (all CPUs, /proc/stat "cpu" line) in ns; 0 when unreadable. */
static void machine_cpu(uint64_t* busy_ns, uint64_t* total_ns, uint64_t* steal_ns)
{
    *busy_ns = *total_ns = *steal_ns = 0;
    FILE* f = fopen("/proc/stat", "r");
    if (!f) return;
    unsigned long long v[8] = {0};
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
        double ns_per_tick = 1e9 / (double)sysconf(_SC_CLK_TCK);
        uint64_t total = 0;
        for (int i = 0; i < 8; i++) total += v[i];
        *total_ns = (uint64_t)((double)total * ns_per_tick);
        *busy_ns = (uint64_t)((double)(total - v[3] - v[4] - v[7]) * ns_per_tick);
        *steal_ns = (uint64_t)((double)v[7] * ns_per_tick);
    }
    fclose(f);
}

static int compare_u64(const void* a, const void* b)
{
    uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
    return x < y ? -1 : x > y;
}

static double per(uint64_t value, uint64_t calls) { return calls ? (double)value / (double)calls : 0.0; }

static double syscalls_per(uint64_t value, uint64_t calls)
{
    return value == IPC_UNKNOWN ? (double)NAN : per(value, calls);
}

int ipc_run_main(int argc, char** argv)
{
    ipc_options o;
    ipc_options_parse(&o, argc, argv);
    const char* scenario = bench_arg(argc, argv, "--scenario", "pingpong");
    double seconds = bench_arg_double(argc, argv, "--seconds", 2.0);
    const char* transport = ipc_transport_name(o.transport);

#ifndef IPC_HAVE_ZMQ
    if (o.transport == IPC_ZMQ) {
        printf("{\"scenario\": \"%s\", \"transport\": \"zmq\", \"params\": {\"size\": %u, \"clients\": %u, "
               "\"workers\": 1, \"window\": %u}, "
               "\"unavailable\": \"the driver was built without ZeroMQ (zmq.h not found: libzmq3-dev missing)\", "
               "\"metrics\": {}}\n", scenario, o.size, o.clients, o.window);
        return 0;
    }
#endif

    /* --quiet-wait S: before anything else, wait up to S seconds for the machine to be quiet (under
     * 10 % of its CPU busy over half a second): other processes' bursts spoil spinning figures. */
    double quiet_wait = bench_arg_double(argc, argv, "--quiet-wait", 0.0), waited_s = 0.0, busy_before = NAN;
    if (quiet_wait > 0) {
        uint64_t t0 = bench_now_ns();
        for (;;) {
            uint64_t b0, a0, s0, b1, a1, s1;
            machine_cpu(&b0, &a0, &s0);
            bench_sleep_ns(500000000u);
            machine_cpu(&b1, &a1, &s1);
            busy_before = a1 > a0 ? (double)(b1 - b0) / (double)(a1 - a0) : 0.0;
            waited_s = (double)(bench_now_ns() - t0) / 1e9;
            if (busy_before < 0.10 || waited_s >= quiet_wait) break;
        }
    }

    g_server_cpu = atol(bench_arg(argc, argv, "--server-cpu", "-1"));
    g_client_cpu = atol(bench_arg(argc, argv, "--client-cpu", "-1"));

    bench_ticks_calibrate();
    int board_fd = memfd_create("ipc_bench-board", 0); /* inherited by the children */
    if (board_fd < 0) run_failed("memfd_create: %s", strerror(errno));
    if (ftruncate(board_fd, (off_t)ipc_board_bytes(o.clients)) < 0) run_failed("ftruncate: %s", strerror(errno));
    g_board = ipc_board_map(board_fd, o.clients);
    g_board->ticks_per_ns = bench_ticks_per_ns();
    g_board->tick_overhead = bench_ticks_overhead();
    g_board->clients = o.clients;

    int channel_fd = 0;
    if (o.transport == IPC_SHM) {
        if (o.clients != 1) run_failed("the shm transport serves one client");
        channel_fd = memfd_create("ipc_bench-shm", 0);
        if (channel_fd < 0 || ftruncate(channel_fd, IPC_SHM_CHANNEL_BYTES) < 0) run_failed("shm channel: %s", strerror(errno));
    }

    char address[128];
    switch (o.transport) {
    case IPC_NATIVEPOOLS: snprintf(address, sizeof address, "@ipc-bench-np-%d", (int)getpid()); break;
    case IPC_UDS:
    case IPC_UDS_EPOLL: snprintf(address, sizeof address, "@ipc-bench-uds-%d", (int)getpid()); break;
    case IPC_ZMQ: snprintf(address, sizeof address, "ipc://@ipc-bench-zmq-%d", (int)getpid()); break;
    default: snprintf(address, sizeof address, "-"); break;
    }

    /* Arguments shared by every child; the clients add --index. */
    char numbers[12][32];
    snprintf(numbers[0], 32, "%d", board_fd);
    snprintf(numbers[1], 32, "%d", channel_fd);
    snprintf(numbers[2], 32, "%u", o.clients);
    snprintf(numbers[3], 32, "%u", o.size);
    snprintf(numbers[4], 32, "%u", o.workers);
    snprintf(numbers[5], 32, "%u", o.ring_size);
    snprintf(numbers[6], 32, "%u", o.max_message);
    snprintf(numbers[7], 32, "%u", o.spin_us);
    snprintf(numbers[8], 32, "%u", o.window);
    snprintf(numbers[9], 32, "%llu", (unsigned long long)o.warmup_ms);
    snprintf(numbers[10], 32, "%llu", (unsigned long long)o.warmup_calls);
    char* child_argv[40] = {
        "ipc_bench", "serve", "--transport", (char*)transport, "--address", address, "--board-fd", numbers[0],
        "--channel-fd", numbers[1], "--clients", numbers[2], "--size", numbers[3], "--workers", numbers[4],
        "--ring-size", numbers[5], "--max-message", numbers[6], "--spin-us", numbers[7], "--window", numbers[8],
        "--warmup-ms", numbers[9], "--warmup-calls", numbers[10], NULL, NULL, NULL,
    };
    enum { INDEX_ARG = 28 };

    g_child_count = o.clients + 1;
    g_children = bench_map(sizeof(pid_t) * g_child_count);
    g_exited = bench_map(sizeof(int) * g_child_count);
    fflush(NULL);
    uint64_t spawn_start = bench_now_ns();
    g_children[0] = spawn(child_argv, g_server_cpu);
    wait_word(&g_board->server_phase, IPC_PHASE_READY, 60, "the server to start");
    child_argv[1] = "client";
    child_argv[INDEX_ARG] = "--index";
    for (uint32_t i = 0; i < o.clients; i++) {
        char index[16];
        snprintf(index, sizeof index, "%u", i);
        child_argv[INDEX_ARG + 1] = index;
        g_children[i + 1] = spawn(child_argv, g_client_cpu);
    }
    wait_word(&g_board->ready, o.clients, 300, "clients to connect and warm up");
    double setup_s = (double)(bench_now_ns() - spawn_start) / 1e9;

    ipc_word_set(&g_board->command, IPC_CMD_BEGIN);
    wait_word(&g_board->server_phase, IPC_PHASE_BEGUN, 60, "the server's first snapshot");
    uint64_t busy0, total0, steal0, busy1, total1, steal1;
    machine_cpu(&busy0, &total0, &steal0);
    uint64_t start_ns = bench_now_ns();
    g_board->start_ns = start_ns;
    __atomic_store_n(&g_board->end_ns, start_ns + (uint64_t)(seconds * 1e9), __ATOMIC_RELEASE);
    ipc_word_set(&g_board->gate, 1);
    wait_word(&g_board->done, o.clients, (uint32_t)seconds + 120, "clients to finish");
    machine_cpu(&busy1, &total1, &steal1);
    ipc_word_set(&g_board->command, IPC_CMD_END);
    wait_word(&g_board->server_phase, IPC_PHASE_ENDED, 60, "the server's last snapshot");
    ipc_word_set(&g_board->release, 1);
    ipc_word_set(&g_board->command, IPC_CMD_QUIT);

    int failed = 0;
    for (uint32_t i = 0; i < g_child_count; i++) {
        int status;
        if (!g_exited[i]) {
            if (waitpid(g_children[i], &status, 0) < 0) run_failed("waitpid: %s", strerror(errno));
            g_exited[i] = 1;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "ipc_bench run: %s %u ended with %s %d\n", i ? "client" : "server", i ? i - 1 : 0,
                        WIFEXITED(status) ? "exit" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
                failed = 1;
            }
        }
    }
    if (failed) run_failed("a child process failed");

    /* ---- merge */
    latency_histogram* all = bench_map(sizeof *all);
    uint64_t calls = 0, content_errors = 0, last_end = start_ns, last_begin = start_ns, hwm_max = 0;
    uint64_t* per_client = bench_map(sizeof(uint64_t) * o.clients);
    ipc_side c = {0};
    c.syscalls = 0;
    for (uint32_t i = 0; i < o.clients; i++) {
        ipc_slot* s = &g_board->slots[i];
        latency_merge(all, &s->latency);
        calls += s->calls;
        per_client[i] = s->calls;
        content_errors += s->content_errors;
        if (s->ended_ns > last_end) last_end = s->ended_ns;
        if (s->began_ns > last_begin) last_begin = s->began_ns;
        if (s->side.vm_hwm_kib > hwm_max) hwm_max = s->side.vm_hwm_kib;
        c.cpu.user_ns += s->side.cpu.user_ns;
        c.cpu.system_ns += s->side.cpu.system_ns;
        c.cpu.voluntary_switches += s->side.cpu.voluntary_switches;
        c.cpu.involuntary_switches += s->side.cpu.involuntary_switches;
        c.syscalls = c.syscalls == IPC_UNKNOWN || s->side.syscalls == IPC_UNKNOWN ? IPC_UNKNOWN : c.syscalls + s->side.syscalls;
        c.futex_waits += s->side.futex_waits;
        c.futex_wakes += s->side.futex_wakes;
    }
    if (getenv("IPC_BENCH_PER_CLIENT")) /* diagnostics: one line per client on stderr */
        for (uint32_t i = 0; i < o.clients; i++) {
            ipc_slot* s = &g_board->slots[i];
            fprintf(stderr, "client %3u: calls %8llu  parks/call %.3f  preemptions/call %.4f  cpu_us/call %.2f  mean_us %.1f  max_us %.0f\n", i,
                    (unsigned long long)s->calls, per(s->side.cpu.voluntary_switches, s->calls),
                    per(s->side.cpu.involuntary_switches, s->calls),
                    per(s->side.cpu.user_ns + s->side.cpu.system_ns, s->calls) / 1e3, latency_mean_ns(&s->latency) / 1e3,
                    (double)s->latency.max_ns / 1e3);
        }
    qsort(per_client, o.clients, sizeof(uint64_t), compare_u64);
    double window_s = (double)(last_end - start_ns) / 1e9;
    double throughput = window_s > 0 ? (double)calls / window_s : 0.0;
    const ipc_side* sv = &g_board->server;

    bench_record r;
    ipc_record_begin(&r, scenario, transport);
    bench_record_param_u64(&r, "size", o.size);
    bench_record_param_u64(&r, "clients", o.clients);
    bench_record_param_u64(&r, "workers", o.transport == IPC_NATIVEPOOLS ? o.workers : 1);
    bench_record_param_u64(&r, "window", o.window);
    if (g_server_cpu >= 0) bench_record_param_u64(&r, "server_cpu", (uint64_t)g_server_cpu);
    if (g_client_cpu >= 0) bench_record_param_u64(&r, "client_cpu", (uint64_t)g_client_cpu);
    bench_record_metrics(&r);
    bench_record_double(&r, "seconds_asked", seconds);
    bench_record_double(&r, "window_s", window_s);
    bench_record_double(&r, "setup_s", setup_s);
    bench_record_double(&r, "last_client_start_ms", (double)(last_begin - start_ns) / 1e6);
    bench_record_u64(&r, "calls", calls);
    bench_record_double(&r, "calls_per_s", throughput);
    latency_record_metrics(&r, "latency", all);
    double mean_s = latency_mean_ns(all) / 1e9;
    bench_record_double(&r, "little_in_flight", throughput * mean_s);
    bench_record_double(&r, "little_expected", o.window ? (double)o.window * o.clients : (double)o.clients);
    bench_record_u64(&r, "content_errors", content_errors);
    bench_record_u64(&r, "server_requests", g_board->server_requests);
    bench_record_u64(&r, "server_errors", g_board->server_errors);
    bench_record_u64(&r, "client_calls_min", per_client[0]);
    bench_record_u64(&r, "client_calls_median", per_client[o.clients / 2]);
    bench_record_u64(&r, "client_calls_max", per_client[o.clients - 1]);
    /* CPU: both sides, whole processes (every thread), over the window */
    double client_cpu_s = (double)(c.cpu.user_ns + c.cpu.system_ns) / 1e9;
    double server_cpu_s = (double)(sv->cpu.user_ns + sv->cpu.system_ns) / 1e9;
    bench_record_double(&r, "client_cpu_user_s", (double)c.cpu.user_ns / 1e9);
    bench_record_double(&r, "client_cpu_system_s", (double)c.cpu.system_ns / 1e9);
    bench_record_double(&r, "server_cpu_user_s", (double)sv->cpu.user_ns / 1e9);
    bench_record_double(&r, "server_cpu_system_s", (double)sv->cpu.system_ns / 1e9);
    bench_record_double(&r, "client_cpu_us_per_call", per((uint64_t)(client_cpu_s * 1e9), calls) / 1e3);
    bench_record_double(&r, "server_cpu_us_per_call", per((uint64_t)(server_cpu_s * 1e9), calls) / 1e3);
    bench_record_double(&r, "client_cores_used", window_s > 0 ? client_cpu_s / window_s : 0.0);
    bench_record_double(&r, "server_cores_used", window_s > 0 ? server_cpu_s / window_s : 0.0);
    /* wait mode: a park is a voluntary context switch; a preemption an involuntary one */
    bench_record_double(&r, "client_parks_per_call", per(c.cpu.voluntary_switches, calls));
    bench_record_double(&r, "server_parks_per_call", per(sv->cpu.voluntary_switches, calls));
    bench_record_double(&r, "client_preemptions_per_call", per(c.cpu.involuntary_switches, calls));
    bench_record_double(&r, "server_preemptions_per_call", per(sv->cpu.involuntary_switches, calls));
    bench_record_double(&r, "client_syscalls_per_call", syscalls_per(c.syscalls, calls));
    bench_record_double(&r, "server_syscalls_per_call", syscalls_per(sv->syscalls, calls));
    bench_record_u64(&r, "client_syscalls", c.syscalls == IPC_UNKNOWN ? 0 : c.syscalls);
    bench_record_u64(&r, "server_syscalls", sv->syscalls == IPC_UNKNOWN ? 0 : sv->syscalls);
    bench_record_u64(&r, "syscalls_counted", c.syscalls != IPC_UNKNOWN && sv->syscalls != IPC_UNKNOWN);
    if (o.transport == IPC_SHM) {
        bench_record_double(&r, "client_futex_waits_per_call", per(c.futex_waits, calls));
        bench_record_double(&r, "server_futex_waits_per_call", per(sv->futex_waits, calls));
        bench_record_double(&r, "client_futex_wakes_per_call", per(c.futex_wakes, calls));
        bench_record_double(&r, "server_futex_wakes_per_call", per(sv->futex_wakes, calls));
    }
    /* Noise: the machine's busy CPU time in the window less what the server and clients used. */
    double own_ns = client_cpu_s * 1e9 + server_cpu_s * 1e9;
    double total_ns = (double)(total1 - total0);
    bench_record_double(&r, "other_cpu_share",
                        total_ns > 0 ? fmax(0.0, ((double)(busy1 - busy0) - own_ns) / total_ns) : (double)NAN);
    bench_record_double(&r, "quiet_wait_s", waited_s);
    bench_record_double(&r, "busy_share_before", busy_before);
    bench_record_double(&r, "steal_share", total_ns > 0 ? (double)(steal1 - steal0) / total_ns : (double)NAN);
    bench_record_u64(&r, "client_vm_hwm_kib_max", hwm_max);
    bench_record_u64(&r, "server_vm_hwm_kib", sv->vm_hwm_kib);
    bench_record_u64(&r, "server_vm_rss_kib", sv->vm_rss_kib);
    bench_record_end(&r);

    /* The server served exactly what the clients sent in the window: every counted call, plus the
     * pipelined requests drained after the deadline. */
    uint64_t expected_requests = calls + (uint64_t)o.window * o.clients;
    if (g_board->server_requests != expected_requests) {
        fprintf(stderr, "ipc_bench run: the server served %llu requests in the window, the clients sent %llu\n",
                (unsigned long long)g_board->server_requests, (unsigned long long)expected_requests);
        return 1;
    }
    if (content_errors || g_board->server_errors) {
        fprintf(stderr, "ipc_bench run: %llu content errors, %llu server errors\n", (unsigned long long)content_errors,
                (unsigned long long)g_board->server_errors);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- info */

int ipc_info_main(int argc, char** argv)
{
    (void)argc;
    (void)argv;
    bench_ticks_calibrate();
    int fd = ipc_syscall_counter_open();
    int zmq_major = 0, zmq_minor = 0, zmq_patch = 0;
#ifdef IPC_HAVE_ZMQ
    zmq_version(&zmq_major, &zmq_minor, &zmq_patch);
#endif
    printf("{\"scenario\": \"info\", \"library_version\": \"%s\", \"ticks_per_ns\": %.4f, \"timer_overhead_ticks\": %llu, "
           "\"syscall_counter\": %s, \"zmq_version\": \"%d.%d.%d\"}\n",
           np_version_string(), bench_ticks_per_ns(), (unsigned long long)bench_ticks_overhead(), fd >= 0 ? "true" : "false", zmq_major,
           zmq_minor, zmq_patch);
    return 0;
}
