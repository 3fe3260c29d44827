/* H01: after warm-up, alloc/free (single and batched) make no system call at all.
 *
 * The check runs in a fresh process (this test binary re-executed with --probe-no-syscalls),
 * because it needs a thread that nothing else shares: that thread warms up, then installs a
 * seccomp filter on itself alone that turns every system call except rt_sigreturn into
 * SIGSYS. A handler records each one (and makes it fail). The measured loop then runs; any
 * system call the library makes on that path is caught, whatever it is. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "np_test.h"

#if defined(__x86_64__)
#define PROBE_AUDIT_ARCH AUDIT_ARCH_X86_64
#define PROBE_SET_RESULT(uc, value) ((uc)->uc_mcontext.gregs[REG_RAX] = (value))
#elif defined(__aarch64__)
#define PROBE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#define PROBE_SET_RESULT(uc, value) ((uc)->uc_mcontext.regs[0] = (value))
#endif

enum { PAIRS = 100000, BATCHES = 2000, BATCH = 64, MAX_RECORDED = 16 };

static volatile sig_atomic_t trapped;
static volatile int trapped_numbers[MAX_RECORDED];
static volatile sig_atomic_t probe_done;
static volatile sig_atomic_t control_trapped; /* the deliberate getppid() after the loop was caught */
static volatile int probe_failure; /* a status, or 1 for a content mismatch */

static void on_sigsys(int signal_number, siginfo_t *info, void *context)
{
    (void)signal_number;
    int n = trapped;
    if (n < MAX_RECORDED) trapped_numbers[n] = info->si_syscall;
    trapped = n + 1;
#ifdef PROBE_SET_RESULT
    PROBE_SET_RESULT((ucontext_t *)context, -ENOSYS);
#else
    (void)context;
#endif
}

static int install_trap_all_filter(void)
{
#ifdef PROBE_AUDIT_ARCH
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROBE_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        /* Returning from the SIGSYS handler is the one call we must let through. */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigreturn, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
    };
    struct sock_fprog program = {(unsigned short)NP_COUNT_OF(filter), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    /* Without SECCOMP_FILTER_FLAG_TSYNC the filter applies to the calling thread only. */
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program);
#else
    return -1;
#endif
}

static int run_workload(np_pool pool, void **blocks)
{
    for (int i = 0; i < PAIRS; i++) {
        void *block;
        np_status s = np_pool_alloc(pool, &block);
        if (s != NP_OK) return s;
        *(volatile int *)block = i;
        if (*(volatile int *)block != i) return 1;
        s = np_pool_free(pool, block);
        if (s != NP_OK) return s;
    }
    for (int i = 0; i < BATCHES; i++) {
        size_t got = 0, freed = 0;
        np_status s = np_pool_alloc_batch(pool, blocks, BATCH, &got);
        if (s != NP_OK) return s;
        s = np_pool_free_batch(pool, (void *const *)blocks, got, &freed);
        if (s != NP_OK) return s;
        if (freed != BATCH) return 1;
    }
    return 0;
}

static void *probe_thread(void *argument)
{
    np_pool pool = *(np_pool *)argument;
    void *blocks[BATCH];
    /* Warm-up: attaches this thread to the library's runtime, creates its cache, grows the pool. */
    probe_failure = run_workload(pool, blocks);
    if (probe_failure == 0) {
        if (install_trap_all_filter() != 0) {
            probe_failure = 2;
        } else {
            probe_failure = run_workload(pool, blocks);
            /* Control: one deliberate system call must be caught, or the probe proves nothing. */
            int before = trapped;
            syscall(SYS_getppid);
            control_trapped = trapped == before + 1 && before < MAX_RECORDED && trapped_numbers[before] == SYS_getppid;
            trapped = before;
        }
    }
    probe_done = 1;
    for (;;) {
        /* No way out without a system call: the process ends it from the main thread. */
    }
    return NULL;
}

/* Entry point of the re-executed child: exit code 0 = no system call, 3 = system calls seen. */
int np_probe_no_syscalls(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigsys;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSYS, &action, NULL) != 0) return 10;

    np_pool_options options;
    np_pool pool;
    if (np_pool_options_preset(&options, NP_POOL_PRESET_SMALL) != NP_OK || np_pool_create(&options, &pool) != NP_OK)
        return 11;
    pthread_t thread;
    if (pthread_create(&thread, NULL, probe_thread, &pool) != 0) return 12;
    for (int waited = 0; !probe_done && waited < 60000; waited++) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    if (!probe_done) {
        printf("probe: the measured loop did not finish\n");
        return 13;
    }
    printf("probe: control call trapped: %s; workload status %d, system calls trapped %d",
           control_trapped ? "yes" : "no", probe_failure, (int)trapped);
    for (int i = 0; i < trapped && i < MAX_RECORDED; i++) printf("%s%d", i ? ", " : " (numbers: ", trapped_numbers[i]);
    printf("%s\n", trapped ? ")" : "");
    fflush(stdout);
    return !control_trapped ? 5 : trapped != 0 ? 3 : probe_failure != 0 ? 4 : 0;
}

static void run_probe(const char *flag);

static void h01_no_syscall_after_warm_up(void)
{
    run_probe("--probe-no-syscalls");
}

/* ---- H02: an IPC call makes no system call while the server is awake ----
 *
 * The re-executed probe forks a server process (echo handler, spin_us at its maximum of one
 * second, so its worker stays awake between calls, and clients are told to spin as long), then
 * a client thread connects, warms up, installs the same trap-everything filter on itself and
 * makes IPC_CALLS calls. Both sides stay awake, so the client must never reach poll(): any
 * system call on the call path is trapped and reported.
 *
 * Each round trip needs both processes on a core. On a machine busy with other work that can
 * cost a scheduler slice per call, so each phase also ends when the main thread (which is not
 * filtered) raises a flag after its time budget; the check then needs IPC_MIN_MEASURED calls. */
enum { IPC_WARM_UP = 20000, IPC_CALLS = 100000, IPC_MIN_MEASURED = 2000, IPC_PAYLOAD = 64 };
enum { IPC_WARM_UP_BUDGET_MS = 20000, IPC_MEASURE_BUDGET_MS = 60000 };

static volatile int ipc_warm_up_over; /* raised by the main thread when the warm-up's budget is spent */
static volatile int ipc_measure_over; /* raised when the measured phase's budget is spent as well */
static volatile int ipc_measured;     /* calls made under the filter */

static np_status echo_for_probe(void *user, uint32_t route, const uint8_t *request, uint32_t length,
                                uint8_t *response, uint32_t capacity, uint32_t *written)
{
    (void)user;
    (void)route;
    if (length > capacity) return NP_E_BUFFER_TOO_SMALL;
    memcpy(response, request, length);
    *written = length;
    return NP_OK;
}

/* Makes up to `calls` calls, fewer once *over is raised; counts them in *made. */
static int run_calls(np_client client, uint32_t route, int calls, volatile int *over, volatile int *made)
{
    uint8_t request[IPC_PAYLOAD], response[IPC_PAYLOAD];
    for (int i = 0; i < calls && !*over; i++, (*made)++) {
        memset(request, (unsigned char)i, sizeof request);
        uint32_t length = 0;
        np_status s = np_client_call(client, route, request, sizeof request, response, sizeof response, &length, 10000);
        if (s != NP_OK) return s;
        if (length != sizeof request || memcmp(request, response, sizeof request) != 0) return 1;
    }
    return 0;
}

struct ipc_probe {
    np_client client;
    uint32_t route;
};

static void *ipc_probe_thread(void *argument)
{
    struct ipc_probe *probe = argument;
    volatile int warm_up_calls = 0;
    probe_failure = run_calls(probe->client, probe->route, IPC_WARM_UP, &ipc_warm_up_over, &warm_up_calls);
    if (probe_failure == 0) {
        if (install_trap_all_filter() != 0) {
            probe_failure = 2;
        } else {
            probe_failure = run_calls(probe->client, probe->route, IPC_CALLS, &ipc_measure_over, &ipc_measured);
            int before = trapped;
            syscall(SYS_getppid);
            control_trapped = trapped == before + 1 && before < MAX_RECORDED && trapped_numbers[before] == SYS_getppid;
            trapped = before;
        }
    }
    probe_done = 1;
    for (;;) {
    }
    return NULL;
}

/* Entry point of the re-executed child for H02: exit codes as np_probe_no_syscalls, and 6 when
 * fewer than IPC_MIN_MEASURED calls were made under the filter within the budget. */
int np_probe_ipc_no_syscalls(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigsys;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSYS, &action, NULL) != 0) return 10;

    char address[64];
    snprintf(address, sizeof address, "@nativepools-h02-%d", (int)getpid());
    pid_t server_pid = fork();
    if (server_pid < 0) return 11;
    if (server_pid == 0) {
        np_server_options options;
        np_server server;
        uint32_t route;
        np_server_options_init(&options);
        options.address = address;
        options.spin_us = 1000000;
        if (np_server_create(&options, &server) != NP_OK || np_server_add_route(server, "echo", echo_for_probe, NULL, &route) != NP_OK ||
            np_server_start(server) != NP_OK)
            _exit(20);
        /* Serve until the probe process ends (the parent kills us). */
        for (;;) pause();
    }
    struct ipc_probe probe = {0, 0};
    np_status s = np_client_connect(address, 10000, &probe.client);
    if (s == NP_OK) s = np_client_resolve(probe.client, "echo", &probe.route);
    if (s != NP_OK) {
        printf("probe: cannot reach the probe server: %s\n", np_status_name(s));
        kill(server_pid, SIGKILL);
        return 14;
    }
    pthread_t thread;
    if (pthread_create(&thread, NULL, ipc_probe_thread, &probe) != 0) return 12;
    struct timespec millisecond = {0, 1000000};
    int waited = 0;
    for (; !probe_done && waited < IPC_WARM_UP_BUDGET_MS; waited++) nanosleep(&millisecond, NULL);
    ipc_warm_up_over = 1;
    for (; !probe_done && waited < IPC_WARM_UP_BUDGET_MS + IPC_MEASURE_BUDGET_MS; waited++) nanosleep(&millisecond, NULL);
    ipc_measure_over = 1;
    /* A call in progress ends within its 10 s timeout. */
    for (; !probe_done && waited < IPC_WARM_UP_BUDGET_MS + IPC_MEASURE_BUDGET_MS + 30000; waited++) nanosleep(&millisecond, NULL);
    kill(server_pid, SIGKILL);
    waitpid(server_pid, NULL, 0);
    if (!probe_done) {
        printf("probe: the measured calls did not finish\n");
        return 13;
    }
    printf("probe: control call trapped: %s; workload status %d, system calls trapped %d",
           control_trapped ? "yes" : "no", probe_failure, (int)trapped);
    for (int i = 0; i < trapped && i < MAX_RECORDED; i++) printf("%s%d", i ? ", " : " (numbers: ", trapped_numbers[i]);
    printf("%s; calls measured %d\n", trapped ? ")" : "", ipc_measured);
    fflush(stdout);
    return !control_trapped ? 5 : trapped != 0 ? 3 : probe_failure != 0 ? 4 : ipc_measured < IPC_MIN_MEASURED ? 6 : 0;
}

/* Runs this test binary again with `flag` and checks the probe's report. */
static void run_probe(const char *flag)
{
#ifndef PROBE_AUDIT_ARCH
    NP_ASSERT_MSG(0, "this check supports x86-64 and AArch64 Linux only");
#endif
    int out[2];
    NP_ASSERT(pipe(out) == 0);
    pid_t child = fork();
    NP_ASSERT(child >= 0);
    if (child == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        execl("/proc/self/exe", "np_tests", flag, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char report[512] = {0};
    size_t used = 0;
    ssize_t n;
    while (used < sizeof report - 1 && (n = read(out[0], report + used, sizeof report - 1 - used)) > 0) used += (size_t)n;
    close(out[0]);
    int wait_status;
    NP_ASSERT(waitpid(child, &wait_status, 0) == child);
    NP_ASSERT_MSG(WIFEXITED(wait_status), "the probe process died (signal %d): %s",
                  WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0, report);
    NP_ASSERT_MSG(WEXITSTATUS(wait_status) == 0, "exit code %d: %s", WEXITSTATUS(wait_status), report);
    /* The probe's own report must show the loop ran and nothing was trapped. */
    NP_ASSERT_MSG(strstr(report, "control call trapped: yes; workload status 0, system calls trapped 0") != NULL, "%s", report);
}

static void h02_no_syscall_in_ipc_call_while_server_awake(void)
{
    run_probe("--probe-ipc-no-syscalls");
}

static const np_test_case cases[] = {
    {"H01", "no_syscall_in_alloc_free_after_warm_up", h01_no_syscall_after_warm_up},
    {"H02", "no_syscall_in_ipc_call_while_server_awake", h02_no_syscall_in_ipc_call_while_server_awake},
};

const np_test_suite np_suite_hot_path = {"hot_path", cases, NP_COUNT_OF(cases)};
