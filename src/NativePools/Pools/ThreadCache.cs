using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace NativePools.Pools;

/// <summary>
/// What alloc and free read and write of one thread's cache, in native memory of its own
/// (128-byte aligned and sized, so adjacent-line prefetch never pairs it with another
/// thread's). Native so that the export layer can remember it for the calling thread in a plain
/// thread-local slot (see <see cref="BlockPool.CallingThreadState"/>) without a GC handle, and
/// work on it from C. The export layer's C fast path (pool_fast_path.c) mirrors this struct,
/// <see cref="Magazine"/>, <see cref="BlockPool.CallView"/> and <see cref="ExactDivider"/>: a
/// change here needs the same change there (<see cref="Layout"/> is compared at start-up, and a
/// mismatch makes np_pool_create fail).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ThreadCacheState
{
    public Magazine* Loaded;
    public Magazine* Previous;
    public long Sequence;
    public long Created;
    public long Reused;
    public long Frees;
    public long Net;
    public long MaxNet;
    public int PeakEpoch;
    /// <summary>The pool's high-water mark (blocks) as this thread last read it; see BlockPool.RefreshHighWaterSeen.</summary>
    public long HighWaterSeen;
    public BlockPool.CallView View;

    /// <summary>
    /// Byte offsets of what alloc and free use, as laid out in this build, then the block
    /// states: sizeof(Magazine) (where its rounds start), Magazine.Count, Loaded, Sequence,
    /// Created, Reused, Frees, Net, MaxNet, HighWaterSeen, and View's Blocks, Stride,
    /// Divider.Inverse, Divider.Shift, BlockStates, HighWaterBlocks, MagazineCapacity.
    /// </summary>
    public static long[] Layout(byte fresh, byte allocated, byte free)
    {
        ThreadCacheState state = default;
        Magazine magazine = default;
        byte* s = (byte*)&state;
        return
        [
            sizeof(Magazine), (byte*)&magazine.Count - (byte*)&magazine,
            (byte*)&state.Loaded - s, (byte*)&state.Sequence - s, (byte*)&state.Created - s,
            (byte*)&state.Reused - s, (byte*)&state.Frees - s, (byte*)&state.Net - s,
            (byte*)&state.MaxNet - s, (byte*)&state.HighWaterSeen - s,
            (byte*)&state.View.Blocks - s, (byte*)&state.View.Stride - s,
            (byte*)&state.View.Divider.Inverse - s, (byte*)&state.View.Divider.Shift - s,
            (byte*)&state.View.BlockStates - s, (byte*)&state.View.HighWaterBlocks - s,
            (byte*)&state.View.MagazineCapacity - s,
            fresh, allocated, free,
        ];
    }

    public static ThreadCacheState* Allocate(in BlockPool.CallView view)
    {
        nuint bytes = (nuint)((sizeof(ThreadCacheState) + 127) & ~127);
        var state = (ThreadCacheState*)NativeMemory.AlignedAlloc(bytes, 128);
        if (state is null) return null;
        NativeMemory.Clear(state, bytes);
        state->View = view;
        return state;
    }
}

/// <summary>
/// One thread's cache for one pool: a loaded and a previous magazine (so a thread that
/// alternates alloc and free at a magazine boundary does not bounce on the depot) and the
/// thread's own counters. Only the owner thread writes it, so nothing here is atomic;
/// other threads read the counters for stats (64-bit reads cannot tear on 64-bit targets).
/// When the owner thread has exited, the pool reclaims the magazines (see BlockPool.ReclaimDeadCachesLocked).
/// </summary>
internal sealed unsafe class PoolCache
{
    public readonly BlockPool Pool;
    public readonly Thread Owner;

    /// <summary>The per-call part; freed (and set to null) when the pool reclaims the cache or is disposed.</summary>
    public ThreadCacheState* State { get; private set; }

    /// <summary>The magazine alloc and free work on.</summary>
    public ref Magazine* Loaded => ref State->Loaded;

    /// <summary>The other magazine, swapped in before going to the depot.</summary>
    public ref Magazine* Previous => ref State->Previous;

    /// <summary>
    /// Odd while the owner is inside an operation on this pool, even between operations. The
    /// owner bumps it before its first and after its last store (release writes), so a reader
    /// that sees the same even value before and after a walk knows the walk saw no half-done
    /// operation of this thread.
    /// </summary>
    public ref long Sequence => ref State->Sequence;

    // Event counters (owner thread only).
    public ref long Created => ref State->Created;
    public ref long Reused => ref State->Reused;
    public ref long Frees => ref State->Frees;

    /// <summary>Allocations minus frees by this thread (negative for pure consumers).</summary>
    public ref long Net => ref State->Net;

    /// <summary>Highest <see cref="Net"/> since the pool last sampled it (see BlockPool.ReportPeakLocked).</summary>
    public ref long MaxNet => ref State->MaxNet;

    /// <summary>The pool's stats epoch when <see cref="MaxNet"/> started counting (ResetStats starts a new one).</summary>
    public ref int PeakEpoch => ref State->PeakEpoch;

    /// <summary>The pool's immutable per-call data (a copy, so a call reads one block of memory).</summary>
    public ref readonly BlockPool.CallView View => ref State->View;

    public PoolCache(BlockPool pool, ThreadCacheState* state, Thread owner, Magazine* loaded, Magazine* previous)
    {
        Pool = pool;
        State = state;
        Owner = owner;
        Loaded = loaded;
        Previous = previous;
    }

    /// <summary>Frees the per-call part. Only once the owner can no longer use it: it has exited, or the pool is disposed.</summary>
    public void Release()
    {
        NativeMemory.AlignedFree(State);
        State = null;
    }
}

/// <summary>
/// The calling thread's caches, indexed by pool id. A [ThreadStatic] array lookup costs a
/// TLS access and two loads; the first use on a thread allocates (once).
/// </summary>
internal static class ThreadCaches
{
    [ThreadStatic] private static PoolCache?[]? t_byPool;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PoolCache? Get(BlockPool pool, int poolId)
    {
        PoolCache?[]? caches = t_byPool;
        if (caches is not null && (uint)poolId < (uint)caches.Length)
        {
            PoolCache? cache = caches[poolId];
            if (cache is not null && ReferenceEquals(cache.Pool, pool)) return cache;
        }
        return null;
    }

    public static void Set(int poolId, PoolCache? cache)
    {
        PoolCache?[]? caches = t_byPool;
        if (caches is null || poolId >= caches.Length)
        {
            Array.Resize(ref caches, Math.Max(poolId + 1, Math.Max(8, (caches?.Length ?? 0) * 2)));
            t_byPool = caches;
        }
        caches[poolId] = cache;
    }
}

/// <summary>Small integer ids for live pools (index into each thread's cache array), reused after dispose.</summary>
internal static class PoolIds
{
    private static readonly object s_lock = new();
    private static int[] s_free = new int[16];
    private static int s_freeCount;
    private static int s_next;

    public static int Rent()
    {
        lock (s_lock)
        {
            return s_freeCount > 0 ? s_free[--s_freeCount] : s_next++;
        }
    }

    public static void Return(int id)
    {
        lock (s_lock)
        {
            if (s_freeCount == s_free.Length) Array.Resize(ref s_free, s_free.Length * 2);
            s_free[s_freeCount++] = id;
        }
    }
}
