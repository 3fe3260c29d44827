/*
 * Message pools, M01-M08: size-classed message buffers (np_msgpool_*) through the header, from
 * pthreads. Class selection at every boundary (M01), many threads acquiring and releasing mixed
 * sizes across threads with contents checked (M02), the retention bound with resident memory
 * really dropping (M03), warm-up (M04), reuse in steady state (M05), totals that are the sums of
 * the class stats and reset (M06), the bad-input table (M07), destroy and stale handles (M08).
 * Every test ends with the totals equal to the sums of the class stats.
 */
#include "np_test_support.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static const uint32_t default_sizes[NP_MSGPOOL_DEFAULT_CLASS_COUNT] = {64, 264, 1024, 4096, 10240, 65536, 262144, 1048576};
enum { DEFAULT_CLASSES = NP_MSGPOOL_DEFAULT_CLASS_COUNT, LARGEST = 1048576 };

/* ------------------------------------------------------------------ helpers */

static np_msgpool make_msgpool_at(const char *file, int line, const uint32_t *sizes, uint32_t count, uint64_t retain)
{
    np_msgpool_options options;
    np_msgpool pool = 0;
    np_status status = np_msgpool_options_init(&options);
    if (status != NP_OK) np_test_fail_status(file, line, "np_msgpool_options_init(&options)", NP_OK, status);
    options.class_sizes = sizes;
    options.class_count = count;
    options.retain_per_class = retain;
    options.name = "m-test";
    status = np_msgpool_create(&options, &pool);
    if (status != NP_OK) np_test_fail_status(file, line, "np_msgpool_create(&options, &pool)", NP_OK, status);
    if (pool == 0) np_test_fail(file, line, "np_msgpool_create returned NP_OK and handle 0");
    return pool;
}

/* A pool of the default classes keeping `retain` free blocks per class (before the 64 MiB cap). */
#define MAKE_MSGPOOL(retain) make_msgpool_at(__FILE__, __LINE__, NULL, 0, (retain))
#define MAKE_MSGPOOL_WITH(sizes, count, retain) make_msgpool_at(__FILE__, __LINE__, (sizes), (count), (retain))

static np_msgpool_stats msg_stats_at(const char *file, int line, np_msgpool pool)
{
    np_msgpool_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    np_status status = np_msgpool_get_stats(pool, &stats);
    if (status != NP_OK) np_test_fail_status(file, line, "np_msgpool_get_stats(pool, &stats)", NP_OK, status);
    return stats;
}

static np_msgpool_class_stats class_stats_at(const char *file, int line, np_msgpool pool, uint32_t index)
{
    np_msgpool_class_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    np_status status = np_msgpool_get_class_stats(pool, index, &stats);
    if (status != NP_OK) np_test_fail_status(file, line, "np_msgpool_get_class_stats(pool, index, &stats)", NP_OK, status);
    if (stats.class_index != index) np_test_fail(file, line, "class_index %u, asked for %u", (unsigned)stats.class_index, (unsigned)index);
    return stats;
}

#define MSG_STATS(pool) msg_stats_at(__FILE__, __LINE__, (pool))
#define CLASS_STATS(pool, index) class_stats_at(__FILE__, __LINE__, (pool), (index))

#define CHECK_AT(condition, ...)                                  \
    do {                                                          \
        if (!(condition)) np_test_fail(file, line, __VA_ARGS__); \
    } while (0)

#define CHECK_SUM(field)                                                                            \
    CHECK_AT(sum.field == total.field, "totals." #field " is %llu but the classes add up to %llu", \
             (unsigned long long)total.field, (unsigned long long)sum.field)

/*
 * The invariants of a pool no other thread is using: every class is consistent in itself
 * (created + reused = acquisitions, capacity = in flight + free, committed bytes = capacity x
 * stride, discarded <= released, peak >= in flight, reuse rate = reused / acquisitions), and every
 * total is the sum of the classes' fields.
 */
static void check_msgpool_at(const char *file, int line, np_msgpool pool)
{
    np_msgpool_stats total = msg_stats_at(file, line, pool);
    np_msgpool_stats sum;
    memset(&sum, 0, sizeof sum);
    for (uint32_t k = 0; k < total.class_count; k++) {
        np_msgpool_class_stats c = class_stats_at(file, line, pool, k);
        CHECK_AT(c.created + c.reused == c.acquisitions, "class %u: created %llu + reused %llu != acquisitions %llu",
                 (unsigned)k, (unsigned long long)c.created, (unsigned long long)c.reused, (unsigned long long)c.acquisitions);
        CHECK_AT(c.in_flight + c.free_blocks == c.capacity, "class %u: in_flight %llu + free %llu != capacity %llu",
                 (unsigned)k, (unsigned long long)c.in_flight, (unsigned long long)c.free_blocks, (unsigned long long)c.capacity);
        CHECK_AT(c.bytes_committed == c.capacity * c.block_stride, "class %u: bytes_committed %llu != %llu x %llu",
                 (unsigned)k, (unsigned long long)c.bytes_committed, (unsigned long long)c.capacity, (unsigned long long)c.block_stride);
        CHECK_AT(c.discarded <= c.released, "class %u: discarded %llu > released %llu", (unsigned)k,
                 (unsigned long long)c.discarded, (unsigned long long)c.released);
        CHECK_AT(c.peak_in_flight >= c.in_flight, "class %u: peak %llu < in flight %llu", (unsigned)k,
                 (unsigned long long)c.peak_in_flight, (unsigned long long)c.in_flight);
        CHECK_AT(c.block_stride >= c.class_size, "class %u: stride %llu < size %llu", (unsigned)k,
                 (unsigned long long)c.block_stride, (unsigned long long)c.class_size);
        double rate = c.acquisitions == 0 ? 0.0 : (double)c.reused / (double)c.acquisitions;
        CHECK_AT(fabs(c.reuse_rate - rate) < 1e-9, "class %u: reuse_rate %.6f != %.6f", (unsigned)k, c.reuse_rate, rate);
        sum.capacity += c.capacity;
        sum.bytes_committed += c.bytes_committed;
        sum.in_flight += c.in_flight;
        sum.peak_in_flight += c.peak_in_flight;
        sum.free_blocks += c.free_blocks;
        sum.acquisitions += c.acquisitions;
        sum.created += c.created;
        sum.reused += c.reused;
        sum.released += c.released;
        sum.discarded += c.discarded;
        sum.failed_acquisitions += c.failed_acquisitions;
        sum.double_releases += c.double_releases;
        sum.foreign_releases += c.foreign_releases;
        sum.invalid_releases += c.invalid_releases;
        sum.chunks_released += c.chunks_released;
    }
    CHECK_SUM(capacity);
    CHECK_SUM(bytes_committed);
    CHECK_SUM(in_flight);
    CHECK_SUM(peak_in_flight);
    CHECK_SUM(free_blocks);
    CHECK_SUM(acquisitions);
    CHECK_SUM(created);
    CHECK_SUM(reused);
    CHECK_SUM(released);
    CHECK_SUM(discarded);
    CHECK_SUM(failed_acquisitions);
    CHECK_SUM(double_releases);
    CHECK_SUM(foreign_releases);
    CHECK_SUM(invalid_releases);
    CHECK_SUM(chunks_released);
    double rate = total.acquisitions == 0 ? 0.0 : (double)total.reused / (double)total.acquisitions;
    CHECK_AT(fabs(total.reuse_rate - rate) < 1e-9, "totals: reuse_rate %.6f != %.6f", total.reuse_rate, rate);
}

static void destroy_msgpool_at(const char *file, int line, np_msgpool pool)
{
    check_msgpool_at(file, line, pool);
    np_status status = np_msgpool_destroy(pool);
    if (status != NP_OK) np_test_fail_status(file, line, "np_msgpool_destroy(pool)", NP_OK, status);
}

#define CHECK_MSGPOOL(pool) check_msgpool_at(__FILE__, __LINE__, (pool))
#define DESTROY_MSGPOOL(pool) destroy_msgpool_at(__FILE__, __LINE__, (pool))

/* The detail message of the calling thread's last failure. */
static const char *last_detail(void)
{
    static _Thread_local char detail[512];
    np_last_error_message(detail, sizeof detail);
    return detail;
}

/* Address space of this process, from /proc/self/statm (first field). */
static size_t virtual_bytes(void)
{
    FILE *statm = fopen("/proc/self/statm", "r");
    unsigned long long pages = 0;
    NP_ASSERT_NOT_NULL(statm);
    int fields = fscanf(statm, "%llu", &pages);
    fclose(statm);
    NP_ASSERT_EQ(1, fields);
    return (size_t)pages * np_page_size();
}

/* ------------------------------------------------------------------ M01 */

/* Acquires `size`, expects class `expected` (by its acquisition count) and its size as capacity, writes all of it. */
static void expect_class(np_msgpool pool, uint32_t classes, size_t size, uint32_t expected, size_t expected_capacity)
{
    unsigned long long before[NP_MSGPOOL_MAX_CLASSES];
    for (uint32_t k = 0; k < classes; k++) before[k] = CLASS_STATS(pool, k).acquisitions;
    void *message = NULL;
    size_t capacity = 0;
    NP_ASSERT_OK(np_msgpool_acquire(pool, size, &message, &capacity));
    NP_ASSERT_NOT_NULL(message);
    NP_ASSERT_MSG(capacity == expected_capacity, "size %zu: capacity %zu, expected %zu", size, capacity, expected_capacity);
    memset(message, 0xA5, capacity);
    for (uint32_t k = 0; k < classes; k++)
        NP_ASSERT_MSG(CLASS_STATS(pool, k).acquisitions == before[k] + (k == expected),
                      "size %zu: class %u counted %llu acquisitions (was %llu), expected class %u", size, (unsigned)k,
                      (unsigned long long)CLASS_STATS(pool, k).acquisitions, before[k], (unsigned)expected);
    NP_ASSERT_ALL_BYTES(message, capacity, 0xA5);
    NP_ASSERT_OK(np_msgpool_release(pool, message));
}

static void expect_oversize(np_msgpool pool, size_t size, const char *largest)
{
    void *message = (void *)&message;
    size_t capacity = 12345;
    NP_ASSERT_STATUS(NP_E_INVALID_ARGUMENT, np_msgpool_acquire(pool, size, &message, &capacity));
    NP_ASSERT_MSG(strstr(last_detail(), largest) != NULL, "the detail \"%s\" does not name the largest class %s",
                  last_detail(), largest);
    NP_ASSERT_PTR_EQ(NULL, message);
    NP_ASSERT_EQ(0, capacity);
}

static void m01_class_selection_at_every_boundary(void)
{
    np_msgpool pool = MAKE_MSGPOOL(NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS);
    np_msgpool_stats totals = MSG_STATS(pool);
    NP_ASSERT_EQ(DEFAULT_CLASSES, totals.class_count);
    for (uint32_t k = 0; k < DEFAULT_CLASSES; k++) NP_ASSERT_EQ(default_sizes[k], CLASS_STATS(pool, k).class_size);

    expect_class(pool, DEFAULT_CLASSES, 0, 0, default_sizes[0]);
    for (uint32_t k = 0; k < DEFAULT_CLASSES; k++) {
        expect_class(pool, DEFAULT_CLASSES, default_sizes[k] - 1, k, default_sizes[k]);
        expect_class(pool, DEFAULT_CLASSES, default_sizes[k], k, default_sizes[k]);
        if (k + 1 < DEFAULT_CLASSES) expect_class(pool, DEFAULT_CLASSES, default_sizes[k] + 1, k + 1, default_sizes[k + 1]);
    }
    expect_oversize(pool, (size_t)LARGEST + 1, "1048576");
    expect_oversize(pool, SIZE_MAX, "1048576");

    /* capacity may be NULL. */
    void *message = NULL;
    NP_ASSERT_OK(np_msgpool_acquire(pool, 100, &message, NULL));
    NP_ASSERT_OK(np_msgpool_release(pool, message));
    NP_ASSERT_EQ(2, MSG_STATS(pool).oversize_acquisitions);
    NP_ASSERT_EQ(0, MSG_STATS(pool).failed_acquisitions);
    DESTROY_MSGPOOL(pool);

    /* Custom classes, down to one byte: each boundary again, and the alignment of each class. */
    static const uint32_t custom[] = {1, 8, 100, 4096};
    np_msgpool small = MAKE_MSGPOOL_WITH(custom, 4, 16);
    expect_class(small, 4, 0, 0, 1);
    expect_class(small, 4, 1, 0, 1);
    expect_class(small, 4, 2, 1, 8);
    expect_class(small, 4, 8, 1, 8);
    expect_class(small, 4, 9, 2, 100);
    expect_class(small, 4, 100, 2, 100);
    expect_class(small, 4, 101, 3, 4096);
    expect_class(small, 4, 4096, 3, 4096);
    expect_oversize(small, 4097, "4096");
    for (size_t size = 2; size <= 4096; size *= 4) {
        void *a = NULL, *b = NULL;
        NP_ASSERT_OK(np_msgpool_acquire(small, size, &a, NULL));
        NP_ASSERT_OK(np_msgpool_acquire(small, size, &b, NULL));
        NP_ASSERT_MSG((uintptr_t)a % 8 == 0 && (uintptr_t)b % 8 == 0, "size %zu: %p / %p not 8-byte aligned", size, a, b);
        NP_ASSERT(a != b);
        NP_ASSERT_OK(np_msgpool_release(small, a));
        NP_ASSERT_OK(np_msgpool_release(small, b));
    }
    DESTROY_MSGPOOL(small);
}

/* ------------------------------------------------------------------ M02 */

enum { M02_PER_ROUND = 8, M02_CLASSES_USED = 7 };

typedef struct m02_work {
    np_msgpool pool;
    unsigned threads, rounds;
    np_channel *mailboxes;
    np_gate gate;
    atomic_ullong acquired[DEFAULT_CLASSES], released[DEFAULT_CLASSES];
} m02_work;

typedef struct m02_worker {
    m02_work *work;
    unsigned index;
} m02_worker;

/* Mostly small messages, some large, a few of 256 KiB: a class by weight, then a size inside it. */
static size_t m02_pick_size(uint64_t *random, unsigned *class_index)
{
    static const unsigned weights[M02_CLASSES_USED] = {30, 25, 20, 12, 8, 4, 1};
    unsigned r = (unsigned)np_random_below(random, 100), k = 0;
    while (k + 1 < M02_CLASSES_USED && r >= weights[k]) r -= weights[k++];
    size_t low = k == 0 ? 0 : default_sizes[k - 1] + 1;
    *class_index = k;
    return low + (size_t)np_random_below(random, default_sizes[k] - low + 1);
}

static unsigned class_of_size(size_t size)
{
    unsigned k = 0;
    while (size > default_sizes[k]) k++;
    return k;
}

static void m02_check_and_release(m02_worker *me, const np_message *message, unsigned long long *released)
{
    unsigned writer = (unsigned)(message->tag >> 48);
    NP_ASSERT_EQ((me->index + me->work->threads - 1) % me->work->threads, writer);
    NP_ASSERT_PATTERN(message->block, message->size, message->tag);
    NP_ASSERT_OK(np_msgpool_release(message->pool, message->block));
    released[class_of_size(message->size)]++;
}

static void *m02_worker_run(void *raw)
{
    m02_worker *me = raw;
    m02_work *work = me->work;
    np_channel *outbox = &work->mailboxes[(me->index + 1) % work->threads];
    np_channel *inbox = &work->mailboxes[me->index];
    unsigned long long acquired[DEFAULT_CLASSES] = {0}, released[DEFAULT_CLASSES] = {0};
    unsigned long long expected_incoming = (unsigned long long)work->rounds * (M02_PER_ROUND / 2), received = 0;
    uint64_t random = 0x9E3779B97F4A7C15ULL ^ me->index;
    void *messages[M02_PER_ROUND];
    size_t sizes[M02_PER_ROUND];
    np_message message;

    np_gate_wait(&work->gate);
    for (unsigned round = 0; round < work->rounds; round++) {
        for (unsigned j = 0; j < M02_PER_ROUND; j++) {
            unsigned k;
            size_t capacity = 0;
            sizes[j] = m02_pick_size(&random, &k);
            NP_ASSERT_OK(np_msgpool_acquire(work->pool, sizes[j], &messages[j], &capacity));
            NP_ASSERT_EQ(default_sizes[k], capacity);
            np_fill_pattern(messages[j], sizes[j], NP_TAG(me->index, round, j));
            acquired[k]++;
        }
        /* Half go to the next thread, which checks and releases them. */
        for (unsigned j = 0; j < M02_PER_ROUND / 2; j++) {
            message.pool = work->pool;
            message.block = messages[j];
            message.size = sizes[j];
            message.tag = NP_TAG(me->index, round, j);
            np_channel_send(outbox, &message);
        }
        while (np_channel_receive(inbox, &message, 0)) {
            m02_check_and_release(me, &message, released);
            received++;
        }
        for (unsigned j = M02_PER_ROUND / 2; j < M02_PER_ROUND; j++) {
            NP_ASSERT_PATTERN(messages[j], sizes[j], NP_TAG(me->index, round, j));
            NP_ASSERT_OK(np_msgpool_release(work->pool, messages[j]));
            released[class_of_size(sizes[j])]++;
        }
    }
    while (received < expected_incoming) {
        NP_ASSERT(np_channel_receive(inbox, &message, 1));
        m02_check_and_release(me, &message, released);
        received++;
    }
    for (unsigned k = 0; k < DEFAULT_CLASSES; k++) {
        atomic_fetch_add(&work->acquired[k], acquired[k]);
        atomic_fetch_add(&work->released[k], released[k]);
    }
    return NULL;
}

static void run_m02(uint64_t retain, unsigned threads, unsigned rounds)
{
    m02_work work;
    memset(&work, 0, sizeof work);
    work.pool = MAKE_MSGPOOL(retain);
    work.threads = threads;
    work.rounds = rounds;
    work.mailboxes = malloc(work.threads * sizeof *work.mailboxes);
    m02_worker *workers = malloc(work.threads * sizeof *workers);
    NP_ASSERT_NOT_NULL(work.mailboxes);
    NP_ASSERT_NOT_NULL(workers);
    for (unsigned i = 0; i < work.threads; i++) {
        np_channel_init(&work.mailboxes[i]);
        workers[i].work = &work;
        workers[i].index = i;
    }
    np_gate_init(&work.gate, work.threads);
    np_threads_run(work.threads, m02_worker_run, workers, sizeof workers[0]);

    unsigned long long total = 0;
    for (uint32_t k = 0; k < DEFAULT_CLASSES; k++) {
        np_msgpool_class_stats c = CLASS_STATS(work.pool, k);
        NP_ASSERT_EQ(atomic_load(&work.acquired[k]), c.acquisitions);
        NP_ASSERT_EQ(atomic_load(&work.released[k]), c.released);
        NP_ASSERT_EQ(0, c.in_flight);
        NP_ASSERT_EQ(0, c.double_releases + c.foreign_releases + c.invalid_releases + c.failed_acquisitions);
        total += c.acquisitions;
    }
    NP_ASSERT_EQ((unsigned long long)work.threads * work.rounds * M02_PER_ROUND, total);
    np_msgpool_stats s = MSG_STATS(work.pool);
    NP_ASSERT_EQ(total, s.acquisitions);
    NP_ASSERT_EQ(total, s.released);
    NP_ASSERT_EQ(0, s.in_flight);
    if (retain < 8) {
        printf("   M02 (retain %llu): %llu acquisitions, %llu discarded, %llu chunks released, reuse rate %.3f\n",
               (unsigned long long)retain, (unsigned long long)s.acquisitions, (unsigned long long)s.discarded,
               (unsigned long long)s.chunks_released, s.reuse_rate);
        NP_ASSERT_MSG(s.discarded > 0 && s.chunks_released > 0, "a tight retention discarded nothing");
    }
    for (unsigned i = 0; i < work.threads; i++) np_channel_destroy(&work.mailboxes[i]);
    np_gate_destroy(&work.gate);
    free(work.mailboxes);
    free(workers);
    DESTROY_MSGPOOL(work.pool);
}

static void m02_foreign_threads_mixed_sizes_cross_thread_contents(void)
{
    run_m02(NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS, NP_SIZE(16u, 64u), NP_SIZE(1000u, 10000u));
}

/* The same with 2 free blocks kept per class: discards, chunk releases and regrowth all the time, concurrently. */
static void m02_tight_retention_discards_and_regrows_under_threads(void)
{
    run_m02(2, NP_SIZE(8u, 32u), NP_SIZE(1000u, 10000u));
}

/* ------------------------------------------------------------------ M03 */

/*
 * 1000 buffers of 64 KiB (one block per chunk) with retention 16: releasing them all discards all
 * but the retained ones plus the releasing thread's two small magazines, gives their pages back
 * (resident memory drops by about as much), and acquiring again reuses the kept blocks first and
 * then recommits exactly the discarded ones.
 */
static void m03_retention_discards_and_returns_memory_of_a_large_class(void)
{
    enum { BLOCKS = 1000, CLASS = 5, SIZE = 65536, RETAIN = 16 };
    np_msgpool pool = MAKE_MSGPOOL(RETAIN);
    void **messages = malloc(BLOCKS * sizeof *messages);
    NP_ASSERT_NOT_NULL(messages);
    for (size_t i = 0; i < BLOCKS; i++) {
        size_t capacity = 0;
        NP_ASSERT_OK(np_msgpool_acquire(pool, SIZE, &messages[i], &capacity));
        NP_ASSERT_EQ(SIZE, capacity);
        memset(messages[i], (int)(i & 0xFF), SIZE);
    }
    np_msgpool_class_stats full = CLASS_STATS(pool, CLASS);
    NP_ASSERT_EQ(RETAIN, full.retain_limit);
    NP_ASSERT_EQ(1, full.blocks_per_chunk);
    NP_ASSERT_EQ(BLOCKS, full.capacity);
    NP_ASSERT_EQ(BLOCKS, full.in_flight);
    NP_ASSERT_EQ((unsigned long long)BLOCKS * SIZE, full.bytes_committed);
    size_t resident_full = np_resident_bytes();

    for (size_t i = 0; i < BLOCKS; i++) {
        NP_ASSERT_ALL_BYTES(messages[i], SIZE, i & 0xFF);
        NP_ASSERT_OK(np_msgpool_release(pool, messages[i]));
    }
    size_t resident_released = np_resident_bytes();
    np_msgpool_class_stats s = CLASS_STATS(pool, CLASS);
    const unsigned long long cached = 2 * s.magazine_capacity; /* what the releasing thread may still hold */
    NP_ASSERT_EQ(BLOCKS, s.released);
    NP_ASSERT_EQ(0, s.in_flight);
    NP_ASSERT_EQ(BLOCKS, s.free_blocks + s.discarded); /* every discarded block left the class */
    NP_ASSERT_EQ(s.discarded, s.chunks_released);
    NP_ASSERT_CMP(s.free_blocks, >=, RETAIN);
    NP_ASSERT_CMP(s.free_blocks, <=, RETAIN + cached);
    NP_ASSERT_EQ(s.free_blocks * SIZE, s.bytes_committed);
    /* Each discarded 64 KiB block gave its 16 pages back at once. */
    size_t returned = resident_full > resident_released ? resident_full - resident_released : 0;
    NP_ASSERT_MSG(returned >= (size_t)(s.discarded * SIZE) / 10 * 9,
                  "resident memory went from %zu to %zu bytes (%zu returned) after %llu discards of %d bytes",
                  resident_full, resident_released, returned, (unsigned long long)s.discarded, SIZE);

    /* Acquiring again takes the kept blocks first, then recommits exactly the discarded ones. */
    for (size_t i = 0; i < BLOCKS; i++) {
        NP_ASSERT_OK(np_msgpool_acquire(pool, SIZE, &messages[i], NULL));
        np_fill_pattern(messages[i], SIZE, i);
    }
    np_msgpool_class_stats again = CLASS_STATS(pool, CLASS);
    NP_ASSERT_EQ(s.reused + s.free_blocks, again.reused);
    NP_ASSERT_EQ(s.created + s.discarded, again.created);
    NP_ASSERT_EQ(BLOCKS, again.capacity);
    for (size_t i = 0; i < BLOCKS; i++) {
        NP_ASSERT_PATTERN(messages[i], SIZE, i);
        NP_ASSERT_OK(np_msgpool_release(pool, messages[i]));
    }
    free(messages);
    DESTROY_MSGPOOL(pool);
}

/* Threads release into the class and exit: their cached blocks come back and the limit holds exactly. */
typedef struct m03_releaser {
    np_msgpool pool;
    unsigned index;
} m03_releaser;

enum { M03_THREADS = 4, M03_PER_THREAD = 64 };

static void *m03_release_and_exit(void *raw)
{
    m03_releaser *me = raw;
    void *messages[M03_PER_THREAD];
    for (unsigned i = 0; i < M03_PER_THREAD; i++) {
        NP_ASSERT_OK(np_msgpool_acquire(me->pool, 50000, &messages[i], NULL));
        np_fill_pattern(messages[i], 50000, NP_TAG(me->index, 0, i));
    }
    for (unsigned i = 0; i < M03_PER_THREAD; i++) {
        NP_ASSERT_PATTERN(messages[i], 50000, NP_TAG(me->index, 0, i));
        NP_ASSERT_OK(np_msgpool_release(me->pool, messages[i]));
    }
    return NULL;
}

static void m03_retention_holds_exactly_once_releasing_threads_exit(void)
{
    enum { CLASS = 5, RETAIN = 16 };
    np_msgpool pool = MAKE_MSGPOOL(RETAIN);
    m03_releaser releasers[M03_THREADS];
    for (unsigned i = 0; i < M03_THREADS; i++) {
        releasers[i].pool = pool;
        releasers[i].index = i;
    }
    np_threads_run(M03_THREADS, m03_release_and_exit, releasers, sizeof releasers[0]);
    /* Reading stats takes back the caches of exited threads, then applies the limit. */
    np_msgpool_class_stats s = CLASS_STATS(pool, CLASS);
    NP_ASSERT_EQ(M03_THREADS * M03_PER_THREAD, s.released);
    NP_ASSERT_EQ(RETAIN, s.free_blocks);
    NP_ASSERT_EQ(RETAIN, s.capacity);
    /* Each release was reused by another thread, discarded, or is one of the retained blocks. */
    NP_ASSERT_EQ(s.released, s.reused + s.discarded + RETAIN);
    NP_ASSERT_EQ(s.created, s.discarded + RETAIN);
    NP_ASSERT_EQ(s.discarded, s.chunks_released);
    NP_ASSERT_EQ((unsigned long long)RETAIN * 65536, s.bytes_committed);
    DESTROY_MSGPOOL(pool);
}

/*
 * A class smaller than a chunk (1 KiB: 16 blocks per 16 KiB chunk): memory goes back in whole
 * chunks, and after a burst of 20,000 buffers is released, little more than the retention stays.
 */
static void m03_retention_returns_whole_chunks_of_a_small_class(void)
{
    enum { BLOCKS = 20000, CLASS = 2, SIZE = 1024, RETAIN = 64 };
    np_msgpool pool = MAKE_MSGPOOL(RETAIN);
    void **messages = malloc(BLOCKS * sizeof *messages);
    NP_ASSERT_NOT_NULL(messages);
    for (size_t i = 0; i < BLOCKS; i++) {
        NP_ASSERT_OK(np_msgpool_acquire(pool, SIZE, &messages[i], NULL));
        memset(messages[i], 0x3C, SIZE);
    }
    np_msgpool_class_stats full = CLASS_STATS(pool, CLASS);
    NP_ASSERT_EQ(16, full.blocks_per_chunk);
    size_t resident_full = np_resident_bytes();
    for (size_t i = 0; i < BLOCKS; i++) NP_ASSERT_OK(np_msgpool_release(pool, messages[i]));
    size_t resident_released = np_resident_bytes();
    np_msgpool_class_stats s = CLASS_STATS(pool, CLASS);
    NP_ASSERT_EQ(BLOCKS, s.released);
    NP_ASSERT_EQ(0, s.in_flight);
    /* Releases beyond the limit and the thread's magazines are discarded. */
    NP_ASSERT_CMP(s.discarded, >=, BLOCKS - RETAIN - 2 * s.magazine_capacity);
    /*
     * What stays: the limit, the thread's magazines, and less than the trim threshold (a quarter of
     * the limit, or a chunk) plus the chunks those blocks share.
     */
    unsigned long long bound = RETAIN + 2 * s.magazine_capacity + RETAIN / 4 + 2 * s.blocks_per_chunk;
    NP_ASSERT_MSG(s.free_blocks <= bound, "%llu free blocks stay committed, expected at most %llu",
                  (unsigned long long)s.free_blocks, bound);
    NP_ASSERT_EQ(s.capacity, BLOCKS - s.chunks_released * s.blocks_per_chunk);
    size_t returned = resident_full > resident_released ? resident_full - resident_released : 0;
    NP_ASSERT_MSG(returned >= (size_t)(BLOCKS - bound) * SIZE / 10 * 9,
                  "resident memory went from %zu to %zu bytes (%zu returned) after releasing %d buffers of %d bytes",
                  resident_full, resident_released, returned, BLOCKS, SIZE);
    free(messages);
    DESTROY_MSGPOOL(pool);
}

/* ------------------------------------------------------------------ M04 */

static void m04_reserve_warms_up_a_class(void)
{
    enum { COUNT = 500, CLASS = 2 };
    np_msgpool pool = MAKE_MSGPOOL(NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS);
    size_t resident_before = np_resident_bytes();
    NP_ASSERT_OK(np_msgpool_reserve(pool, 1000, COUNT));
    size_t resident_reserved = np_resident_bytes();
    np_msgpool_class_stats warm = CLASS_STATS(pool, CLASS);
    NP_ASSERT_CMP(warm.capacity, >=, COUNT);
    NP_ASSERT_CMP(warm.capacity, <, COUNT + warm.blocks_per_chunk);
    NP_ASSERT_EQ(0, warm.acquisitions);
    NP_ASSERT_EQ(warm.capacity, warm.free_blocks);
    /* The pages were faulted in by reserve. */
    NP_ASSERT_MSG(resident_reserved >= resident_before + (size_t)COUNT * 1024 / 10 * 9,
                  "resident memory grew from %zu to %zu bytes for %d reserved KiB", resident_before, resident_reserved, COUNT);
    /* No other class grew. */
    for (uint32_t k = 0; k < DEFAULT_CLASSES; k++)
        if (k != CLASS) NP_ASSERT_EQ(0, CLASS_STATS(pool, k).capacity);

    void *messages[COUNT];
    for (size_t i = 0; i < COUNT; i++) {
        NP_ASSERT_OK(np_msgpool_acquire(pool, 600 + i % 400, &messages[i], NULL));
        memset(messages[i], 0x11, 1024);
    }
    np_msgpool_class_stats used = CLASS_STATS(pool, CLASS);
    NP_ASSERT_EQ(warm.capacity, used.capacity); /* no growth */
    NP_ASSERT_EQ(COUNT, used.created);
    NP_ASSERT_CMP(np_resident_bytes(), <=, resident_reserved + (1u << 20)); /* no new page faults to speak of */
    for (size_t i = 0; i < COUNT; i++) NP_ASSERT_OK(np_msgpool_release(pool, messages[i]));
    for (size_t i = 0; i < COUNT; i++) NP_ASSERT_OK(np_msgpool_acquire(pool, 1024, &messages[i], NULL));
    NP_ASSERT_EQ(COUNT, CLASS_STATS(pool, CLASS).reused);
    for (size_t i = 0; i < COUNT; i++) NP_ASSERT_OK(np_msgpool_release(pool, messages[i]));

    /* Reserving less than the class holds changes nothing; size 0 warms the smallest class. */
    NP_ASSERT_OK(np_msgpool_reserve(pool, 1024, 10));
    NP_ASSERT_EQ(warm.capacity, CLASS_STATS(pool, CLASS).capacity);
    NP_ASSERT_OK(np_msgpool_reserve(pool, 0, 100));
    NP_ASSERT_CMP(CLASS_STATS(pool, 0).capacity, >=, 100);
    /* One-block chunks: exactly the count. */
    NP_ASSERT_OK(np_msgpool_reserve(pool, 65536, 37));
    NP_ASSERT_EQ(37, CLASS_STATS(pool, 5).capacity);
    /* Beyond the largest class, or beyond what a class's 16 GiB can hold. */
    NP_ASSERT_STATUS(NP_E_INVALID_ARGUMENT, np_msgpool_reserve(pool, (size_t)LARGEST + 1, 1));
    NP_ASSERT_STATUS(NP_E_POOL_EXHAUSTED, np_msgpool_reserve(pool, LARGEST, NP_MSGPOOL_CLASS_RANGE_BYTES / LARGEST + 1));
    DESTROY_MSGPOOL(pool);
}

/*
 * Reserve after the class gave chunks back: the reserved blocks are there when stats are read
 * and when the blocks are acquired, however often stats are read in between.
 */
static void m04_reserve_after_chunks_were_given_back_holds_count(void)
{
    enum { CLASS = 2, RETAIN = 64, BURST = 800, COUNT = 500 };
    np_msgpool pool = MAKE_MSGPOOL(RETAIN);
    static void *messages[BURST];
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < BURST; i++) NP_ASSERT_OK(np_msgpool_acquire(pool, 1024, &messages[i], NULL));
        for (size_t i = 0; i < BURST; i++) NP_ASSERT_OK(np_msgpool_release(pool, messages[i]));
        np_msgpool_class_stats trimmed = CLASS_STATS(pool, CLASS);
        NP_ASSERT_CMP(trimmed.chunks_released, >, 0);
        NP_ASSERT_CMP(trimmed.capacity, <, COUNT);

        NP_ASSERT_OK(np_msgpool_reserve(pool, 1024, COUNT));
        for (int read = 0; read < 3; read++) {
            np_msgpool_class_stats warm = CLASS_STATS(pool, CLASS);
            NP_ASSERT_MSG(warm.capacity >= COUNT && warm.free_blocks >= COUNT,
                          "round %d, stats read %d after reserving %d: capacity %llu, free %llu", round, read, COUNT,
                          (unsigned long long)warm.capacity, (unsigned long long)warm.free_blocks);
        }
        np_msgpool_class_stats before = CLASS_STATS(pool, CLASS);
        for (size_t i = 0; i < COUNT; i++) NP_ASSERT_OK(np_msgpool_acquire(pool, 1024, &messages[i], NULL));
        np_msgpool_class_stats after = CLASS_STATS(pool, CLASS);
        NP_ASSERT_EQ(before.capacity, after.capacity); /* no growth: the reserved blocks served */
        for (size_t i = 0; i < COUNT; i++) NP_ASSERT_OK(np_msgpool_release(pool, messages[i]));
    }
    DESTROY_MSGPOOL(pool);
}

/* ------------------------------------------------------------------ M05 */

typedef struct m05_worker {
    np_msgpool pool;
    unsigned index;
    unsigned long long operations;
    np_channel *handoff; /* shared: buffers acquired by one thread, released by another */
} m05_worker;

/* Random acquire/release over a window of up to 32 live buffers of mixed sizes (classes 0-5); a few go to other threads. */
static void *m05_steady_worker(void *raw)
{
    m05_worker *me = raw;
    enum { WINDOW = 32 };
    void *live[WINDOW];
    size_t sizes[WINDOW];
    uint64_t stamps[WINDOW]; /* written into each buffer of 8 bytes or more, checked at release */
    unsigned count = 0;
    uint64_t random = 1234567 + me->index;
    np_message message;
    for (unsigned long long n = 0; n < me->operations; n++) {
        if (count < WINDOW && (count == 0 || np_random_below(&random, 2) == 0)) {
            size_t size = (size_t)np_random_below(&random, 65536 + 1);
            if (np_random_below(&random, 4) != 0) size %= 1025; /* mostly small */
            NP_ASSERT_OK(np_msgpool_acquire(me->pool, size, &live[count], NULL));
            sizes[count] = size;
            stamps[count] = NP_TAG(me->index, n, count);
            if (size >= 8) memcpy(live[count], &stamps[count], 8);
            count++;
        } else {
            unsigned i = (unsigned)np_random_below(&random, count);
            if (sizes[i] >= 8) NP_ASSERT(memcmp(live[i], &stamps[i], 8) == 0);
            if (np_random_below(&random, 8) == 0) {
                message.pool = me->pool;
                message.block = live[i];
                message.size = sizes[i];
                message.tag = stamps[i];
                np_channel_send(me->handoff, &message);
            } else {
                NP_ASSERT_OK(np_msgpool_release(me->pool, live[i]));
            }
            live[i] = live[--count];
            sizes[i] = sizes[count];
            stamps[i] = stamps[count];
        }
        while (np_random_below(&random, 4) == 0 && np_channel_receive(me->handoff, &message, 0)) {
            if (message.size >= 8) NP_ASSERT(memcmp(message.block, &message.tag, 8) == 0);
            NP_ASSERT_OK(np_msgpool_release(message.pool, message.block));
        }
    }
    for (unsigned i = 0; i < count; i++) NP_ASSERT_OK(np_msgpool_release(me->pool, live[i]));
    return NULL;
}

static void m05_reuse_rate_above_99_percent_in_steady_state(void)
{
    enum { THREADS = 4 };
    np_msgpool pool = MAKE_MSGPOOL(NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS);
    np_channel handoff;
    np_channel_init(&handoff);
    m05_worker workers[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        workers[i].pool = pool;
        workers[i].index = i;
        workers[i].operations = 20000; /* warm-up */
        workers[i].handoff = &handoff;
    }
    np_threads_run(THREADS, m05_steady_worker, workers, sizeof workers[0]);
    np_message message;
    while (np_channel_receive(&handoff, &message, 0)) NP_ASSERT_OK(np_msgpool_release(pool, message.block));
    NP_ASSERT_OK(np_msgpool_reset_stats(pool));

    for (unsigned i = 0; i < THREADS; i++) {
        workers[i].index = i + 100;
        workers[i].operations = NP_SIZE(500000ULL, 5000000ULL);
    }
    np_threads_run(THREADS, m05_steady_worker, workers, sizeof workers[0]);
    while (np_channel_receive(&handoff, &message, 0)) NP_ASSERT_OK(np_msgpool_release(pool, message.block));

    np_msgpool_stats s = MSG_STATS(pool);
    printf("   M05: %llu acquisitions, reuse rate %.5f, %llu created, %llu discarded\n",
           (unsigned long long)s.acquisitions, s.reuse_rate, (unsigned long long)s.created, (unsigned long long)s.discarded);
    NP_ASSERT_MSG(s.reuse_rate > 0.99, "steady-state reuse rate %.5f", s.reuse_rate);
    NP_ASSERT_EQ(0, s.in_flight);
    NP_ASSERT_EQ(s.acquisitions, s.released);
    /* Every class of the mix was used; each busy one (5 % of the traffic or more) reuses too. A quiet
     * class can still create a few blocks late: free blocks may sit in other threads' caches. */
    for (uint32_t k = 0; k < 6; k++) {
        np_msgpool_class_stats c = CLASS_STATS(pool, k);
        NP_ASSERT_MSG(c.acquisitions > 0, "class %u was not used", (unsigned)k);
        if (c.acquisitions >= s.acquisitions / 20)
            NP_ASSERT_MSG(c.reuse_rate > 0.99, "class %u: reuse rate %.5f", (unsigned)k, c.reuse_rate);
    }
    np_channel_destroy(&handoff);
    DESTROY_MSGPOOL(pool);
}

/* ------------------------------------------------------------------ M06 */

static void m06_totals_are_the_sums_of_the_classes_and_reset(void)
{
    np_msgpool pool = MAKE_MSGPOOL(NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS);
    void *kept[DEFAULT_CLASSES];
    /* One of each class stays in flight; 50 of class 1 come and go (peak 51). */
    for (uint32_t k = 0; k < DEFAULT_CLASSES; k++) NP_ASSERT_OK(np_msgpool_acquire(pool, default_sizes[k], &kept[k], NULL));
    void *burst[50];
    for (int i = 0; i < 50; i++) NP_ASSERT_OK(np_msgpool_acquire(pool, 200, &burst[i], NULL));
    for (int i = 0; i < 50; i++) NP_ASSERT_OK(np_msgpool_release(pool, burst[i]));
    NP_ASSERT_EQ(51, CLASS_STATS(pool, 1).peak_in_flight);

    /* Every kind of refusal, each counted where it belongs. */
    void *message = NULL;
    NP_ASSERT_OK(np_msgpool_acquire(pool, 1000, &message, NULL));
    NP_ASSERT_OK(np_msgpool_release(pool, message));
    NP_ASSERT_STATUS(NP_E_DOUBLE_FREE, np_msgpool_release(pool, message));                     /* class 2 */
    NP_ASSERT_STATUS(NP_E_INTERIOR_POINTER, np_msgpool_release(pool, (char *)kept[3] + 8));     /* class 3 */
    NP_ASSERT_STATUS(NP_E_MISALIGNED_POINTER, np_msgpool_release(pool, (char *)kept[4] + 3));   /* class 4 */
    NP_ASSERT_STATUS(NP_E_FOREIGN_POINTER, np_msgpool_release(pool, (char *)kept[7] + (1ULL << 33))); /* class 7, beyond its blocks */
    int on_stack = 0;
    NP_ASSERT_STATUS(NP_E_FOREIGN_POINTER, np_msgpool_release(pool, &on_stack));                /* no class */
    NP_ASSERT_STATUS(NP_E_INVALID_ARGUMENT, np_msgpool_acquire(pool, (size_t)LARGEST + 1, &message, NULL));
    NP_ASSERT_EQ(1, CLASS_STATS(pool, 2).double_releases);
    NP_ASSERT_EQ(1, CLASS_STATS(pool, 3).invalid_releases);
    NP_ASSERT_EQ(1, CLASS_STATS(pool, 4).invalid_releases);
    NP_ASSERT_EQ(1, CLASS_STATS(pool, 7).foreign_releases);
    np_msgpool_stats s = MSG_STATS(pool);
    NP_ASSERT_EQ(1, s.double_releases);
    NP_ASSERT_EQ(2, s.invalid_releases);
    NP_ASSERT_EQ(1, s.foreign_releases);
    NP_ASSERT_EQ(1, s.unowned_releases);
    NP_ASSERT_EQ(1, s.oversize_acquisitions);
    NP_ASSERT_EQ(DEFAULT_CLASSES, s.in_flight);
    NP_ASSERT_EQ(DEFAULT_CLASSES + 51, s.acquisitions);
    NP_ASSERT_EQ(51, s.released);
    CHECK_MSGPOOL(pool);

    /* Reset: every event counter starts over, in flight stays, peaks restart from it. */
    NP_ASSERT_OK(np_msgpool_reset_stats(pool));
    np_msgpool_stats r = MSG_STATS(pool);
    NP_ASSERT_EQ(0, r.acquisitions + r.created + r.reused + r.released + r.discarded + r.failed_acquisitions);
    NP_ASSERT_EQ(0, r.double_releases + r.foreign_releases + r.invalid_releases + r.oversize_acquisitions + r.unowned_releases);
    NP_ASSERT_EQ(DEFAULT_CLASSES, r.in_flight);
    NP_ASSERT_EQ(DEFAULT_CLASSES, r.peak_in_flight);
    NP_ASSERT_EQ(s.capacity, r.capacity);
    NP_ASSERT_EQ(0.0, r.reuse_rate);
    CHECK_MSGPOOL(pool);
    for (uint32_t k = 0; k < DEFAULT_CLASSES; k++) NP_ASSERT_OK(np_msgpool_release(pool, kept[k]));
    np_msgpool_stats after = MSG_STATS(pool);
    NP_ASSERT_EQ(DEFAULT_CLASSES, after.released);
    NP_ASSERT_EQ(0, after.in_flight);
    DESTROY_MSGPOOL(pool);
}

/* ------------------------------------------------------------------ M07 */

typedef struct m07_fixture {
    np_msgpool pool;      /* default classes */
    np_msgpool other;     /* another message pool */
    np_msgpool stale;     /* created, then destroyed */
    np_pool block_pool;   /* a block pool: its handle is no message pool, its blocks are foreign */
    void *message;        /* in flight in pool, class 1 */
    void *released;       /* acquired in pool, then released */
    void *other_message;  /* in flight in other */
    void *block;          /* a block of block_pool */
    void *heap;
    int on_stack;
    np_msgpool_options options;
} m07_fixture;

enum m07_counter { M07_NOTHING, M07_DOUBLE, M07_FOREIGN, M07_INVALID, M07_UNOWNED, M07_OVERSIZE };

typedef struct m07_row {
    const char *what;
    np_status (*call)(m07_fixture *f);
    np_status expected;
    enum m07_counter counts;
} m07_row;

#define GARBAGE_MSGPOOL 0xDEADBEEFCAFEF00DULL

static np_status create_with(m07_fixture *f, void (*adjust)(np_msgpool_options *))
{
    np_msgpool_options options = f->options;
    np_msgpool pool = 777;
    adjust(&options);
    np_status status = np_msgpool_create(&options, &pool);
    if (status != NP_OK) NP_ASSERT_EQ(0, pool);
    else np_msgpool_destroy(pool);
    return status;
}

static const uint32_t two_sizes[] = {64, 128};
static const uint32_t descending[] = {128, 64};
static const uint32_t duplicate[] = {64, 64};
static const uint32_t zero_size[] = {0, 64};
static const uint32_t too_big[] = {64, NP_MSGPOOL_MAX_CLASS_SIZE + 1};
static const uint32_t seventeen[17] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};

static void size_zero(np_msgpool_options *o) { o->struct_size = 0; }
static void size_long(np_msgpool_options *o) { o->struct_size = sizeof *o + 8; }
static void count_17(np_msgpool_options *o) { o->class_sizes = seventeen; o->class_count = 17; }
static void count_without_sizes(np_msgpool_options *o) { o->class_sizes = NULL; o->class_count = 2; }
static void sizes_without_count(np_msgpool_options *o) { o->class_sizes = two_sizes; o->class_count = 0; }
static void sizes_descending(np_msgpool_options *o) { o->class_sizes = descending; o->class_count = 2; }
static void sizes_duplicate(np_msgpool_options *o) { o->class_sizes = duplicate; o->class_count = 2; }
static void sizes_zero(np_msgpool_options *o) { o->class_sizes = zero_size; o->class_count = 2; }
static void sizes_too_big(np_msgpool_options *o) { o->class_sizes = too_big; o->class_count = 2; }

static np_status r_options_init_null(m07_fixture *f) { (void)f; return np_msgpool_options_init(NULL); }
static np_status r_create_null_options(m07_fixture *f) { np_msgpool p = 5; (void)f; np_status s = np_msgpool_create(NULL, &p); NP_ASSERT_EQ(0, p); return s; }
static np_status r_create_null_out(m07_fixture *f) { return np_msgpool_create(&f->options, NULL); }
static np_status r_create_size_zero(m07_fixture *f) { return create_with(f, size_zero); }
static np_status r_create_size_long(m07_fixture *f) { return create_with(f, size_long); }
static np_status r_create_count_17(m07_fixture *f) { return create_with(f, count_17); }
static np_status r_create_count_without_sizes(m07_fixture *f) { return create_with(f, count_without_sizes); }
static np_status r_create_sizes_without_count(m07_fixture *f) { return create_with(f, sizes_without_count); }
static np_status r_create_descending(m07_fixture *f) { return create_with(f, sizes_descending); }
static np_status r_create_duplicate(m07_fixture *f) { return create_with(f, sizes_duplicate); }
static np_status r_create_zero_size(m07_fixture *f) { return create_with(f, sizes_zero); }
static np_status r_create_too_big(m07_fixture *f) { return create_with(f, sizes_too_big); }

/* A failed acquire leaves the message NULL and the capacity 0. */
static np_status acquire_from(np_msgpool pool, size_t size)
{
    void *message = (void *)&message;
    size_t capacity = 99;
    np_status status = np_msgpool_acquire(pool, size, &message, &capacity);
    NP_ASSERT_PTR_EQ(NULL, message);
    NP_ASSERT_EQ(0, capacity);
    return status;
}

static np_status r_acquire_null_out(m07_fixture *f) { return np_msgpool_acquire(f->pool, 10, NULL, NULL); }
static np_status r_acquire_handle_zero(m07_fixture *f) { (void)f; return acquire_from(0, 10); }
static np_status r_acquire_garbage(m07_fixture *f) { (void)f; return acquire_from(GARBAGE_MSGPOOL, 10); }
static np_status r_acquire_wrong_generation(m07_fixture *f) { return acquire_from(f->pool ^ (1ULL << 40), 10); }
static np_status r_acquire_stale(m07_fixture *f) { return acquire_from(f->stale, 10); }
static np_status r_acquire_block_pool_handle(m07_fixture *f) { return acquire_from(f->block_pool, 10); }
static np_status r_acquire_size_max(m07_fixture *f) { return acquire_from(f->pool, SIZE_MAX); }
static np_status r_acquire_largest_plus_one(m07_fixture *f) { return acquire_from(f->pool, (size_t)LARGEST + 1); }

static np_status r_release_handle_zero(m07_fixture *f) { return np_msgpool_release(0, f->message); }
static np_status r_release_garbage(m07_fixture *f) { return np_msgpool_release(GARBAGE_MSGPOOL, f->message); }
static np_status r_release_stale(m07_fixture *f) { return np_msgpool_release(f->stale, f->message); }
static np_status r_release_block_pool_handle(m07_fixture *f) { return np_msgpool_release(f->block_pool, f->message); }
static np_status r_release_null(m07_fixture *f) { return np_msgpool_release(f->pool, NULL); }
static np_status r_release_twice(m07_fixture *f) { return np_msgpool_release(f->pool, f->released); }
static np_status r_release_never_handed_out(m07_fixture *f) { return np_msgpool_release(f->pool, (char *)f->message + 264 * 10); }
static np_status r_release_interior(m07_fixture *f) { return np_msgpool_release(f->pool, (char *)f->message + 8); }
static np_status r_release_misaligned(m07_fixture *f) { return np_msgpool_release(f->pool, (char *)f->message + 1); }
static np_status r_release_beyond_blocks(m07_fixture *f) { return np_msgpool_release(f->pool, (char *)f->message + (1ULL << 32)); }
static np_status r_release_heap(m07_fixture *f) { return np_msgpool_release(f->pool, f->heap); }
static np_status r_release_stack(m07_fixture *f) { return np_msgpool_release(f->pool, &f->on_stack); }
static np_status r_release_other_pools_message(m07_fixture *f) { return np_msgpool_release(f->pool, f->other_message); }
static np_status r_release_block_pool_block(m07_fixture *f) { return np_msgpool_release(f->pool, f->block); }
static np_status r_release_all_ones(m07_fixture *f) { return np_msgpool_release(f->pool, (void *)UINTPTR_MAX); }

static np_status stats_sized(m07_fixture *f, uint32_t size)
{
    np_msgpool_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = size;
    return np_msgpool_get_stats(f->pool, &stats);
}
static np_status class_stats_sized(m07_fixture *f, uint32_t index, uint32_t size)
{
    np_msgpool_class_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = size;
    return np_msgpool_get_class_stats(f->pool, index, &stats);
}
static np_status r_stats_null(m07_fixture *f) { return np_msgpool_get_stats(f->pool, NULL); }
static np_status r_stats_size_zero(m07_fixture *f) { return stats_sized(f, 0); }
static np_status r_stats_size_class(m07_fixture *f) { return stats_sized(f, sizeof(np_msgpool_class_stats)); }
static np_status r_stats_stale(m07_fixture *f)
{
    np_msgpool_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    return np_msgpool_get_stats(f->stale, &stats);
}
static np_status r_class_stats_null(m07_fixture *f) { return np_msgpool_get_class_stats(f->pool, 0, NULL); }
static np_status r_class_stats_size_pool(m07_fixture *f) { return class_stats_sized(f, 0, sizeof(np_msgpool_stats)); }
static np_status r_class_stats_index_8(m07_fixture *f) { return class_stats_sized(f, DEFAULT_CLASSES, sizeof(np_msgpool_class_stats)); }
static np_status r_class_stats_index_max(m07_fixture *f) { return class_stats_sized(f, UINT32_MAX, sizeof(np_msgpool_class_stats)); }
static np_status r_class_stats_stale(m07_fixture *f)
{
    np_msgpool_class_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    return np_msgpool_get_class_stats(f->stale, 0, &stats);
}
static np_status r_reserve_oversize(m07_fixture *f) { return np_msgpool_reserve(f->pool, SIZE_MAX, 1); }
static np_status r_reserve_absurd_count(m07_fixture *f) { return np_msgpool_reserve(f->pool, 64, UINT64_MAX); }
static np_status r_reserve_stale(m07_fixture *f) { return np_msgpool_reserve(f->stale, 64, 1); }
static np_status r_reset_stale(m07_fixture *f) { return np_msgpool_reset_stats(f->stale); }
static np_status r_destroy_stale(m07_fixture *f) { return np_msgpool_destroy(f->stale); }
static np_status r_destroy_garbage(m07_fixture *f) { (void)f; return np_msgpool_destroy(GARBAGE_MSGPOOL); }
static np_status r_destroy_block_pool_handle(m07_fixture *f) { return np_msgpool_destroy(f->block_pool); }

static const m07_row m07_table[] = {
    {"options_init(NULL)", r_options_init_null, NP_E_NULL_POINTER, M07_NOTHING},
    {"create(NULL options)", r_create_null_options, NP_E_NULL_POINTER, M07_NOTHING},
    {"create(NULL out handle)", r_create_null_out, NP_E_NULL_POINTER, M07_NOTHING},
    {"create(struct_size 0)", r_create_size_zero, NP_E_UNSUPPORTED_STRUCT_SIZE, M07_NOTHING},
    {"create(struct_size + 8)", r_create_size_long, NP_E_UNSUPPORTED_STRUCT_SIZE, M07_NOTHING},
    {"create(17 classes)", r_create_count_17, NP_E_INVALID_ARGUMENT, M07_NOTHING},
    {"create(class_count 2, class_sizes NULL)", r_create_count_without_sizes, NP_E_NULL_POINTER, M07_NOTHING},
    {"create(class_sizes set, class_count 0)", r_create_sizes_without_count, NP_E_INVALID_ARGUMENT, M07_NOTHING},
    {"create(sizes descending)", r_create_descending, NP_E_INVALID_ARGUMENT, M07_NOTHING},
    {"create(sizes repeated)", r_create_duplicate, NP_E_INVALID_ARGUMENT, M07_NOTHING},
    {"create(class size 0)", r_create_zero_size, NP_E_INVALID_ARGUMENT, M07_NOTHING},
    {"create(class size 16 MiB + 1)", r_create_too_big, NP_E_INVALID_ARGUMENT, M07_NOTHING},
    {"acquire(NULL out message)", r_acquire_null_out, NP_E_NULL_POINTER, M07_NOTHING},
    {"acquire(handle 0)", r_acquire_handle_zero, NP_E_INVALID_HANDLE, M07_NOTHING},
    {"acquire(garbage handle)", r_acquire_garbage, NP_E_INVALID_HANDLE, M07_NOTHING},
    {"acquire(handle with a wrong generation)", r_acquire_wrong_generation, NP_E_INVALID_HANDLE, M07_NOTHING},
    {"acquire(destroyed pool)", r_acquire_stale, NP_E_INVALID_HANDLE, M07_NOTHING},
    {"acquire(a block pool's handle)", r_acquire_block_pool_handle, NP_E_INVALID_HANDLE, M07_NOTHING},
    {"acquire(SIZE_MAX)", r_acquire_size_max, NP_E_INVALID_ARGUMENT, M07_OVERSIZE},
    {"acquire(largest class + 1)", r_acquire_largest_plus_one, NP_E_INVALID_ARGUMENT, M07_OVERSIZE},
    {"release(handle 0)", r_release_handle_zero, NP_E_INVALID_HANDLE, M07_NOTHING},
    {"release(garbage handle)", r_release_garbage, NP_E_INVALID_HANDLE, M07_NOTHING},
    {"release(destroyed pool)", r_release_stale, NP_E_INVALID_HANDLE, M07_NOTHING},
    {"release(a block pool's handle)", r_release_block_pool_handle, NP_E_INVALID_HANDLE, M07_NOTHING},
    {"release(NULL)", r_release_null, NP_E_NULL_POINTER, M07_NOTHING},
    {"release twice", r_release_twice, NP_E_DOUBLE_FREE, M07_DOUBLE},
    {"release(a block never handed out)", r_release_never_handed_out, NP_E_DOUBLE_FREE, M07_DOUBLE},
    {"release(interior pointer)", r_release_interior, NP_E_INTERIOR_POINTER, M07_INVALID},
    {"release(misaligned pointer)", r_release_misaligned, NP_E_MISALIGNED_POINTER, M07_INVALID},
    {"release(in the class's range, beyond its blocks)", r_release_beyond_blocks, NP_E_FOREIGN_POINTER, M07_FOREIGN},
    {"release(malloc memory)", r_release_heap, NP_E_FOREIGN_POINTER, M07_UNOWNED},
    {"release(stack variable)", r_release_stack, NP_E_FOREIGN_POINTER, M07_UNOWNED},
    {"release(another message pool's buffer)", r_release_other_pools_message, NP_E_FOREIGN_POINTER, M07_UNOWNED},
    {"release(a block pool's block)", r_release_block_pool_block, NP_E_FOREIGN_POINTER, M07_UNOWNED},
    {"release(UINTPTR_MAX)", r_release_all_ones, NP_E_FOREIGN_POINTER, M07_UNOWNED},
    {"get_stats(NULL)", r_stats_null, NP_E_NULL_POINTER, M07_NOTHING},
    {"get_stats(struct_size 0)", r_stats_size_zero, NP_E_UNSUPPORTED_STRUCT_SIZE, M07_NOTHING},
    {"get_stats(struct_size of the class stats)", r_stats_size_class, NP_E_UNSUPPORTED_STRUCT_SIZE, M07_NOTHING},
    {"get_stats(destroyed pool)", r_stats_stale, NP_E_INVALID_HANDLE, M07_NOTHING},
    {"get_class_stats(NULL)", r_class_stats_null, NP_E_NULL_POINTER, M07_NOTHING},
    {"get_class_stats(struct_size of the totals)", r_class_stats_size_pool, NP_E_UNSUPPORTED_STRUCT_SIZE, M07_NOTHING},
    {"get_class_stats(index = class count)", r_class_stats_index_8, NP_E_INVALID_ARGUMENT, M07_NOTHING},
    {"get_class_stats(index UINT32_MAX)", r_class_stats_index_max, NP_E_INVALID_ARGUMENT, M07_NOTHING},
    {"get_class_stats(destroyed pool)", r_class_stats_stale, NP_E_INVALID_HANDLE, M07_NOTHING},
    {"reserve(SIZE_MAX)", r_reserve_oversize, NP_E_INVALID_ARGUMENT, M07_NOTHING},
    {"reserve(UINT64_MAX blocks)", r_reserve_absurd_count, NP_E_POOL_EXHAUSTED, M07_NOTHING},
    {"reserve(destroyed pool)", r_reserve_stale, NP_E_INVALID_HANDLE, M07_NOTHING},
    {"reset_stats(destroyed pool)", r_reset_stale, NP_E_INVALID_HANDLE, M07_NOTHING},
    {"destroy(destroyed pool)", r_destroy_stale, NP_E_INVALID_HANDLE, M07_NOTHING},
    {"destroy(garbage handle)", r_destroy_garbage, NP_E_INVALID_HANDLE, M07_NOTHING},
    {"destroy(a block pool's handle)", r_destroy_block_pool_handle, NP_E_INVALID_HANDLE, M07_NOTHING},
};

static unsigned long long m07_count(const np_msgpool_stats *s, enum m07_counter which)
{
    switch (which) {
    case M07_DOUBLE: return s->double_releases;
    case M07_FOREIGN: return s->foreign_releases;
    case M07_INVALID: return s->invalid_releases;
    case M07_UNOWNED: return s->unowned_releases;
    case M07_OVERSIZE: return s->oversize_acquisitions;
    default: return 0;
    }
}

static void m07_every_bad_call_returns_its_status_counts_and_detail(void)
{
    m07_fixture f;
    memset(&f, 0, sizeof f);
    f.pool = MAKE_MSGPOOL(NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS);
    f.other = MAKE_MSGPOOL(NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS);
    f.stale = MAKE_MSGPOOL(NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS);
    NP_ASSERT_OK(np_msgpool_destroy(f.stale));
    f.block_pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    NP_ASSERT_OK(np_msgpool_acquire(f.pool, 200, &f.message, NULL));
    NP_ASSERT_OK(np_msgpool_acquire(f.pool, 200, &f.released, NULL));
    NP_ASSERT_OK(np_msgpool_release(f.pool, f.released));
    NP_ASSERT_OK(np_msgpool_acquire(f.other, 200, &f.other_message, NULL));
    NP_ASSERT_OK(np_pool_alloc(f.block_pool, &f.block));
    f.heap = malloc(256);
    NP_ASSERT_NOT_NULL(f.heap);
    NP_ASSERT_OK(np_msgpool_options_init(&f.options));
    np_fill_pattern(f.message, 200, 42);

    for (size_t i = 0; i < NP_COUNT_OF(m07_table); i++) {
        const m07_row *row = &m07_table[i];
        enum m07_counter all[] = {M07_DOUBLE, M07_FOREIGN, M07_INVALID, M07_UNOWNED, M07_OVERSIZE};
        np_msgpool_stats before = MSG_STATS(f.pool);
        np_status status = row->call(&f);
        /* The detail is read before anything else can overwrite this thread's last error. */
        char detail[512];
        np_last_error_message(detail, sizeof detail);
        np_status last = np_last_error_status();
        NP_ASSERT_MSG(status == row->expected, "%s: returned %s, expected %s (detail: %s)", row->what,
                      np_status_name(status), np_status_name(row->expected), detail);
        NP_ASSERT_MSG(last == row->expected, "%s: np_last_error_status() is %s", row->what, np_status_name(last));
        /* The detail explains; it does not repeat the status name, which the caller prints beside it. */
        NP_ASSERT_MSG(strstr(detail, np_status_name(row->expected)) == NULL && strlen(detail) > 4,
                      "%s: the detail \"%s\" repeats the status name or explains nothing", row->what, detail);
        np_msgpool_stats after = MSG_STATS(f.pool);
        for (size_t c = 0; c < NP_COUNT_OF(all); c++)
            NP_ASSERT_MSG(m07_count(&after, all[c]) == m07_count(&before, all[c]) + (all[c] == row->counts),
                          "%s: counter %d went from %llu to %llu", row->what, (int)all[c], m07_count(&before, all[c]),
                          m07_count(&after, all[c]));
        NP_ASSERT_MSG(after.in_flight == 1, "%s: in_flight %llu", row->what, (unsigned long long)after.in_flight);
    }
    /* Destroying 0 is a no-op; the pool is intact and its message untouched. */
    NP_ASSERT_OK(np_msgpool_destroy(0));
    NP_ASSERT_PATTERN(f.message, 200, 42);
    NP_ASSERT_OK(np_msgpool_release(f.pool, f.message));
    NP_ASSERT_OK(np_msgpool_release(f.other, f.other_message));
    NP_ASSERT_OK(np_pool_free(f.block_pool, f.block));
    free(f.heap);
    DESTROY_MSGPOOL(f.pool);
    DESTROY_MSGPOOL(f.other);
    NP_DESTROY_POOL(f.block_pool);
}

/* ------------------------------------------------------------------ M08 */

static void m08_destroy_with_messages_out_makes_the_handle_stale(void)
{
    np_msgpool pool = MAKE_MSGPOOL(NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS);
    void *messages[DEFAULT_CLASSES];
    for (uint32_t k = 0; k < DEFAULT_CLASSES; k++) NP_ASSERT_OK(np_msgpool_acquire(pool, default_sizes[k], &messages[k], NULL));
    NP_ASSERT_OK(np_msgpool_destroy(pool));

    void *message = NULL;
    np_msgpool_stats stats;
    np_msgpool_class_stats class_stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    memset(&class_stats, 0, sizeof class_stats);
    class_stats.struct_size = sizeof class_stats;
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_msgpool_acquire(pool, 10, &message, NULL));
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_msgpool_release(pool, messages[0]));
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_msgpool_reserve(pool, 10, 1));
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_msgpool_get_stats(pool, &stats));
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_msgpool_get_class_stats(pool, 0, &class_stats));
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_msgpool_reset_stats(pool));
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_msgpool_destroy(pool));
    /* New pools never bring the old handle back, even in its slot. */
    for (int i = 0; i < 50; i++) {
        np_msgpool fresh = MAKE_MSGPOOL(16);
        NP_ASSERT(fresh != pool);
        NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_msgpool_acquire(pool, 10, &message, NULL));
        NP_ASSERT_OK(np_msgpool_destroy(fresh));
    }
}

/* Every destroyed pool gives back its memory and its 16 GiB per class of address space. */
static void m08_create_destroy_churn_returns_memory_and_address_space(void)
{
    const int cycles = NP_SIZE(300, 3000);
    size_t resident_before = 0, virtual_before = 0;
    for (int cycle = 0; cycle < cycles + 10; cycle++) {
        if (cycle == 10) {
            resident_before = np_resident_bytes();
            virtual_before = virtual_bytes();
        }
        np_msgpool pool = MAKE_MSGPOOL(NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS);
        for (uint32_t k = 0; k < DEFAULT_CLASSES; k++) {
            void *message = NULL;
            NP_ASSERT_OK(np_msgpool_acquire(pool, default_sizes[k], &message, NULL));
            memset(message, 0x77, default_sizes[k]);
            if (k % 2 == 0) NP_ASSERT_OK(np_msgpool_release(pool, message)); /* the rest stay out */
        }
        NP_ASSERT_OK(np_msgpool_destroy(pool));
    }
    size_t resident_after = np_resident_bytes(), virtual_after = virtual_bytes();
    NP_ASSERT_MSG(resident_after <= resident_before + (8u << 20), "resident memory grew from %zu to %zu bytes over %d pools",
                  resident_before, resident_after, cycles);
    NP_ASSERT_MSG(virtual_after <= virtual_before + (1ULL << 30), "address space grew from %zu to %zu bytes over %d pools",
                  virtual_before, virtual_after, cycles);
}

/* Threads create, use and destroy their own message pools while all of them use a shared one. */
typedef struct m08_worker {
    np_msgpool shared;
    unsigned index, pools;
} m08_worker;

static void *m08_lifecycle_run(void *raw)
{
    m08_worker *me = raw;
    for (unsigned n = 0; n < me->pools; n++) {
        np_msgpool own = MAKE_MSGPOOL(8);
        void *mine = NULL, *shared = NULL;
        NP_ASSERT_OK(np_msgpool_acquire(own, 100 * n, &mine, NULL));
        NP_ASSERT_OK(np_msgpool_acquire(me->shared, 300, &shared, NULL));
        np_fill_pattern(shared, 300, NP_TAG(me->index, n, 1));
        NP_ASSERT_OK(np_msgpool_destroy(own)); /* with `mine` still out */
        NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_msgpool_release(own, mine));
        NP_ASSERT_PATTERN(shared, 300, NP_TAG(me->index, n, 1));
        NP_ASSERT_OK(np_msgpool_release(me->shared, shared));
    }
    return NULL;
}

static void m08_pools_created_and_destroyed_concurrently(void)
{
    enum { THREADS = 4 };
    np_msgpool shared = MAKE_MSGPOOL(NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS);
    m08_worker workers[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        workers[i].shared = shared;
        workers[i].index = i;
        workers[i].pools = NP_SIZE(100u, 1000u);
    }
    np_threads_run(THREADS, m08_lifecycle_run, workers, sizeof workers[0]);
    np_msgpool_stats s = MSG_STATS(shared);
    NP_ASSERT_EQ((unsigned long long)THREADS * workers[0].pools, s.acquisitions);
    NP_ASSERT_EQ(0, s.in_flight);
    DESTROY_MSGPOOL(shared);
}

static const np_test_case cases[] = {
    {"M01", "class_selection_at_every_boundary", m01_class_selection_at_every_boundary},
    {"M02", "foreign_threads_mixed_sizes_cross_thread_contents", m02_foreign_threads_mixed_sizes_cross_thread_contents},
    {"M02", "tight_retention_discards_and_regrows_under_threads", m02_tight_retention_discards_and_regrows_under_threads},
    {"M03", "retention_discards_and_returns_memory_of_a_large_class", m03_retention_discards_and_returns_memory_of_a_large_class},
    {"M03", "retention_holds_exactly_once_releasing_threads_exit", m03_retention_holds_exactly_once_releasing_threads_exit},
    {"M03", "retention_returns_whole_chunks_of_a_small_class", m03_retention_returns_whole_chunks_of_a_small_class},
    {"M04", "reserve_warms_up_a_class", m04_reserve_warms_up_a_class},
    {"M04", "reserve_after_chunks_were_given_back_holds_count", m04_reserve_after_chunks_were_given_back_holds_count},
    {"M05", "reuse_rate_above_99_percent_in_steady_state", m05_reuse_rate_above_99_percent_in_steady_state},
    {"M06", "totals_are_the_sums_of_the_classes_and_reset", m06_totals_are_the_sums_of_the_classes_and_reset},
    {"M07", "every_bad_call_returns_its_status_counts_and_detail", m07_every_bad_call_returns_its_status_counts_and_detail},
    {"M08", "destroy_with_messages_out_makes_the_handle_stale", m08_destroy_with_messages_out_makes_the_handle_stale},
    {"M08", "create_destroy_churn_returns_memory_and_address_space", m08_create_destroy_churn_returns_memory_and_address_space},
    {"M08", "pools_created_and_destroyed_concurrently", m08_pools_created_and_destroyed_concurrently},
};

const np_test_suite np_suite_message_pool = {"message_pool", cases, NP_COUNT_OF(cases)};
