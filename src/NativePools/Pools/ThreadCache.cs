using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace NativePools.Pools;

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

    /// <summary>
    /// What the owner writes on every call, 128 bytes clear of anything outside it (adjacent-line
    /// prefetch pairs 64-byte lines): caches of different threads are allocated side by side, and
    /// without the gap a producer's and a consumer's counters share lines that bounce between
    /// their cores on every call.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 2 * Gap + 9 * 8)]
    private struct OwnerWritten
    {
        private const int Gap = 128;
        [FieldOffset(Gap + 0)] public Magazine* Loaded;
        [FieldOffset(Gap + 8)] public Magazine* Previous;
        [FieldOffset(Gap + 16)] public long Sequence;
        [FieldOffset(Gap + 24)] public long Created;
        [FieldOffset(Gap + 32)] public long Reused;
        [FieldOffset(Gap + 40)] public long Frees;
        [FieldOffset(Gap + 48)] public long Net;
        [FieldOffset(Gap + 56)] public long MaxNet;
        [FieldOffset(Gap + 64)] public int PeakEpoch;
    }

    private OwnerWritten _owner;

    /// <summary>The magazine alloc and free work on.</summary>
    public ref Magazine* Loaded => ref _owner.Loaded;

    /// <summary>The other magazine, swapped in before going to the depot.</summary>
    public ref Magazine* Previous => ref _owner.Previous;

    /// <summary>
    /// Odd while the owner is inside an operation on this pool, even between operations. The
    /// owner bumps it before its first and after its last store (release writes), so a reader
    /// that sees the same even value before and after a walk knows the walk saw no half-done
    /// operation of this thread.
    /// </summary>
    public ref long Sequence => ref _owner.Sequence;

    // Event counters (owner thread only).
    public ref long Created => ref _owner.Created;
    public ref long Reused => ref _owner.Reused;
    public ref long Frees => ref _owner.Frees;

    /// <summary>Allocations minus frees by this thread (negative for pure consumers).</summary>
    public ref long Net => ref _owner.Net;

    /// <summary>Highest <see cref="Net"/> since the pool last sampled it (see BlockPool.ReportPeakLocked).</summary>
    public ref long MaxNet => ref _owner.MaxNet;

    /// <summary>The pool's stats epoch when <see cref="MaxNet"/> started counting (ResetStats starts a new one).</summary>
    public ref int PeakEpoch => ref _owner.PeakEpoch;

    /// <summary>
    /// Set when the pool is destroyed (its magazines are gone). A thread that still holds this
    /// cache as its last-used one sees it and takes the general path, which reports the handle.
    /// </summary>
    public bool Revoked;

    /// <summary>The pool's immutable per-call data, copied here so a call reads one object, not two.</summary>
    public readonly BlockPool.CallView View;

    public PoolCache(BlockPool pool, in BlockPool.CallView view, Thread owner, Magazine* loaded, Magazine* previous)
    {
        Pool = pool;
        View = view;
        Owner = owner;
        Loaded = loaded;
        Previous = previous;
    }
}

/// <summary>
/// The calling thread's caches, indexed by pool id. A [ThreadStatic] array lookup costs a
/// TLS access and two loads; the first use on a thread allocates (once).
/// </summary>
internal static class ThreadCaches
{
    [ThreadStatic] private static PoolCache?[]? t_byPool;

    /// <summary>The two pool handles this thread called through last, and its caches for those pools.</summary>
    private struct LastUsed
    {
        public ulong Handle;
        public PoolCache? Cache;
        public ulong OlderHandle;
        public PoolCache? OlderCache;
    }

    [ThreadStatic] private static LastUsed t_lastUsed;

    /// <summary>
    /// The calling thread's cache for the pool behind <paramref name="handle"/> when it is one of
    /// the two handles the thread called through last, else null: one TLS access and a compare
    /// instead of the handle table and the per-pool array (most threads use one or two pools at
    /// a time). A match only says the handle was valid then; the caller checks
    /// <see cref="PoolCache.Revoked"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PoolCache? ForLastHandle(ulong handle)
    {
        ref LastUsed last = ref t_lastUsed;
        if (last.Handle == handle) return last.Cache;
        return last.OlderHandle == handle ? last.OlderCache : null;
    }

    /// <summary>Makes <paramref name="cache"/> the one <see cref="ForLastHandle"/> finds for <paramref name="handle"/> (never 0: unregistered pools are not remembered).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void RememberLastHandle(ulong handle, PoolCache cache)
    {
        ref LastUsed last = ref t_lastUsed;
        last.OlderHandle = last.Handle;
        last.OlderCache = last.Cache;
        last.Handle = handle;
        last.Cache = cache;
    }

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
