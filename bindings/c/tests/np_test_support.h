/*
 * Helpers shared by the scenario tests: pools that assert their own creation, the invariants
 * every test ends with, block contents patterns, a thread-safe channel for cross-thread
 * hand-offs, a start gate, and resident memory. Plain C99 + POSIX, like np_test.h.
 */
#ifndef NP_TEST_SUPPORT_H
#define NP_TEST_SUPPORT_H

#include "np_test.h"

/* ------------------------------------------------------------------ pools */

np_pool np_make_pool_at(const char *file, int line, const np_pool_options *options);
np_pool np_make_preset_pool_at(const char *file, int line, int32_t preset);
np_pool np_make_sized_pool_at(const char *file, int line, uint64_t block_size, uint64_t max_blocks,
                              uint64_t growth_blocks, uint32_t flags);
np_pool_stats np_get_stats_at(const char *file, int line, np_pool pool);
np_pool_validation np_validate_at(const char *file, int line, np_pool pool);
void np_check_pool_at(const char *file, int line, np_pool pool);
void np_destroy_pool_at(const char *file, int line, np_pool pool);

/* Creates a pool from options, a preset, or a size (0 = default for the other fields). */
#define NP_MAKE_POOL(options) np_make_pool_at(__FILE__, __LINE__, (options))
#define NP_MAKE_PRESET_POOL(preset) np_make_preset_pool_at(__FILE__, __LINE__, (preset))
#define NP_MAKE_SIZED_POOL(block_size, max_blocks, growth_blocks, flags) \
    np_make_sized_pool_at(__FILE__, __LINE__, (block_size), (max_blocks), (growth_blocks), (flags))

/* The pool's stats; asserts the call succeeded. */
#define NP_STATS(pool) np_get_stats_at(__FILE__, __LINE__, (pool))

/* A quiescent validation: asserts NP_OK, no errors, and that the counts were checked. */
#define NP_VALIDATE(pool) np_validate_at(__FILE__, __LINE__, (pool))

/*
 * The invariants every test ends with, on a pool no other thread is using:
 * in_use = allocations - frees, created + reused = allocations, validate() == NP_OK with the
 * counts checked, and the validation's block counts agree with the stats.
 */
#define NP_CHECK_POOL(pool) np_check_pool_at(__FILE__, __LINE__, (pool))

/* NP_CHECK_POOL, then np_pool_destroy() == NP_OK. */
#define NP_DESTROY_POOL(pool) np_destroy_pool_at(__FILE__, __LINE__, (pool))

/* ------------------------------------------------------------------ block contents */

/* Fills a block with a pattern unique to `tag` (every 8-byte word differs). */
void np_fill_pattern(void *block, size_t size, uint64_t tag);

/* Offset of the first byte that differs from the pattern of `tag`, or `size` when intact. */
size_t np_pattern_mismatch(const void *block, size_t size, uint64_t tag);

/* Offset of the first byte that is not `value`, or `size` when all are. */
size_t np_bytes_mismatch(const void *block, size_t size, unsigned char value);

#define NP_ASSERT_PATTERN(block, size, tag)                                                       \
    do {                                                                                          \
        size_t np_size_ = (size);                                                                 \
        size_t np_at_ = np_pattern_mismatch((block), np_size_, (tag));                            \
        if (np_at_ != np_size_)                                                                   \
            np_test_fail(__FILE__, __LINE__, "block %p (tag %llx) differs from its pattern at byte %zu of %zu", \
                         (const void *)(block), (unsigned long long)(tag), np_at_, np_size_);     \
    } while (0)

#define NP_ASSERT_ALL_BYTES(block, size, value)                                                   \
    do {                                                                                          \
        size_t np_size_ = (size);                                                                 \
        size_t np_at_ = np_bytes_mismatch((block), np_size_, (unsigned char)(value));             \
        if (np_at_ != np_size_)                                                                   \
            np_test_fail(__FILE__, __LINE__, "block %p byte %zu of %zu is 0x%02x, expected 0x%02x", \
                         (const void *)(block), np_at_, np_size_,                                 \
                         ((const unsigned char *)(block))[np_at_], (unsigned)(unsigned char)(value)); \
    } while (0)

/* A tag that names who wrote a block: thread, round and slot. */
#define NP_TAG(thread, round, slot) \
    ((((uint64_t)(thread) & 0xFFFFu) << 48) | (((uint64_t)(round) & 0xFFFFFFu) << 24) | ((uint64_t)(slot) & 0xFFFFFFu))

/* ------------------------------------------------------------------ cross-thread channel */

/* One block handed from the thread that wrote it to the thread that checks and frees it. */
typedef struct np_message {
    np_pool pool;
    void *block;
    size_t size;
    uint64_t tag;
} np_message;

/*
 * A multi-producer multi-consumer queue. Unbounded by default: senders never block, so rings of
 * threads cannot deadlock. With a limit, senders wait while `limit` messages are queued.
 */
typedef struct np_channel {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    np_message *items;
    size_t capacity, head, count, limit;
    int closed;
} np_channel;

void np_channel_init(np_channel *channel);
void np_channel_init_bounded(np_channel *channel, size_t limit);
void np_channel_destroy(np_channel *channel);
void np_channel_send(np_channel *channel, const np_message *message);
/* No more sends will come: receivers waiting on an empty channel return 0. */
void np_channel_close(np_channel *channel);
/* 1 and a message, or 0 when empty (wait == 0) or closed and empty (wait != 0). Ends the thread if the test failed. */
int np_channel_receive(np_channel *channel, np_message *message, int wait);

/* ------------------------------------------------------------------ start gate */

/* Holds threads until `parties` have arrived, so they really run at the same time. */
typedef struct np_gate {
    pthread_mutex_t lock;
    pthread_cond_t opened;
    unsigned parties, arrived;
} np_gate;

void np_gate_init(np_gate *gate, unsigned parties);
void np_gate_destroy(np_gate *gate);
/* Waits for the others; ends the thread if the test failed meanwhile. */
void np_gate_wait(np_gate *gate);

/* ------------------------------------------------------------------ pointers */

/* Sorts pointers by address. */
void np_sort_pointers(void **pointers, size_t count);

/*
 * A block start of `pool` near `near` that np_pool_owns() calls free and that is none of the
 * `handed_out` blocks: in a pool whose every allocation the caller knows, a block never handed out.
 */
void *np_block_never_handed_out(np_pool pool, const void *near, void *const *handed_out, size_t count);

/* ------------------------------------------------------------------ misc */

/* Resident set size of this process, from /proc/self/statm. */
size_t np_resident_bytes(void);

/* The OS page size. */
size_t np_page_size(void);

/* xorshift64*: a deterministic generator for reproducible "random" schedules. */
static inline uint64_t np_random_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* A value in [0, bound). */
static inline uint64_t np_random_below(uint64_t *state, uint64_t bound)
{
    return np_random_next(state) % bound;
}

#endif /* NP_TEST_SUPPORT_H */
