using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using NativePools.Diagnostics;
using NativePools.Platform;

namespace NativePools.Pools;

// The depot: magazines exchanged with thread caches, growth, and the reclaiming of the caches
// of threads that have exited. Everything here that touches shared state holds _lock.
public sealed unsafe partial class BlockPool
{
    /// <summary>Magazines allocated together; small, so unused magazine memory stays small.</summary>
    private const int MagazinesPerSlab = 16;
    /// <summary>Registrations between scans for caches whose thread has exited.</summary>
    private const int RegistrationsPerScan = 64;
    /// <summary>The most one growth step commits at once.</summary>
    private const ulong MaxGrowthBytes = 32UL << 20;

    private readonly object _lock = new();
    private bool _disposed;

    // Depot lists (singly linked through Magazine.Next).
    private Magazine* _fullMagazines;           // non-empty magazines (full, or partial from growth)
    private long _depotBlocks;                  // rounds held by _fullMagazines
    private Magazine* _emptyMagazines;
    private void* _slabs;                       // every magazine allocation, freed at dispose
    private long _slabCount;

    // Fresh range: committed blocks never handed out since their chunk was committed, taken in
    // address order by a bump index. They need no magazine storage until they are first freed.
    private long _freshNext;
    private long _freshEnd;

    // Caches of live (or not yet reclaimed) threads.
    private readonly List<PoolCache> _caches = new();
    private int _registrationsSinceScan;
    private long _cachesReclaimed;

    // Counters of reclaimed caches, and of rare events (slow paths only, hence Interlocked).
    private long _retiredCreated, _retiredReused, _retiredFrees;
    private long _failedAllocations, _doubleFrees, _foreignFrees, _invalidFrees, _poisonViolations;

    // Peak tracking (see ReportPeakLocked).
    private long _peakInUse;
    private int _peakEpoch;
    /// <summary>Above this many caches, exchanges stop sampling the in-use count (it costs a pass over all caches).</summary>
    private const int MaxCachesSampledPerExchange = 64;

    // Chunks.
    private long _committedChunks;              // chunk indices [0, _committedChunks) were committed at least once
    private long _activeChunks;
    private long _capacity;
    private long _chunksReleased;
    private ulong _blockStatesCommitted;

    // ------------------------------------------------------------------ slow paths of alloc and free

    [MethodImpl(MethodImplOptions.NoInlining)]
    private NpStatus AllocSlow(out nint block)
    {
        block = 0;
        if (Volatile.Read(ref _disposed)) return Destroyed();
        PoolCache? cache = ThreadCaches.Get(this, _id) ?? RegisterCache();
        if (cache is null) return LastError.Status == NpStatus.Ok ? Destroyed() : LastError.Status;
        if (_bounded) return AllocBounded(cache, out block);
        long sequence = cache.Sequence;
        Volatile.Write(ref cache.Sequence, sequence + 1);
        try
        {
            return AllocFromCache(cache, out block);
        }
        finally
        {
            Volatile.Write(ref cache.Sequence, sequence + 2);
        }
    }

    private NpStatus AllocFromCache(PoolCache cache, out nint block)
    {
        block = 0;
        while (true)
        {
            Magazine* loaded = cache.Loaded;
            if (loaded->Count == 0)
            {
                NpStatus status = ExchangeForAlloc(cache);
                if (status != NpStatus.Ok) return status;
                loaded = cache.Loaded;
            }
            int index = Magazine.Rounds(loaded)[--loaded->Count];
            if (!TryMarkAllocated(index, out byte state))
            {
                DropDuplicate(index);
                continue;
            }
            block = HandedOut(cache, index, state);
            return NpStatus.Ok;
        }
    }

    /// <summary>Marks a block taken from a magazine allocated; false when it already is (a duplicate to drop).</summary>
    private bool TryMarkAllocated(int index, out byte state)
    {
        if (_atomicState)
        {
            state = Volatile.Read(ref _blockStates[index]);
            return state != StateAllocated && Interlocked.CompareExchange(ref _blockStates[index], StateAllocated, state) == state;
        }
        state = _blockStates[index];
        if (state == StateAllocated) return false;
        Volatile.Write(ref _blockStates[index], StateAllocated);
        return true;
    }

    /// <summary>
    /// A magazine held a block that is already allocated: two threads freed it at the same
    /// instant and both kept it. Drop this copy (the other was handed out) and count it.
    /// </summary>
    private void DropDuplicate(int index)
    {
        Interlocked.Increment(ref _doubleFrees);
        LastError.Set(NpStatus.DoubleFree, "block {0} of pool '{s}' was freed twice concurrently; the duplicate was dropped", index, subject: Label);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private NpStatus FreeSlow(nint block)
    {
        if (Volatile.Read(ref _disposed)) return Destroyed();
        ulong index = _divider.QuotientIfExact((ulong)block - (ulong)_blocks);
        if (index >= (ulong)Volatile.Read(ref *_highWaterBlocks)) return RejectFree(block);
        if (!_atomicState && _blockStates[index] != StateAllocated) return RejectFree(block);

        PoolCache? cache = ThreadCaches.Get(this, _id) ?? RegisterCache();
        if (cache is null) return LastError.Status == NpStatus.Ok ? Destroyed() : LastError.Status;
        if (_bounded) return FreeBounded(cache, block, index);
        // Room first, so a block whose state already says free always lands in a magazine.
        if (cache.Loaded->Count == _magazineCapacity)
        {
            NpStatus status = ExchangeForFree(cache);
            if (status != NpStatus.Ok) return status; // out of memory: the block stays the caller's
        }
        long sequence = cache.Sequence;
        Volatile.Write(ref cache.Sequence, sequence + 1);
        if (!TryMarkFree(index))
        {
            Volatile.Write(ref cache.Sequence, sequence + 2);
            return RejectFree(block);
        }
        PutFreed(cache, index);
        Volatile.Write(ref cache.Sequence, sequence + 2);
        return NpStatus.Ok;
    }

    /// <summary>Marks an allocated block free; false when it is not allocated (a double free).</summary>
    private bool TryMarkFree(ulong index)
    {
        if (_atomicState)
            return Interlocked.CompareExchange(ref _blockStates[index], StateFree, StateAllocated) == StateAllocated;
        if (_blockStates[index] != StateAllocated) return false;
        Volatile.Write(ref _blockStates[index], StateFree);
        return true;
    }

    /// <summary>Puts a block just marked free into the loaded magazine (which has room) and counts the free.</summary>
    private void PutFreed(PoolCache cache, ulong index)
    {
        if (_touchesBlocks) Poison(index);
        Magazine* loaded = cache.Loaded;
        Magazine.Rounds(loaded)[loaded->Count++] = (int)index;
        cache.Frees++;
        cache.Net--;
    }

    private NpStatus Destroyed() => LastError.Set(NpStatus.InvalidHandle, "pool '{s}' is destroyed", subject: Label);

    // ------------------------------------------------------------------ thread caches

    /// <summary>Creates the calling thread's cache for this pool (once per thread and pool).</summary>
    private PoolCache? RegisterCache()
    {
        lock (_lock)
        {
            if (_disposed) return null;
            if (++_registrationsSinceScan >= RegistrationsPerScan) ReclaimDeadCachesLocked();
            Magazine* loaded = TakeEmptyLocked();
            Magazine* previous = loaded is null ? null : TakeEmptyLocked();
            if (previous is null)
            {
                if (loaded is not null) PushEmptyLocked(loaded);
                LastError.Set(NpStatus.OutOfMemory, "no memory for a thread cache of pool '{s}'", subject: Label);
                return null;
            }
            ThreadCacheState* state = ThreadCacheState.Allocate(_callView);
            if (state is null)
            {
                PushEmptyLocked(loaded);
                PushEmptyLocked(previous);
                LastError.Set(NpStatus.OutOfMemory, "no memory for a thread cache of pool '{s}'", subject: Label);
                return null;
            }
            var cache = new PoolCache(this, state, Thread.CurrentThread, loaded, previous);
            cache.PeakEpoch = _peakEpoch;
            _caches.Add(cache);
            ThreadCaches.Set(_id, cache);
            return cache;
        }
    }

    /// <summary>The loaded magazine is empty: swap in the previous one, or trade an empty one for a full one at the depot.</summary>
    private NpStatus ExchangeForAlloc(PoolCache cache)
    {
        Magazine* previous = cache.Previous;
        if (previous->Count != 0)
        {
            cache.Previous = cache.Loaded;
            cache.Loaded = previous;
            return NpStatus.Ok;
        }
        lock (_lock)
        {
            return RefillLocked(cache);
        }
    }

    /// <summary>
    /// Both magazines of the cache are empty: loads a full one from the depot, or blocks of the
    /// fresh range, reclaiming the caches of exited threads and growing the pool when neither has
    /// any. A bounded pool at its limit takes back the free blocks other threads cache first.
    /// </summary>
    private NpStatus RefillLocked(PoolCache cache)
    {
        if (_disposed) return Destroyed();
        ReportPeakLocked(cache);
        if (_fullMagazines is null && _freshNext == _freshEnd)
        {
            // Blocks cached by exited threads come back before the pool grows.
            ReclaimDeadCachesLocked();
            if (_fullMagazines is null && !(_bounded && _activeChunks == _chunkLimit && TakeBackCachedBlocksLocked(cache)))
            {
                NpStatus status = GrowLocked(chunksWanted: 0);
                if (status != NpStatus.Ok)
                {
                    Interlocked.Increment(ref _failedAllocations);
                    return status;
                }
            }
        }
        Magazine* previous = cache.Previous;
        Magazine* full;
        if (_fullMagazines is not null)
        {
            full = PopFullLocked();
            PushEmptyLocked(previous);
        }
        else
        {
            full = previous;
            // Once the pool cannot grow any more, fresh blocks go out one at a time: a magazine
            // of them in one thread's cache would be refused to every other thread at the limit.
            FillFromFreshLocked(full, _freshEnd >= _blockLimit ? 1 : _magazineCapacity);
        }
        cache.Previous = cache.Loaded;
        cache.Loaded = full;
        return NpStatus.Ok;
    }

    /// <summary>The loaded magazine is full: swap in the previous one, or hand a full one to the depot for an empty one.</summary>
    private NpStatus ExchangeForFree(PoolCache cache)
    {
        Magazine* previous = cache.Previous;
        if (previous->Count == 0)
        {
            cache.Previous = cache.Loaded;
            cache.Loaded = previous;
            return NpStatus.Ok;
        }
        lock (_lock)
        {
            return HandInPreviousLocked(cache);
        }
    }

    /// <summary>Both magazines of the cache hold blocks and the loaded one is full: the previous one goes to the depot, an empty one is loaded.</summary>
    private NpStatus HandInPreviousLocked(PoolCache cache)
    {
        Magazine* previous = cache.Previous;
        if (_disposed) return Destroyed();
        Magazine* empty = TakeEmptyLocked();
        if (empty is null)
            return LastError.Set(NpStatus.OutOfMemory, "no memory for a magazine of pool '{s}'", subject: Label);
        ReportPeakLocked(cache);
        int incoming = previous->Count;
        PushFullLocked(previous);
        // May take blocks (even this whole magazine) back out of the depot: cache.Previous is
        // replaced below, so nothing refers to the magazine as the cache's any more.
        if (_retainLimit >= 0) EnforceRetentionLocked(incoming);
        cache.Previous = cache.Loaded;
        cache.Loaded = empty;
        return NpStatus.Ok;
    }

    /// <summary>
    /// Samples the in-use count for the peak at a magazine exchange. With one live thread cache
    /// that thread's own highest count since its last sample is exact, so the peak is exact.
    /// With several, the sample is the in-use count at a moment during the read (never more, see
    /// ReadCountersLocked): the peak is the highest in-use seen at exchanges and stats reads, and
    /// can miss a spike shorter than a magazine per thread, but never exceeds the true peak. Only the owner thread (at an exchange) or a reclaimer (after the
    /// owner exited) calls this: it resets the owner's MaxNet.
    /// </summary>
    private void ReportPeakLocked(PoolCache cache)
    {
        if (cache.PeakEpoch == _peakEpoch && _caches.Count <= MaxCachesSampledPerExchange)
        {
            ReadCountersLocked(out long created, out long reused, out long frees);
            long candidate = created + reused - frees;
            if (_caches.Count == 1) candidate += cache.MaxNet - cache.Net;
            if (candidate > _peakInUse) _peakInUse = candidate;
        }
        cache.MaxNet = cache.Net;
        cache.PeakEpoch = _peakEpoch;
    }

    /// <summary>
    /// Sums the event counters of every cache. Other threads keep counting meanwhile, so the
    /// allocation counters are all read first and the free counters after them: both only
    /// grow, so created + reused - frees is at most the in-use count at the moment between
    /// the two passes. A sum read in one pass could instead pair a consumer's stale free count
    /// with a producer's fresh allocation count and report more blocks in use than ever were.
    /// </summary>
    private void ReadCountersLocked(out long created, out long reused, out long frees)
    {
        created = _retiredCreated;
        reused = _retiredReused;
        foreach (PoolCache c in _caches)
        {
            created += Volatile.Read(ref c.Created);
            reused += Volatile.Read(ref c.Reused);
        }
        Interlocked.MemoryBarrier();
        frees = _retiredFrees;
        foreach (PoolCache c in _caches) frees += Volatile.Read(ref c.Frees);
    }

    /// <summary>
    /// Takes back the magazines of every cache whose thread has exited. A foreign thread's
    /// Thread object stops being alive when the runtime detaches it at thread exit, and an
    /// exited thread can never touch its cache again, so this needs no cooperation from it.
    /// </summary>
    private void ReclaimDeadCachesLocked()
    {
        _registrationsSinceScan = 0;
        for (int i = _caches.Count - 1; i >= 0; i--)
        {
            PoolCache cache = _caches[i];
            if (cache.Owner.IsAlive) continue;
            ReportPeakLocked(cache);
            if (cache.Loaded->Count + cache.Previous->Count != 0) _retentionDue = true;
            RetireMagazineLocked(cache.Loaded);
            RetireMagazineLocked(cache.Previous);
            _retiredCreated += cache.Created;
            _retiredReused += cache.Reused;
            _retiredFrees += cache.Frees;
            cache.Release();
            _caches[i] = _caches[^1];
            _caches.RemoveAt(_caches.Count - 1);
            _cachesReclaimed++;
        }
    }

    private void RetireMagazineLocked(Magazine* magazine)
    {
        if (magazine->Count != 0) PushFullLocked(magazine);
        else PushEmptyLocked(magazine);
    }

    // ------------------------------------------------------------------ depot lists

    private void PushFullLocked(Magazine* magazine)
    {
        magazine->Next = _fullMagazines;
        _fullMagazines = magazine;
        _depotBlocks += magazine->Count;
    }

    private Magazine* PopFullLocked()
    {
        Magazine* magazine = _fullMagazines;
        _fullMagazines = magazine->Next;
        _depotBlocks -= magazine->Count;
        return magazine;
    }

    private void PushEmptyLocked(Magazine* magazine)
    {
        magazine->Count = 0;
        magazine->Next = _emptyMagazines;
        _emptyMagazines = magazine;
    }

    /// <summary>An empty magazine from the depot, allocating a slab of them when none is left; null when out of memory.</summary>
    private Magazine* TakeEmptyLocked()
    {
        if (_emptyMagazines is null && !AllocateSlabLocked()) return null;
        Magazine* magazine = _emptyMagazines;
        _emptyMagazines = magazine->Next;
        magazine->Next = null;
        return magazine;
    }

    private nuint MagazineBytes => VirtualMemory.AlignUp(Magazine.BytesFor(_magazineCapacity), 16);
    private nuint SlabBytes => 16 + MagazinesPerSlab * MagazineBytes;

    private bool AllocateSlabLocked()
    {
        // Slab layout: [next slab pointer, padded to 16][magazine]...; native memory, never the GC heap.
        byte* slab = (byte*)NativeMemory.AlignedAlloc(SlabBytes, 64);
        if (slab is null) return false;
        *(void**)slab = _slabs;
        _slabs = slab;
        _slabCount++;
        for (int i = MagazinesPerSlab - 1; i >= 0; i--)
            PushEmptyLocked((Magazine*)(slab + 16 + (nuint)i * MagazineBytes));
        return true;
    }

    private void FreeAllMagazinesLocked()
    {
        void* slab = _slabs;
        while (slab is not null)
        {
            void* next = *(void**)slab;
            NativeMemory.AlignedFree(slab);
            slab = next;
        }
        _slabs = null;
        _fullMagazines = _emptyMagazines = null;
        _depotBlocks = 0;
    }

    // ------------------------------------------------------------------ growth

    /// <summary>
    /// Commits chunks and makes their blocks the fresh range. A released (trimmed) chunk comes
    /// back first, alone. With growth_blocks given, a step adds exactly one chunk of that size.
    /// By default a growing pool adds a quarter of its capacity at once (at least one chunk, at
    /// most 32 MiB): a pool filling up from nothing pays for few growth steps, each faulted in
    /// with one call, for at most 25 % of capacity committed ahead of need.
    /// With <paramref name="chunksWanted"/> above 0 exactly that many chunks are added.
    /// </summary>
    private NpStatus GrowLocked(long chunksWanted)
    {
        long released = FindReleasedChunkLocked();
        if (released >= 0)
            return CommitChunksLocked(released, 1) ? NpStatus.Ok : CommitFailed();
        if (_committedChunks == _chunkLimit)
            return LastError.Set(NpStatus.PoolExhausted, "pool '{s}' holds its maximum of {0} blocks and all are in use", _blockLimit, subject: Label);
        long chunkBytes = _blocksPerChunk * (long)_stride;
        long chunks = chunksWanted > 0 ? chunksWanted
            : _fixedGrowth ? 1
            : Math.Clamp(_activeChunks / 4, 1, Math.Max(1, (long)MaxGrowthBytes / chunkBytes));
        chunks = Math.Min(chunks, _chunkLimit - _committedChunks);
        return CommitChunksLocked(_committedChunks, chunks) ? NpStatus.Ok : CommitFailed();
    }

    private NpStatus CommitFailed() =>
        LastError.Set(NpStatus.OutOfMemory, "committing memory for pool '{s}' failed (errno {0})", VirtualMemory.LastErrno, subject: Label);

    private long FindReleasedChunkLocked()
    {
        if (_activeChunks == _committedChunks) return -1;
        // Released chunks all lie at or above the hint (ReleaseChunkLocked lowers it), so pools that
        // release and recommit single chunks all the time do not rescan from chunk 0.
        for (long c = _releasedChunkHint; c < _committedChunks; c++)
        {
            if (_chunkStates[c] == ChunkReleased)
            {
                _releasedChunkHint = c + 1;
                return c;
            }
        }
        for (long c = 0; c < _committedChunks; c++)
            if (_chunkStates[c] == ChunkReleased) return c;
        return -1;
    }

    private const byte ChunkUncommitted = 0;
    private const byte ChunkActive = 1;
    private const byte ChunkReleased = 2;   // trimmed: pages returned, blocks in no magazine

    /// <summary>Commits the contiguous chunks [first, first+count) and appends their blocks to the fresh range.</summary>
    private bool CommitChunksLocked(long firstChunk, long count)
    {
        long first = firstChunk * _blocksPerChunk;
        long end = Math.Min((firstChunk + count) * _blocksPerChunk, _blockLimit);
        if (!CommitMetaLocked(firstChunk + count, end)) return false;
        ulong page = VirtualMemory.PageSize;
        ulong from = VirtualMemory.AlignDown((nuint)((ulong)first * _stride), (nuint)page);
        ulong to = Math.Min(VirtualMemory.AlignUp((nuint)((ulong)end * _stride), (nuint)page), VirtualMemory.AlignUp((nuint)_blocksReservedBytes, (nuint)page));
        // Chunks released with KeepMappingOnRelease are still mapped read/write: no mprotect needed.
        bool mapped = _keepMappingOnRelease && firstChunk + count <= _committedChunks;
        if (!mapped && !VirtualMemory.Commit((nint)(_blocks + from), (nuint)(to - from))) return false;
        // Fault the pages in now, in one call, rather than one fault per page on first use.
        VirtualMemory.Prefault((nint)(_blocks + from), (nuint)(to - from));

        if (_freshNext != _freshEnd && _freshEnd != first && !FlushFreshLocked()) return false;
        if (_freshNext == _freshEnd) _freshNext = first;
        _freshEnd = end;

        for (long c = firstChunk; c < firstChunk + count; c++) _chunkStates[c] = ChunkActive;
        if (firstChunk + count > _committedChunks)
        {
            _committedChunks = firstChunk + count;
            Volatile.Write(ref *_highWaterBlocks, end);
        }
        _activeChunks += count;
        _capacity += end - first;
        return true;
    }

    /// <summary>Moves the fresh range into magazines (when a non-adjacent range is about to replace it).</summary>
    private bool FlushFreshLocked()
    {
        while (_freshNext != _freshEnd)
        {
            Magazine* magazine = TakeEmptyLocked();
            if (magazine is null) return false;
            FillFromFreshLocked(magazine, _magazineCapacity);
            PushFullLocked(magazine);
        }
        return true;
    }

    /// <summary>Fills an empty magazine from the fresh range so its rounds pop in address order.</summary>
    private void FillFromFreshLocked(Magazine* magazine, long most)
    {
        int n = (int)Math.Min(most, _freshEnd - _freshNext);
        int* rounds = Magazine.Rounds(magazine);
        for (int k = 0; k < n; k++) rounds[k] = (int)(_freshNext + n - 1 - k);
        magazine->Count = n;
        _freshNext += n;
    }

    /// <summary>Commits chunk states up to <paramref name="chunkEnd"/> and block states up to <paramref name="blockEnd"/>.</summary>
    private bool CommitMetaLocked(long chunkEnd, long blockEnd) =>
        CommitPrefix(_chunkStates, ref _chunkStatesCommitted, (ulong)chunkEnd, _meta.ChunkStatesBytes) &&
        CommitPrefix(_blockStates, ref _blockStatesCommitted, (ulong)blockEnd, _meta.TotalBytes - _meta.BlockStatesOffset);

    private ulong _chunkStatesCommitted;

    /// <summary>
    /// Commits the first <paramref name="needed"/> bytes of a metadata array, at least doubling
    /// what is committed (it is small, and this saves mprotect calls), never past <paramref name="limit"/>.
    /// </summary>
    private static bool CommitPrefix(byte* array, ref ulong committed, ulong needed, ulong limit)
    {
        if (needed <= committed) return true;
        ulong target = Math.Min(VirtualMemory.AlignUp((nuint)Math.Max(needed, committed * 2), VirtualMemory.PageSize), limit);
        if (!VirtualMemory.Commit((nint)(array + committed), (nuint)(target - committed))) return false;
        committed = target;
        return true;
    }
}
