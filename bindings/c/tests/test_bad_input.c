/*
 * S16: bad input. A table of wrong calls, each with the status it must return and the stats
 * counter it must bump (if any). Every row also checks the status's name and message and the
 * calling thread's detail message; afterwards every pool still validates.
 *
 * Built as C99 (see the Makefile): it proves the generated header works in C99.
 */
#include "np_test_support.h"

#include <stdio.h>
#include <stdlib.h>

/* What the rows work on. */
typedef struct fixture {
    np_pool pool;        /* small preset: 264-byte blocks, 8-byte aligned */
    np_pool other;       /* another pool, to get a block that is foreign to `pool` */
    np_pool tiny;        /* max_blocks = 1, its one block in use: exhausted */
    np_pool poisoned;    /* poison-on-free, with a block written after its free */
    np_pool stale;       /* created, then destroyed */
    np_pool aligned;     /* 100-byte blocks aligned to 64: stride 128 */
    void *block;         /* allocated in pool */
    void *freed;         /* allocated in pool, then freed */
    void *never_given;   /* a block of pool's first chunk that was never handed out */
    void *other_block;   /* allocated in other */
    void *tiny_block;    /* the one block of tiny */
    void *aligned_block; /* allocated in aligned */
    void *poisoned_block; /* freed in poisoned, then written */
    void *heap;          /* malloc memory */
    double on_stack;     /* a stack variable */
    np_pool_options options;
} fixture;

enum counter { COUNTS_NOTHING, COUNTS_DOUBLE_FREE, COUNTS_FOREIGN_FREE, COUNTS_INVALID_FREE, COUNTS_FAILED_ALLOCATION };

typedef struct bad_call {
    const char *what;
    np_status (*call)(fixture *f);
    np_status expected;
    const char *expected_name;
    enum counter counts;
} bad_call;

/* ------------------------------------------------------------------ the calls */

static np_status options_init_null(fixture *f) { (void)f; return np_pool_options_init(NULL); }
static np_status options_preset_null(fixture *f) { (void)f; return np_pool_options_preset(NULL, NP_POOL_PRESET_SMALL); }
static np_status options_preset_zero(fixture *f) { return np_pool_options_preset(&f->options, 0); }
static np_status options_preset_four(fixture *f) { return np_pool_options_preset(&f->options, 4); }
static np_status options_preset_negative(fixture *f) { return np_pool_options_preset(&f->options, -1); }

/* Creates with options changed by `adjust`; a failed create must also leave the handle 0. */
static np_status create_with(fixture *f, void (*adjust)(np_pool_options *))
{
    np_pool_options options;
    np_pool pool = 12345;
    np_pool_options_init(&options);
    options.block_size = 64;
    adjust(&options);
    np_status status = np_pool_create(&options, &pool);
    if (status != NP_OK) NP_ASSERT_EQ(0, pool);
    else np_pool_destroy(pool);
    (void)f;
    return status;
}

static void size_zero(np_pool_options *o) { o->struct_size = 0; }
static void size_short(np_pool_options *o) { o->struct_size = sizeof *o - 8; }
static void size_long(np_pool_options *o) { o->struct_size = sizeof *o + 8; }
static void block_zero(np_pool_options *o) { o->block_size = 0; }
static void block_too_big(np_pool_options *o) { o->block_size = NP_POOL_MAX_BLOCK_SIZE + 1; }
static void alignment_three(np_pool_options *o) { o->alignment = 3; }
static void alignment_8192(np_pool_options *o) { o->alignment = 8192; }
static void initial_over_max(np_pool_options *o) { o->initial_blocks = 10; o->max_blocks = 5; }
/* The lowest bit no NP_POOL_* flag uses. */
static void flag_unknown_low(np_pool_options *o) { o->flags = 8; }
static void flag_high(np_pool_options *o) { o->flags = 0x80000000u; }
/* 2^31 - 2 blocks of 16 MiB is 32 PiB of address space: more than any process can reserve. */
static void address_space_too_big(np_pool_options *o) { o->block_size = NP_POOL_MAX_BLOCK_SIZE; o->max_blocks = 2147483646ULL; }

static np_status create_null_options(fixture *f) { np_pool pool = 1; (void)f; np_status s = np_pool_create(NULL, &pool); NP_ASSERT_EQ(0, pool); return s; }
static np_status create_null_out(fixture *f) { return np_pool_create(&f->options, NULL); }
static np_status create_size_zero(fixture *f) { return create_with(f, size_zero); }
static np_status create_size_short(fixture *f) { return create_with(f, size_short); }
static np_status create_size_long(fixture *f) { return create_with(f, size_long); }
static np_status create_block_zero(fixture *f) { return create_with(f, block_zero); }
static np_status create_block_too_big(fixture *f) { return create_with(f, block_too_big); }
static np_status create_alignment_three(fixture *f) { return create_with(f, alignment_three); }
static np_status create_alignment_8192(fixture *f) { return create_with(f, alignment_8192); }
static np_status create_initial_over_max(fixture *f) { return create_with(f, initial_over_max); }
static np_status create_flag_unknown_low(fixture *f) { return create_with(f, flag_unknown_low); }
static np_status create_flag_high(fixture *f) { return create_with(f, flag_high); }
static np_status create_address_space_too_big(fixture *f) { return create_with(f, address_space_too_big); }

#define GARBAGE_HANDLE 0xDEADBEEFCAFEF00DULL

/* Allocation failures must also leave the out-pointer NULL. */
static np_status alloc_from(np_pool pool)
{
    void *block = (void *)&block;
    np_status status = np_pool_alloc(pool, &block);
    NP_ASSERT_PTR_EQ(NULL, block);
    return status;
}

static np_status alloc_null_out(fixture *f) { return np_pool_alloc(f->pool, NULL); }
static np_status alloc_handle_zero(fixture *f) { (void)f; return alloc_from(0); }
static np_status alloc_handle_garbage(fixture *f) { (void)f; return alloc_from(GARBAGE_HANDLE); }
static np_status alloc_handle_wrong_generation(fixture *f) { return alloc_from(f->pool ^ (1ULL << 40)); }
static np_status alloc_handle_stale(fixture *f) { return alloc_from(f->stale); }
static np_status alloc_exhausted(fixture *f) { return alloc_from(f->tiny); }

static np_status free_handle_zero(fixture *f) { return np_pool_free(0, f->block); }
static np_status free_handle_garbage(fixture *f) { return np_pool_free(GARBAGE_HANDLE, f->block); }
static np_status free_handle_stale(fixture *f) { return np_pool_free(f->stale, f->block); }
static np_status free_null(fixture *f) { return np_pool_free(f->pool, NULL); }
static np_status free_twice(fixture *f) { return np_pool_free(f->pool, f->freed); }
static np_status free_never_given(fixture *f) { return np_pool_free(f->pool, f->never_given); }
static np_status free_stack(fixture *f) { return np_pool_free(f->pool, &f->on_stack); }
static np_status free_heap(fixture *f) { return np_pool_free(f->pool, f->heap); }
static np_status free_other_pools_block(fixture *f) { return np_pool_free(f->pool, f->other_block); }
static np_status free_interior(fixture *f) { return np_pool_free(f->pool, (char *)f->block + 8); }
static np_status free_misaligned(fixture *f) { return np_pool_free(f->pool, (char *)f->block + 1); }
/* With 64-byte alignment, +64 is aligned but inside the 128-byte stride; +32 is not aligned. */
static np_status free_aligned_interior(fixture *f) { return np_pool_free(f->aligned, (char *)f->aligned_block + 64); }
static np_status free_aligned_misaligned(fixture *f) { return np_pool_free(f->aligned, (char *)f->aligned_block + 32); }

static np_status stats_with_size(fixture *f, uint32_t size)
{
    np_pool_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = size;
    return np_pool_get_stats(f->pool, &stats);
}
static np_status stats_null(fixture *f) { return np_pool_get_stats(f->pool, NULL); }
static np_status stats_size_zero(fixture *f) { return stats_with_size(f, 0); }
static np_status stats_size_short(fixture *f) { return stats_with_size(f, sizeof(np_pool_stats) - 8); }
static np_status stats_handle_stale(fixture *f)
{
    np_pool_stats stats;
    memset(&stats, 0, sizeof stats);
    stats.struct_size = sizeof stats;
    return np_pool_get_stats(f->stale, &stats);
}

static np_status validate_size_wrong(fixture *f)
{
    np_pool_validation report;
    memset(&report, 0, sizeof report);
    report.struct_size = sizeof report + 8;
    return np_pool_validate(f->pool, &report);
}
static np_status validate_handle_zero(fixture *f) { (void)f; return np_pool_validate(0, NULL); }
static np_status validate_poison_overwritten(fixture *f) { return np_pool_validate(f->poisoned, NULL); }

static np_status owns_null_result(fixture *f) { return np_pool_owns(f->pool, f->block, NULL); }
static np_status owns_handle_stale(fixture *f) { int32_t r; return np_pool_owns(f->stale, f->block, &r); }

static np_status alloc_batch_null_count(fixture *f) { void *b[2]; return np_pool_alloc_batch(f->pool, b, 2, NULL); }
static np_status alloc_batch_null_blocks(fixture *f) { size_t n; return np_pool_alloc_batch(f->pool, NULL, 2, &n); }
static np_status alloc_batch_handle_stale(fixture *f) { void *b[2]; size_t n; return np_pool_alloc_batch(f->stale, b, 2, &n); }
static np_status free_batch_null_blocks(fixture *f) { size_t n; return np_pool_free_batch(f->pool, NULL, 2, &n); }
static np_status free_batch_handle_stale(fixture *f) { size_t n; return np_pool_free_batch(f->stale, (void *const *)&f->block, 1, &n); }

static np_status reserve_beyond_max(fixture *f) { return np_pool_reserve(f->tiny, 2); }
static np_status reserve_handle_stale(fixture *f) { return np_pool_reserve(f->stale, 1); }
static np_status trim_handle_stale(fixture *f) { return np_pool_trim(f->stale, NULL); }
static np_status reset_handle_stale(fixture *f) { return np_pool_reset_stats(f->stale); }
static np_status destroy_handle_stale(fixture *f) { return np_pool_destroy(f->stale); }
static np_status destroy_handle_garbage(fixture *f) { (void)f; return np_pool_destroy(GARBAGE_HANDLE); }

#define ROW(what, call, status, counts) {what, call, status, #status, counts}

static const bad_call table[] = {
    ROW("options_init(NULL)", options_init_null, NP_E_NULL_POINTER, COUNTS_NOTHING),
    ROW("options_preset(NULL, SMALL)", options_preset_null, NP_E_NULL_POINTER, COUNTS_NOTHING),
    ROW("options_preset(preset 0)", options_preset_zero, NP_E_INVALID_ARGUMENT, COUNTS_NOTHING),
    ROW("options_preset(preset 4)", options_preset_four, NP_E_INVALID_ARGUMENT, COUNTS_NOTHING),
    ROW("options_preset(preset -1)", options_preset_negative, NP_E_INVALID_ARGUMENT, COUNTS_NOTHING),
    ROW("create(NULL options)", create_null_options, NP_E_NULL_POINTER, COUNTS_NOTHING),
    ROW("create(NULL out handle)", create_null_out, NP_E_NULL_POINTER, COUNTS_NOTHING),
    ROW("create(struct_size 0)", create_size_zero, NP_E_UNSUPPORTED_STRUCT_SIZE, COUNTS_NOTHING),
    ROW("create(struct_size - 8)", create_size_short, NP_E_UNSUPPORTED_STRUCT_SIZE, COUNTS_NOTHING),
    ROW("create(struct_size + 8)", create_size_long, NP_E_UNSUPPORTED_STRUCT_SIZE, COUNTS_NOTHING),
    ROW("create(block_size 0)", create_block_zero, NP_E_INVALID_ARGUMENT, COUNTS_NOTHING),
    ROW("create(block_size 16 MiB + 1)", create_block_too_big, NP_E_INVALID_ARGUMENT, COUNTS_NOTHING),
    ROW("create(alignment 3)", create_alignment_three, NP_E_INVALID_ARGUMENT, COUNTS_NOTHING),
    ROW("create(alignment 8192)", create_alignment_8192, NP_E_INVALID_ARGUMENT, COUNTS_NOTHING),
    ROW("create(initial 10 > max 5)", create_initial_over_max, NP_E_INVALID_ARGUMENT, COUNTS_NOTHING),
    ROW("create(unknown flag 8)", create_flag_unknown_low, NP_E_INVALID_ARGUMENT, COUNTS_NOTHING),
    ROW("create(unknown flag 0x80000000)", create_flag_high, NP_E_INVALID_ARGUMENT, COUNTS_NOTHING),
    ROW("create(32 PiB of address space)", create_address_space_too_big, NP_E_OUT_OF_MEMORY, COUNTS_NOTHING),
    ROW("alloc(NULL out block)", alloc_null_out, NP_E_NULL_POINTER, COUNTS_NOTHING),
    ROW("alloc(handle 0)", alloc_handle_zero, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
    ROW("alloc(garbage handle)", alloc_handle_garbage, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
    ROW("alloc(handle with a wrong generation)", alloc_handle_wrong_generation, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
    ROW("alloc(destroyed pool)", alloc_handle_stale, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
    ROW("alloc(exhausted pool)", alloc_exhausted, NP_E_POOL_EXHAUSTED, COUNTS_FAILED_ALLOCATION),
    ROW("free(handle 0)", free_handle_zero, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
    ROW("free(garbage handle)", free_handle_garbage, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
    ROW("free(destroyed pool)", free_handle_stale, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
    ROW("free(NULL)", free_null, NP_E_NULL_POINTER, COUNTS_NOTHING),
    ROW("free(freed block)", free_twice, NP_E_DOUBLE_FREE, COUNTS_DOUBLE_FREE),
    ROW("free(block never handed out)", free_never_given, NP_E_DOUBLE_FREE, COUNTS_DOUBLE_FREE),
    ROW("free(stack memory)", free_stack, NP_E_FOREIGN_POINTER, COUNTS_FOREIGN_FREE),
    ROW("free(heap memory)", free_heap, NP_E_FOREIGN_POINTER, COUNTS_FOREIGN_FREE),
    ROW("free(another pool's block)", free_other_pools_block, NP_E_FOREIGN_POINTER, COUNTS_FOREIGN_FREE),
    ROW("free(block + 8)", free_interior, NP_E_INTERIOR_POINTER, COUNTS_INVALID_FREE),
    ROW("free(block + 1)", free_misaligned, NP_E_MISALIGNED_POINTER, COUNTS_INVALID_FREE),
    ROW("free(64-aligned block + 64)", free_aligned_interior, NP_E_INTERIOR_POINTER, COUNTS_INVALID_FREE),
    ROW("free(64-aligned block + 32)", free_aligned_misaligned, NP_E_MISALIGNED_POINTER, COUNTS_INVALID_FREE),
    ROW("get_stats(NULL)", stats_null, NP_E_NULL_POINTER, COUNTS_NOTHING),
    ROW("get_stats(struct_size 0)", stats_size_zero, NP_E_UNSUPPORTED_STRUCT_SIZE, COUNTS_NOTHING),
    ROW("get_stats(struct_size - 8)", stats_size_short, NP_E_UNSUPPORTED_STRUCT_SIZE, COUNTS_NOTHING),
    ROW("get_stats(destroyed pool)", stats_handle_stale, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
    ROW("validate(struct_size + 8)", validate_size_wrong, NP_E_UNSUPPORTED_STRUCT_SIZE, COUNTS_NOTHING),
    ROW("validate(handle 0)", validate_handle_zero, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
    ROW("validate(poison overwritten)", validate_poison_overwritten, NP_E_CORRUPTED, COUNTS_NOTHING),
    ROW("owns(NULL result)", owns_null_result, NP_E_NULL_POINTER, COUNTS_NOTHING),
    ROW("owns(destroyed pool)", owns_handle_stale, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
    ROW("alloc_batch(NULL allocated)", alloc_batch_null_count, NP_E_NULL_POINTER, COUNTS_NOTHING),
    ROW("alloc_batch(NULL blocks, count 2)", alloc_batch_null_blocks, NP_E_NULL_POINTER, COUNTS_NOTHING),
    ROW("alloc_batch(destroyed pool)", alloc_batch_handle_stale, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
    ROW("free_batch(NULL blocks, count 2)", free_batch_null_blocks, NP_E_NULL_POINTER, COUNTS_NOTHING),
    ROW("free_batch(destroyed pool)", free_batch_handle_stale, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
    ROW("reserve(beyond max_blocks)", reserve_beyond_max, NP_E_POOL_EXHAUSTED, COUNTS_NOTHING),
    ROW("reserve(destroyed pool)", reserve_handle_stale, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
    ROW("trim(destroyed pool)", trim_handle_stale, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
    ROW("reset_stats(destroyed pool)", reset_handle_stale, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
    ROW("destroy(destroyed pool)", destroy_handle_stale, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
    ROW("destroy(garbage handle)", destroy_handle_garbage, NP_E_INVALID_HANDLE, COUNTS_NOTHING),
};

/* ------------------------------------------------------------------ running the table */

/* The four counters a wrong call may bump, summed over the fixture's live pools. */
static void read_counters(const fixture *f, unsigned long long counts[5])
{
    np_pool pools[5];
    size_t i;
    pools[0] = f->pool;
    pools[1] = f->other;
    pools[2] = f->tiny;
    pools[3] = f->poisoned;
    pools[4] = f->aligned;
    memset(counts, 0, 5 * sizeof counts[0]);
    for (i = 0; i < 5; i++) {
        np_pool_stats s = NP_STATS(pools[i]);
        counts[COUNTS_DOUBLE_FREE] += s.double_frees;
        counts[COUNTS_FOREIGN_FREE] += s.foreign_frees;
        counts[COUNTS_INVALID_FREE] += s.invalid_frees;
        counts[COUNTS_FAILED_ALLOCATION] += s.failed_allocations;
    }
}

static void setup(fixture *f)
{
    void *handed_out[2];
    memset(f, 0, sizeof *f);
    NP_ASSERT_OK(np_pool_options_preset(&f->options, NP_POOL_PRESET_SMALL));
    f->pool = NP_MAKE_POOL(&f->options);
    f->other = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    f->tiny = NP_MAKE_SIZED_POOL(64, 1, 0, 0);
    f->poisoned = NP_MAKE_SIZED_POOL(64, 0, 0, NP_POOL_POISON_ON_FREE);
    f->stale = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    NP_ASSERT_OK(np_pool_destroy(f->stale));
    NP_ASSERT_OK(np_pool_options_init(&f->options));
    f->options.block_size = 100;
    f->options.alignment = 64;
    f->aligned = NP_MAKE_POOL(&f->options);
    NP_ASSERT_OK(np_pool_alloc(f->aligned, &f->aligned_block));
    NP_ASSERT_EQ(128, NP_STATS(f->aligned).block_stride);
    NP_ASSERT_EQ(0, (uintptr_t)f->aligned_block % 64);
    NP_ASSERT_OK(np_pool_options_preset(&f->options, NP_POOL_PRESET_SMALL));

    NP_ASSERT_OK(np_pool_alloc(f->pool, &f->block));
    NP_ASSERT_OK(np_pool_alloc(f->pool, &f->freed));
    NP_ASSERT_OK(np_pool_free(f->pool, f->freed));
    handed_out[0] = f->block;
    handed_out[1] = f->freed;
    f->never_given = np_block_never_handed_out(f->pool, f->block, handed_out, 2);
    NP_ASSERT_OK(np_pool_alloc(f->other, &f->other_block));
    NP_ASSERT_OK(np_pool_alloc(f->tiny, &f->tiny_block));
    NP_ASSERT_OK(np_pool_alloc(f->poisoned, &f->poisoned_block));
    NP_ASSERT_OK(np_pool_free(f->poisoned, f->poisoned_block));
    memset(f->poisoned_block, 0x11, 8); /* a write after free: what poison mode exists to catch */
    f->heap = malloc(264);
    NP_ASSERT_NOT_NULL(f->heap);
}

static void check_row(fixture *f, const bad_call *row, unsigned long long expected_counts[5])
{
    unsigned long long before[5], after[5];
    char detail[512], clipped[8];
    size_t length;
    int c;

    read_counters(f, before);
    np_status status = row->call(f);
    NP_ASSERT_MSG(status == row->expected, "%s returned %s (%d), expected %s", row->what, np_status_name(status),
                  (int)status, row->expected_name);
    NP_ASSERT_STR_EQ(row->expected_name, np_status_name(status));
    NP_ASSERT(strlen(np_status_message(status)) > 0);
    NP_ASSERT_MSG(strcmp(np_status_message(status), np_status_message(-1000)) != 0,
                  "%s has the unknown-status message", row->expected_name);

    /* The calling thread's detail for this failure, complete and clipped like snprintf. */
    NP_ASSERT_STATUS(row->expected, np_last_error_status());
    length = np_last_error_message(detail, sizeof detail);
    NP_ASSERT_MSG(length > 0, "%s left no detail message", row->what);
    NP_ASSERT_EQ(length < sizeof detail ? length : sizeof detail - 1, strlen(detail));
    NP_ASSERT_EQ(length, np_last_error_message(NULL, 0));
    NP_ASSERT_EQ(length, np_last_error_message(clipped, sizeof clipped));
    NP_ASSERT_EQ(length < sizeof clipped ? length : sizeof clipped - 1, strlen(clipped));
    NP_ASSERT(strncmp(detail, clipped, strlen(clipped)) == 0);
    /* The detail does not repeat the status name: callers print np_status_name() beside it. */
    NP_ASSERT_MSG(strstr(detail, row->expected_name) == NULL, "%s: the detail repeats the status name: %s", row->what, detail);

    read_counters(f, after);
    for (c = COUNTS_DOUBLE_FREE; c <= COUNTS_FAILED_ALLOCATION; c++) {
        unsigned long long expected = (c == (int)row->counts) ? 1 : 0;
        NP_ASSERT_MSG(after[c] - before[c] == expected, "%s changed counter %d by %llu, expected %llu", row->what, c,
                      after[c] - before[c], expected);
        expected_counts[c] += expected;
    }
    /* Successful calls do not reset the detail (read_counters made several). */
    NP_ASSERT_STATUS(row->expected, np_last_error_status());
}

static void s16_every_bad_call_returns_its_status(void)
{
    fixture f;
    unsigned long long expected[5] = {0, 0, 0, 0, 0};
    unsigned long long counted[5];
    size_t row;
    np_pool_stats poisoned;
    void *again = NULL;

    setup(&f);
    for (row = 0; row < NP_COUNT_OF(table); row++) check_row(&f, &table[row], expected);

    /* The totals match the rows, and every rejected call left its pool intact. */
    read_counters(&f, counted);
    NP_ASSERT_EQ(expected[COUNTS_DOUBLE_FREE], counted[COUNTS_DOUBLE_FREE]);
    NP_ASSERT_EQ(expected[COUNTS_FOREIGN_FREE], counted[COUNTS_FOREIGN_FREE]);
    NP_ASSERT_EQ(expected[COUNTS_INVALID_FREE], counted[COUNTS_INVALID_FREE]);
    NP_ASSERT_EQ(expected[COUNTS_FAILED_ALLOCATION], counted[COUNTS_FAILED_ALLOCATION]);
    NP_ASSERT_OK(np_pool_free(f.pool, f.block));
    NP_ASSERT_OK(np_pool_free(f.other, f.other_block));
    NP_ASSERT_OK(np_pool_free(f.tiny, f.tiny_block));
    NP_ASSERT_OK(np_pool_free(f.aligned, f.aligned_block));
    /* Handing the overwritten block out again counts the violation and clears the finding. */
    NP_ASSERT_OK(np_pool_alloc(f.poisoned, &again));
    NP_ASSERT_PTR_EQ(f.poisoned_block, again);
    poisoned = NP_STATS(f.poisoned);
    NP_ASSERT_EQ(1, poisoned.poison_violations);
    NP_ASSERT_OK(np_pool_free(f.poisoned, again));
    NP_DESTROY_POOL(f.pool);
    NP_DESTROY_POOL(f.other);
    NP_DESTROY_POOL(f.tiny);
    NP_DESTROY_POOL(f.poisoned);
    NP_DESTROY_POOL(f.aligned);
    NP_ASSERT_OK(np_pool_destroy(0));
    free(f.heap);
}

/* ------------------------------------------------------------------ status text */

static void s16_status_names_and_messages_cover_every_code(void)
{
    static const struct { np_status code; const char *name; } codes[] = {
        {NP_OK, "NP_OK"},
        {NP_E_INVALID_ARGUMENT, "NP_E_INVALID_ARGUMENT"},
        {NP_E_NULL_POINTER, "NP_E_NULL_POINTER"},
        {NP_E_INVALID_HANDLE, "NP_E_INVALID_HANDLE"},
        {NP_E_OUT_OF_MEMORY, "NP_E_OUT_OF_MEMORY"},
        {NP_E_POOL_EXHAUSTED, "NP_E_POOL_EXHAUSTED"},
        {NP_E_DOUBLE_FREE, "NP_E_DOUBLE_FREE"},
        {NP_E_FOREIGN_POINTER, "NP_E_FOREIGN_POINTER"},
        {NP_E_INTERIOR_POINTER, "NP_E_INTERIOR_POINTER"},
        {NP_E_MISALIGNED_POINTER, "NP_E_MISALIGNED_POINTER"},
        {NP_E_CORRUPTED, "NP_E_CORRUPTED"},
        {NP_E_BUFFER_TOO_SMALL, "NP_E_BUFFER_TOO_SMALL"},
        {NP_E_UNSUPPORTED_STRUCT_SIZE, "NP_E_UNSUPPORTED_STRUCT_SIZE"},
        {NP_E_INTERNAL, "NP_E_INTERNAL"},
        {NP_E_TIMEOUT, "NP_E_TIMEOUT"},
        {NP_E_PEER_GONE, "NP_E_PEER_GONE"},
        {NP_E_SHUTDOWN, "NP_E_SHUTDOWN"},
        {NP_E_MESSAGE_TOO_LARGE, "NP_E_MESSAGE_TOO_LARGE"},
        {NP_E_UNKNOWN_ROUTE, "NP_E_UNKNOWN_ROUTE"},
        {NP_E_PERMISSION_DENIED, "NP_E_PERMISSION_DENIED"},
        {NP_E_SERVER_FULL, "NP_E_SERVER_FULL"},
        {NP_E_PROTOCOL, "NP_E_PROTOCOL"},
        {NP_E_INVALID_STATE, "NP_E_INVALID_STATE"},
        {NP_E_IO, "NP_E_IO"},
        {NP_E_HANDLER_FAILED, "NP_E_HANDLER_FAILED"},
        {NP_E_ADDRESS_IN_USE, "NP_E_ADDRESS_IN_USE"},
        {NP_E_UNTRUSTED_PEER, "NP_E_UNTRUSTED_PEER"},
    };
    static const np_status unknown[] = {1, -99, 1000, -2147483647 - 1};
    const char *unknown_message = np_status_message(-99);
    size_t i, j;

    /* The numbers are ABI: they must be the documented ones. */
    for (i = 0; i < NP_COUNT_OF(codes); i++) {
        NP_ASSERT_EQ(-(int)i, codes[i].code);
        NP_ASSERT_STR_EQ(codes[i].name, np_status_name(codes[i].code));
        NP_ASSERT(strlen(np_status_message(codes[i].code)) > 0);
        NP_ASSERT_MSG(strcmp(np_status_message(codes[i].code), unknown_message) != 0,
                      "%s has the unknown-status message", codes[i].name);
        for (j = 0; j < i; j++)
            NP_ASSERT_MSG(strcmp(np_status_message(codes[i].code), np_status_message(codes[j].code)) != 0,
                          "%s and %s share a message", codes[i].name, codes[j].name);
    }
    for (i = 0; i < NP_COUNT_OF(unknown); i++) {
        NP_ASSERT_STR_EQ("NP_E_UNKNOWN", np_status_name(unknown[i]));
        NP_ASSERT_STR_EQ(unknown_message, np_status_message(unknown[i]));
    }
    NP_ASSERT_EQ(NP_VERSION_NUMBER, np_version());
    {
        char expected_version[32];
        snprintf(expected_version, sizeof expected_version, "%d.%d.%d", NP_VERSION_MAJOR, NP_VERSION_MINOR,
                 NP_VERSION_PATCH);
        NP_ASSERT_STR_EQ(expected_version, np_version_string());
    }
}

/* ------------------------------------------------------------------ per-thread detail */

typedef struct other_thread_failure {
    np_pool pool;
    void *freed;
    np_status seen;
} other_thread_failure;

static void *fail_on_other_thread(void *raw)
{
    other_thread_failure *t = raw;
    /* A new thread starts with no failure recorded. */
    NP_ASSERT_STATUS(NP_OK, np_last_error_status());
    NP_ASSERT_EQ(0, np_last_error_message(NULL, 0));
    NP_ASSERT_STATUS(NP_E_DOUBLE_FREE, np_pool_free(t->pool, t->freed));
    t->seen = np_last_error_status();
    return NULL;
}

static void s16_last_error_is_per_thread(void)
{
    other_thread_failure t;
    pthread_t thread;
    void *block = NULL;
    t.pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    NP_ASSERT_OK(np_pool_alloc(t.pool, &block));
    NP_ASSERT_OK(np_pool_free(t.pool, block));
    t.freed = block;
    t.seen = NP_OK;

    NP_ASSERT_STATUS(NP_E_INTERIOR_POINTER, np_pool_free(t.pool, (char *)block + 8));
    np_thread_start(&thread, fail_on_other_thread, &t);
    np_thread_join(thread);
    np_test_stop_if_failed();
    NP_ASSERT_STATUS(NP_E_DOUBLE_FREE, t.seen);
    /* This thread's detail is still its own failure, not the other thread's. */
    NP_ASSERT_STATUS(NP_E_INTERIOR_POINTER, np_last_error_status());
    NP_DESTROY_POOL(t.pool);
}

/* ------------------------------------------------------------------ the limits themselves are accepted */

/* Creates a pool of `block_size` / `alignment`, uses two blocks end to end, and destroys it. */
static void use_shape(uint64_t block_size, uint64_t alignment, uint32_t flags)
{
    np_pool_options options;
    np_pool pool;
    void *blocks[2];
    size_t i;
    NP_ASSERT_OK(np_pool_options_init(&options));
    options.block_size = block_size;
    options.alignment = alignment;
    options.flags = flags;
    NP_ASSERT_OK(np_pool_create(&options, &pool));
    for (i = 0; i < 2; i++) {
        NP_ASSERT_OK(np_pool_alloc(pool, &blocks[i]));
        if (alignment != 0) NP_ASSERT_EQ(0, (uintptr_t)blocks[i] % alignment);
        np_fill_pattern(blocks[i], (size_t)block_size, i);
    }
    for (i = 0; i < 2; i++) {
        NP_ASSERT_PATTERN(blocks[i], (size_t)block_size, i);
        NP_ASSERT_OK(np_pool_free(pool, blocks[i]));
    }
    NP_ASSERT_EQ(block_size, NP_STATS(pool).block_size);
    NP_DESTROY_POOL(pool);
}

static void s16_boundary_values_are_accepted(void)
{
    np_pool_options options;
    np_pool pool;
    use_shape(NP_POOL_MIN_BLOCK_SIZE, 0, 0);
    use_shape(NP_POOL_MIN_BLOCK_SIZE, 1, 0);
    use_shape(3, 0, 0);
    use_shape(4097, NP_POOL_MAX_ALIGNMENT, 0);
    use_shape(NP_POOL_MAX_BLOCK_SIZE, 0, 0);
    use_shape(100, 0, NP_POOL_ZERO_ON_ALLOC | NP_POOL_POISON_ON_FREE);

    /* initial_blocks == max_blocks: the whole pool exists from the start. */
    NP_ASSERT_OK(np_pool_options_init(&options));
    options.block_size = 64;
    options.initial_blocks = 500;
    options.max_blocks = 500;
    NP_ASSERT_OK(np_pool_create(&options, &pool));
    NP_ASSERT_EQ(500, NP_STATS(pool).capacity);
    NP_ASSERT_EQ(0, NP_STATS(pool).created);
    NP_DESTROY_POOL(pool);
}

/* ------------------------------------------------------------------ the detail names the pool */

static void s16_detail_names_the_pool_and_pointer(void)
{
    char name[32] = "orders-pool";
    char detail[512], pointer_text[32];
    np_pool_options options;
    np_pool pool;
    void *block = NULL;
    NP_ASSERT_OK(np_pool_options_init(&options));
    options.block_size = 48;
    options.name = name;
    NP_ASSERT_OK(np_pool_create(&options, &pool));
    /* The name was copied at creation: changing the caller's buffer changes nothing. */
    strcpy(name, "overwritten");

    NP_ASSERT_OK(np_pool_alloc(pool, &block));
    NP_ASSERT_OK(np_pool_free(pool, block));
    NP_ASSERT_STATUS(NP_E_DOUBLE_FREE, np_pool_free(pool, block));
    np_last_error_message(detail, sizeof detail);
    NP_ASSERT_MSG(strstr(detail, "orders-pool") != NULL, "detail does not name the pool: %s", detail);
    snprintf(pointer_text, sizeof pointer_text, "%llx", (unsigned long long)(uintptr_t)block);
    NP_ASSERT_MSG(strstr(detail, pointer_text) != NULL, "detail does not show pointer %s: %s", pointer_text, detail);
    NP_DESTROY_POOL(pool);
}

/* ------------------------------------------------------------------ detail text */

/* The calling thread's detail message (a static buffer per call site is enough here). */
static const char *detail_now(char *buffer, size_t size)
{
    np_last_error_message(buffer, size);
    return buffer;
}

#define ASSERT_DETAIL_HAS(buffer, text)                                                                    \
    NP_ASSERT_MSG(strstr(detail_now((buffer), sizeof(buffer)), (text)) != NULL, "the detail \"%s\" lacks \"%s\"", \
                  (buffer), (text))
#define ASSERT_DETAIL_LACKS(buffer, text)                                                                  \
    NP_ASSERT_MSG(strstr(detail_now((buffer), sizeof(buffer)), (text)) == NULL, "the detail \"%s\" has \"%s\"", \
                  (buffer), (text))

static void s16_detail_prints_unsigned_values_unsigned(void)
{
    char detail[512];
    np_pool_options options;
    np_pool pool = 0;
    NP_ASSERT_OK(np_pool_options_init(&options));
    options.block_size = 64;
    options.max_blocks = UINT64_MAX;
    NP_ASSERT_STATUS(NP_E_INVALID_ARGUMENT, np_pool_create(&options, &pool));
    ASSERT_DETAIL_HAS(detail, "max_blocks 18446744073709551615 exceeds");
    ASSERT_DETAIL_LACKS(detail, "-1");

    NP_ASSERT_OK(np_pool_options_init(&options));
    options.block_size = UINT64_MAX - 1;
    NP_ASSERT_STATUS(NP_E_INVALID_ARGUMENT, np_pool_create(&options, &pool));
    ASSERT_DETAIL_HAS(detail, "block_size 18446744073709551614 is outside");

    pool = NP_MAKE_SIZED_POOL(64, 100, 0, 0);
    NP_ASSERT_STATUS(NP_E_POOL_EXHAUSTED, np_pool_reserve(pool, 1ULL << 63));
    ASSERT_DETAIL_HAS(detail, "cannot reserve 9223372036854775808 blocks");
    ASSERT_DETAIL_LACKS(detail, "-9223372036854775808");
    NP_DESTROY_POOL(pool);

    np_msgpool msgpool = 0;
    np_msgpool_options msg_options;
    NP_ASSERT_OK(np_msgpool_options_init(&msg_options));
    NP_ASSERT_OK(np_msgpool_create(&msg_options, &msgpool));
    void *message = NULL;
    NP_ASSERT_STATUS(NP_E_INVALID_ARGUMENT, np_msgpool_acquire(msgpool, SIZE_MAX, &message, NULL));
    ASSERT_DETAIL_HAS(detail, "size 18446744073709551615 exceeds");
    NP_ASSERT_STATUS(NP_E_POOL_EXHAUSTED, np_msgpool_reserve(msgpool, 64, UINT64_MAX));
    ASSERT_DETAIL_HAS(detail, "cannot reserve 18446744073709551615 blocks");
    NP_ASSERT_OK(np_msgpool_destroy(msgpool));
}

static void s16_detail_does_not_repeat_the_status_name(void)
{
    char detail[512], line[640];
    void *block = NULL;
    NP_ASSERT_STATUS(NP_E_INVALID_HANDLE, np_pool_alloc(0xbad, &block));
    /* What a caller prints: the name, then the detail. The name appears once. */
    snprintf(line, sizeof line, "%s: %s", np_status_name(np_last_error_status()), detail_now(detail, sizeof detail));
    NP_ASSERT_MSG(strstr(line, "NP_E_INVALID_HANDLE") == line && strstr(line + 1, "NP_E_INVALID_HANDLE") == NULL,
                  "the status name is not there exactly once: %s", line);
    NP_ASSERT_MSG(strncmp(detail, "0xbad is not a live pool handle", 31) == 0, "detail: %s", detail);
}

/* np_pool_free_batch returns the first invalid entry's status; the thread's last error describes that entry too. */
static void s16_free_batch_reports_its_first_invalid_entry(void)
{
    char detail[512], pointer_text[32];
    np_pool pool = NP_MAKE_SIZED_POOL(64, 0, 0, 0);
    void *blocks[4];
    NP_ASSERT_OK(np_pool_alloc(pool, &blocks[0]));
    NP_ASSERT_OK(np_pool_alloc(pool, &blocks[1]));
    void *freed_already = NULL;
    NP_ASSERT_OK(np_pool_alloc(pool, &freed_already));
    NP_ASSERT_OK(np_pool_free(pool, freed_already));
    static char foreign[64];
    void *batch[5] = {blocks[0], (void *)foreign, freed_already, blocks[1], (char *)blocks[0] + 8};
    size_t freed = 0;
    NP_ASSERT_STATUS(NP_E_FOREIGN_POINTER, np_pool_free_batch(pool, (void *const *)batch, 5, &freed));
    NP_ASSERT_EQ(2, freed);
    NP_ASSERT_STATUS(NP_E_FOREIGN_POINTER, np_last_error_status());
    snprintf(pointer_text, sizeof pointer_text, "%llx", (unsigned long long)(uintptr_t)foreign);
    ASSERT_DETAIL_HAS(detail, pointer_text);
    ASSERT_DETAIL_HAS(detail, "does not belong to pool");
    np_pool_stats s = NP_STATS(pool);
    NP_ASSERT_EQ(1, s.foreign_frees);
    NP_ASSERT_EQ(1, s.double_frees);
    NP_ASSERT_EQ(1, s.invalid_frees);
    NP_ASSERT_EQ(0, s.in_use);
    NP_DESTROY_POOL(pool);
}

static const np_test_case cases[] = {
    {"S16", "every_bad_call_returns_its_status_counts_and_detail", s16_every_bad_call_returns_its_status},
    {"S16", "status_names_and_messages_cover_every_code", s16_status_names_and_messages_cover_every_code},
    {"S16", "last_error_detail_is_per_thread", s16_last_error_is_per_thread},
    {"S16", "boundary_values_are_accepted", s16_boundary_values_are_accepted},
    {"S16", "detail_names_the_pool_and_pointer", s16_detail_names_the_pool_and_pointer},
    {"S16", "detail_prints_unsigned_values_unsigned", s16_detail_prints_unsigned_values_unsigned},
    {"S16", "detail_does_not_repeat_the_status_name", s16_detail_does_not_repeat_the_status_name},
    {"S16", "free_batch_reports_its_first_invalid_entry", s16_free_batch_reports_its_first_invalid_entry},
};

const np_test_suite np_suite_bad_input = {"bad_input", cases, NP_COUNT_OF(cases)};
