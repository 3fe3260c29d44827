/*
 * The calling thread's slot for the pool fast path (see PoolThreadSlot.cs).
 *
 * Why C: NativeAOT reaches its own thread statics in a shared library through
 * __tls_get_addr (general-dynamic TLS), about 3 ns per call here. A C thread-local
 * compiled with TLS descriptors (-mtls-dialect=gnu2 on x86-64, the default on arm64
 * and Apple platforms) costs about 1 ns, and np_pool_alloc/np_pool_free need it on
 * every call. The slot holds plain numbers and pointers only, so no GC handle is needed.
 */
#include <stdint.h>

/* Must match PoolThreadSlot.Slot. */
typedef struct np_thread_slot {
    uint64_t handle;
    void *state;
    int64_t destroyed_pools;
    uint64_t older_handle;
    void *older_state;
    int64_t older_destroyed_pools;
} np_thread_slot;

static _Thread_local np_thread_slot slot;

/* Hidden: linked into libnativepools only, never exported. */
__attribute__((visibility("hidden"))) np_thread_slot *np_internal_thread_slot(void)
{
    return &slot;
}
