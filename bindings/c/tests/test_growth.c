/*
 * Growth scenarios: S15 (exhaustion at max_blocks, growth without one, reserve and initial
 * blocks) and S18 (capacity, block memory and metadata grow linearly from 1,000 to 10,000 live
 * blocks).
 */
#include "np_test_support.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/* ------------------------------------------------------------------ S15 */

static void s15_exhaustion_at_max_blocks(void)
{
    enum { MAX = 100 };
    np_pool pool = NP_MAKE_SIZED_POOL(128, MAX, 0, 0);
    void *blocks[MAX];
    void *refused = &refused;

    for (size_t i = 0; i < MAX; i++) {
        NP_ASSERT_OK(np_pool_alloc(pool, &blocks[i]));
        np_fill_pattern(blocks[i], 128, i);
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        NP_ASSERT_STATUS(NP_E_POOL_EXHAUSTED, np_pool_alloc(pool, &refused));
        NP_ASSERT_PTR_EQ(NULL, refused);
    }
    NP_ASSERT_STATUS(NP_E_POOL_EXHAUSTED, np_pool_reserve(pool, 1));
    np_pool_stats full = NP_STATS(pool);
    NP_ASSERT_EQ(MAX, full.capacity);
    NP_ASSERT_EQ(MAX, full.in_use);
    NP_ASSERT_EQ(MAX, full.allocations);
    NP_ASSERT_EQ(3, full.failed_allocations);
    NP_CHECK_POOL(pool);

    /* After a free, one allocation succeeds again, and it gets the block just freed. */
    void *freed = blocks[37];
    NP_ASSERT_OK(np_pool_free(pool, freed));
    NP_ASSERT_OK(np_pool_alloc(pool, &blocks[37]));
    NP_ASSERT_PTR_EQ(freed, blocks[37]);
    np_fill_pattern(blocks[37], 128, 37);
    NP_ASSERT_STATUS(NP_E_POOL_EXHAUSTED, np_pool_alloc(pool, &refused));
    np_pool_stats after = NP_STATS(pool);
    NP_ASSERT_EQ(4, after.failed_allocations);
    NP_ASSERT_EQ(MAX + 1, after.allocations);
    NP_ASSERT_EQ(MAX, after.capacity);

    for (size_t i = 0; i < MAX; i++) NP_ASSERT_PATTERN(blocks[i], 128, i);
    for (size_t i = 0; i < MAX; i++) NP_ASSERT_OK(np_pool_free(pool, blocks[i]));
    NP_DESTROY_POOL(pool);
}

enum { RACE_THREADS = 4, RACE_MAX = 5000 };

typedef struct exhaustion_racer {
    np_pool pool;
    unsigned index;
    size_t taken;
    void **blocks; /* room for RACE_MAX */
    np_gate *gate;
} exhaustion_racer;

/* Allocates until the pool says it is exhausted. */
static void *exhaustion_racer_run(void *raw)
{
    exhaustion_racer *me = raw;
    np_gate_wait(me->gate);
    for (;;) {
        void *block = NULL;
        np_status status = np_pool_alloc(me->pool, &block);
        if (status == NP_E_POOL_EXHAUSTED) break;
        NP_ASSERT_OK(status);
        NP_ASSERT_CMP(me->taken, <, RACE_MAX);
        np_fill_pattern(block, 64, NP_TAG(me->index, 0, me->taken));
        me->blocks[me->taken++] = block;
    }
    return NULL;
}

static void s15_concurrent_exhaustion_hands_out_exactly_max(void)
{
    np_pool pool = NP_MAKE_SIZED_POOL(64, RACE_MAX, 64, 0);
    exhaustion_racer racers[RACE_THREADS];
    np_gate gate;
    np_gate_init(&gate, RACE_THREADS);
    for (unsigned i = 0; i < RACE_THREADS; i++) {
        racers[i].pool = pool;
        racers[i].index = i;
        racers[i].taken = 0;
        racers[i].blocks = malloc(RACE_MAX * sizeof(void *));
        racers[i].gate = &gate;
        NP_ASSERT_NOT_NULL(racers[i].blocks);
    }
    np_threads_run(RACE_THREADS, exhaustion_racer_run, racers, sizeof racers[0]);
    np_gate_destroy(&gate);

    size_t total = 0;
    for (unsigned i = 0; i < RACE_THREADS; i++) total += racers[i].taken;
    NP_ASSERT_EQ(RACE_MAX, total);
    np_pool_stats s = NP_STATS(pool);
    NP_ASSERT_EQ(RACE_MAX, s.capacity);
    NP_ASSERT_EQ(RACE_MAX, s.in_use);
    NP_ASSERT_EQ(RACE_THREADS, s.failed_allocations); /* each racer stopped at its first refusal */
    NP_CHECK_POOL(pool);
    for (unsigned i = 0; i < RACE_THREADS; i++) {
        for (size_t b = 0; b < racers[i].taken; b++) NP_ASSERT_PATTERN(racers[i].blocks[b], 64, NP_TAG(i, 0, b));
        size_t freed = 0;
        NP_ASSERT_OK(np_pool_free_batch(pool, (void *const *)racers[i].blocks, racers[i].taken, &freed));
        NP_ASSERT_EQ(racers[i].taken, freed);
        free(racers[i].blocks);
    }
    NP_DESTROY_POOL(pool);
}

/*
 * A live thread that allocated and freed many blocks of a bounded pool keeps free blocks in its
 * cache, then waits (blocked on a condition variable, not exited). Another thread must still get
 * every one of max_blocks blocks before the pool says it is exhausted.
 */
enum { IDLE_MAX = 256, IDLE_CHURN = 200 };

typedef struct idle_holder {
    np_pool pool;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int cached; /* the holder freed its blocks and now waits */
    int release; /* the main thread is done: the holder may exit */
} idle_holder;

static void *idle_holder_run(void *raw)
{
    idle_holder *me = raw;
    void *blocks[IDLE_CHURN];
    for (size_t i = 0; i < IDLE_CHURN; i++) NP_ASSERT_OK(np_pool_alloc(me->pool, &blocks[i]));
    for (size_t i = 0; i < IDLE_CHURN; i++) NP_ASSERT_OK(np_pool_free(me->pool, blocks[i]));
    pthread_mutex_lock(&me->lock);
    me->cached = 1;
    pthread_cond_broadcast(&me->changed);
    /* Woken by the main thread, or ends when the test failed (the main thread then never wakes it). */
    while (!me->release && !np_test_failed()) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec += 1;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&me->changed, &me->lock, &until);
    }
    pthread_mutex_unlock(&me->lock);
    return NULL;
}

static void s15_idle_thread_cache_does_not_starve_a_bounded_pool(void)
{
    np_pool pool = NP_MAKE_SIZED_POOL(64, IDLE_MAX, 0, 0);
    idle_holder holder = {.pool = pool};
    pthread_mutex_init(&holder.lock, NULL);
    pthread_cond_init(&holder.changed, NULL);
    pthread_t thread;
    np_thread_start(&thread, idle_holder_run, &holder);
    pthread_mutex_lock(&holder.lock);
    while (!holder.cached && !np_test_failed()) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&holder.changed, &holder.lock, &until);
    }
    pthread_mutex_unlock(&holder.lock);
    NP_ASSERT(!np_test_failed());
    np_pool_stats idle = NP_STATS(pool);
    NP_ASSERT_EQ(0, idle.in_use);
    NP_ASSERT_EQ(1, idle.cached_threads); /* the idle thread's; this thread has not used the pool yet */

    /* Every block, although the idle thread cached many of them when it freed them. */
    void *blocks[IDLE_MAX];
    size_t taken = 0;
    for (;;) {
        void *block = NULL;
        np_status status = np_pool_alloc(pool, &block);
        if (status == NP_E_POOL_EXHAUSTED) break;
        NP_ASSERT_OK(status);
        NP_ASSERT_CMP(taken, <, IDLE_MAX);
        np_fill_pattern(block, 64, taken);
        blocks[taken++] = block;
    }
    NP_ASSERT_EQ(IDLE_MAX, taken);
    np_pool_stats full = NP_STATS(pool);
    NP_ASSERT_EQ(IDLE_MAX, full.in_use);
    NP_ASSERT_EQ(IDLE_MAX, full.capacity);
    NP_ASSERT_EQ(1, full.failed_allocations);
    NP_CHECK_POOL(pool);
    for (size_t i = 0; i < taken; i++) NP_ASSERT_PATTERN(blocks[i], 64, i);
    NP_ASSERT_OK(np_pool_free_batch(pool, (void *const *)blocks, taken, NULL));

    /* The idle thread wakes up and uses its cache again: still consistent. */
    pthread_mutex_lock(&holder.lock);
    holder.release = 1;
    pthread_cond_broadcast(&holder.changed);
    pthread_mutex_unlock(&holder.lock);
    np_thread_join(thread);
    pthread_cond_destroy(&holder.changed);
    pthread_mutex_destroy(&holder.lock);
    NP_ASSERT_EQ(0, NP_STATS(pool).in_use);
    NP_DESTROY_POOL(pool);
}

/*
 * Stress: churn threads allocate and free against a bounded pool while a taker asks for the last
 * blocks. Rounds alternate: first the churners may hold up to BURST_LIVE blocks each (their caches
 * fill up), then they shrink to CHURN_LIVE each and keep churning, and the taker asks for all the
 * rest. The churners hold no more than their share then, so every request of the taker must
 * succeed, whatever the churners cache; no block is handed out twice (every holder writes its tag
 * and checks it before the free) and the counts agree at the end.
 */
enum { STRESS_MAX = 256, CHURNERS = 3, BURST_LIVE = 80, CHURN_LIVE = 16, TAKER_WANTS = STRESS_MAX - CHURNERS * CHURN_LIVE };

typedef struct bounded_shared {
    atomic_int stop;
    atomic_uint round; /* odd: the churners hold at most CHURN_LIVE; even: at most BURST_LIVE */
} bounded_shared;

typedef struct bounded_churner {
    np_pool pool;
    unsigned index;
    bounded_shared *shared;
    atomic_uint shrunk;  /* the last odd round in which this churner held at most CHURN_LIVE */
    atomic_ullong operations;
} bounded_churner;

static void *bounded_churner_run(void *raw)
{
    bounded_churner *me = raw;
    void *live[BURST_LIVE];
    uint64_t tags[BURST_LIVE];
    size_t count = 0;
    uint64_t random = 0x9E3779B97F4A7C15ULL * (me->index + 1);
    for (unsigned long long n = 0; !atomic_load(&me->shared->stop); n++) {
        np_test_stop_if_failed();
        unsigned round = atomic_load(&me->shared->round);
        size_t limit = (round & 1) ? CHURN_LIVE : BURST_LIVE;
        if (count < limit && (count == 0 || np_random_below(&random, 4) != 0)) {
            void *block = NULL;
            NP_ASSERT_OK(np_pool_alloc(me->pool, &block));
            tags[count] = NP_TAG(me->index + 1, n, count);
            np_fill_pattern(block, 64, tags[count]);
            live[count++] = block;
        } else {
            size_t k = (size_t)np_random_below(&random, count);
            NP_ASSERT_PATTERN(live[k], 64, tags[k]);
            NP_ASSERT_OK(np_pool_free(me->pool, live[k]));
            live[k] = live[--count];
            tags[k] = tags[count];
        }
        if ((round & 1) && count <= CHURN_LIVE) atomic_store(&me->shrunk, round);
        atomic_fetch_add(&me->operations, 1);
    }
    for (size_t k = 0; k < count; k++) {
        NP_ASSERT_PATTERN(live[k], 64, tags[k]);
        NP_ASSERT_OK(np_pool_free(me->pool, live[k]));
    }
    return NULL;
}

static void s15_bounded_pool_hands_out_its_last_blocks_under_churn(void)
{
    const unsigned rounds = NP_SIZE(40u, 1000u);
    np_pool pool = NP_MAKE_SIZED_POOL(64, STRESS_MAX, 0, 0);
    bounded_shared shared;
    atomic_init(&shared.stop, 0);
    atomic_init(&shared.round, 0);
    bounded_churner churners[CHURNERS];
    pthread_t threads[CHURNERS];
    for (unsigned i = 0; i < CHURNERS; i++) {
        churners[i].pool = pool;
        churners[i].index = i;
        churners[i].shared = &shared;
        atomic_init(&churners[i].shrunk, 0);
        atomic_init(&churners[i].operations, 0);
        np_thread_start(&threads[i], bounded_churner_run, &churners[i]);
    }
    void *mine[TAKER_WANTS];
    unsigned long long seen[CHURNERS] = {0};
    for (unsigned r = 0; r < rounds && !np_test_failed(); r++) {
        /* Burst: every churner works a while with the high limit, filling its cache. */
        atomic_store(&shared.round, 2 * r);
        for (unsigned i = 0; i < CHURNERS; i++) {
            while (atomic_load(&churners[i].operations) < seen[i] + 200 && !np_test_failed()) sched_yield();
            seen[i] = atomic_load(&churners[i].operations);
        }
        /* Shrink: once every churner holds at most CHURN_LIVE (and keeps churning), take the rest. */
        unsigned odd = 2 * r + 1;
        atomic_store(&shared.round, odd);
        for (unsigned i = 0; i < CHURNERS; i++)
            while (atomic_load(&churners[i].shrunk) != odd && !np_test_failed()) sched_yield();
        for (size_t i = 0; i < TAKER_WANTS; i++) {
            np_status status = np_pool_alloc(pool, &mine[i]);
            NP_ASSERT_MSG(status == NP_OK, "round %u: block %zu of %d refused with %s while the others hold at most %d",
                          r, i, TAKER_WANTS, np_status_name(status), CHURNERS * CHURN_LIVE);
            np_fill_pattern(mine[i], 64, NP_TAG(0, r, i));
        }
        for (size_t i = 0; i < TAKER_WANTS; i++) NP_ASSERT_PATTERN(mine[i], 64, NP_TAG(0, r, i));
        size_t freed = 0;
        NP_ASSERT_OK(np_pool_free_batch(pool, (void *const *)mine, TAKER_WANTS, &freed));
        NP_ASSERT_EQ(TAKER_WANTS, freed);
    }
    atomic_store(&shared.stop, 1);
    for (unsigned i = 0; i < CHURNERS; i++) np_thread_join(threads[i]);
    np_pool_stats s = NP_STATS(pool);
    NP_ASSERT_EQ(0, s.in_use);
    NP_ASSERT_EQ(0, s.failed_allocations);
    NP_ASSERT_EQ(s.allocations, s.frees);
    NP_ASSERT_CMP(s.capacity, <=, STRESS_MAX);
    NP_DESTROY_POOL(pool);
}

static void s15_growth_without_maximum(void)
{
    enum { GROWTH = 16, COUNT = 1000 };
    np_pool pool = NP_MAKE_SIZED_POOL(100, 0, GROWTH, 0);
    void **blocks = malloc(COUNT * sizeof *blocks);
    NP_ASSERT_NOT_NULL(blocks);
    NP_ASSERT_EQ(0, NP_STATS(pool).capacity);
    for (size_t i = 0; i < COUNT; i++) {
        NP_ASSERT_OK(np_pool_alloc(pool, &blocks[i]));
        np_fill_pattern(blocks[i], 100, i);
        np_pool_stats s = NP_STATS(pool);
        /* One growth step of GROWTH blocks each time the pool is full, never earlier. */
        size_t chunks = (i + 1 + GROWTH - 1) / GROWTH;
        NP_ASSERT_EQ(chunks, s.chunks);
        NP_ASSERT_EQ(chunks * GROWTH, s.capacity);
    }
    np_pool_stats s = NP_STATS(pool);
    NP_ASSERT_EQ(104, s.block_stride); /* 100 rounded up to the default 8-byte alignment */
    NP_ASSERT_EQ(s.capacity * 104, s.bytes_reserved);
    NP_ASSERT_EQ(0, s.failed_allocations);
    for (size_t i = 0; i < COUNT; i++) NP_ASSERT_PATTERN(blocks[i], 100, i);
    for (size_t i = 0; i < COUNT; i++) NP_ASSERT_OK(np_pool_free(pool, blocks[i]));
    free(blocks);
    NP_DESTROY_POOL(pool);

    /* initial_blocks and np_pool_reserve() grow ahead of demand; allocations then need no growth. */
    np_pool_options options;
    NP_ASSERT_OK(np_pool_options_init(&options));
    options.block_size = 100;
    options.growth_blocks = GROWTH;
    options.initial_blocks = 50;
    np_pool warmed = NP_MAKE_POOL(&options);
    np_pool_stats initial = NP_STATS(warmed);
    NP_ASSERT_EQ(64, initial.capacity); /* 50 rounded up to whole growth steps */
    NP_ASSERT_EQ(0, initial.created);
    NP_ASSERT_OK(np_pool_reserve(warmed, 500));
    np_pool_stats reserved = NP_STATS(warmed);
    NP_ASSERT_EQ(512, reserved.capacity);
    void *warm_blocks[500];
    for (size_t i = 0; i < 500; i++) NP_ASSERT_OK(np_pool_alloc(warmed, &warm_blocks[i]));
    NP_ASSERT_EQ(reserved.chunks, NP_STATS(warmed).chunks);
    NP_ASSERT_OK(np_pool_reserve(warmed, 12)); /* 12 are already free: nothing to do */
    NP_ASSERT_EQ(reserved.chunks, NP_STATS(warmed).chunks);
    NP_ASSERT_OK(np_pool_reserve(warmed, 13));
    NP_ASSERT_EQ(reserved.chunks + 1, NP_STATS(warmed).chunks);
    NP_ASSERT_OK(np_pool_free_batch(warmed, (void *const *)warm_blocks, 500, NULL));
    NP_DESTROY_POOL(warmed);

    /* The default growth step is a 64 KiB chunk: the smallest whole number of blocks that covers it. */
    static const int32_t presets[] = {NP_POOL_PRESET_SMALL, NP_POOL_PRESET_MEDIUM, NP_POOL_PRESET_LARGE};
    for (size_t p = 0; p < 3; p++) {
        np_pool preset = NP_MAKE_PRESET_POOL(presets[p]);
        void *block = NULL;
        NP_ASSERT_OK(np_pool_alloc(preset, &block));
        np_pool_stats one = NP_STATS(preset);
        NP_ASSERT_EQ(1, one.chunks);
        NP_ASSERT_EQ((65536 + one.block_stride - 1) / one.block_stride, one.capacity);
        NP_ASSERT_OK(np_pool_free(preset, block));
        NP_DESTROY_POOL(preset);
    }
}

/* ------------------------------------------------------------------ S18 */

static void s18_scaling_1000_to_10000_live_blocks(void)
{
    enum { STEP = 1000, LAST = 10000 };
    const unsigned long long page = np_page_size();
    np_pool pool = NP_MAKE_PRESET_POOL(NP_POOL_PRESET_SMALL);
    void **blocks = malloc(LAST * sizeof *blocks);
    np_pool_stats at[LAST / STEP + 1];
    NP_ASSERT_NOT_NULL(blocks);

    for (size_t live = 0; live < LAST;) {
        NP_ASSERT_OK(np_pool_alloc(pool, &blocks[live]));
        np_fill_pattern(blocks[live], 264, live);
        live++;
        if (live % STEP == 0) at[live / STEP] = NP_STATS(pool);
    }
    const unsigned long long per_chunk = (65536 + at[1].block_stride - 1) / at[1].block_stride;
    for (size_t k = 1; k <= LAST / STEP; k++) {
        const np_pool_stats *s = &at[k];
        unsigned long long live = k * STEP;
        /* Capacity and block memory: whole chunks, at least those needed, and default growth
           (a quarter of the capacity per step) commits at most a quarter more plus one chunk. */
        unsigned long long needed = (live + per_chunk - 1) / per_chunk;
        NP_ASSERT_EQ(live, s->in_use);
        NP_ASSERT(s->chunks >= needed);
        NP_ASSERT_MSG(s->chunks <= needed + needed / 4 + 1, "%llu chunks for %llu needed", (unsigned long long)s->chunks, needed);
        NP_ASSERT_EQ(s->chunks * per_chunk, s->capacity);
        NP_ASSERT_EQ(s->capacity * s->block_stride, s->bytes_reserved);
        if (k > 1) {
            /* Metadata grows with the blocks, a few bytes each (page-granular), never in jumps. */
            const np_pool_stats *p = &at[k - 1];
            unsigned long long added = s->capacity - p->capacity;
            NP_ASSERT_CMP(s->bytes_metadata, >=, p->bytes_metadata);
            NP_ASSERT_MSG(s->bytes_metadata - p->bytes_metadata <= 8 * added + 2 * page,
                          "metadata grew by %llu bytes for %llu blocks between %llu and %llu live blocks",
                          (unsigned long long)(s->bytes_metadata - p->bytes_metadata), added, live - STEP, live);
        }
    }
    /* Over the whole range: one state byte per block, committed in doubling page-granular steps.
       Live blocks need no magazine storage (magazines hold only free block indices). */
    unsigned long long blocks_added = at[LAST / STEP].capacity - at[1].capacity;
    unsigned long long metadata_added = at[LAST / STEP].bytes_metadata - at[1].bytes_metadata;
    NP_ASSERT_MSG(metadata_added + 2 * page >= blocks_added && metadata_added <= 2 * blocks_added + 4 * page,
                  "metadata grew by %llu bytes for %llu blocks (expected 1 to 2 per block)", metadata_added,
                  blocks_added);

    for (size_t i = 0; i < LAST; i++) NP_ASSERT_PATTERN(blocks[i], 264, i);
    for (size_t i = 0; i < LAST; i++) NP_ASSERT_OK(np_pool_free(pool, blocks[i]));
    free(blocks);
    NP_DESTROY_POOL(pool);
}

static const np_test_case cases[] = {
    {"S15", "exhaustion_at_max_blocks_then_free_and_alloc_again", s15_exhaustion_at_max_blocks},
    {"S15", "concurrent_exhaustion_hands_out_exactly_max_blocks", s15_concurrent_exhaustion_hands_out_exactly_max},
    {"S15", "idle_thread_cache_does_not_starve_a_bounded_pool", s15_idle_thread_cache_does_not_starve_a_bounded_pool},
    {"S15", "bounded_pool_hands_out_its_last_blocks_under_churn", s15_bounded_pool_hands_out_its_last_blocks_under_churn},
    {"S15", "growth_without_maximum_one_chunk_at_a_time", s15_growth_without_maximum},
    {"S18", "scaling_1000_to_10000_live_blocks_linear", s18_scaling_1000_to_10000_live_blocks},
};

const np_test_suite np_suite_growth = {"growth", cases, NP_COUNT_OF(cases)};
