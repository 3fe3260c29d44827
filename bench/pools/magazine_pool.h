/*
 * magazine_pool.h: the design of libnativepools' block pool written in plain C and compiled into
 * the driver, so that a scenario can tell what crossing into the library costs from what the
 * design itself costs.
 *
 * Same work per call as np_pool_alloc / np_pool_free on their fast path: each thread holds a
 * loaded and a previous magazine (arrays of block indices, 64 per magazine as the library has
 * at 1 KiB) and trades whole magazines with a depot under a mutex. "checked" also does what the
 * library does for integrity and stats: a state byte per block (fresh / allocated / free) read
 * and written by alloc and free, so a double free, an interior pointer or a pointer past the
 * blocks is refused; an odd/even sequence around each operation; counters created, reused,
 * frees, net and peak net. "unchecked" (magazine_pool_unchecked) drops the state bytes and the
 * counters: a pool that trusts its callers.
 *
 * What it leaves out: growth past one reservation, trim, thread-exit reclaim, validate. One
 * pool per process at a time (the thread caches hang off one thread-local pointer), which is
 * all the driver needs.
 */
#ifndef MAGAZINE_POOL_H
#define MAGAZINE_POOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

enum { MAGAZINE_POOL_ROUNDS = 64 };

typedef struct magazine {
    uint32_t count;
    struct magazine* next; /* depot list, and the list of all magazines for destroy */
    struct magazine* next_allocated;
    uint32_t rounds[MAGAZINE_POOL_ROUNDS];
} magazine;

/* One thread's cache: written by its owner only, on lines of its own. */
typedef struct magazine_cache {
    _Alignas(128) magazine* loaded;
    magazine* previous;
    uint64_t sequence; /* odd inside an operation (checked only) */
    uint64_t created, reused, frees;
    int64_t net, peak_net;
    uint64_t fresh_end_seen; /* pool->fresh_end as this thread last read it */
    struct magazine_cache* next_cache;
} magazine_cache;

typedef struct magazine_pool {
    /* read-only after init */
    _Alignas(128) char* blocks;
    uint8_t* states;          /* checked: one byte per block */
    size_t stride;
    uint64_t capacity;        /* blocks reserved */
    uint64_t inverse;         /* exact division by stride: see quotient_if_exact */
    unsigned shift;
    int checked;
    /* written under the lock; fresh_end also read (atomically) by free's bound check when the
     * thread's copy of it is too low */
    _Alignas(128) pthread_mutex_t lock;
    magazine* full;
    magazine* empty;
    magazine* all_magazines;
    magazine_cache* caches;
    uint64_t fresh_end;       /* blocks carved so far */
} magazine_pool;

/* Returns 0, or -1 when the reservation fails. */
int magazine_pool_init(magazine_pool* pool, size_t block_size, int checked);
void magazine_pool_destroy(magazine_pool* pool);

/* The slow paths: no cache yet, or a magazine to trade at the depot. */
magazine_cache* magazine_pool_register(magazine_pool* pool);
void* magazine_pool_alloc_slow(magazine_pool* pool, magazine_cache* cache);
int magazine_pool_free_slow(magazine_pool* pool, magazine_cache* cache, void* block);

extern __thread magazine_cache* magazine_pool_thread_cache;

enum { MAGAZINE_STATE_FRESH = 0, MAGAZINE_STATE_ALLOCATED = 1, MAGAZINE_STATE_FREE = 2 };

static inline magazine_cache* magazine_pool_cache(magazine_pool* pool)
{
    magazine_cache* cache = magazine_pool_thread_cache;
    return cache ? cache : magazine_pool_register(pool);
}

/* The exact quotient for multiples of stride, and a value above capacity for anything else. */
static inline uint64_t magazine_pool_quotient_if_exact(const magazine_pool* pool, uint64_t offset)
{
    uint64_t product = offset * pool->inverse;
    return pool->shift ? (product >> pool->shift) | (product << (64 - pool->shift)) : product;
}

/* A block, or NULL when the reservation is used up. */
static inline void* magazine_pool_alloc(magazine_pool* pool)
{
    magazine_cache* cache = magazine_pool_cache(pool);
    magazine* loaded = cache->loaded;
    uint32_t count = loaded->count;
    if (count != 0) {
        uint32_t index = loaded->rounds[count - 1];
        if (!pool->checked) {
            loaded->count = count - 1;
            return pool->blocks + (size_t)index * pool->stride;
        }
        uint8_t state = pool->states[index];
        if (state != MAGAZINE_STATE_ALLOCATED) {
            uint64_t sequence = cache->sequence;
            __atomic_store_n(&cache->sequence, sequence + 1, __ATOMIC_RELEASE);
            loaded->count = count - 1;
            __atomic_store_n(&pool->states[index], MAGAZINE_STATE_ALLOCATED, __ATOMIC_RELEASE);
            if (state == MAGAZINE_STATE_FRESH) cache->created++;
            else cache->reused++;
            if (++cache->net > cache->peak_net) cache->peak_net = cache->net;
            __atomic_store_n(&cache->sequence, sequence + 2, __ATOMIC_RELEASE);
            return pool->blocks + (size_t)index * pool->stride;
        }
    }
    return magazine_pool_alloc_slow(pool, cache);
}

/* 0 when freed; -1 for a pointer that is not an allocated block of this pool (checked only). */
static inline int magazine_pool_free(magazine_pool* pool, void* block)
{
    magazine_cache* cache = magazine_pool_cache(pool);
    magazine* loaded = cache->loaded;
    uint32_t count = loaded->count;
    if (!pool->checked) {
        if (count == MAGAZINE_POOL_ROUNDS) return magazine_pool_free_slow(pool, cache, block);
        loaded->rounds[count] = (uint32_t)magazine_pool_quotient_if_exact(pool, (uint64_t)((char*)block - pool->blocks));
        loaded->count = count + 1;
        return 0;
    }
    uint64_t index = magazine_pool_quotient_if_exact(pool, (uint64_t)((char*)block - pool->blocks));
    if (index >= cache->fresh_end_seen) { /* a thread copy, as the library keeps one: fresh_end only grows */
        cache->fresh_end_seen = __atomic_load_n(&pool->fresh_end, __ATOMIC_ACQUIRE);
        if (index >= cache->fresh_end_seen) return -1;
    }
    if (pool->states[index] != MAGAZINE_STATE_ALLOCATED) return -1;
    if (count == MAGAZINE_POOL_ROUNDS) return magazine_pool_free_slow(pool, cache, block);
    uint64_t sequence = cache->sequence;
    __atomic_store_n(&cache->sequence, sequence + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&pool->states[index], MAGAZINE_STATE_FREE, __ATOMIC_RELEASE);
    loaded->rounds[count] = (uint32_t)index;
    loaded->count = count + 1;
    cache->frees++;
    cache->net--;
    __atomic_store_n(&cache->sequence, sequence + 2, __ATOMIC_RELEASE);
    return 0;
}

#endif /* MAGAZINE_POOL_H */
