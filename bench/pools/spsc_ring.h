/*
 * spsc_ring.h: a lock-free single-producer single-consumer ring of pointers.
 *
 * head is written only by the producer, tail only by the consumer, each on its own cache line
 * next to that side's cached copy of the other index, so a side rereads the other's line only
 * when the ring looks full (producer) or empty (consumer). Indices grow without wrapping
 * (64 bits); a slot is index & mask. Release stores publish a slot, acquire loads consume it.
 */
#ifndef SPSC_RING_H
#define SPSC_RING_H

#include <stdint.h>

typedef struct spsc_ring {
    /* read-only after init */
    _Alignas(128) void** slots;
    uint64_t mask;
    /* producer side */
    _Alignas(128) uint64_t head;
    uint64_t cached_tail;
    /* consumer side */
    _Alignas(128) uint64_t tail;
    uint64_t cached_head;
} spsc_ring;

/* capacity must be a power of two; slots must hold capacity pointers. */
static inline void spsc_ring_init(spsc_ring* ring, void** slots, uint64_t capacity)
{
    ring->slots = slots;
    ring->mask = capacity - 1;
    ring->head = ring->cached_tail = 0;
    ring->tail = ring->cached_head = 0;
}

/* Producer: 1 when pushed, 0 when full. */
static inline int spsc_ring_push(spsc_ring* ring, void* item)
{
    uint64_t head = ring->head;
    if (head - ring->cached_tail > ring->mask) {
        ring->cached_tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
        if (head - ring->cached_tail > ring->mask) return 0;
    }
    ring->slots[head & ring->mask] = item;
    __atomic_store_n(&ring->head, head + 1, __ATOMIC_RELEASE);
    return 1;
}

/* Consumer: 1 and *item when popped, 0 when empty. */
static inline int spsc_ring_pop(spsc_ring* ring, void** item)
{
    uint64_t tail = ring->tail;
    if (tail == ring->cached_head) {
        ring->cached_head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE);
        if (tail == ring->cached_head) return 0;
    }
    *item = ring->slots[tail & ring->mask];
    __atomic_store_n(&ring->tail, tail + 1, __ATOMIC_RELEASE);
    return 1;
}

/* Consumer: items in the ring right now (the producer's head is read fresh). */
static inline uint64_t spsc_ring_occupancy(spsc_ring* ring)
{
    return __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE) - ring->tail;
}

#endif /* SPSC_RING_H */
