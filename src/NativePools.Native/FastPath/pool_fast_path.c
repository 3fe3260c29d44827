/*
 * np_pool_alloc and np_pool_free: their common case in C, everything else in the managed
 * export layer (PoolExports.Alloc and PoolExports.Free, reached through their generated shims
 * np_pool_alloc_general and np_pool_free_general in Boundary/exports.g.c, which also run the
 * call elsewhere when the calling thread is exiting).
 *
 * Why C: entering a NativeAOT export costs about 6 ns here (the reverse P/Invoke transition),
 * several times the work of taking a block from the calling thread's magazine. The common
 * case needs no managed state: the calling thread's cache state for the pool is native memory
 * (BlockPool's ThreadCacheState), remembered in a C thread-local slot by the managed general
 * path. So the common case runs here without a transition; a miss (no remembered state, an
 * empty or full magazine, a pointer the checks refuse, a pool with poison or zero flags) goes
 * to the managed path, which does the whole operation and sets the status and detail message.
 *
 * The structs below mirror managed ones. PoolFastPath.cs passes the managed offsets and state
 * values at start-up; np_internal_fast_path_init compares them with these and enables the
 * fast path only when all agree (otherwise np_pool_create refuses to work, so a mismatch
 * cannot go unnoticed). The thread-local is compiled with TLS descriptors where the compiler
 * can (-mtls-dialect=gnu2 on x86-64): about 1 ns, against about 3 ns for a [ThreadStatic] in a
 * NativeAOT shared library.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../Boundary/boundary.h"

/* Each exported fast path starts a cache line, so its speed does not depend on where the linker put it. */
#define NP_FAST_EXPORT NP_BOUNDARY_EXPORT __attribute__((aligned(64)))
#define NP_INTERNAL NP_BOUNDARY_INTERNAL

/* The generated shims of the managed general paths (Boundary/exports.g.c). */
NP_INTERNAL np_status np_pool_alloc_general(np_pool pool, void **block);
NP_INTERNAL np_status np_pool_free_general(np_pool pool, void *block);

/* NativePools.Pools.Magazine: a header, then int32 rounds (block indices). */
typedef struct np_magazine {
    int32_t count;
    int32_t padding;
    struct np_magazine *next;
    struct np_magazine *next_allocated;
} np_magazine;

/* NativePools.Pools.ExactDivider */
typedef struct np_exact_divider {
    uint64_t inverse;
    int32_t shift;
} np_exact_divider;

/* NativePools.Pools.BlockPool.CallView */
typedef struct np_call_view {
    uint8_t *blocks;
    uint64_t stride;
    np_exact_divider divider;
    uint8_t *block_states;
    int64_t *high_water_blocks;
    int32_t magazine_capacity;
    uint8_t touches_blocks;
    uint8_t plain;
} np_call_view;

/* NativePools.Pools.ThreadCacheState: written by its owner thread only. */
typedef struct np_cache_state {
    np_magazine *loaded;
    np_magazine *previous;
    int64_t sequence;
    int64_t created;
    int64_t reused;
    int64_t frees;
    int64_t net;
    int64_t max_net;
    int32_t peak_epoch;
    int64_t high_water_seen;
    np_call_view view;
} np_cache_state;

/* Block states, as BlockPool's. */
enum { STATE_FRESH = 0, STATE_ALLOCATED = 1, STATE_FREE = 2 };

/* The two pools the calling thread used last. Must match PoolThreadSlot.Slot. */
typedef struct np_thread_slot {
    uint64_t handle;
    np_cache_state *state;
    int64_t destroyed_pools;
    uint64_t older_handle;
    np_cache_state *older_state;
    int64_t older_destroyed_pools;
} np_thread_slot;

/* One cache line of its own: the fast path reads it on every call. */
static _Alignas(64) _Thread_local np_thread_slot slot;

/* BlockPool's count of destroyed pools: a remembered state is valid while it is unchanged. */
static const int64_t *destroyed_pools;
static int fast_path_enabled;

NP_INTERNAL np_thread_slot *np_internal_thread_slot(void)
{
    return &slot;
}

/* Called when the thread begins to exit (Boundary/thread_exit.c): after that, another thread
 * may reclaim the thread's caches, so the slot must never lead to them again. */
void np_fast_path_forget_thread(void)
{
    memset(&slot, 0, sizeof slot);
}

/* The layout this file assumes, in the order PoolFastPath.Layout lists the managed one. */
static const int64_t expected_layout[] = {
    (int64_t)sizeof(np_magazine),
    (int64_t)offsetof(np_magazine, count),
    (int64_t)offsetof(np_cache_state, loaded),
    (int64_t)offsetof(np_cache_state, sequence),
    (int64_t)offsetof(np_cache_state, created),
    (int64_t)offsetof(np_cache_state, reused),
    (int64_t)offsetof(np_cache_state, frees),
    (int64_t)offsetof(np_cache_state, net),
    (int64_t)offsetof(np_cache_state, max_net),
    (int64_t)offsetof(np_cache_state, high_water_seen),
    (int64_t)offsetof(np_cache_state, view) + (int64_t)offsetof(np_call_view, blocks),
    (int64_t)offsetof(np_cache_state, view) + (int64_t)offsetof(np_call_view, stride),
    (int64_t)offsetof(np_cache_state, view) + (int64_t)offsetof(np_call_view, divider) + (int64_t)offsetof(np_exact_divider, inverse),
    (int64_t)offsetof(np_cache_state, view) + (int64_t)offsetof(np_call_view, divider) + (int64_t)offsetof(np_exact_divider, shift),
    (int64_t)offsetof(np_cache_state, view) + (int64_t)offsetof(np_call_view, block_states),
    (int64_t)offsetof(np_cache_state, view) + (int64_t)offsetof(np_call_view, high_water_blocks),
    (int64_t)offsetof(np_cache_state, view) + (int64_t)offsetof(np_call_view, magazine_capacity),
    STATE_FRESH,
    STATE_ALLOCATED,
    STATE_FREE,
};

/*
 * Called once, by PoolFastPath's module initializer, when the runtime starts (the first call
 * of the process enters it through a general path: no thread has a remembered state before).
 * Returns 1 when the managed layout is the one above and the fast path is on, 0 otherwise
 * (every call then takes the managed path).
 */
NP_INTERNAL int32_t np_internal_fast_path_init(const int64_t *destroyed, const int64_t *layout, int32_t layout_count)
{
    int matches = layout_count == (int32_t)(sizeof expected_layout / sizeof expected_layout[0]) &&
                  memcmp(layout, expected_layout, sizeof expected_layout) == 0;
    destroyed_pools = destroyed;
    __atomic_store_n(&fast_path_enabled, matches, __ATOMIC_RELEASE);
    return matches;
}

/* The remembered state for handle, or NULL (not remembered, or a pool was destroyed since). */
static inline np_cache_state *find_state(uint64_t handle)
{
    np_thread_slot *s = &slot;
    int64_t destroyed = __atomic_load_n(destroyed_pools, __ATOMIC_ACQUIRE);
    if (s->handle == handle) return s->destroyed_pools == destroyed ? s->state : NULL;
    if (s->older_handle == handle && s->older_destroyed_pools == destroyed) return s->older_state;
    return NULL;
}

static inline int32_t *rounds(np_magazine *magazine)
{
    return (int32_t *)(magazine + 1);
}

static inline int enabled(void)
{
    return __atomic_load_n(&fast_path_enabled, __ATOMIC_ACQUIRE);
}

/*
 * The owner's side of the cache's sequence (see PoolCache.Sequence): odd from before the first
 * store of an operation until after its last, so a reader that sees the same even value before
 * and after reading the cache saw no half-done operation.
 */
static inline void begin_update(np_cache_state *cache, int64_t sequence)
{
    __atomic_store_n(&cache->sequence, sequence + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE); /* the odd value first, then the operation's stores */
}

static inline void end_update(np_cache_state *cache, int64_t sequence)
{
    __atomic_store_n(&cache->sequence, sequence + 2, __ATOMIC_RELEASE);
}

__attribute__((noinline)) static int32_t alloc_slow(uint64_t pool, void **block)
{
    return np_pool_alloc_general(pool, block);
}

__attribute__((noinline)) static int32_t free_slow(uint64_t pool, void *block)
{
    return np_pool_free_general(pool, block);
}

/* BlockPool.TryAllocFrom for a plain pool, store for store. */
NP_FAST_EXPORT int32_t np_pool_alloc(uint64_t pool, void **block)
{
    if (__builtin_expect(enabled() && block != NULL, 1)) {
        np_cache_state *cache = find_state(pool);
        if (cache) {
            np_magazine *loaded = cache->loaded;
            int32_t count = loaded->count;
            if (count != 0) {
                int32_t index = rounds(loaded)[count - 1];
                uint8_t *states = cache->view.block_states;
                uint8_t state = states[index];
                if (state != STATE_ALLOCATED) {
                    int64_t sequence = cache->sequence;
                    begin_update(cache, sequence);
                    loaded->count = count - 1;
                    __atomic_store_n(&states[index], (uint8_t)STATE_ALLOCATED, __ATOMIC_RELEASE);
                    if (state == STATE_FRESH) cache->created++;
                    else cache->reused++;
                    if (++cache->net > cache->max_net) cache->max_net = cache->net;
                    *block = cache->view.blocks + (uint64_t)index * cache->view.stride;
                    end_update(cache, sequence);
                    return NP_OK;
                }
            }
        }
    }
    return alloc_slow(pool, block);
}

/* BlockPool.TryFreeInto for a plain pool, store for store. */
NP_FAST_EXPORT int32_t np_pool_free(uint64_t pool, void *block)
{
    if (__builtin_expect(enabled(), 1)) {
        np_cache_state *cache = find_state(pool);
        if (cache) {
            const np_call_view *view = &cache->view;
            /* One multiply tells both "is a block start" and which block (ExactDivider); the
             * bound check also rejects everything below the pool (the subtraction wraps). */
            uint64_t product = ((uint64_t)(uintptr_t)block - (uint64_t)(uintptr_t)view->blocks) * view->divider.inverse;
            unsigned shift = (unsigned)view->divider.shift & 63;
            uint64_t index = shift ? (product >> shift) | (product << (64 - shift)) : product;
            int known = index < (uint64_t)cache->high_water_seen;
            if (!known) {
                /* The pool's mark only grows while it lives: an old copy only sends frees here. */
                int64_t high_water = __atomic_load_n(view->high_water_blocks, __ATOMIC_ACQUIRE);
                if (index < (uint64_t)high_water) {
                    cache->high_water_seen = high_water;
                    known = 1;
                }
            }
            if (known && view->block_states[index] == STATE_ALLOCATED) {
                np_magazine *loaded = cache->loaded;
                int32_t count = loaded->count;
                if (count != view->magazine_capacity) {
                    int64_t sequence = cache->sequence;
                    begin_update(cache, sequence);
                    __atomic_store_n(&view->block_states[index], (uint8_t)STATE_FREE, __ATOMIC_RELEASE);
                    rounds(loaded)[count] = (int32_t)index;
                    loaded->count = count + 1;
                    cache->frees++;
                    cache->net--;
                    end_update(cache, sequence);
                    return NP_OK;
                }
            }
        }
    }
    return free_slow(pool, block);
}
