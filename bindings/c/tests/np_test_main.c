/*
 * The runner: runs every registered test, or those named on the command line (a scenario id
 * such as S12, a test name, or both joined by "_"), one at a time; --list prints them.
 * Prints one line per test and ends with "N passed, N failed"; exits non-zero when a test
 * failed or when no test ran.
 */
#include "np_test.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static const np_test_suite *const all_suites[] = {
    &np_suite_concurrency,
    &np_suite_million,
    &np_suite_integrity,
    &np_suite_growth,
    &np_suite_bad_input,
    &np_suite_memory,
    &np_suite_flags_batch_owns,
    &np_suite_hot_path,
    &np_suite_message_pool,
    &np_suite_ipc_processes,
    &np_suite_ipc_faults,
    &np_suite_ipc_api,
    &np_suite_thread_exit,
    &np_suite_ipc_hostile_peers,
};

enum { MESSAGES_SHOWN_PER_TEST = 8, WORKER_STACK_BYTES = 256 * 1024 };

static atomic_int current_failures;
static atomic_int live_workers; /* workers of the current test still running */
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_failure[512];
static const np_test_case *volatile current_case;

/* Where a failing ASSERT jumps to: the runner for test bodies, the wrapper for workers. */
static _Thread_local jmp_buf *exit_point;

/* ------------------------------------------------------------------ failing */

int np_test_failed(void) { return atomic_load(&current_failures) != 0; }

NP_NORETURN static void leave_current_body(void)
{
    if (exit_point == NULL) {
        fprintf(stderr, "np_test: ASSERT failed on a thread not started by np_thread_start()\n");
        abort();
    }
    longjmp(*exit_point, 1);
}

void np_test_stop_if_failed(void)
{
    if (np_test_failed()) leave_current_body();
}

static void record_failure(const char *file, int line, const char *message)
{
    pthread_mutex_lock(&report_lock);
    int previous = atomic_fetch_add(&current_failures, 1);
    if (previous == 0) snprintf(first_failure, sizeof first_failure, "%s:%d: %s", file, line, message);
    if (previous < MESSAGES_SHOWN_PER_TEST) printf("   %s:%d: %s\n", file, line, message);
    fflush(stdout);
    pthread_mutex_unlock(&report_lock);
}

void np_test_fail(const char *file, int line, const char *format, ...)
{
    char message[768];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    record_failure(file, line, message);
    leave_current_body();
}

void np_test_fail_status(const char *file, int line, const char *expression, np_status expected, np_status actual)
{
    char detail[256];
    char message[768];
    /* The detail belongs to the calling thread's latest failure, which is this call's if it failed. */
    if (actual != NP_OK) np_last_error_message(detail, sizeof detail);
    else snprintf(detail, sizeof detail, "(call succeeded)");
    snprintf(message, sizeof message, "%s returned %s (%d), expected %s (%d); detail: %s",
             expression, np_status_name(actual), (int)actual, np_status_name(expected), (int)expected, detail);
    record_failure(file, line, message);
    leave_current_body();
}

/* ------------------------------------------------------------------ threads */

typedef struct worker_start {
    void *(*body)(void *);
    void *argument;
} worker_start;

static void *run_worker(void *raw)
{
    worker_start start = *(worker_start *)raw;
    free(raw);
    jmp_buf worker_exit;
    if (setjmp(worker_exit) == 0) {
        exit_point = &worker_exit;
        start.body(start.argument);
    }
    exit_point = NULL;
    atomic_fetch_sub(&live_workers, 1);
    return NULL;
}

void np_thread_start(pthread_t *thread, void *(*body)(void *), void *argument)
{
    worker_start *start = malloc(sizeof *start);
    NP_ASSERT_NOT_NULL(start);
    start->body = body;
    start->argument = argument;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setstacksize(&attributes, WORKER_STACK_BYTES);
    atomic_fetch_add(&live_workers, 1);
    int error = pthread_create(thread, &attributes, run_worker, start);
    pthread_attr_destroy(&attributes);
    if (error != 0) {
        atomic_fetch_sub(&live_workers, 1);
        free(start);
        np_test_fail(__FILE__, __LINE__, "pthread_create failed with error %d", error);
    }
}

void np_thread_join(pthread_t thread) { pthread_join(thread, NULL); }

void np_threads_run(size_t count, void *(*body)(void *), void *arguments, size_t argument_size)
{
    pthread_t *threads = malloc(count * sizeof *threads);
    NP_ASSERT_NOT_NULL(threads);
    size_t started = 0;
    for (; started < count; started++) {
        worker_start *start = malloc(sizeof *start);
        if (start == NULL) break;
        start->body = body;
        start->argument = (char *)arguments + started * argument_size;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setstacksize(&attributes, WORKER_STACK_BYTES);
        atomic_fetch_add(&live_workers, 1);
        int error = pthread_create(&threads[started], &attributes, run_worker, start);
        pthread_attr_destroy(&attributes);
        if (error != 0) {
            atomic_fetch_sub(&live_workers, 1);
            free(start);
            char message[128];
            snprintf(message, sizeof message, "pthread_create of worker %zu failed with error %d", started, error);
            record_failure(__FILE__, __LINE__, message);
            break;
        }
    }
    /* Join what started even after a failure, so no worker outlives its test. */
    for (size_t i = 0; i < started; i++) pthread_join(threads[i], NULL);
    free(threads);
    np_test_stop_if_failed();
}

/* ------------------------------------------------------------------ sizes */

int np_stress_full(void)
{
    const char *mode = getenv("NP_STRESS");
    return mode != NULL && strcmp(mode, "full") == 0;
}

/* ------------------------------------------------------------------ running */

static double seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* A hang guard, not a timing assertion: a deadlocked test must not stall CI forever. */
static void write_text(const char *text)
{
    if (write(STDOUT_FILENO, text, strlen(text)) < 0) { /* nothing more can be done in a signal handler */ }
}

static void on_hang(int signal_number)
{
    (void)signal_number;
    write_text("FAIL ");
    write_text(current_case ? current_case->id : "?");
    write_text(" ");
    write_text(current_case ? current_case->name : "?");
    write_text(": still running at its time limit (hang guard); aborting the run\n");
    _exit(3);
}

static int case_selected(const np_test_case *test, int argc, char **argv, int *matched)
{
    if (argc <= 1) return 1;
    int selected = 0;
    for (int i = 1; i < argc; i++) {
        char full_name[160];
        snprintf(full_name, sizeof full_name, "%s_%s", test->id, test->name);
        if (strcmp(argv[i], test->id) == 0 || strcmp(argv[i], test->name) == 0 || strcmp(argv[i], full_name) == 0) {
            matched[i] = 1;
            selected = 1;
        }
    }
    return selected;
}

static int run_case(const np_test_case *test, unsigned hang_limit_seconds)
{
    atomic_store(&current_failures, 0);
    first_failure[0] = '\0';
    current_case = test;
    jmp_buf body_exit;
    double started = seconds_now();
    alarm(hang_limit_seconds);
    if (setjmp(body_exit) == 0) {
        exit_point = &body_exit;
        test->run();
    }
    exit_point = NULL;
    /* A failed test may leave workers that are still winding down: none may outlive it. */
    while (atomic_load(&live_workers) > 0) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    alarm(0);
    double elapsed = seconds_now() - started;
    int failures = atomic_load(&current_failures);
    if (failures == 0) {
        printf("ok %s %s (%.2f s)\n", test->id, test->name, elapsed);
    } else {
        printf("FAIL %s %s (%.2f s): %d failed assertion(s); first: %s\n", test->id, test->name, elapsed, failures,
               first_failure);
    }
    fflush(stdout);
    return failures == 0;
}

static int list_cases(void)
{
    for (size_t s = 0; s < NP_COUNT_OF(all_suites); s++)
        for (size_t c = 0; c < all_suites[s]->count; c++)
            printf("%s %s (%s)\n", all_suites[s]->cases[c].id, all_suites[s]->cases[c].name, all_suites[s]->name);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) return list_cases();
    if (argc == 2 && strcmp(argv[1], "--probe-no-syscalls") == 0) return np_probe_no_syscalls();
    if (argc == 2 && strcmp(argv[1], "--probe-ipc-no-syscalls") == 0) return np_probe_ipc_no_syscalls();
    if (argc >= 3 && strcmp(argv[1], "--ipc-child") == 0) return np_ipc_child_main(argc - 2, argv + 2);
    int *matched = calloc((size_t)argc + 1, sizeof *matched);
    unsigned hang_limit = np_stress_full() ? 3600u : 600u;
    int passed = 0, failed = 0;

    signal(SIGALRM, on_hang);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("NativePools C suite: library %s (np_version 0x%06x, header 0x%06x), %s size\n", np_version_string(),
           (unsigned)np_version(), (unsigned)NP_VERSION_NUMBER, np_stress_full() ? "full" : "CI");

    for (size_t s = 0; s < NP_COUNT_OF(all_suites); s++) {
        const np_test_suite *suite = all_suites[s];
        for (size_t c = 0; c < suite->count; c++) {
            if (!case_selected(&suite->cases[c], argc, argv, matched)) continue;
            if (run_case(&suite->cases[c], hang_limit)) passed++;
            else failed++;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (!matched[i]) {
            printf("FAIL no test is named '%s'\n", argv[i]);
            failed++;
        }
    }
    free(matched);
    printf("%d passed, %d failed\n", passed, failed);
    return (failed == 0 && passed > 0) ? 0 : 1;
}
