/*
 * Helpers of the IPC tests (I01-I09): servers and clients that assert their own setup, stats that
 * are polled until a condition holds (with a "never happened" deadline, never a timing
 * assertion), checksummed payloads, and child processes.
 *
 * Child processes are this test binary started again with `--ipc-child ROLE ARGS...` (through
 * posix_spawn, never a bare fork: a forked copy of a process that runs the library's threads
 * would inherit its runtime in an undefined state). A child talks to its test through its stdin
 * (lines the test sends) and its stdout (lines it prints; stderr goes there too). Every child arms
 * alarm() at start, so a child that hangs dies on its own even if its test is gone.
 */
#ifndef NP_IPC_SUPPORT_H
#define NP_IPC_SUPPORT_H

#include "np_test_support.h"

#include <sys/types.h>

/* ------------------------------------------------------------------ time */

/* CLOCK_MONOTONIC in seconds. */
double np_ipc_now(void);

void np_ipc_sleep_ms(unsigned milliseconds);

/* ------------------------------------------------------------------ addresses and servers */

/* A fresh abstract address "@np-c-<tag>-<pid>-<n>": no two calls in any process return the same. */
void np_ipc_address(char *buffer, size_t capacity, const char *tag);

/* np_server_options_init() plus the address. */
np_server_options np_ipc_options(const char *address);

np_server np_ipc_server_at(const char *file, int line, const np_server_options *options);
uint32_t np_ipc_route_at(const char *file, int line, np_server server, const char *name, np_handler_fn handler,
                         void *user_data);
np_server_stats np_ipc_stats_at(const char *file, int line, np_server server);
np_route_stats np_ipc_route_stats_at(const char *file, int line, np_server server, uint32_t route_id);
np_client np_ipc_connect_at(const char *file, int line, const char *address);
uint32_t np_ipc_resolve_at(const char *file, int line, np_client client, const char *name);

/* Creates a server (tracked: np_ipc_cleanup() destroys it if the test fails before it does). */
#define NP_IPC_SERVER(options) np_ipc_server_at(__FILE__, __LINE__, (options))
/* Adds a route (handler NULL: pull route) and returns its id. */
#define NP_IPC_ROUTE(server, name, handler, user_data) \
    np_ipc_route_at(__FILE__, __LINE__, (server), (name), (handler), (user_data))
#define NP_IPC_STATS(server) np_ipc_stats_at(__FILE__, __LINE__, (server))
#define NP_IPC_ROUTE_STATS(server, route_id) np_ipc_route_stats_at(__FILE__, __LINE__, (server), (route_id))
/* Connects with a 10 s timeout (tracked like servers). */
#define NP_IPC_CONNECT(address) np_ipc_connect_at(__FILE__, __LINE__, (address))
#define NP_IPC_RESOLVE(client, name) np_ipc_resolve_at(__FILE__, __LINE__, (client), (name))

/* Closes / destroys and forgets a tracked client or server; asserts NP_OK. */
void np_ipc_close(np_client client);
void np_ipc_destroy(np_server server);

/*
 * Kills every child still tracked and destroys every server and client still tracked. Each IPC
 * test calls it first (what a failed test before it left behind) and last.
 */
void np_ipc_cleanup(void);

/*
 * Polls the server's stats into `stats` until `condition` (an expression over `stats`) holds;
 * fails the test when it has not after `seconds` (a "never happened" guard, not a timing check).
 */
#define NP_IPC_WAIT_FOR(server, stats, condition, seconds)                                             \
    do {                                                                                               \
        double np_deadline_ = np_ipc_now() + (seconds);                                                \
        for (;;) {                                                                                     \
            (stats) = NP_IPC_STATS(server);                                                            \
            if (condition) break;                                                                      \
            if (np_ipc_now() > np_deadline_)                                                           \
                np_test_fail(__FILE__, __LINE__, "never happened within %g s: %s (%s)", (double)(seconds), \
                             #condition, np_ipc_describe(&(stats)));                                   \
            np_ipc_sleep_ms(1);                                                                        \
        }                                                                                              \
    } while (0)

/* A one-line summary of the counters, for failure messages (a static buffer per thread). */
const char *np_ipc_describe(const np_server_stats *stats);

/* ------------------------------------------------------------------ handlers and payloads */

/* Handler: the response is a copy of the request. */
np_status np_ipc_echo_handler(void *user_data, uint32_t route_id, const uint8_t *request, uint32_t request_length,
                              uint8_t *response, uint32_t response_capacity, uint32_t *response_length);

/* 64-bit FNV-1a. */
uint64_t np_ipc_fnv1a(const void *data, size_t length);

/*
 * Checksummed payloads that name their writer. A payload of at least NP_IPC_HEADER bytes starts
 * with { u32 writer, u32 seq, u32 length, u32 NP_IPC_MAGIC, u64 FNV-1a of the rest }; the rest
 * (and all of a shorter payload) is a byte stream seeded by (writer, seq). So any payload can be
 * regenerated from (writer, seq, length), and a long one can be identified and verified alone.
 */
enum { NP_IPC_HEADER = 24 };
#define NP_IPC_MAGIC 0x4E504931u

void np_ipc_payload_fill(uint8_t *buffer, uint32_t length, uint32_t writer, uint32_t seq);
/* Offset of the first byte that differs from the payload of (writer, seq, length), or `length`. */
uint32_t np_ipc_payload_mismatch(const uint8_t *buffer, uint32_t length, uint32_t writer, uint32_t seq);
/* For a payload of at least NP_IPC_HEADER bytes: 1 and its writer and seq when header and checksum hold. */
int np_ipc_payload_identify(const uint8_t *buffer, uint32_t length, uint32_t *writer, uint32_t *seq);

/* ------------------------------------------------------------------ child processes */

typedef struct np_ipc_child {
    pid_t pid;
    int out;          /* the child's stdout and stderr, read end; -1 once at end of file */
    int in;           /* the child's stdin, write end */
    char text[16384]; /* everything it printed (the oldest half is dropped when full) */
    size_t used;
    size_t scanned;   /* lines before this offset were consumed by np_ipc_child_line() */
    int reaped;
    int wait_status;
} np_ipc_child;

/* Starts `--ipc-child role args...` (a NULL-terminated list). The child is tracked until reaped. */
void np_ipc_spawn_at(const char *file, int line, np_ipc_child *child, const char *role, const char *const *args);
#define NP_IPC_SPAWN(child, role, ...)                                                  \
    do {                                                                                \
        const char *const np_args_[] = {__VA_ARGS__, NULL};                             \
        np_ipc_spawn_at(__FILE__, __LINE__, (child), (role), np_args_);                 \
    } while (0)

/*
 * Waits up to `seconds` for the next line that starts with `prefix` (earlier other lines are
 * skipped) and copies it, without the newline, to `line`. Fails the test, quoting what the child
 * printed, when no such line came or the child ended first.
 */
void np_ipc_child_line_at(const char *file, int line, np_ipc_child *child, const char *prefix, double seconds,
                          char *text, size_t capacity);
#define NP_IPC_CHILD_LINE(child, prefix, seconds, text, capacity) \
    np_ipc_child_line_at(__FILE__, __LINE__, (child), (prefix), (seconds), (text), (capacity))

/* Sends one line to the child's stdin. */
void np_ipc_child_tell(np_ipc_child *child, const char *text);

/*
 * Waits up to `seconds` for the child to exit, reading its output meanwhile. Returns 1 when it
 * exited (wait status in child->wait_status), 0 when it is still running at the deadline.
 */
int np_ipc_child_wait(np_ipc_child *child, double seconds);

/* Waits for the child (killing it and failing at the deadline) and asserts exit code 0. */
void np_ipc_child_ok_at(const char *file, int line, np_ipc_child *child, double seconds);
#define NP_IPC_CHILD_OK(child, seconds) np_ipc_child_ok_at(__FILE__, __LINE__, (child), (seconds))

/* SIGKILL and reap. */
void np_ipc_child_kill(np_ipc_child *child);

/* The last `bytes` of what the child printed, for failure messages. */
const char *np_ipc_child_output(const np_ipc_child *child, size_t bytes);

/* ------------------------------------------------------------------ inside a child */

/* Prints a line and flushes. */
void np_child_say(const char *format, ...) NP_PRINTF(1, 2);
/* Prints "child failed: ..." and exits with `code`. */
NP_NORETURN void np_child_fail(int code, const char *format, ...) NP_PRINTF(2, 3);
/* Reads one line from stdin (blocking); 0 at end of file. */
int np_child_read_line(char *text, size_t capacity);
/* Parses argv[index] as an unsigned number, or fails the child. */
unsigned long np_child_number(int argc, char **argv, int index);

#define NP_CHILD_CHECK(condition, ...)                        \
    do {                                                      \
        if (!(condition)) np_child_fail(10, __VA_ARGS__);     \
    } while (0)

#define NP_CHILD_OK(expression)                                                                    \
    do {                                                                                           \
        np_status np_s_ = (expression);                                                            \
        if (np_s_ != NP_OK) {                                                                      \
            char np_d_[256];                                                                       \
            np_last_error_message(np_d_, sizeof np_d_);                                            \
            np_child_fail(11, "%s:%d: %s returned %s (%s)", __FILE__, __LINE__, #expression,       \
                          np_status_name(np_s_), np_d_);                                           \
        }                                                                                          \
    } while (0)

/* The child roles, defined in the test files (argv[0] is the role name). */
int np_ipc_child_i01_client(int argc, char **argv);
int np_ipc_child_i02_holder(int argc, char **argv);
int np_ipc_child_i03_blocked(int argc, char **argv);
int np_ipc_child_i04_server(int argc, char **argv);
int np_ipc_child_i04_clients(int argc, char **argv);
int np_ipc_child_i05_clients(int argc, char **argv);
int np_ipc_child_i06_hostile(int argc, char **argv);
int np_ipc_child_i12_hostile(int argc, char **argv);
int np_ipc_child_i13_thief(int argc, char **argv);
int np_ipc_child_i14_client(int argc, char **argv);
int np_ipc_child_i15_server(int argc, char **argv);
int np_child_address_limit(int argc, char **argv);

#endif /* NP_IPC_SUPPORT_H */
