#define _GNU_SOURCE
#include "magazine_pool.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

__thread magazine_cache* magazine_pool_thread_cache;

/* Address space reserved for blocks (never touched until carved; MAP_NORESERVE). */
enum { RESERVATION_BYTES = 1 << 30, BLOCK_ALIGNMENT = 16 };

int magazine_pool_init(magazine_pool* pool, size_t block_size, int checked)
{
    memset(pool, 0, sizeof *pool);
    pool->checked = checked;
    pool->stride = (block_size + BLOCK_ALIGNMENT - 1) & ~(size_t)(BLOCK_ALIGNMENT - 1);
    pool->capacity = RESERVATION_BYTES / pool->stride;
    pool->blocks = mmap(NULL, RESERVATION_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (pool->blocks == MAP_FAILED) return -1;
    pool->states = calloc(pool->capacity, 1);
    if (!pool->states) {
        munmap(pool->blocks, RESERVATION_BYTES);
        return -1;
    }
    /* stride = odd * 2^shift; Newton's iteration gives odd's inverse mod 2^64 (as ExactDivider.cs) */
    pool->shift = (unsigned)__builtin_ctzll(pool->stride);
    uint64_t odd = pool->stride >> pool->shift, inverse = odd;
    for (int i = 0; i < 5; i++) inverse *= 2 - odd * inverse;
    pool->inverse = inverse;
    pthread_mutex_init(&pool->lock, NULL);
    return 0;
}

void magazine_pool_destroy(magazine_pool* pool)
{
    for (magazine* m = pool->all_magazines; m;) {
        magazine* next = m->next_allocated;
        free(m);
        m = next;
    }
    for (magazine_cache* c = pool->caches; c;) {
        magazine_cache* next = c->next_cache;
        free(c);
        c = next;
    }
    free(pool->states);
    munmap(pool->blocks, RESERVATION_BYTES);
    pthread_mutex_destroy(&pool->lock);
    /* Only the calling thread's pointer can be cleared; the driver destroys after joining. */
    magazine_pool_thread_cache = NULL;
}

/* Under the lock. */
static magazine* new_magazine_locked(magazine_pool* pool)
{
    magazine* m = calloc(1, sizeof *m);
    if (!m) abort();
    m->next_allocated = pool->all_magazines;
    pool->all_magazines = m;
    return m;
}

static magazine* take_empty_locked(magazine_pool* pool)
{
    magazine* m = pool->empty;
    if (!m) return new_magazine_locked(pool);
    pool->empty = m->next;
    return m;
}

magazine_cache* magazine_pool_register(magazine_pool* pool)
{
    magazine_cache* cache = aligned_alloc(128, (sizeof(magazine_cache) + 127) & ~(size_t)127);
    if (!cache) abort();
    memset(cache, 0, sizeof *cache);
    pthread_mutex_lock(&pool->lock);
    cache->loaded = take_empty_locked(pool);
    cache->previous = take_empty_locked(pool);
    cache->next_cache = pool->caches;
    pool->caches = cache;
    pthread_mutex_unlock(&pool->lock);
    magazine_pool_thread_cache = cache;
    return cache;
}

/* The loaded magazine is empty: the previous one if it has rounds, else a full one from the
 * depot, else fresh blocks (lowest address popped first). */
void* magazine_pool_alloc_slow(magazine_pool* pool, magazine_cache* cache)
{
    if (cache->loaded->count != 0) return NULL; /* a round says allocated: corrupted */
    magazine* previous = cache->previous;
    if (previous->count == 0) {
        pthread_mutex_lock(&pool->lock);
        if (pool->full) {
            magazine* full = pool->full;
            pool->full = full->next;
            previous->next = pool->empty;
            pool->empty = previous;
            previous = full;
        } else {
            uint64_t n = pool->capacity - pool->fresh_end;
            if (n > MAGAZINE_POOL_ROUNDS) n = MAGAZINE_POOL_ROUNDS;
            for (uint64_t i = 0; i < n; i++) previous->rounds[i] = (uint32_t)(pool->fresh_end + n - 1 - i);
            previous->count = (uint32_t)n;
            __atomic_store_n(&pool->fresh_end, pool->fresh_end + n, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&pool->lock);
        if (previous->count == 0) {
            cache->previous = previous;
            return NULL; /* reservation used up */
        }
    }
    cache->previous = cache->loaded;
    cache->loaded = previous;
    return magazine_pool_alloc(pool);
}

/* The loaded magazine is full: the previous one if empty, else trade a full one at the depot. */
int magazine_pool_free_slow(magazine_pool* pool, magazine_cache* cache, void* block)
{
    magazine* previous = cache->previous;
    if (previous->count != 0) {
        pthread_mutex_lock(&pool->lock);
        previous->next = pool->full;
        pool->full = previous;
        previous = take_empty_locked(pool);
        pthread_mutex_unlock(&pool->lock);
    }
    cache->previous = cache->loaded;
    cache->loaded = previous;
    return magazine_pool_free(pool, block);
}
