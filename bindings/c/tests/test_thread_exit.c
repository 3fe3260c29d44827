/*
 * T01-T04: calls into the library from a thread that is exiting.
 *
 * A thread exits in phases: C++ thread_local destructors first, then pthread key destructors in
 * up to PTHREAD_DESTRUCTOR_ITERATIONS rounds. The library's runtime lets go of the thread during
 * that sequence; every export must still work (or return a status) from any point of it, and no
 * thread may use a cache that another thread has reclaimed from an exited one. The keys below
 * are made after the library started, so their destructors run after the runtime's own.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "np_ipc_support.h"
#include "np_test.h"
#include "np_test_support.h"

extern char **environ;

enum { ROUNDS = 4, BLOCKS_PER_THREAD = 8 };

/* ------------------------------------------------------------------ T01: every kind of call, every round */

typedef struct exit_calls {
    np_pool pool;
    np_msgpool messages;
    np_client client;
    uint32_t echo_route;
    pthread_key_t key;
    int rounds;                       /* destructor rounds seen */
    np_status alloc[ROUNDS], free_fast[ROUNDS], stats[ROUNDS];
    np_status acquire[ROUNDS], release[ROUNDS], bad_free[ROUNDS], call[ROUNDS], batch[ROUNDS];
    np_status last_status[ROUNDS];
    char last_message[ROUNDS][160];
    uint64_t in_use_seen[ROUNDS];
    uint32_t echoed[ROUNDS];
    uint32_t version;
} exit_calls;

static void every_kind_of_call(void *value)
{
    exit_calls *c = (exit_calls *)value;
    int r = c->rounds++;
    if (r >= ROUNDS) return;

    void *block = NULL;
    c->alloc[r] = np_pool_alloc(c->pool, &block);
    c->free_fast[r] = block ? np_pool_free(c->pool, block) : NP_E_NULL_POINTER;
    /* A block the thread did not cache: another thread's, freed here. */
    void *blocks[BLOCKS_PER_THREAD];
    size_t got = 0, freed = 0;
    c->batch[r] = np_pool_alloc_batch(c->pool, blocks, BLOCKS_PER_THREAD, &got);
    if (c->batch[r] == NP_OK) c->batch[r] = np_pool_free_batch(c->pool, blocks, got, &freed);
    if (got != BLOCKS_PER_THREAD || freed != got) c->batch[r] = NP_E_INTERNAL;

    np_pool_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    c->stats[r] = np_pool_get_stats(c->pool, &stats);
    c->in_use_seen[r] = stats.in_use;

    void *message = NULL;
    size_t capacity = 0;
    c->acquire[r] = np_msgpool_acquire(c->messages, 1000, &message, &capacity);
    c->release[r] = message ? np_msgpool_release(c->messages, message) : NP_E_NULL_POINTER;

    int on_stack = 0;
    c->bad_free[r] = np_pool_free(c->pool, &on_stack);
    c->last_status[r] = np_last_error_status();
    np_last_error_message(c->last_message[r], sizeof c->last_message[r]);

    uint32_t length = 0;
    char answer[16];
    c->call[r] = np_client_call(c->client, c->echo_route, "round", 5, answer, sizeof answer, &length, 10000);
    c->echoed[r] = length;
    c->version = np_version();

    if (r + 1 < ROUNDS) pthread_setspecific(c->key, c); /* asks for one more round */
}

static void *use_then_exit(void *argument)
{
    exit_calls *c = (exit_calls *)argument;
    void *block = NULL;
    NP_ASSERT_OK(np_pool_alloc(c->pool, &block));
    NP_ASSERT_OK(np_pool_free(c->pool, block));
    NP_ASSERT_OK(pthread_setspecific(c->key, c));
    return NULL;
}

static void check_rounds(const exit_calls *c)
{
    NP_ASSERT_EQ(ROUNDS, c->rounds);
    for (int r = 0; r < ROUNDS; r++) {
        NP_ASSERT_OK(c->alloc[r]);
        NP_ASSERT_OK(c->free_fast[r]);
        NP_ASSERT_OK(c->batch[r]);
        NP_ASSERT_OK(c->stats[r]);
        NP_ASSERT_OK(c->acquire[r]);
        NP_ASSERT_OK(c->release[r]);
        NP_ASSERT_STATUS(NP_E_FOREIGN_POINTER, c->bad_free[r]);
        /* The exiting thread's own last error, with its detail. */
        NP_ASSERT_STATUS(NP_E_FOREIGN_POINTER, c->last_status[r]);
        NP_ASSERT_MSG(strstr(c->last_message[r], "does not belong") != NULL, "round %d detail: '%s'", r,
                      c->last_message[r]);
        NP_ASSERT_OK(c->call[r]);
        NP_ASSERT_EQ(5, c->echoed[r]);
    }
    NP_ASSERT_EQ(NP_VERSION_NUMBER, c->version);
}

static void key_destructors_in_every_round_call_every_kind_of_export(void)
{
    np_ipc_cleanup();
    char address[96];
    np_ipc_address(address, sizeof address, "texit");
    np_server_options options = np_ipc_options(address);
    np_server server = NP_IPC_SERVER(&options);
    uint32_t route = NP_IPC_ROUTE(server, "echo", np_ipc_echo_handler, NULL);
    NP_ASSERT_OK(np_server_start(server));

    exit_calls c;
    memset(&c, 0, sizeof c);
    c.pool = NP_MAKE_SIZED_POOL(128, 0, 0, 0);
    np_msgpool_options mo;
    NP_ASSERT_OK(np_msgpool_options_init(&mo));
    NP_ASSERT_OK(np_msgpool_create(&mo, &c.messages));
    c.client = NP_IPC_CONNECT(address);
    c.echo_route = route;
    NP_ASSERT_OK(pthread_key_create(&c.key, every_kind_of_call));

    pthread_t thread;
    np_thread_start(&thread, use_then_exit, &c);
    np_thread_join(thread);
    check_rounds(&c);

    pthread_key_delete(c.key);
    np_pool_stats stats = NP_STATS(c.pool);
    NP_ASSERT_EQ(0, stats.in_use);
    NP_DESTROY_POOL(c.pool);
    NP_ASSERT_OK(np_msgpool_destroy(c.messages));
    np_ipc_cleanup();
}

/* ------------------------------------------------------------------ T02: the first call ever, from a key destructor */

typedef struct late_caller {
    np_pool pool;
    void *blocks[ROUNDS];             /* allocated by the main thread, freed one per round */
    pthread_key_t key;
    int rounds;
    np_status freed[ROUNDS], allocated[ROUNDS], again[ROUNDS];
} late_caller;

static void first_call_in_destructor(void *value)
{
    late_caller *c = (late_caller *)value;
    int r = c->rounds++;
    if (r >= ROUNDS) return;
    c->freed[r] = np_pool_free(c->pool, c->blocks[r]);
    void *block = NULL;
    c->allocated[r] = np_pool_alloc(c->pool, &block);
    c->again[r] = block ? np_pool_free(c->pool, block) : NP_E_NULL_POINTER;
    if (r + 1 < ROUNDS) pthread_setspecific(c->key, c);
}

static void *set_key_only(void *argument)
{
    late_caller *c = (late_caller *)argument;
    NP_ASSERT_OK(pthread_setspecific(c->key, c)); /* no call into the library before exit */
    return NULL;
}

static void first_call_from_a_key_destructor_works_in_every_round(void)
{
    late_caller c;
    memset(&c, 0, sizeof c);
    c.pool = NP_MAKE_SIZED_POOL(64, 0, 0, 0);
    for (int r = 0; r < ROUNDS; r++) NP_ASSERT_OK(np_pool_alloc(c.pool, &c.blocks[r]));
    NP_ASSERT_OK(pthread_key_create(&c.key, first_call_in_destructor));
    pthread_t thread;
    np_thread_start(&thread, set_key_only, &c);
    np_thread_join(thread);
    pthread_key_delete(c.key);
    NP_ASSERT_EQ(ROUNDS, c.rounds);
    for (int r = 0; r < ROUNDS; r++) {
        NP_ASSERT_OK(c.freed[r]);
        NP_ASSERT_OK(c.allocated[r]);
        NP_ASSERT_OK(c.again[r]);
    }
    NP_ASSERT_EQ(0, NP_STATS(c.pool).in_use);
    NP_DESTROY_POOL(c.pool);
}

/* ------------------------------------------------------------------ T03: C++ thread_local destructors */

/* Runs build/np_thread_exit_cxx (thread_exit_cxx.cpp, beside this binary) and expects "ok". */
static void cxx_thread_local_destructors_free_and_read_stats(void)
{
    char self[PATH_MAX], program[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    NP_ASSERT(n > 0);
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    NP_ASSERT(slash != NULL);
    *slash = '\0';
    snprintf(program, sizeof program, "%s/np_thread_exit_cxx", self);
    char threads[16];
    snprintf(threads, sizeof threads, "%d", (int)NP_SIZE(200, 2000));
    char *const argv[] = {program, threads, NULL};
    pid_t pid;
    NP_ASSERT_MSG(posix_spawn(&pid, program, NULL, NULL, argv, environ) == 0, "cannot start %s", program);
    int status = 0;
    NP_ASSERT(waitpid(pid, &status, 0) == pid);
    NP_ASSERT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "np_thread_exit_cxx ended with %s %d (its output is above)",
                  WIFSIGNALED(status) ? "signal" : "exit code",
                  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* ------------------------------------------------------------------ T04: exit-time frees race stats */

enum { RACE_BLOCKS = 48, RACE_WAVE = 16 };

typedef struct race_thread {
    np_pool pool;
    pthread_key_t key;
    void *blocks[RACE_BLOCKS];
    int failures;                     /* frees in the destructor that did not return NP_OK */
} race_thread;

static void free_at_exit(void *value)
{
    race_thread *t = (race_thread *)value;
    for (int i = 0; i < RACE_BLOCKS; i++) {
        if (np_pool_free(t->pool, t->blocks[i]) != NP_OK) t->failures++;
        if (i % 8 == 7) usleep(20); /* leaves time for a stats call to reclaim this thread's cache */
    }
}

static void *fill_cache_then_exit(void *argument)
{
    race_thread *t = (race_thread *)argument;
    /* Warm the thread's cache (its magazines hold blocks, the fast path remembers the pool). */
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < RACE_BLOCKS; i++) NP_ASSERT_OK(np_pool_alloc(t->pool, &t->blocks[i]));
        if (round < 3)
            for (int i = 0; i < RACE_BLOCKS; i++) NP_ASSERT_OK(np_pool_free(t->pool, t->blocks[i]));
    }
    NP_ASSERT_OK(pthread_setspecific(t->key, t));
    return NULL;
}

typedef struct stats_reader {
    np_pool pool;
    volatile int stop;
    uint64_t reads;
} stats_reader;

static void *read_stats_until_stopped(void *argument)
{
    stats_reader *s = (stats_reader *)argument;
    while (!s->stop) {
        np_pool_stats stats;
        memset(&stats, 0, sizeof stats);
        stats.struct_size = sizeof stats;
        NP_ASSERT_OK(np_pool_get_stats(s->pool, &stats)); /* takes dead threads' caches back */
        s->reads++;
    }
    return NULL;
}

static void exit_time_frees_race_stats_that_reclaim_dead_caches(void)
{
    np_pool pool = NP_MAKE_SIZED_POOL(256, 0, 0, 0);
    pthread_key_t key;
    NP_ASSERT_OK(pthread_key_create(&key, free_at_exit));
    stats_reader reader = {pool, 0, 0};
    pthread_t stats_thread;
    np_thread_start(&stats_thread, read_stats_until_stopped, &reader);

    int waves = (int)NP_SIZE(25, 250);
    race_thread *threads = calloc(RACE_WAVE, sizeof *threads);
    NP_ASSERT_NOT_NULL(threads);
    int failures = 0;
    for (int wave = 0; wave < waves && !np_test_failed(); wave++) {
        pthread_t ids[RACE_WAVE];
        for (int i = 0; i < RACE_WAVE; i++) {
            memset(&threads[i], 0, sizeof threads[i]);
            threads[i].pool = pool;
            threads[i].key = key;
            np_thread_start(&ids[i], fill_cache_then_exit, &threads[i]);
        }
        for (int i = 0; i < RACE_WAVE; i++) {
            np_thread_join(ids[i]);
            failures += threads[i].failures;
        }
    }
    reader.stop = 1;
    np_thread_join(stats_thread);
    free(threads);
    pthread_key_delete(key);

    NP_ASSERT_EQ(0, failures);
    NP_ASSERT_CMP(reader.reads, >, 0);
    NP_ASSERT_EQ(0, NP_STATS(pool).in_use);
    NP_DESTROY_POOL(pool);
}

static const np_test_case cases[] = {
    {"T01", "key_destructors_in_every_round_call_every_kind_of_export",
     key_destructors_in_every_round_call_every_kind_of_export},
    {"T02", "first_call_from_a_key_destructor_works_in_every_round", first_call_from_a_key_destructor_works_in_every_round},
    {"T03", "cxx_thread_local_destructors_free_and_read_stats", cxx_thread_local_destructors_free_and_read_stats},
    {"T04", "exit_time_frees_race_stats_that_reclaim_dead_caches", exit_time_frees_race_stats_that_reclaim_dead_caches},
};

const np_test_suite np_suite_thread_exit = {"thread exit", cases, NP_COUNT_OF(cases)};
