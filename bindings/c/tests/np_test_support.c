/* Shared helpers of the scenario tests; see np_test_support.h. */
#include "np_test_support.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ pools */

np_pool np_make_pool_at(const char *file, int line, const np_pool_options *options)
{
    np_pool pool = 0;
    np_status status = np_pool_create(options, &pool);
    if (status != NP_OK) np_test_fail_status(file, line, "np_pool_create(options, &pool)", NP_OK, status);
    if (pool == 0) np_test_fail(file, line, "np_pool_create returned NP_OK and handle 0");
    return pool;
}

np_pool np_make_preset_pool_at(const char *file, int line, int32_t preset)
{
    np_pool_options options;
    np_status status = np_pool_options_preset(&options, preset);
    if (status != NP_OK) np_test_fail_status(file, line, "np_pool_options_preset(&options, preset)", NP_OK, status);
    return np_make_pool_at(file, line, &options);
}

np_pool np_make_sized_pool_at(const char *file, int line, uint64_t block_size, uint64_t max_blocks,
                              uint64_t growth_blocks, uint32_t flags)
{
    np_pool_options options;
    np_status status = np_pool_options_init(&options);
    if (status != NP_OK) np_test_fail_status(file, line, "np_pool_options_init(&options)", NP_OK, status);
    options.block_size = block_size;
    options.max_blocks = max_blocks;
    options.growth_blocks = growth_blocks;
    options.flags = flags;
    return np_make_pool_at(file, line, &options);
}

np_pool_stats np_get_stats_at(const char *file, int line, np_pool pool)
{
    np_pool_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    np_status status = np_pool_get_stats(pool, &stats);
    if (status != NP_OK) np_test_fail_status(file, line, "np_pool_get_stats(pool, &stats)", NP_OK, status);
    return stats;
}

np_pool_validation np_validate_at(const char *file, int line, np_pool pool)
{
    np_pool_validation report;
    memset(&report, 0, sizeof report);
    report.struct_size = sizeof report;
    np_status status = np_pool_validate(pool, &report);
    if (status != NP_OK) np_test_fail_status(file, line, "np_pool_validate(pool, &report)", NP_OK, status);
    if (report.errors != 0) np_test_fail(file, line, "validate returned NP_OK with %llu errors", (unsigned long long)report.errors);
    if (report.counts_checked != 1)
        np_test_fail(file, line, "validate on a quiescent pool did not check counts (counts_checked = %u)",
                     (unsigned)report.counts_checked);
    return report;
}

#define CHECK_AT(condition, ...)                                  \
    do {                                                          \
        if (!(condition)) np_test_fail(file, line, __VA_ARGS__); \
    } while (0)

void np_check_pool_at(const char *file, int line, np_pool pool)
{
    np_pool_stats s = np_get_stats_at(file, line, pool);
    CHECK_AT(s.in_use == s.allocations - s.frees, "in_use %llu != allocations %llu - frees %llu",
             (unsigned long long)s.in_use, (unsigned long long)s.allocations, (unsigned long long)s.frees);
    CHECK_AT(s.created + s.reused == s.allocations, "created %llu + reused %llu != allocations %llu",
             (unsigned long long)s.created, (unsigned long long)s.reused, (unsigned long long)s.allocations);
    CHECK_AT(s.in_use <= s.capacity, "in_use %llu > capacity %llu", (unsigned long long)s.in_use,
             (unsigned long long)s.capacity);
    CHECK_AT(s.peak_in_use >= s.in_use, "peak_in_use %llu < in_use %llu", (unsigned long long)s.peak_in_use,
             (unsigned long long)s.in_use);
    CHECK_AT(s.bytes_reserved == s.capacity * s.block_stride, "bytes_reserved %llu != capacity %llu * stride %llu",
             (unsigned long long)s.bytes_reserved, (unsigned long long)s.capacity, (unsigned long long)s.block_stride);
    double expected_rate = s.allocations == 0 ? 0.0 : (double)s.reused / (double)s.allocations;
    CHECK_AT(fabs(s.reuse_rate - expected_rate) < 1e-9, "reuse_rate %.6f != reused / allocations %.6f",
             s.reuse_rate, expected_rate);

    np_pool_validation v = np_validate_at(file, line, pool);
    CHECK_AT(v.allocated == s.in_use, "validate counts %llu allocated blocks, stats say %llu in use",
             (unsigned long long)v.allocated, (unsigned long long)s.in_use);
    CHECK_AT(v.free == v.free_listed, "validate counts %llu free blocks but %llu on the free list",
             (unsigned long long)v.free, (unsigned long long)v.free_listed);
    CHECK_AT(v.allocated + v.free == s.capacity, "validate counts %llu + %llu blocks, capacity is %llu",
             (unsigned long long)v.allocated, (unsigned long long)v.free, (unsigned long long)s.capacity);
}

void np_destroy_pool_at(const char *file, int line, np_pool pool)
{
    np_check_pool_at(file, line, pool);
    np_status status = np_pool_destroy(pool);
    if (status != NP_OK) np_test_fail_status(file, line, "np_pool_destroy(pool)", NP_OK, status);
}

/* ------------------------------------------------------------------ block contents */

/* Word k of the pattern of `tag`: distinct for every (tag, k) within a block. */
static uint64_t pattern_word(uint64_t tag, size_t k)
{
    return (tag * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)k * 0xD6E8FEB86659FD93ULL) ^ 0x5851F42D4C957F2DULL;
}

void np_fill_pattern(void *block, size_t size, uint64_t tag)
{
    unsigned char *bytes = block;
    size_t words = size / 8;
    for (size_t k = 0; k < words; k++) {
        uint64_t word = pattern_word(tag, k);
        memcpy(bytes + k * 8, &word, 8);
    }
    uint64_t tail = pattern_word(tag, words);
    memcpy(bytes + words * 8, &tail, size - words * 8);
}

size_t np_pattern_mismatch(const void *block, size_t size, uint64_t tag)
{
    const unsigned char *bytes = block;
    size_t words = size / 8;
    for (size_t k = 0; k < words; k++) {
        uint64_t word;
        memcpy(&word, bytes + k * 8, 8);
        if (word != pattern_word(tag, k)) {
            uint64_t expected = pattern_word(tag, k);
            for (size_t b = 0; b < 8; b++)
                if (bytes[k * 8 + b] != ((const unsigned char *)&expected)[b]) return k * 8 + b;
        }
    }
    uint64_t tail = pattern_word(tag, words);
    for (size_t b = 0; b < size - words * 8; b++)
        if (bytes[words * 8 + b] != ((const unsigned char *)&tail)[b]) return words * 8 + b;
    return size;
}

size_t np_bytes_mismatch(const void *block, size_t size, unsigned char value)
{
    const unsigned char *bytes = block;
    for (size_t i = 0; i < size; i++)
        if (bytes[i] != value) return i;
    return size;
}

/* ------------------------------------------------------------------ channel */

/* Waits on a condition for at most 20 ms, so waiters notice a failed test. */
static void wait_briefly(pthread_cond_t *condition, pthread_mutex_t *lock)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 20 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(condition, lock, &until);
}

void np_channel_init(np_channel *channel) { np_channel_init_bounded(channel, 0); }

void np_channel_init_bounded(np_channel *channel, size_t limit)
{
    memset(channel, 0, sizeof *channel);
    pthread_mutex_init(&channel->lock, NULL);
    pthread_cond_init(&channel->not_empty, NULL);
    pthread_cond_init(&channel->not_full, NULL);
    channel->limit = limit;
}

void np_channel_destroy(np_channel *channel)
{
    pthread_mutex_destroy(&channel->lock);
    pthread_cond_destroy(&channel->not_empty);
    pthread_cond_destroy(&channel->not_full);
    free(channel->items);
    channel->items = NULL;
}

void np_channel_send(np_channel *channel, const np_message *message)
{
    pthread_mutex_lock(&channel->lock);
    while (channel->limit != 0 && channel->count >= channel->limit) {
        if (np_test_failed()) {
            pthread_mutex_unlock(&channel->lock);
            np_test_stop_if_failed();
        }
        wait_briefly(&channel->not_full, &channel->lock);
    }
    if (channel->count == channel->capacity) {
        size_t capacity = channel->capacity ? channel->capacity * 2 : 64;
        np_message *items = malloc(capacity * sizeof *items);
        if (items == NULL) {
            pthread_mutex_unlock(&channel->lock);
            np_test_fail(__FILE__, __LINE__, "out of memory growing a channel to %zu messages", capacity);
        }
        for (size_t i = 0; i < channel->count; i++) items[i] = channel->items[(channel->head + i) % channel->capacity];
        free(channel->items);
        channel->items = items;
        channel->capacity = capacity;
        channel->head = 0;
    }
    channel->items[(channel->head + channel->count) % channel->capacity] = *message;
    channel->count++;
    pthread_cond_signal(&channel->not_empty);
    pthread_mutex_unlock(&channel->lock);
}

void np_channel_close(np_channel *channel)
{
    pthread_mutex_lock(&channel->lock);
    channel->closed = 1;
    pthread_cond_broadcast(&channel->not_empty);
    pthread_mutex_unlock(&channel->lock);
}

int np_channel_receive(np_channel *channel, np_message *message, int wait)
{
    pthread_mutex_lock(&channel->lock);
    while (channel->count == 0) {
        if (!wait || channel->closed) {
            pthread_mutex_unlock(&channel->lock);
            return 0;
        }
        if (np_test_failed()) {
            pthread_mutex_unlock(&channel->lock);
            np_test_stop_if_failed();
        }
        wait_briefly(&channel->not_empty, &channel->lock);
    }
    *message = channel->items[channel->head];
    channel->head = (channel->head + 1) % channel->capacity;
    channel->count--;
    if (channel->limit != 0) pthread_cond_signal(&channel->not_full);
    pthread_mutex_unlock(&channel->lock);
    return 1;
}

/* ------------------------------------------------------------------ gate */

void np_gate_init(np_gate *gate, unsigned parties)
{
    pthread_mutex_init(&gate->lock, NULL);
    pthread_cond_init(&gate->opened, NULL);
    gate->parties = parties;
    gate->arrived = 0;
}

void np_gate_destroy(np_gate *gate)
{
    pthread_mutex_destroy(&gate->lock);
    pthread_cond_destroy(&gate->opened);
}

void np_gate_wait(np_gate *gate)
{
    pthread_mutex_lock(&gate->lock);
    gate->arrived++;
    if (gate->arrived >= gate->parties) pthread_cond_broadcast(&gate->opened);
    while (gate->arrived < gate->parties) {
        if (np_test_failed()) {
            pthread_mutex_unlock(&gate->lock);
            np_test_stop_if_failed();
        }
        wait_briefly(&gate->opened, &gate->lock);
    }
    pthread_mutex_unlock(&gate->lock);
}

/* ------------------------------------------------------------------ pointers */

static int compare_pointers(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
    return (x > y) - (x < y);
}

void np_sort_pointers(void **pointers, size_t count) { qsort(pointers, count, sizeof *pointers, compare_pointers); }

void *np_block_never_handed_out(np_pool pool, const void *near, void *const *handed_out, size_t count)
{
    np_pool_stats stats = NP_STATS(pool);
    const char *origin = near;
    for (uint64_t distance = 1; distance <= stats.capacity; distance++) {
        for (int direction = -1; direction <= 1; direction += 2) {
            const char *candidate = origin + direction * (ptrdiff_t)(distance * stats.block_stride);
            int32_t owned = -1;
            int known = 0;
            NP_ASSERT_OK(np_pool_owns(pool, candidate, &owned));
            for (size_t i = 0; i < count; i++) known |= handed_out[i] == candidate;
            if (owned == NP_BLOCK_FREE && !known) return (void *)candidate;
        }
    }
    np_test_fail(__FILE__, __LINE__, "no free block near %p in a pool of capacity %llu", near,
                 (unsigned long long)stats.capacity);
}

/* ------------------------------------------------------------------ misc */

#if defined(__APPLE__)
#include <mach/mach.h>

size_t np_resident_bytes(void)
{
    mach_task_basic_info_data_t info;
    mach_msg_type_number_t count = MACH_TASK_BASIC_INFO_COUNT;
    kern_return_t result = task_info(mach_task_self(), MACH_TASK_BASIC_INFO, (task_info_t)&info, &count);
    NP_ASSERT_MSG(result == KERN_SUCCESS, "task_info failed (%d)", (int)result);
    return (size_t)info.resident_size;
}
#else
size_t np_resident_bytes(void)
{
    FILE *statm = fopen("/proc/self/statm", "r");
    unsigned long long total_pages = 0, resident_pages = 0;
    NP_ASSERT_MSG(statm != NULL, "cannot open /proc/self/statm (errno %d)", errno);
    int fields = fscanf(statm, "%llu %llu", &total_pages, &resident_pages);
    fclose(statm);
    NP_ASSERT_EQ(2, fields);
    return (size_t)resident_pages * np_page_size();
}
#endif

size_t np_page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }
