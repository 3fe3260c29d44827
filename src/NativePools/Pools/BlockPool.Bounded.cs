using System.Runtime.InteropServices;
using System.Threading;
using NativePools.Diagnostics;

namespace NativePools.Pools;

// Pools with max_blocks: every block counts against the bound wherever it sits, so a free block
// in the cache of an idle thread must still reach a thread that allocates.
//
// Why the owner claims its cache. The plain alloc and free (TryAllocFrom, TryFreeInto and the
// export layer's C fast path) read the loaded magazine and its count before they mark the cache
// busy, then store the count they computed. Another thread that took rounds out of that magazine
// meanwhile would see its change overwritten and the same block handed out twice; and an owner
// that is idle (blocked in its own code) never honours a request to give blocks back. So a bounded
// pool never takes that path (CallView.Plain is false: no C fast path, no inline path). Its
// owner claims its cache for each operation with one compare-and-swap of the cache's sequence
// (even to odd), and only then reads the magazines. A thread that finds the pool at its limit
// holds _lock and claims every other cache the same way, so it owns them all at one instant:
// the free blocks it finds there, plus the depot, are exactly the free blocks of the pool at that
// instant, and it moves them to the depot. Exhaustion is then reported only when, at that
// instant, every block was allocated.
//
// Why this cannot deadlock: an owner holds its claim only for a few stores and never waits while
// holding it (every path that needs _lock releases the claim first), so a thief that finds a claim
// spins briefly. An owner that finds its cache claimed waits for _lock, which the thief holds
// until it has released every claim.
//
// Cost: a bounded pool's calls enter the managed slow path and pay one uncontended locked
// instruction on a line of their own; unbounded pools keep the plain path unchanged. The other
// designs were rejected: small magazines still leave blocks stranded in idle caches (two per thread
// and pool, unbounded in the number of threads), and a budget of cached blocks checked near the
// bound must still take the blocks back from idle threads, which needs this claim anyway.
public sealed unsafe partial class BlockPool
{
    /// <summary>Claims the cache for one operation (its sequence goes from even to odd); false while another thread taking blocks back holds it.</summary>
    private static bool TryClaim(PoolCache cache, out long sequence)
    {
        sequence = Volatile.Read(ref cache.Sequence);
        return (sequence & 1) == 0 && Interlocked.CompareExchange(ref cache.Sequence, sequence + 1, sequence) == sequence;
    }

    /// <summary>The claim failed: a thread taking back cached blocks holds the cache, and _lock until it is done.</summary>
    private void WaitForTakeBack()
    {
        lock (_lock) { }
    }

    /// <summary>Alloc of a bounded pool: claims the cache, takes a block from it, or refills it under _lock (unclaimed).</summary>
    private NpStatus AllocBounded(PoolCache cache, out nint block)
    {
        block = 0;
        while (true)
        {
            if (!TryClaim(cache, out long sequence))
            {
                WaitForTakeBack();
                continue;
            }
            Magazine* loaded = cache.Loaded;
            if (loaded->Count == 0 && cache.Previous->Count != 0)
            {
                cache.Loaded = cache.Previous;
                cache.Previous = loaded;
                loaded = cache.Loaded;
            }
            if (loaded->Count != 0)
            {
                int index = Magazine.Rounds(loaded)[--loaded->Count];
                bool marked = TryMarkAllocated(index, out byte state);
                if (marked) block = HandedOut(cache, index, state);
                Volatile.Write(ref cache.Sequence, sequence + 2);
                if (marked) return NpStatus.Ok;
                DropDuplicate(index);
                continue;
            }
            Volatile.Write(ref cache.Sequence, sequence + 2);
            // Both magazines are empty and stay so: only this thread puts blocks into them.
            lock (_lock)
            {
                NpStatus status = RefillLocked(cache);
                if (status != NpStatus.Ok) return status;
            }
        }
    }

    /// <summary>Free of a bounded pool (the pointer passed the checks of FreeSlow): claims the cache and puts the block in.</summary>
    private NpStatus FreeBounded(PoolCache cache, nint block, ulong index)
    {
        while (true)
        {
            if (!TryClaim(cache, out long sequence))
            {
                WaitForTakeBack();
                continue;
            }
            Magazine* loaded = cache.Loaded;
            if (loaded->Count == _magazineCapacity && cache.Previous->Count == 0)
            {
                cache.Loaded = cache.Previous;
                cache.Previous = loaded;
                loaded = cache.Loaded;
            }
            if (loaded->Count != _magazineCapacity)
            {
                if (!TryMarkFree(index))
                {
                    Volatile.Write(ref cache.Sequence, sequence + 2);
                    return RejectFree(block);
                }
                PutFreed(cache, index);
                Volatile.Write(ref cache.Sequence, sequence + 2);
                return NpStatus.Ok;
            }
            Volatile.Write(ref cache.Sequence, sequence + 2);
            // Both magazines hold blocks and the loaded one is full; a thief may empty them meanwhile.
            lock (_lock)
            {
                if (cache.Loaded->Count != _magazineCapacity) continue;
                NpStatus status = cache.Previous->Count == 0 ? NpStatus.Ok : HandInPreviousLocked(cache);
                if (status != NpStatus.Ok) return status; // out of memory: the block stays the caller's
                if (cache.Loaded->Count == _magazineCapacity)
                {
                    Magazine* full = cache.Loaded;
                    cache.Loaded = cache.Previous;
                    cache.Previous = full;
                }
            }
        }
    }

    /// <summary>
    /// A bounded pool is at its limit and the depot is empty: claims every other live cache (see
    /// the top of this file), moves the free blocks they hold to the depot and releases them.
    /// Returns whether any block came back. <paramref name="own"/> is the caller's, already empty.
    /// </summary>
    private bool TakeBackCachedBlocksLocked(PoolCache own)
    {
        int count = _caches.Count;
        long* sequences = (long*)NativeMemory.Alloc((nuint)count, sizeof(long));
        if (sequences is null) return false;
        try
        {
            for (int i = 0; i < count; i++)
            {
                PoolCache cache = _caches[i];
                if (cache == own) continue;
                // The owner is inside an operation: it ends in a few stores, without waiting.
                var spin = new SpinWait();
                while (!TryClaim(cache, out sequences[i])) spin.SpinOnce(sleep1Threshold: -1);
            }
            bool any = false;
            for (int i = 0; i < count; i++)
            {
                PoolCache cache = _caches[i];
                if (cache == own) continue;
                any |= MoveToDepotLocked(ref cache.Loaded);
                any |= MoveToDepotLocked(ref cache.Previous);
            }
            for (int i = 0; i < count; i++)
            {
                PoolCache cache = _caches[i];
                if (cache != own) Volatile.Write(ref cache.Sequence, sequences[i] + 2);
            }
            return any;
        }
        finally
        {
            NativeMemory.Free(sequences);
        }
    }

    /// <summary>A claimed cache's magazine goes to the depot when it holds blocks, replaced by an empty one.</summary>
    private bool MoveToDepotLocked(ref Magazine* magazine)
    {
        if (magazine->Count == 0) return false;
        Magazine* empty = TakeEmptyLocked();
        if (empty is null) return false; // no memory for a magazine: the blocks stay where they are
        PushFullLocked(magazine);
        magazine = empty;
        return true;
    }
}
