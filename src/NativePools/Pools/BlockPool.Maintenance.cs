using System;
using System.Runtime.InteropServices;
using System.Threading;
using NativePools.Diagnostics;
using NativePools.Platform;

namespace NativePools.Pools;

// Warm-up, trim, validation, ownership and stats: the calls that look at the whole pool.
// All of them hold _lock; none is on the alloc/free path.
public sealed unsafe partial class BlockPool
{
    // Event counts at the last ResetStats, subtracted from what stats report.
    private long _baseCreated, _baseReused, _baseFrees, _baseFailed, _baseDoubleFrees, _baseForeignFrees, _baseInvalidFrees, _basePoison;

    /// <summary>
    /// Warm-up: grows until at least <paramref name="freeBlocks"/> blocks are free, with their
    /// pages faulted in, so first use pays for neither growth nor page faults.
    /// </summary>
    public NpStatus Reserve(ulong freeBlocks)
    {
        lock (_lock)
        {
            if (_disposed) return Destroyed();
            if (freeBlocks > (ulong)_blockLimit)
                return LastError.Set(NpStatus.PoolExhausted, "cannot reserve {0} blocks: pool '{s}' holds at most {1}", freeBlocks, _blockLimit, Label);
            while (true)
            {
                long free = _capacity - InUseLocked();
                if (free >= (long)freeBlocks) return NpStatus.Ok;
                long chunks = ((long)freeBlocks - free + _blocksPerChunk - 1) / _blocksPerChunk;
                NpStatus status = GrowLocked(chunks);
                if (status != NpStatus.Ok) return status;
            }
        }
    }

    /// <summary>
    /// Gives every chunk whose blocks are all free back to the OS. The calling thread's cached
    /// blocks go back to the depot first; blocks cached by other live threads count as in use.
    /// Later growth recommits released chunks first. Returns the bytes whose pages were released.
    /// </summary>
    public NpStatus Trim(out ulong bytesReleased)
    {
        bytesReleased = 0;
        lock (_lock)
        {
            if (_disposed) return Destroyed();
            if (_committedChunks == 0) return NpStatus.Ok;
            ReclaimDeadCachesLocked();
            FlushCallerCacheLocked();
            long blocks = CommittedBlocks;
            int* freeInChunk = (int*)NativeMemory.AllocZeroed((nuint)_committedChunks, sizeof(int));
            try
            {
                for (Magazine* m = _fullMagazines; m is not null; m = m->Next)
                {
                    int* rounds = Magazine.Rounds(m);
                    for (int r = 0; r < m->Count; r++)
                    {
                        int index = rounds[r];
                        if ((uint)index >= (ulong)blocks || _chunkStates[index / _blocksPerChunk] != ChunkActive)
                            return LastError.Set(NpStatus.Corrupted, "a magazine of pool '{s}' holds block {0}, outside the active chunks (run validate)", index, subject: Label);
                        freeInChunk[index / _blocksPerChunk]++;
                    }
                }
                // Fresh blocks are free too: whole chunks beyond the one holding _freshNext, part of that one.
                for (long b = _freshNext; b < _freshEnd;)
                {
                    long c = b / _blocksPerChunk;
                    long chunkEnd = Math.Min((c + 1) * _blocksPerChunk, _freshEnd);
                    freeInChunk[c] += (int)(chunkEnd - b);
                    b = chunkEnd;
                }
                bool any = false;
                for (long c = 0; c < _committedChunks; c++)
                {
                    if (_chunkStates[c] == ChunkActive && freeInChunk[c] == ChunkBlockCount(c))
                    {
                        freeInChunk[c] = -1; // marks "release"
                        any = true;
                    }
                }
                if (!any) return NpStatus.Ok;

                // Take the released chunks' blocks out of the depot's magazines, compacting each in place.
                Magazine* list = _fullMagazines;
                _fullMagazines = null;
                _depotBlocks = 0;
                while (list is not null)
                {
                    Magazine* m = list;
                    list = m->Next;
                    int* rounds = Magazine.Rounds(m);
                    int kept = 0;
                    for (int r = 0; r < m->Count; r++)
                        if (freeInChunk[rounds[r] / _blocksPerChunk] != -1) rounds[kept++] = rounds[r];
                    m->Count = kept;
                    RetireMagazineLocked(m);
                }
                // Every chunk wholly inside the fresh range was entirely free, hence released; what
                // stays fresh is the rest of the chunk holding _freshNext, unless it went too.
                if (_freshNext != _freshEnd)
                {
                    long c = _freshNext / _blocksPerChunk;
                    if (freeInChunk[c] == -1) _freshNext = _freshEnd = 0;
                    else _freshEnd = Math.Min(_freshEnd, c * _blocksPerChunk + ChunkBlockCount(c));
                }
                for (long c = 0; c < _committedChunks; c++)
                    if (freeInChunk[c] == -1) bytesReleased += ReleaseChunkLocked(c);
                return NpStatus.Ok;
            }
            finally
            {
                NativeMemory.Free(freeInChunk);
            }
        }
    }

    private long CommittedBlocks => Math.Min(_committedChunks * _blocksPerChunk, _blockLimit);

    private long ChunkBlockCount(long chunk) => Math.Min(_blocksPerChunk, _blockLimit - chunk * _blocksPerChunk);

    /// <summary>Moves the calling thread's cached blocks to the depot (trim and validate then see them).</summary>
    private void FlushCallerCacheLocked()
    {
        PoolCache? cache = ThreadCaches.Get(this, _id);
        if (cache is null) return;
        ReportPeakLocked(cache);
        if (cache.Loaded->Count != 0)
        {
            Magazine* empty = TakeEmptyLocked();
            if (empty is null) return;
            PushFullLocked(cache.Loaded);
            cache.Loaded = empty;
        }
        if (cache.Previous->Count != 0)
        {
            Magazine* empty = TakeEmptyLocked();
            if (empty is null) return;
            PushFullLocked(cache.Previous);
            cache.Previous = empty;
        }
    }

    private ulong ReleaseChunkLocked(long chunk)
    {
        long first = chunk * _blocksPerChunk;
        long end = first + ChunkBlockCount(chunk);
        ulong from = (ulong)first * _stride, to = (ulong)end * _stride;
        ulong pageFrom = VirtualMemory.AlignUp((nuint)from, VirtualMemory.PageSize);
        ulong pageTo = VirtualMemory.AlignDown((nuint)to, VirtualMemory.PageSize);
        // Pages shared with neighbouring chunks stay; zero our part of them so the blocks are
        // fresh (zero) again when the chunk comes back.
        if (pageFrom >= pageTo)
        {
            new Span<byte>(_blocks + from, (int)(to - from)).Clear();
            pageFrom = pageTo = 0;
        }
        else
        {
            if (pageFrom > from) new Span<byte>(_blocks + from, (int)(pageFrom - from)).Clear();
            if (to > pageTo) new Span<byte>(_blocks + pageTo, (int)(to - pageTo)).Clear();
            if (_keepMappingOnRelease) VirtualMemory.Discard((nint)(_blocks + pageFrom), (nuint)(pageTo - pageFrom));
            else VirtualMemory.Decommit((nint)(_blocks + pageFrom), (nuint)(pageTo - pageFrom));
        }
        new Span<byte>(_blockStates + first, (int)(end - first)).Fill(StateFresh);
        _chunkStates[chunk] = ChunkReleased;
        if (chunk < _releasedChunkHint) _releasedChunkHint = chunk;
        _activeChunks--;
        _capacity -= end - first;
        _chunksReleased++;
        return pageTo - pageFrom;
    }

    /// <summary>
    /// Full integrity walk: every magazine in the depot and in thread caches holds only free
    /// blocks of active chunks, each block in at most one magazine; in poison mode free blocks
    /// still hold the poison. When no thread allocated or freed during the walk, the counts are
    /// compared as well (free blocks = blocks in magazines, allocated = in use).
    /// </summary>
    public NpStatus Validate(out BlockPoolValidation report)
    {
        report = default;
        lock (_lock)
        {
            if (_disposed) return Destroyed();
            ReclaimDeadCachesLocked();
            long* sequences = (long*)NativeMemory.Alloc((nuint)Math.Max(1, _caches.Count), sizeof(long));
            bool quiet = SnapshotSequencesLocked(sequences);
            long blocks = CommittedBlocks;
            byte* seen = (byte*)NativeMemory.AllocZeroed((nuint)Math.Max(1, blocks));
            var depot = new Problem();
            var cached = new Problem();
            long depotErrors = 0, cacheErrors = 0, listed = 0, cachedListed = 0;
            try
            {
                for (Magazine* m = _fullMagazines; m is not null; m = m->Next)
                    listed += CheckMagazine(m, blocks, seen, ref depot, ref depotErrors, ref report.PoisonViolations);
                for (long b = _freshNext; b < _freshEnd; b++, listed++)
                {
                    if (_chunkStates[b / _blocksPerChunk] != ChunkActive || _blockStates[b] != StateFresh || seen[b] != 0)
                    {
                        depotErrors++;
                        depot.Note("fresh block {0} is not fresh, or not in an active chunk", b);
                    }
                    seen[b] = 1;
                }
                for (Magazine* m = _emptyMagazines; m is not null; m = m->Next)
                {
                    if (m->Count != 0)
                    {
                        depotErrors++;
                        depot.Note("an empty depot magazine of pool '{s}' holds {0} rounds", m->Count);
                    }
                }
                // Other threads' caches are read without their cooperation: what is found there
                // only counts if no thread allocated or freed during the walk.
                ulong poisonInCaches = 0;
                foreach (PoolCache cache in _caches)
                {
                    cachedListed += CheckMagazine(cache.Loaded, blocks, seen, ref cached, ref cacheErrors, ref poisonInCaches);
                    cachedListed += CheckMagazine(cache.Previous, blocks, seen, ref cached, ref cacheErrors, ref poisonInCaches);
                }
                for (long c = 0; c < _committedChunks; c++)
                {
                    if (_chunkStates[c] != ChunkActive) continue;
                    long first = c * _blocksPerChunk, end = first + ChunkBlockCount(c);
                    for (long b = first; b < end; b++)
                    {
                        if (_blockStates[b] == StateAllocated) report.Allocated++;
                        else report.Free++;
                    }
                }

                // The counters are read inside the window too: a thread's stores become visible in
                // order, so a counter read after the second sequence check could already show an
                // operation whose state byte the walk did not see.
                long inUse = InUseLocked();
                if (quiet && SequencesUnchangedLocked(sequences))
                {
                    report.CountsChecked = 1;
                    report.PoisonViolations += poisonInCaches;
                    depotErrors += cacheErrors;
                    if (cached.Template is not null) depot.Note(cached.Template, cached.Arg0, cached.Arg1);
                    listed += cachedListed;
                    if ((long)report.Free != listed)
                    {
                        depotErrors++;
                        depot.Note("{0} blocks are marked free but {1} are in magazines", (long)report.Free, listed);
                    }
                    if ((long)report.Allocated != inUse)
                    {
                        depotErrors++;
                        depot.Note("{0} blocks are marked allocated but the pool counts {1} in use", (long)report.Allocated, inUse);
                    }
                    if ((long)(report.Allocated + report.Free) != _capacity)
                    {
                        depotErrors++;
                        depot.Note("active chunks hold {0} blocks but the capacity is {1}", (long)(report.Allocated + report.Free), _capacity);
                    }
                }
            }
            finally
            {
                NativeMemory.Free(seen);
                NativeMemory.Free(sequences);
            }
            report.FreeListed = (ulong)listed;
            report.Errors = (ulong)depotErrors;
            if (report.Errors != 0)
                return LastError.Set(NpStatus.Corrupted, depot.Template! + " (pool '{s}')", depot.Arg0, depot.Arg1, Label);
            if (report.PoisonViolations != 0)
                return LastError.Set(NpStatus.Corrupted, "{0} freed blocks of pool '{s}' were written after their free", report.PoisonViolations, subject: Label);
            return NpStatus.Ok;
        }
    }

    /// <summary>Checks one magazine's rounds; returns how many it holds.</summary>
    private int CheckMagazine(Magazine* m, long blocks, byte* seen, ref Problem problem, ref long errors, ref ulong poison)
    {
        int count = m->Count;
        if ((uint)count > (uint)_magazineCapacity)
        {
            errors++;
            problem.Note("a magazine of pool '{s}' claims {0} rounds (capacity {1})", count, _magazineCapacity);
            return 0;
        }
        int* rounds = Magazine.Rounds(m);
        for (int r = 0; r < count; r++)
        {
            int i = rounds[r];
            if ((uint)i >= (ulong)blocks || _chunkStates[i / _blocksPerChunk] != ChunkActive)
            {
                errors++;
                problem.Note("a magazine holds block {0}, outside the active chunks", i);
                continue;
            }
            if (seen[i] != 0)
            {
                errors++;
                problem.Note("block {0} is in two magazines (freed twice at the same instant)", i);
                continue;
            }
            seen[i] = 1;
            byte state = _blockStates[i];
            if (state == StateAllocated)
            {
                errors++;
                problem.Note("block {0} is in a magazine but marked allocated (freed twice at the same instant)", i);
            }
            else if (state == StateFree && (_flags & BlockPoolFlags.PoisonOnFree) != 0 &&
                     new ReadOnlySpan<byte>(_blocks + (ulong)i * _stride, (int)_blockSize).IndexOfAnyExcept(PoisonByte) >= 0)
            {
                poison++;
            }
        }
        return count;
    }

    /// <summary>The first inconsistency a walk found, kept for the detail message.</summary>
    private struct Problem
    {
        public string? Template;
        public long Arg0, Arg1;

        public void Note(string template, long arg0, long arg1 = 0)
        {
            if (Template is not null) return;
            Template = template;
            Arg0 = arg0;
            Arg1 = arg1;
        }
    }

    // ------------------------------------------------------------------ ownership and stats

    /// <summary>
    /// Whether <paramref name="pointer"/> is the start of a block of this pool:
    /// 0 = not a block start of this pool, 1 = a block in use, 2 = a free block.
    /// </summary>
    public int Owns(nint pointer)
    {
        ulong index = _divider.QuotientIfExact((ulong)pointer - (ulong)_blocks);
        if (index >= (ulong)Volatile.Read(ref *_highWaterBlocks)) return 0;
        if (_chunkStates[(long)index / _blocksPerChunk] != ChunkActive) return 0;
        return Volatile.Read(ref _blockStates[index]) == StateAllocated ? 1 : 2;
    }

    /// <summary>Blocks handed out and not freed, summed over every thread's counters.</summary>
    private long InUseLocked()
    {
        long created = _retiredCreated, reused = _retiredReused, frees = _retiredFrees;
        foreach (PoolCache c in _caches)
        {
            created += c.Created;
            reused += c.Reused;
            frees += c.Frees;
        }
        return created + reused - frees;
    }

    /// <summary>Records every cache's sequence; false when some thread is inside an operation now.</summary>
    private bool SnapshotSequencesLocked(long* sequences)
    {
        bool quiet = true;
        for (int i = 0; i < _caches.Count; i++)
        {
            sequences[i] = Volatile.Read(ref _caches[i].Sequence);
            quiet &= (sequences[i] & 1) == 0;
        }
        return quiet;
    }

    /// <summary>True when no thread started an operation since <see cref="SnapshotSequencesLocked"/> (caches cannot be added meanwhile: we hold the lock).</summary>
    private bool SequencesUnchangedLocked(long* sequences)
    {
        for (int i = 0; i < _caches.Count; i++)
            if (Volatile.Read(ref _caches[i].Sequence) != sequences[i]) return false;
        return true;
    }

    /// <summary>A copy of the counters. Exact when no other thread is operating; otherwise each field is a recent value.</summary>
    public BlockPoolStats GetStats()
    {
        lock (_lock)
        {
            // Stats show where blocks really are: those of exited threads are back in the depot.
            if (!_disposed)
            {
                ReclaimDeadCachesLocked();
                // The caches of exited threads may have brought the free blocks over the retention
                // limit. Only their blocks count as released here: free blocks a reserve added stay
                // until releases find the pool over its limit, however often stats are read.
                if (_retainLimit >= 0 && _retentionDue) EnforceRetentionLocked(incoming: 0);
            }
            ReadCountersLocked(out long created, out long reused, out long frees);
            long inUse = created + reused - frees;
            // As at an exchange: a single thread's own highest count since its last sample is exact.
            long peak = Math.Max(_peakInUse, inUse);
            if (_caches.Count == 1 && _caches[0].PeakEpoch == _peakEpoch)
                peak = Math.Max(peak, inUse - _caches[0].Net + _caches[0].MaxNet);
            var s = new BlockPoolStats
            {
                BlockSize = _blockSize,
                BlockStride = _stride,
                Capacity = (ulong)_capacity,
                InUse = (ulong)Math.Max(0, inUse),
                PeakInUse = (ulong)Math.Max(0, peak),
                Chunks = (ulong)_activeChunks,
                BytesReserved = (ulong)_capacity * _stride,
                BytesMetadata = _chunkStatesCommitted + _blockStatesCommitted + (ulong)_slabCount * SlabBytes,
                Created = (ulong)(created - _baseCreated),
                Reused = (ulong)(reused - _baseReused),
                Frees = (ulong)(frees - _baseFrees),
                FailedAllocations = (ulong)(Volatile.Read(ref _failedAllocations) - _baseFailed),
                DoubleFrees = (ulong)(Volatile.Read(ref _doubleFrees) - _baseDoubleFrees),
                ForeignFrees = (ulong)(Volatile.Read(ref _foreignFrees) - _baseForeignFrees),
                InvalidFrees = (ulong)(Volatile.Read(ref _invalidFrees) - _baseInvalidFrees),
                PoisonViolations = (ulong)(Volatile.Read(ref _poisonViolations) - _basePoison),
                ChunksReleased = (ulong)_chunksReleased,
                CachedThreads = (ulong)_caches.Count,
                MagazineCapacity = (ulong)_magazineCapacity,
                DepotBlocks = (ulong)(_depotBlocks + _freshEnd - _freshNext),
            };
            s.Allocations = s.Created + s.Reused;
            s.ReuseRate = s.Allocations == 0 ? 0 : (double)s.Reused / s.Allocations;
            return s;
        }
    }

    /// <summary>Zeroes the event counters; the peak restarts from the current in-use count.</summary>
    public void ResetStats()
    {
        lock (_lock)
        {
            ReadCountersLocked(out long created, out long reused, out long frees);
            _baseCreated = created;
            _baseReused = reused;
            _baseFrees = frees;
            _baseFailed = Volatile.Read(ref _failedAllocations);
            _baseDoubleFrees = Volatile.Read(ref _doubleFrees);
            _baseForeignFrees = Volatile.Read(ref _foreignFrees);
            _baseInvalidFrees = Volatile.Read(ref _invalidFrees);
            _basePoison = Volatile.Read(ref _poisonViolations);
            _baseDiscarded = _discarded;
            _peakInUse = created + reused - frees;
            _peakEpoch++;
        }
    }
}
