#define _GNU_SOURCE
#include "mutex_pool.h"

#include <string.h>
#include <sys/mman.h>

struct mutex_pool_chunk {
    mutex_pool_chunk* next;
    size_t bytes; /* whole mapping, header included */
};

/* The chunk header takes the first 16 bytes so blocks after it stay 16-byte aligned. */
enum { CHUNK_HEADER_BYTES = 16, BLOCK_ALIGNMENT = 16 };

int mutex_pool_init(mutex_pool* pool, size_t block_size, size_t chunk_bytes)
{
    if (block_size == 0) return -1;
    memset(pool, 0, sizeof *pool);
    pthread_mutex_init(&pool->lock, NULL);
    if (block_size < sizeof(void*)) block_size = sizeof(void*);
    pool->stride = (block_size + BLOCK_ALIGNMENT - 1) & ~(size_t)(BLOCK_ALIGNMENT - 1);
    if (chunk_bytes == 0) chunk_bytes = MUTEX_POOL_DEFAULT_CHUNK_BYTES;
    pool->blocks_per_chunk = chunk_bytes / pool->stride;
    if (pool->blocks_per_chunk == 0) pool->blocks_per_chunk = 1;
    return 0;
}

void mutex_pool_destroy(mutex_pool* pool)
{
    mutex_pool_chunk* chunk = pool->chunks;
    while (chunk) {
        mutex_pool_chunk* next = chunk->next;
        munmap(chunk, chunk->bytes);
        chunk = next;
    }
    pthread_mutex_destroy(&pool->lock);
    memset(pool, 0, sizeof *pool);
}

/* Maps one chunk and threads its blocks onto the free list. Caller holds the lock. */
static int grow_locked(mutex_pool* pool)
{
    size_t bytes = CHUNK_HEADER_BYTES + pool->blocks_per_chunk * pool->stride;
    void* memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) return -1;
    mutex_pool_chunk* chunk = memory;
    chunk->bytes = bytes;
    chunk->next = pool->chunks;
    pool->chunks = chunk;

    /* Pushed from the last block down so the free list hands blocks out in address order. */
    char* first = (char*)memory + CHUNK_HEADER_BYTES;
    for (size_t i = pool->blocks_per_chunk; i-- > 0;) {
        void** block = (void**)(first + i * pool->stride);
        *block = pool->free_list;
        pool->free_list = block;
    }
    pool->capacity += pool->blocks_per_chunk;
    return 0;
}

void* mutex_pool_alloc(mutex_pool* pool)
{
    pthread_mutex_lock(&pool->lock);
    if (!pool->free_list && grow_locked(pool) != 0) {
        pthread_mutex_unlock(&pool->lock);
        return NULL;
    }
    void** block = pool->free_list;
    pool->free_list = *block;
    pool->in_use++;
    pthread_mutex_unlock(&pool->lock);
    return block;
}

void mutex_pool_free(mutex_pool* pool, void* block)
{
    pthread_mutex_lock(&pool->lock);
    *(void**)block = pool->free_list;
    pool->free_list = block;
    pool->in_use--;
    pthread_mutex_unlock(&pool->lock);
}
