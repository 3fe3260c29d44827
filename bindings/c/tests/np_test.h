/*
 * A tiny test harness for the NativePools C suite.
 *
 * Each test file lists its cases in an np_test_suite; np_test_main.c runs them all, or the ones
 * named on the command line (by scenario id such as "S12", or by full name). A failing ASSERT
 * prints file:line (and, for statuses, the status name and the calling thread's detail message),
 * then ends the current test body or worker thread; the test is reported as FAIL.
 *
 * Worker threads must be started with np_thread_start() so that a failing ASSERT inside them
 * ends only that thread. Code that waits for other threads should call np_test_failed() while
 * it waits, so a failure elsewhere cannot leave it waiting forever.
 *
 * Plain C99 + POSIX: the header must compile in every test file, one of which is built as C99.
 */
#ifndef NP_TEST_H
#define NP_TEST_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nativepools.h"

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define NP_NORETURN _Noreturn
#elif defined(__GNUC__)
#define NP_NORETURN __attribute__((noreturn))
#else
#define NP_NORETURN
#endif

#if defined(__GNUC__)
#define NP_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define NP_PRINTF(fmt_index, first_arg)
#endif

/* ------------------------------------------------------------------ registration */

typedef void (*np_test_fn)(void);

typedef struct np_test_case {
    const char *id;    /* scenario id from the shared list, e.g. "S12" */
    const char *name;  /* what the test shows, snake_case */
    np_test_fn run;
} np_test_case;

typedef struct np_test_suite {
    const char *name;
    const np_test_case *cases;
    size_t count;
} np_test_suite;

#define NP_COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))

/* Every test file defines one suite; np_test_main.c lists them. */
extern const np_test_suite np_suite_concurrency;
extern const np_test_suite np_suite_million;
extern const np_test_suite np_suite_integrity;
extern const np_test_suite np_suite_growth;
extern const np_test_suite np_suite_bad_input;
extern const np_test_suite np_suite_memory;
extern const np_test_suite np_suite_flags_batch_owns;
extern const np_test_suite np_suite_hot_path;
extern const np_test_suite np_suite_message_pool;
extern const np_test_suite np_suite_ipc_processes;
extern const np_test_suite np_suite_ipc_faults;
extern const np_test_suite np_suite_ipc_api;
extern const np_test_suite np_suite_thread_exit;
extern const np_test_suite np_suite_ipc_hostile_peers;

/* The child half of H01 (test_hot_path.c), run when the binary is started with --probe-no-syscalls. */
int np_probe_no_syscalls(void);
/* The H02 probe (test_hot_path.c): an IPC call path without system calls. */
int np_probe_ipc_no_syscalls(void);
/* The child processes of the IPC tests (np_ipc_support.c): the binary started with --ipc-child ROLE ARGS... */
int np_ipc_child_main(int argc, char **argv);

/* ------------------------------------------------------------------ failing */

/* Records a failure of the current test and ends the calling test body or worker thread. */
NP_NORETURN void np_test_fail(const char *file, int line, const char *format, ...) NP_PRINTF(3, 4);

/* As np_test_fail, for a call that returned `actual` instead of `expected`. */
NP_NORETURN void np_test_fail_status(const char *file, int line, const char *expression,
                                     np_status expected, np_status actual);

/* Nonzero once any assertion of the current test has failed (on any thread). */
int np_test_failed(void);

/* Ends the calling worker thread quietly when the current test has already failed elsewhere. */
void np_test_stop_if_failed(void);

#define NP_ASSERT(condition)                                                                  \
    do {                                                                                      \
        if (!(condition)) np_test_fail(__FILE__, __LINE__, "assertion failed: %s", #condition); \
    } while (0)

#define NP_ASSERT_MSG(condition, ...)                                                         \
    do {                                                                                      \
        if (!(condition)) np_test_fail(__FILE__, __LINE__, __VA_ARGS__);                      \
    } while (0)

#define NP_ASSERT_STATUS(expected, expression)                                                \
    do {                                                                                      \
        np_status np_actual_ = (expression);                                                  \
        if (np_actual_ != (expected))                                                         \
            np_test_fail_status(__FILE__, __LINE__, #expression, (expected), np_actual_);     \
    } while (0)

#define NP_ASSERT_OK(expression) NP_ASSERT_STATUS(NP_OK, expression)

#define NP_ASSERT_EQ(expected, actual)                                                        \
    do {                                                                                      \
        unsigned long long np_e_ = (unsigned long long)(expected);                            \
        unsigned long long np_a_ = (unsigned long long)(actual);                              \
        if (np_e_ != np_a_)                                                                   \
            np_test_fail(__FILE__, __LINE__, "%s == %s: expected %llu, got %llu",             \
                         #actual, #expected, np_e_, np_a_);                                   \
    } while (0)

#define NP_ASSERT_CMP(left, op, right)                                                        \
    do {                                                                                      \
        unsigned long long np_l_ = (unsigned long long)(left);                                \
        unsigned long long np_r_ = (unsigned long long)(right);                               \
        if (!(np_l_ op np_r_))                                                                \
            np_test_fail(__FILE__, __LINE__, "%s %s %s: %llu vs %llu",                        \
                         #left, #op, #right, np_l_, np_r_);                                   \
    } while (0)

#define NP_ASSERT_PTR_EQ(expected, actual)                                                    \
    do {                                                                                      \
        const void *np_e_ = (expected);                                                       \
        const void *np_a_ = (actual);                                                         \
        if (np_e_ != np_a_)                                                                   \
            np_test_fail(__FILE__, __LINE__, "%s == %s: expected %p, got %p",                 \
                         #actual, #expected, np_e_, np_a_);                                   \
    } while (0)

#define NP_ASSERT_NOT_NULL(pointer) \
    NP_ASSERT_MSG((pointer) != NULL, "%s is NULL", #pointer)

#define NP_ASSERT_STR_EQ(expected, actual)                                                    \
    do {                                                                                      \
        const char *np_e_ = (expected);                                                       \
        const char *np_a_ = (actual);                                                         \
        if (np_a_ == NULL || strcmp(np_e_, np_a_) != 0)                                       \
            np_test_fail(__FILE__, __LINE__, "%s: expected \"%s\", got \"%s\"",               \
                         #actual, np_e_, np_a_ ? np_a_ : "(null)");                           \
    } while (0)

/* ------------------------------------------------------------------ threads */

/* Starts a worker (256 KiB stack) whose failing ASSERTs end only that worker. Asserts on failure. */
void np_thread_start(pthread_t *thread, void *(*body)(void *), void *argument);

/* Joins a worker started by np_thread_start(). */
void np_thread_join(pthread_t thread);

/* Starts `count` workers on body(arguments + i * argument_size) and joins them all. */
void np_threads_run(size_t count, void *(*body)(void *), void *arguments, size_t argument_size);

/* ------------------------------------------------------------------ sizes */

/* Nonzero when NP_STRESS=full asks for full-size stress runs. */
int np_stress_full(void);

/* `ci` normally, `full` under NP_STRESS=full. */
#define NP_SIZE(ci, full) (np_stress_full() ? (full) : (ci))

#endif /* NP_TEST_H */
