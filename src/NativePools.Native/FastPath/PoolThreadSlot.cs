using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativePools.Pools;

namespace NativePools.Native.FastPath;

/// <summary>
/// The two pool handles the calling thread used last, with its cache states for them, so that
/// np_pool_alloc and np_pool_free (their C part, pool_fast_path.c) skip the handle table and the
/// per-pool cache lookup. Kept in a C thread-local (linked into the library): the C part reads
/// it directly, and from here reaching it costs about 1 ns, against about 3 ns for a
/// [ThreadStatic] in a NativeAOT shared library. Only the managed general path writes it.
/// </summary>
internal static unsafe class PoolThreadSlot
{
    /// <summary>Layout of np_thread_slot in pool_fast_path.c.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Slot
    {
        public ulong Handle;
        public nint State;
        public long DestroyedPools;
        public ulong OlderHandle;
        public nint OlderState;
        public long OlderDestroyedPools;
    }

    // A direct call into the linked object (see DirectPInvoke in the project), without a GC
    // transition: the function only computes an address.
    [DllImport("np_fast_path", EntryPoint = "np_internal_thread_slot", ExactSpelling = true)]
    [SuppressGCTransition]
    private static extern Slot* Current();

    /// <summary>
    /// The calling thread's cache state for the pool behind <paramref name="handle"/>, or 0 when
    /// the thread has not remembered it or any pool was destroyed since (destroy frees the states
    /// of its caches, and a handle alone does not say which pool that was).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static nint Find(ulong handle)
    {
        Slot* slot = Current();
        long destroyed = BlockPool.DestroyedPools;
        if (slot->Handle == handle) return slot->DestroyedPools == destroyed ? slot->State : 0;
        if (slot->OlderHandle == handle && slot->OlderDestroyedPools == destroyed) return slot->OlderState;
        return 0;
    }

    /// <summary>
    /// Remembers the calling thread's cache state for <paramref name="pool"/> under
    /// <paramref name="handle"/> (after a general-path call, which creates the cache). Pools whose
    /// calls always take the general path are not remembered.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Remember(ulong handle, BlockPool pool)
    {
        // Read the count first: a destroy after this read makes the entry stale, as it must.
        long destroyed = BlockPool.DestroyedPools;
        nint state = pool.CallingThreadState();
        if (state == 0) return;
        Slot* slot = Current();
        if (slot->Handle == handle)
        {
            slot->State = state;
            slot->DestroyedPools = destroyed;
            return;
        }
        slot->OlderHandle = slot->Handle;
        slot->OlderState = slot->State;
        slot->OlderDestroyedPools = slot->DestroyedPools;
        slot->Handle = handle;
        slot->State = state;
        slot->DestroyedPools = destroyed;
    }
}
