#include "allocators.h"

#include <stdio.h>
#include <string.h>

#include "bench_util.h"

/* The shared object each malloc peer lives in, as /proc/self/maps names it. */
static const struct {
    const char* name;
    const char* library;
} malloc_peers[] = {
    {"jemalloc", "libjemalloc"},
    {"mimalloc", "libmimalloc"},
    {"tcmalloc", "libtcmalloc"},
};

enum { MALLOC_PEER_COUNT = sizeof malloc_peers / sizeof malloc_peers[0] };

/* glibc means no peer is loaded; a peer means that one is. */
static void check_malloc_loaded(const char* name)
{
    for (int i = 0; i < MALLOC_PEER_COUNT; i++) {
        int mapped = bench_library_mapped(malloc_peers[i].library);
        int wanted = strcmp(name, malloc_peers[i].name) == 0;
        if (mapped && !wanted)
            bench_fail("allocator '%s' asked for, but %s is loaded (LD_PRELOAD=%s)", name,
                       malloc_peers[i].library, getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "");
        if (!mapped && wanted)
            bench_fail("allocator '%s' asked for, but %s is not loaded: start with LD_PRELOAD", name,
                       malloc_peers[i].library);
    }
}

void allocator_np_failed(const char* call, np_status status)
{
    char detail[512] = "";
    np_last_error_message(detail, sizeof detail);
    bench_fail("%s failed: %s (%s)", call, np_status_name(status), detail);
}

np_pool allocator_create_np_pool(size_t block_size)
{
    np_pool_options options;
    np_status status;
    switch (block_size) {
    case 264: status = np_pool_options_preset(&options, NP_POOL_PRESET_SMALL); break;
    case 1024: status = np_pool_options_preset(&options, NP_POOL_PRESET_MEDIUM); break;
    case 10240: status = np_pool_options_preset(&options, NP_POOL_PRESET_LARGE); break;
    default:
        status = np_pool_options_init(&options);
        options.block_size = block_size;
        break;
    }
    if (status != NP_OK) allocator_np_failed("np_pool_options", status);
    np_pool pool = 0;
    status = np_pool_create(&options, &pool);
    if (status != NP_OK) allocator_np_failed("np_pool_create", status);
    return pool;
}

void allocator_open(allocator* a, const char* name, size_t block_size)
{
    memset(a, 0, sizeof *a);
    a->name = name;
    a->block_size = block_size;
    if (strcmp(name, "nativepools") == 0) {
        a->kind = ALLOCATOR_NATIVEPOOLS;
        a->pool = allocator_create_np_pool(block_size);
    } else if (strcmp(name, "magazine_pool") == 0 || strcmp(name, "magazine_pool_unchecked") == 0) {
        a->kind = ALLOCATOR_MAGAZINE_POOL;
        if (magazine_pool_init(&a->magazine, block_size, strcmp(name, "magazine_pool") == 0) != 0)
            bench_fail("magazine_pool_init failed");
    } else if (strcmp(name, "mutex_pool") == 0) {
        a->kind = ALLOCATOR_MUTEX_POOL;
        if (mutex_pool_init(&a->mutex, block_size, 0) != 0) bench_fail("mutex_pool_init failed");
    } else if (strcmp(name, "glibc") == 0 || strcmp(name, "jemalloc") == 0 ||
               strcmp(name, "mimalloc") == 0 || strcmp(name, "tcmalloc") == 0) {
        a->kind = ALLOCATOR_MALLOC;
        check_malloc_loaded(name);
    } else {
        bench_fail("unknown allocator '%s' (nativepools, mutex_pool, magazine_pool, magazine_pool_unchecked, "
                   "glibc, jemalloc, mimalloc, tcmalloc)",
                   name);
    }
}

void allocator_close(allocator* a)
{
    if (a->kind == ALLOCATOR_NATIVEPOOLS) {
        np_status status = np_pool_destroy(a->pool);
        if (status != NP_OK) allocator_np_failed("np_pool_destroy", status);
    } else if (a->kind == ALLOCATOR_MUTEX_POOL) {
        mutex_pool_destroy(&a->mutex);
    } else if (a->kind == ALLOCATOR_MAGAZINE_POOL) {
        magazine_pool_destroy(&a->magazine);
    }
    a->pool = 0;
}
