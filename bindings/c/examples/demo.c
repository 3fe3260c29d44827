/*
 * NativePools demo: the three preset pools (264 B, 1 KiB, 10 KiB) hammered by several C threads.
 *
 * Each thread allocates blocks, writes a pattern that names the block, reads it back, and either
 * frees the block itself or hands it to the next thread, which checks the pattern and frees it:
 * blocks cross threads all the time. At the end the library is shown catching a double free and
 * a foreign pointer, and each pool's stats and validation are printed.
 *
 * Exit status 0 when every call returned what it should and every block held its pattern.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nativepools.h"

enum { THREADS = 6, ROUNDS = 20000, BLOCKS_PER_ROUND = 8, POOLS = 3, MAILBOX = 256 };

static const int32_t presets[POOLS] = {NP_POOL_PRESET_SMALL, NP_POOL_PRESET_MEDIUM, NP_POOL_PRESET_LARGE};
static const char *const pool_names[POOLS] = {"small", "medium", "large"};
static np_pool pools[POOLS];
static size_t block_sizes[POOLS];
static atomic_ulong problems;

static void problem(const char *what, np_status status)
{
    char detail[256];
    np_last_error_message(detail, sizeof detail);
    fprintf(stderr, "demo: %s: %s (%s)\n", what, np_status_name(status), detail);
    atomic_fetch_add(&problems, 1);
}

/* ------------------------------------------------------------------ block contents */

/* The pattern is the tag, then the tag plus the word index, in every 8-byte word. */
static void write_pattern(void *block, size_t size, uint64_t tag)
{
    for (size_t i = 0; i < size / 8; i++) {
        uint64_t word = tag + i;
        memcpy((char *)block + i * 8, &word, 8);
    }
}

static int pattern_intact(const void *block, size_t size, uint64_t tag)
{
    for (size_t i = 0; i < size / 8; i++) {
        uint64_t word;
        memcpy(&word, (const char *)block + i * 8, 8);
        if (word != tag + i) return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ hand-offs between threads */

typedef struct handoff {
    int pool;
    void *block;
    uint64_t tag;
} handoff;

/* A bounded ring per thread; a full ring makes the sender free the block itself instead of waiting. */
typedef struct mailbox {
    pthread_mutex_t lock;
    handoff items[MAILBOX];
    size_t head, count;
} mailbox;

static mailbox mailboxes[THREADS];

static int post(mailbox *box, const handoff *item)
{
    int posted = 0;
    pthread_mutex_lock(&box->lock);
    if (box->count < MAILBOX) {
        box->items[(box->head + box->count) % MAILBOX] = *item;
        box->count++;
        posted = 1;
    }
    pthread_mutex_unlock(&box->lock);
    return posted;
}

static int take(mailbox *box, handoff *item)
{
    int taken = 0;
    pthread_mutex_lock(&box->lock);
    if (box->count > 0) {
        *item = box->items[box->head];
        box->head = (box->head + 1) % MAILBOX;
        box->count--;
        taken = 1;
    }
    pthread_mutex_unlock(&box->lock);
    return taken;
}

static void check_and_free(const handoff *item)
{
    if (!pattern_intact(item->block, block_sizes[item->pool], item->tag)) {
        fprintf(stderr, "demo: block %p of pool %s lost its contents\n", item->block, pool_names[item->pool]);
        atomic_fetch_add(&problems, 1);
    }
    np_status status = np_pool_free(pools[item->pool], item->block);
    if (status != NP_OK) problem("np_pool_free", status);
}

/* ------------------------------------------------------------------ the workers */

static atomic_uint finished_workers;

static void *worker(void *argument)
{
    unsigned index = (unsigned)(uintptr_t)argument;
    mailbox *mine = &mailboxes[index], *next = &mailboxes[(index + 1) % THREADS];
    handoff item;

    for (unsigned round = 0; round < ROUNDS; round++) {
        int p = (int)((index + round) % POOLS);
        void *blocks[BLOCKS_PER_ROUND];
        size_t count = 0;
        /* Every other round takes its blocks in one batch call. */
        if (round % 2 == 0) {
            np_status status = np_pool_alloc_batch(pools[p], blocks, BLOCKS_PER_ROUND, &count);
            if (status != NP_OK) problem("np_pool_alloc_batch", status);
        } else {
            for (; count < BLOCKS_PER_ROUND; count++) {
                np_status status = np_pool_alloc(pools[p], &blocks[count]);
                if (status != NP_OK) {
                    problem("np_pool_alloc", status);
                    break;
                }
            }
        }
        for (size_t i = 0; i < count; i++) {
            item.pool = p;
            item.block = blocks[i];
            item.tag = ((uint64_t)index << 56) | ((uint64_t)round << 16) | ((uint64_t)i << 8);
            write_pattern(item.block, block_sizes[p], item.tag);
            /* Half the blocks go to the next thread; the rest are checked and freed here. */
            if (i % 2 == 1 || !post(next, &item)) check_and_free(&item);
        }
        while (take(mine, &item)) check_and_free(&item);
    }
    /* Keep draining until every thread has stopped sending, then once more. */
    atomic_fetch_add(&finished_workers, 1);
    while (atomic_load(&finished_workers) < THREADS) {
        while (take(mine, &item)) check_and_free(&item);
        sched_yield();
    }
    while (take(mine, &item)) check_and_free(&item);
    return NULL;
}

/* ------------------------------------------------------------------ misuse the library catches */

static void expect(const char *what, np_status expected, np_status actual)
{
    char detail[256] = "";
    if (actual != NP_OK) np_last_error_message(detail, sizeof detail);
    printf("  %-30s -> %-22s %s\n", what, np_status_name(actual), detail);
    if (actual != expected) {
        fprintf(stderr, "demo: %s returned %s, expected %s\n", what, np_status_name(actual), np_status_name(expected));
        atomic_fetch_add(&problems, 1);
    }
}

static void show_misuse_detection(void)
{
    void *block = NULL;
    int on_stack = 0;
    printf("\nMisuse is reported, counted, and leaves the pool intact:\n");
    np_status status = np_pool_alloc(pools[0], &block);
    if (status != NP_OK) {
        problem("np_pool_alloc", status);
        return;
    }
    expect("free(small, block)", NP_OK, np_pool_free(pools[0], block));
    expect("free(small, block) again", NP_E_DOUBLE_FREE, np_pool_free(pools[0], block));
    expect("free(small, &stack_variable)", NP_E_FOREIGN_POINTER, np_pool_free(pools[0], &on_stack));
    expect("free(medium, small's block)", NP_E_FOREIGN_POINTER, np_pool_free(pools[1], block));
}

/* ------------------------------------------------------------------ report */

static void print_table(void)
{
    printf("\n%-7s %6s %9s %7s %6s %12s %8s %12s %8s %12s %7s %8s  %s\n", "pool", "block", "capacity", "in use",
           "peak", "allocations", "created", "reused", "reuse %", "frees", "double", "foreign", "validate");
    for (int p = 0; p < POOLS; p++) {
        np_pool_stats s;
        np_pool_validation v;
        memset(&s, 0, sizeof s);
        memset(&v, 0, sizeof v);
        s.struct_size = sizeof s;
        v.struct_size = sizeof v;
        np_status status = np_pool_get_stats(pools[p], &s);
        if (status != NP_OK) problem("np_pool_get_stats", status);
        np_status valid = np_pool_validate(pools[p], &v);
        if (valid != NP_OK) problem("np_pool_validate", valid);
        printf("%-7s %6llu %9llu %7llu %6llu %12llu %8llu %12llu %7.2f%% %12llu %7llu %8llu  %s (%llu free, %llu allocated)\n",
               pool_names[p], (unsigned long long)s.block_size, (unsigned long long)s.capacity,
               (unsigned long long)s.in_use, (unsigned long long)s.peak_in_use, (unsigned long long)s.allocations,
               (unsigned long long)s.created, (unsigned long long)s.reused, 100.0 * s.reuse_rate,
               (unsigned long long)s.frees, (unsigned long long)s.double_frees, (unsigned long long)s.foreign_frees,
               np_status_name(valid), (unsigned long long)v.free_listed, (unsigned long long)v.allocated);
        /* The books must balance once every thread is done. */
        if (s.in_use != 0 || s.allocations != s.frees || s.created + s.reused != s.allocations) {
            fprintf(stderr, "demo: pool %s does not balance\n", pool_names[p]);
            atomic_fetch_add(&problems, 1);
        }
    }
}

int main(void)
{
    pthread_t threads[THREADS];
    struct timespec start, end;

    printf("NativePools %s demo: %d threads, %d rounds of %d blocks each, over the small, medium and large pools\n",
           np_version_string(), THREADS, ROUNDS, BLOCKS_PER_ROUND);
    for (int p = 0; p < POOLS; p++) {
        np_pool_options options;
        np_status status = np_pool_options_preset(&options, presets[p]);
        if (status == NP_OK) {
            options.name = pool_names[p];
            status = np_pool_create(&options, &pools[p]);
        }
        if (status != NP_OK) {
            problem("creating a preset pool", status);
            return 1;
        }
        block_sizes[p] = (size_t)options.block_size;
    }
    for (int i = 0; i < THREADS; i++) pthread_mutex_init(&mailboxes[i].lock, NULL);

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&threads[i], NULL, worker, (void *)(uintptr_t)i) != 0) {
            fprintf(stderr, "demo: pthread_create failed\n");
            return 1;
        }
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    unsigned long long blocks = (unsigned long long)THREADS * ROUNDS * BLOCKS_PER_ROUND;
    printf("%llu blocks allocated, written, checked and freed (half on another thread) in %.2f s\n", blocks, seconds);

    show_misuse_detection();
    print_table();
    for (int p = 0; p < POOLS; p++) {
        np_status status = np_pool_destroy(pools[p]);
        if (status != NP_OK) problem("np_pool_destroy", status);
    }

    unsigned long found = atomic_load(&problems);
    printf("\n%s\n", found == 0 ? "demo: all checks passed" : "demo: FAILED");
    return found == 0 ? 0 : 1;
}
