using System;
using System.Runtime.InteropServices;
using NativePools.Diagnostics;

namespace NativePools.Pools;

/// <summary>
/// Shaping of a <see cref="BlockPool"/> that other core types (message pools) ask for and the
/// public options do not offer. The default changes nothing.
/// </summary>
internal readonly struct BlockPoolTuning
{
    /// <summary>Nothing changed: the pool reserves its own address space and retains every free block.</summary>
    public static BlockPoolTuning Default => new() { RetainFreeBlocks = -1 };

    /// <summary>
    /// Start of an address range (PROT_NONE, page aligned) the pool places its blocks in, or 0 for
    /// a reservation of its own. The range stays the caller's: the pool never unmaps it.
    /// </summary>
    public nint Reservation { get; init; }

    /// <summary>Bytes of <see cref="Reservation"/>; with MaxBlocks 0 the pool holds as many blocks as fit.</summary>
    public ulong ReservationBytes { get; init; }

    /// <summary>
    /// The most free blocks the pool keeps for reuse, or -1 for no limit. See
    /// <c>EnforceRetentionLocked</c> for when surplus blocks are discarded and their memory returned.
    /// </summary>
    public long RetainFreeBlocks { get; init; }

    /// <summary>Upper bound of the magazine capacity (0: the default), so thread caches stay small next to the retention.</summary>
    public int MagazineCapacityLimit { get; init; }

    /// <summary>
    /// Released chunks give their pages back with MADV_DONTNEED but stay mapped read/write, so a
    /// pool that releases and recommits single blocks all day does not split its mapping into
    /// thousands of areas (Linux allows about 65,000 per process).
    /// </summary>
    public bool KeepMappingOnRelease { get; init; }
}

// Bounded retention: how a pool with BlockPoolTuning.RetainFreeBlocks gives surplus free blocks,
// and their memory, back. Everything here holds _lock.
public sealed unsafe partial class BlockPool
{
    private readonly bool _ownsReservation;
    private readonly bool _keepMappingOnRelease;
    /// <summary>The most free blocks kept for reuse; -1 = no limit.</summary>
    private readonly long _retainLimit;
    /// <summary>Releases found over the retention limit (see EnforceRetentionLocked).</summary>
    private long _discarded;
    private long _baseDiscarded;
    /// <summary>Surplus the last retention trim could not give back (its chunks still had blocks in use).</summary>
    private long _retentionTrimExcess;
    /// <summary>Blocks of exited threads' caches reached the depot since the retention limit was last applied.</summary>
    private bool _retentionDue;
    /// <summary>No released chunk lies below this index, so the search for one starts here.</summary>
    private long _releasedChunkHint;

    /// <summary>The retention limit in blocks, or -1 when the pool keeps every free block.</summary>
    internal long RetainLimit => _retainLimit;

    /// <summary>
    /// Applies the retention limit after free blocks reached the depot (a thread handed in a full
    /// magazine holding <paramref name="incoming"/> blocks, or stats reclaimed the caches of exited
    /// threads). The free blocks are counted exactly at this moment: capacity minus the blocks in use
    /// (every thread's counters). The surplus over the limit is discarded:
    /// <list type="bullet">
    /// <item>Pools of one block per chunk release the surplus blocks' chunks at once, oldest free
    /// blocks of the depot first: their pages go back to the OS now. Each such block counts as discarded.</item>
    /// <item>Pools of several blocks per chunk count min(surplus, incoming) releases as discarded;
    /// those blocks stay usable until whole chunks are free. When the surplus reaches the larger of
    /// a chunk, a quarter of the limit, and twice what the previous attempt could not give back,
    /// every chunk with no block in use or cached by a thread is released, as long as at least the
    /// limit stays free.</item>
    /// </list>
    /// </summary>
    private void EnforceRetentionLocked(int incoming)
    {
        _retentionDue = false;
        long excess = _capacity - InUseLocked() - _retainLimit;
        if (excess <= 0)
        {
            _retentionTrimExcess = 0;
            return;
        }
        if (_blocksPerChunk == 1)
        {
            _discarded += DiscardFromDepotLocked(excess);
            return;
        }
        _discarded += Math.Min(excess, incoming);
        // Acquisitions since the last attempt may have used up part of the surplus.
        _retentionTrimExcess = Math.Min(_retentionTrimExcess, excess);
        long threshold = Math.Max(Math.Max(2 * _retentionTrimExcess, _blocksPerChunk), _retainLimit / 4);
        if (excess < threshold) return;
        // The walk costs O(d log d) for the d blocks in the depot; the threshold makes that
        // O(log d) per release, amortized, however large the pool.
        TrimSurplusLocked(budget: excess);
        _retentionTrimExcess = Math.Max(0, _capacity - InUseLocked() - _retainLimit);
    }

    /// <summary>Chunk state while a surplus trim takes its blocks out of the depot's magazines.</summary>
    private const byte ChunkReleasing = 3;

    /// <summary>
    /// Several blocks per chunk: releases chunks all of whose blocks sit in the depot's magazines, at
    /// most <paramref name="budget"/> blocks' worth. The depot's block indices are copied and sorted,
    /// so each chunk's free blocks are adjacent: O(d log d) for d blocks in the depot, independent of
    /// the pool's size. A chunk with a block listed twice (two threads freed it at the same instant)
    /// or not marked free is left alone: only chunks that are certainly free are released. Chunks
    /// holding fresh or thread-cached blocks never qualify (those blocks are not in the depot).
    /// </summary>
    private void TrimSurplusLocked(long budget)
    {
        long depot = _depotBlocks;
        if (depot < Math.Min(_blocksPerChunk, _blockLimit) || depot > int.MaxValue) return;
        int* sorted = (int*)NativeMemory.Alloc((nuint)depot, sizeof(int));
        if (sorted is null) return; // no memory for the walk: try again at a later exchange
        try
        {
            int n = 0;
            for (Magazine* m = _fullMagazines; m is not null && n < depot; m = m->Next)
            {
                int count = Math.Min(m->Count, (int)depot - n);
                new ReadOnlySpan<int>(Magazine.Rounds(m), count).CopyTo(new Span<int>(sorted + n, count));
                n += count;
            }
            var indices = new Span<int>(sorted, n);
            indices.Sort();
            long committed = CommittedBlocks;
            int chosen = 0; // chunks to release, written over the already-walked front of the array
            for (int i = 0; i < n && budget > 0;)
            {
                if ((ulong)indices[i] >= (ulong)committed)
                {
                    i++;
                    continue;
                }
                long chunk = indices[i] / _blocksPerChunk;
                bool clean = true;
                int j = i, previous = -1;
                for (; j < n && indices[j] / _blocksPerChunk == chunk; j++)
                {
                    int block = indices[j];
                    if (block == previous || _blockStates[block] != StateFree) clean = false;
                    previous = block;
                }
                long blocks = ChunkBlockCount(chunk);
                if (clean && j - i == blocks && blocks <= budget && _chunkStates[chunk] == ChunkActive)
                {
                    _chunkStates[chunk] = ChunkReleasing;
                    sorted[chosen++] = (int)chunk; // chosen <= i: that entry was already read
                    budget -= blocks;
                }
                i = j;
            }
            if (chosen == 0) return;

            // Take the chosen chunks' blocks out of the depot's magazines, compacting each in place.
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
                    if (_chunkStates[rounds[r] / _blocksPerChunk] != ChunkReleasing) rounds[kept++] = rounds[r];
                m->Count = kept;
                RetireMagazineLocked(m);
            }
            for (int c = 0; c < chosen; c++) ReleaseChunkLocked(sorted[c]);
        }
        finally
        {
            NativeMemory.Free(sorted);
        }
    }

    /// <summary>
    /// One block per chunk: releases the chunks of up to <paramref name="wanted"/> free blocks of the
    /// depot, taken from the bottom of the newest magazines (the blocks freed longest ago), so the most
    /// recently freed, cache-warm blocks stay. Returns how many were released.
    /// </summary>
    private long DiscardFromDepotLocked(long wanted)
    {
        long discarded = 0;
        while (discarded < wanted && _fullMagazines is not null)
        {
            Magazine* m = _fullMagazines;
            int* rounds = Magazine.Rounds(m);
            int count = m->Count;
            int take = (int)Math.Min(wanted - discarded, count);
            for (int r = 0; r < take; r++)
            {
                int index = rounds[r];
                // A block two threads freed at the same instant can sit in two magazines (or be
                // allocated again meanwhile): only a free block of an active chunk is released.
                if ((ulong)index < (ulong)_committedChunks && _chunkStates[index] == ChunkActive && _blockStates[index] == StateFree)
                {
                    ReleaseChunkLocked(index);
                    discarded++;
                }
                else
                {
                    DropDuplicate(index);
                }
            }
            int left = count - take;
            if (left > 0) new Span<int>(rounds + take, left).CopyTo(new Span<int>(rounds, left));
            m->Count = left;
            _depotBlocks -= take;
            if (left == 0)
            {
                PopFullLocked();
                PushEmptyLocked(m);
            }
        }
        return discarded;
    }

    /// <summary>
    /// Warm-up by capacity: grows until the pool holds at least <paramref name="blocks"/> blocks,
    /// free and in use together, with their pages faulted in.
    /// </summary>
    internal NpStatus ReserveCapacity(ulong blocks)
    {
        lock (_lock)
        {
            if (_disposed) return Destroyed();
            if (blocks > (ulong)_blockLimit)
                return LastError.Set(NpStatus.PoolExhausted, "cannot reserve {0} blocks: pool '{s}' holds at most {1}", blocks, _blockLimit, Label);
            while (_capacity < (long)blocks)
            {
                long chunks = ((long)blocks - _capacity + _blocksPerChunk - 1) / _blocksPerChunk;
                NpStatus status = GrowLocked(chunks);
                if (status != NpStatus.Ok) return status;
            }
            return NpStatus.Ok;
        }
    }

    /// <summary><see cref="GetStats()"/> plus the releases discarded by the retention limit since the last reset.</summary>
    internal BlockPoolStats GetStats(out ulong discarded)
    {
        lock (_lock)
        {
            BlockPoolStats stats = GetStats();
            discarded = (ulong)(_discarded - _baseDiscarded);
            return stats;
        }
    }
}
