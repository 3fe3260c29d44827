/*
 * mutex_pool.h: the reference design the issue compares against (shared/reference/001_*): one
 * pthread mutex around a free list, growing by chunks. Every alloc and free takes the lock.
 *
 * Blocks are carved from chunks mapped with mmap (so the allocator under LD_PRELOAD never sees
 * them); a free block stores the free-list link in its first word, as C free lists usually do.
 */
#ifndef MUTEX_POOL_H
#define MUTEX_POOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mutex_pool_chunk mutex_pool_chunk;

typedef struct mutex_pool {
    pthread_mutex_t lock;
    void* free_list;           /* singly linked through each free block's first word */
    mutex_pool_chunk* chunks;  /* every chunk ever mapped, for destroy */
    size_t stride;             /* block size rounded up to 16 bytes */
    size_t blocks_per_chunk;
    uint64_t capacity;         /* blocks in all chunks */
    uint64_t in_use;
} mutex_pool;

/* Chunk size when the caller gives 0: the same 64 KiB growth step as libnativepools. */
enum { MUTEX_POOL_DEFAULT_CHUNK_BYTES = 64 * 1024 };

/* Returns 0, or -1 when block_size is 0. chunk_bytes 0 picks the default. */
int mutex_pool_init(mutex_pool* pool, size_t block_size, size_t chunk_bytes);
/* Unmaps every chunk; blocks still out become invalid. */
void mutex_pool_destroy(mutex_pool* pool);
/* A block of at least block_size bytes, 16-byte aligned, or NULL when mmap fails. */
void* mutex_pool_alloc(mutex_pool* pool);
/* Returns a block taken from this pool (not checked). */
void mutex_pool_free(mutex_pool* pool, void* block);

#endif /* MUTEX_POOL_H */
