/*
 * allocators.h: the allocators under test behind one small inline interface.
 *
 *   nativepools  libnativepools through its C ABI (np_pool_alloc / np_pool_free), as users call it
 *   mutex_pool   the mutex-protected free-list pool of mutex_pool.c (the reference design)
 *   magazine_pool, magazine_pool_unchecked
 *                the library's design in plain C (magazine_pool.c), with and without its per-block
 *                checks and counters: the library's figure against these shows what the boundary
 *                and the checks cost
 *   glibc, jemalloc, mimalloc, tcmalloc
 *                malloc/free of whichever allocator the process was started with: run.sh loads
 *                the peers with LD_PRELOAD, and allocator_open checks that the named one is the
 *                one mapped, so a missing preload cannot pass for a peer.
 *
 * The switch in allocator_alloc/free is on a value fixed for the whole run, so it is predicted
 * perfectly and costs every allocator the same.
 */
#ifndef ALLOCATORS_H
#define ALLOCATORS_H

#include <stdlib.h>

#include "bench_util.h"
#include "magazine_pool.h"
#include "mutex_pool.h"
#include "nativepools.h"

typedef enum allocator_kind {
    ALLOCATOR_NATIVEPOOLS,
    ALLOCATOR_MUTEX_POOL,
    ALLOCATOR_MAGAZINE_POOL,
    ALLOCATOR_MALLOC,
} allocator_kind;

typedef struct allocator {
    allocator_kind kind;
    const char* name;   /* as given: nativepools, mutex_pool, magazine_pool[_unchecked], glibc, jemalloc, mimalloc, tcmalloc */
    size_t block_size;
    np_pool pool;       /* ALLOCATOR_NATIVEPOOLS */
    mutex_pool mutex;   /* ALLOCATOR_MUTEX_POOL */
    magazine_pool magazine; /* ALLOCATOR_MAGAZINE_POOL */
} allocator;

/* Opens the named allocator for blocks of block_size bytes; exits with a message on failure. */
void allocator_open(allocator* a, const char* name, size_t block_size);
void allocator_close(allocator* a);

/* Creates a libnativepools pool the way users do: the preset when one matches, else init + size. */
np_pool allocator_create_np_pool(size_t block_size);

/* Exits with the status name and the library's detail message. */
void allocator_np_failed(const char* call, np_status status) __attribute__((noreturn, cold));

static inline void* allocator_alloc(allocator* a)
{
    void* block = NULL;
    switch (a->kind) {
    case ALLOCATOR_NATIVEPOOLS: {
        np_status status = np_pool_alloc(a->pool, &block);
        if (status != NP_OK) allocator_np_failed("np_pool_alloc", status);
        break;
    }
    case ALLOCATOR_MUTEX_POOL:
        block = mutex_pool_alloc(&a->mutex);
        break;
    case ALLOCATOR_MAGAZINE_POOL:
        block = magazine_pool_alloc(&a->magazine);
        break;
    case ALLOCATOR_MALLOC:
        block = malloc(a->block_size);
        break;
    }
    if (!block) bench_fail("%s: allocation of %zu bytes failed", a->name, a->block_size);
    return block;
}

static inline void allocator_free(allocator* a, void* block)
{
    switch (a->kind) {
    case ALLOCATOR_NATIVEPOOLS: {
        np_status status = np_pool_free(a->pool, block);
        if (status != NP_OK) allocator_np_failed("np_pool_free", status);
        break;
    }
    case ALLOCATOR_MUTEX_POOL:
        mutex_pool_free(&a->mutex, block);
        break;
    case ALLOCATOR_MAGAZINE_POOL:
        if (magazine_pool_free(&a->magazine, block) != 0) bench_fail("%s refused the free of %p", a->name, block);
        break;
    case ALLOCATOR_MALLOC:
        free(block);
        break;
    }
}

#endif /* ALLOCATORS_H */
