using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using NativePools.Diagnostics;
using NativePools.Handles;
using NativePools.Platform;

namespace NativePools.Pools;

/// <summary>
/// A concurrent pool of fixed-size blocks in native memory.
///
/// Memory: one contiguous address-space reservation holds every block the pool can ever have,
/// committed a chunk (growth step) at a time, so a pointer maps to its block index with one
/// subtraction and one multiply (<see cref="ExactDivider"/>), and anything outside the
/// committed range is foreign without being dereferenced. Metadata lives out of band: one
/// state byte per block and one byte per chunk. Double, foreign, interior and misaligned
/// frees are caught in O(1) without reading or writing the block.
///
/// Speed: free blocks travel in magazines (fixed arrays of block indices). Each thread keeps
/// two per pool (<see cref="PoolCache"/>); alloc and free touch only the calling thread's
/// magazine and the block's state byte, with plain loads and stores: no locked instruction,
/// no shared cache line. Every <c>magazine capacity</c> operations a thread exchanges a
/// whole magazine with the depot under <see cref="_lock"/>. Growth, trim, validate, stats and
/// the reclaiming of caches of exited threads happen under that lock too
/// (this file: hot paths; BlockPool.Depot.cs: exchange and growth; BlockPool.Maintenance.cs).
/// A caller that remembers the thread's cache state (<see cref="CallingThreadState"/>) can skip
/// the pool lookup: the export layer does, per thread, and runs the common alloc and free in C
/// on that native state (see <see cref="CallingThreadStateLayout"/>). Each state carries a copy
/// of the pool's per-call fields (<see cref="CallView"/>), so a call reads one block of memory.
///
/// Double frees: a free that happens after the first free of the same block (in program
/// order or through any synchronisation) is always rejected. Two threads freeing the same
/// block at the same instant race on the plain state byte; alloc re-checks the state, so the
/// duplicate is dropped and counted when handed out, and validate reports it. With
/// <see cref="BlockPoolFlags.AtomicState"/> state changes are atomic and even that race
/// yields exactly one success.
///
/// Threading: every member may run concurrently with every other, except <see cref="Dispose"/>,
/// which must not race with other calls on the same pool.
/// </summary>
public sealed unsafe partial class BlockPool : HandleObject, IDisposable
{
    /// <summary>Byte written over freed blocks in poison mode.</summary>
    public const byte PoisonByte = 0xDE;

    // Block states (one byte each, out of band).
    private const byte StateFresh = 0;      // free, never handed out since its chunk was committed
    private const byte StateAllocated = 1;  // handed out
    private const byte StateFree = 2;       // freed: in some magazine

    // ---- geometry (immutable after construction) ----
    private readonly ulong _blockSize;
    private readonly ulong _alignment;
    private readonly ulong _stride;
    private readonly ExactDivider _divider;
    private readonly long _blocksPerChunk;
    private readonly long _blockLimit;          // blocks the reservation holds (max_blocks when bounded)
    private readonly long _chunkLimit;
    private readonly BlockPoolFlags _flags;
    private readonly bool _atomicState;
    private readonly bool _touchesBlocks;       // zero-on-alloc or poison-on-free
    private readonly bool _fixedGrowth;         // growth_blocks was given: grow by exactly one chunk
    private readonly bool _bounded;             // max_blocks was given: see BlockPool.Bounded.cs
    private readonly int _magazineCapacity;
    private readonly byte* _blocks;
    private readonly ulong _blocksReservedBytes;
    private readonly byte* _chunkStates;
    private readonly byte* _blockStates;
    private readonly ulong _metaReservedBytes;
    private readonly MetaLayout _meta;

    /// <summary>Index of this pool in every thread's cache array; -1 once disposed, which sends every call to the slow path.</summary>
    private int _id;

    /// <summary>Blocks ever committed (a high-water mark): the bound of the foreign-pointer test. Read by every free, written by growth only.</summary>
    private readonly HotWords _hotWords;
    private readonly long* _highWaterBlocks;

    /// <summary>What alloc and free read of the pool on every call (each thread's cache holds a copy).</summary>
    internal readonly struct CallView(BlockPool pool)
    {
        public readonly byte* Blocks = pool._blocks;
        public readonly ulong Stride = pool._stride;
        public readonly ExactDivider Divider = pool._divider;
        public readonly byte* BlockStates = pool._blockStates;
        public readonly long* HighWaterBlocks = pool._highWaterBlocks;
        public readonly int MagazineCapacity = pool._magazineCapacity;
        public readonly bool TouchesBlocks = pool._touchesBlocks;
        /// <summary>
        /// Neither atomic states, nor flags that touch blocks, nor a max_blocks bound: the inline
        /// alloc and free (and the export layer's C fast path) apply. A bounded pool's calls all
        /// take the slow path, where a thread claims its cache (see BlockPool.Bounded.cs).
        /// </summary>
        public readonly bool Plain = !pool._atomicState && !pool._touchesBlocks && !pool._bounded;
    }

    private readonly CallView _callView;

    /// <summary>Name given at creation (for diagnostics), or null.</summary>
    public string? Name { get; }

    /// <summary>The name, or "(unnamed)", for detail messages.</summary>
    private string Label => Name ?? "(unnamed)";

    /// <summary>Usable bytes per block.</summary>
    public ulong BlockSize => _blockSize;

    /// <summary>Alignment of every block start.</summary>
    public ulong Alignment => _alignment;

    /// <summary>Distance between consecutive block starts.</summary>
    public ulong Stride => _stride;

    /// <summary>Blocks per chunk (the unit of growth and trim).</summary>
    public long BlocksPerChunk => _blocksPerChunk;

    /// <summary>The most blocks this pool can ever hold.</summary>
    public long BlockLimit => _blockLimit;

    /// <summary>Block indices per magazine; each thread caches at most two magazines per pool.</summary>
    public int MagazineCapacity => _magazineCapacity;

    private BlockPool(in BlockPoolOptions o, in BlockPoolTuning tuning, ulong alignment, ulong stride, long blocksPerChunk, long blockLimit,
        byte* blocks, ulong blocksReservedBytes, byte* meta, ulong metaReservedBytes)
    {
        Name = o.Name;
        _blockSize = o.BlockSize;
        _alignment = alignment;
        _stride = stride;
        _divider = new ExactDivider(stride);
        _blocksPerChunk = blocksPerChunk;
        _blockLimit = blockLimit;
        _chunkLimit = (blockLimit + blocksPerChunk - 1) / blocksPerChunk;
        _flags = o.Flags;
        _atomicState = (o.Flags & BlockPoolFlags.AtomicState) != 0;
        _touchesBlocks = (o.Flags & (BlockPoolFlags.ZeroOnAlloc | BlockPoolFlags.PoisonOnFree)) != 0;
        _fixedGrowth = o.GrowthBlocks != 0;
        _bounded = o.MaxBlocks != 0;
        _magazineCapacity = MagazineCapacityFor(stride, blockLimit);
        if (tuning.MagazineCapacityLimit > 0) _magazineCapacity = Math.Min(_magazineCapacity, tuning.MagazineCapacityLimit);
        _ownsReservation = tuning.Reservation == 0;
        _keepMappingOnRelease = tuning.KeepMappingOnRelease;
        _retainLimit = tuning.RetainFreeBlocks;
        _blocks = blocks;
        _blocksReservedBytes = blocksReservedBytes;
        _metaReservedBytes = metaReservedBytes;
        _meta = new MetaLayout(_chunkLimit, blockLimit);
        _chunkStates = meta;
        _blockStates = meta + _meta.BlockStatesOffset;
        _hotWords = new HotWords(1);
        _highWaterBlocks = _hotWords[0];
        _id = PoolIds.Rent();
        _callView = new CallView(this);
    }

    /// <summary>
    /// Rounds per magazine: 64 for small blocks; fewer for large ones so that what a thread
    /// caches (two magazines) stays near 256 KiB; never more than the pool can hold.
    /// </summary>
    private static int MagazineCapacityFor(ulong stride, long blockLimit) =>
        (int)Math.Max(1, Math.Min(Math.Min(64UL, (256UL << 10) / stride), (ulong)Math.Max(1, blockLimit / 4)));

    /// <summary>The metadata reservation: [chunk states][block states], each starting on a page.</summary>
    private readonly struct MetaLayout(long chunks, long blocks)
    {
        public readonly ulong ChunkStatesBytes = VirtualMemory.AlignUp((nuint)chunks, VirtualMemory.PageSize);
        public ulong BlockStatesOffset => ChunkStatesBytes;
        public ulong TotalBytes => BlockStatesOffset + VirtualMemory.AlignUp((nuint)blocks, VirtualMemory.PageSize);
    }

    /// <summary>
    /// Creates a pool. Returns <see cref="NpStatus.Ok"/> and the pool, or an error status with the
    /// thread's <see cref="LastError"/> detail set.
    /// </summary>
    public static NpStatus Create(in BlockPoolOptions options, out BlockPool? pool) =>
        Create(options, BlockPoolTuning.Default, out pool);

    /// <summary>
    /// <see cref="Create(in BlockPoolOptions, out BlockPool?)"/> with the extra shaping other core types
    /// use (see <see cref="BlockPoolTuning"/>). A reservation given in <paramref name="tuning"/> stays the
    /// caller's: the pool never unmaps it, on failure or at dispose.
    /// </summary>
    internal static NpStatus Create(in BlockPoolOptions options, in BlockPoolTuning tuning, out BlockPool? pool)
    {
        pool = null;
        BlockPoolOptions o = options;
        if (o.BlockSize < BlockPoolOptions.MinBlockSize || o.BlockSize > BlockPoolOptions.MaxBlockSize)
            return LastError.Set(NpStatus.InvalidArgument, "block_size {0} is outside 1..16777216", o.BlockSize);
        ulong alignment = o.Alignment;
        if (alignment == 0)
            alignment = o.BlockSize >= 8 ? 8 : BitOperations.RoundUpToPowerOf2(o.BlockSize);
        if (!BitOperations.IsPow2(alignment) || alignment > BlockPoolOptions.MaxAlignment)
            return LastError.Set(NpStatus.InvalidArgument, "alignment {0} is not a power of two from 1 to 4096", o.Alignment);
        if (o.MaxBlocks > BlockPoolOptions.MaxBlockCount)
            return LastError.Set(NpStatus.InvalidArgument, "max_blocks {0} exceeds {1}", o.MaxBlocks, BlockPoolOptions.MaxBlockCount);
        if (o.MaxBlocks != 0 && o.InitialBlocks > o.MaxBlocks)
            return LastError.Set(NpStatus.InvalidArgument, "initial_blocks {0} exceeds max_blocks {1}", o.InitialBlocks, o.MaxBlocks);
        if ((o.Flags & ~BlockPoolOptions.KnownFlags) != 0)
            return LastError.Set(NpStatus.InvalidArgument, "unknown flag bits {x0}", (uint)(o.Flags & ~BlockPoolOptions.KnownFlags));

        ulong stride = (o.BlockSize + alignment - 1) & ~(alignment - 1);
        bool placed = tuning.Reservation != 0;
        ulong reservationCeiling = placed ? tuning.ReservationBytes : BlockPoolOptions.UnboundedReservationBytes;
        long blockLimit = o.MaxBlocks != 0
            ? (long)o.MaxBlocks
            : (long)Math.Min(BlockPoolOptions.MaxBlockCount, reservationCeiling / stride);
        if (placed && (blockLimit == 0 || (ulong)blockLimit * stride > tuning.ReservationBytes))
            return LastError.Set(NpStatus.InvalidArgument, "{0} blocks of stride {1} do not fit the pool's address range", blockLimit, stride);
        if (placed && ((ulong)tuning.Reservation & (alignment - 1)) != 0)
            return LastError.Set(NpStatus.InvalidArgument, "the pool's address range {x0} is not aligned to {1}", tuning.Reservation, alignment);
        if (o.InitialBlocks > (ulong)blockLimit)
            return LastError.Set(NpStatus.InvalidArgument, "initial_blocks {0} exceeds the pool's limit of {1} blocks", o.InitialBlocks, blockLimit);
        if (o.GrowthBlocks > BlockPoolOptions.MaxBlockCount)
            return LastError.Set(NpStatus.InvalidArgument, "growth_blocks {0} exceeds {1}", o.GrowthBlocks, BlockPoolOptions.MaxBlockCount);
        long blocksPerChunk = o.GrowthBlocks != 0
            ? (long)o.GrowthBlocks
            : (long)Math.Max(1, (BlockPoolOptions.DefaultGrowthBytes + stride - 1) / stride);
        blocksPerChunk = Math.Min(blocksPerChunk, blockLimit);

        ulong blocksBytes = placed ? tuning.ReservationBytes : (ulong)blockLimit * stride;
        long chunkLimit = (blockLimit + blocksPerChunk - 1) / blocksPerChunk;
        var layout = new MetaLayout(chunkLimit, blockLimit);

        nint blocks = placed ? tuning.Reservation : VirtualMemory.Reserve((nuint)blocksBytes, (nuint)alignment);
        if (blocks == 0)
            return LastError.Set(NpStatus.OutOfMemory, "reserving {0} bytes of address space failed (errno {1}): the process's address space is limited (ulimit -v, valgrind) or used up; a pool reserves room for its max_blocks, 64 GiB when unbounded, so set max_blocks to what the pool may hold", blocksBytes, VirtualMemory.LastErrno);
        nint meta = VirtualMemory.Reserve((nuint)layout.TotalBytes, 64);
        if (meta == 0)
        {
            if (!placed) VirtualMemory.Release(blocks, (nuint)blocksBytes);
            return LastError.Set(NpStatus.OutOfMemory, "reserving {0} bytes of metadata failed (errno {1})", layout.TotalBytes, VirtualMemory.LastErrno);
        }
        // No MADV_HUGEPAGE: with the usual defrag=madvise setting it makes faults wait for direct
        // compaction. Measured here, populating 264 MiB took 39-427 ms with huge pages and a
        // steady 81-96 ms with 4 KiB pages (growth prefaults with MADV_POPULATE_WRITE).

        var created = new BlockPool(o, tuning, alignment, stride, blocksPerChunk, blockLimit,
            (byte*)blocks, blocksBytes, (byte*)meta, layout.TotalBytes);
        if (o.InitialBlocks > 0)
        {
            NpStatus status = created.Reserve(o.InitialBlocks);
            if (status != NpStatus.Ok)
            {
                created.Dispose();
                return status;
            }
        }
        pool = created;
        return NpStatus.Ok;
    }

    // ------------------------------------------------------------------ hot path

    /// <summary>Takes a free block. O(1); grows the pool when no block is free.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public NpStatus Alloc(out nint block)
    {
        PoolCache? cache = ThreadCaches.Get(this, _id);
        if (cache is not null && TryAllocFrom(cache.State, out block)) return NpStatus.Ok;
        return AllocSlow(out block);
    }

    /// <summary>Returns a block. O(1); reports double, foreign, interior and misaligned frees without touching the block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public NpStatus Free(nint block)
    {
        PoolCache? cache = ThreadCaches.Get(this, _id);
        if (cache is not null && TryFreeInto(cache.State, block)) return NpStatus.Ok;
        return FreeSlow(block);
    }

    // ---- for a caller that remembers the calling thread's cache state itself (the export layer)

    // Native, so that the export layer's C fast path can read it too (see DestroyedPoolsCounter).
    private static readonly long* s_destroyedPools = AllocateCounter();

    private static long* AllocateCounter()
    {
        // A line pair of its own: every alloc and free reads it, only destroy writes it.
        var counter = (long*)NativeMemory.AlignedAlloc(128, 128);
        NativeMemory.Clear(counter, 128);
        return counter;
    }

    /// <summary>
    /// Pools destroyed so far in the process. Destroying a pool frees its threads' cache states,
    /// so a state remembered (see <see cref="CallingThreadState"/>) is valid only while this count
    /// is the one read when it was remembered.
    /// </summary>
    internal static long DestroyedPools => Volatile.Read(ref *s_destroyedPools);

    /// <summary>Where <see cref="DestroyedPools"/> lives (never moves, never freed), for code outside .NET that remembers states too.</summary>
    internal static long* DestroyedPoolsCounter => s_destroyedPools;

    /// <summary>
    /// The calling thread's cache state for this pool, for a caller that does the common alloc
    /// and free on it itself, exactly as <see cref="TryAllocFrom"/> and <see cref="TryFreeInto"/>
    /// do; 0 before the thread's first call, and for pools whose every call takes the general
    /// path (atomic states, poison or zero flags, max_blocks). Valid for the calling thread
    /// only, and only until <see cref="DestroyedPools"/> changes (the owner thread's exit ends it
    /// too, but then nothing on that thread can call again).
    /// </summary>
    internal nint CallingThreadState()
    {
        PoolCache? cache = ThreadCaches.Get(this, _id);
        return cache is not null && cache.View.Plain ? (nint)cache.State : 0;
    }

    /// <summary>
    /// What code outside .NET that works on a state from <see cref="CallingThreadState"/> relies
    /// on (the export layer's C fast path): the byte offsets of the fields it reads and writes
    /// and the block state values, in the order of <see cref="ThreadCacheState.Layout"/>.
    /// </summary>
    internal static long[] CallingThreadStateLayout() => ThreadCacheState.Layout(StateFresh, StateAllocated, StateFree);

    /// <summary>The common alloc: a block from the thread's loaded magazine, with no lock and no locked instruction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryAllocFrom(ThreadCacheState* cache, out nint block)
    {
        Magazine* loaded = cache->Loaded;
        int count = loaded->Count;
        if (count != 0 && cache->View.Plain)
        {
            int index = Magazine.Rounds(loaded)[count - 1];
            byte* states = cache->View.BlockStates;
            byte state = states[index];
            if (state != StateAllocated)
            {
                long sequence = cache->Sequence;
                Volatile.Write(ref cache->Sequence, sequence + 1);
                loaded->Count = count - 1;
                Volatile.Write(ref states[index], StateAllocated);
                if (state == StateFresh) cache->Created++;
                else cache->Reused++;
                if (++cache->Net > cache->MaxNet) cache->MaxNet = cache->Net;
                block = (nint)(cache->View.Blocks + (ulong)index * cache->View.Stride);
                Volatile.Write(ref cache->Sequence, sequence + 2);
                return true;
            }
        }
        block = 0;
        return false;
    }

    /// <summary>The common free: a valid block into the thread's loaded magazine when it has room.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryFreeInto(ThreadCacheState* cache, nint block)
    {
        ref readonly CallView view = ref cache->View;
        // One multiply tells both "is a block start" and which block; the bound check also
        // rejects everything below the pool (the subtraction wraps to a huge value).
        ulong index = view.Divider.QuotientIfExact((ulong)block - (ulong)view.Blocks);
        if (index >= (ulong)cache->HighWaterSeen && !RefreshHighWaterSeen(cache, index)) return false;
        if (view.BlockStates[index] == StateAllocated && view.Plain)
        {
            Magazine* loaded = cache->Loaded;
            int count = loaded->Count;
            if (count != view.MagazineCapacity)
            {
                long sequence = cache->Sequence;
                Volatile.Write(ref cache->Sequence, sequence + 1);
                Volatile.Write(ref view.BlockStates[index], StateFree);
                Magazine.Rounds(loaded)[count] = (int)index;
                loaded->Count = count + 1;
                cache->Frees++;
                cache->Net--;
                Volatile.Write(ref cache->Sequence, sequence + 2);
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// The bound check of a free against the pool's high-water mark, when the thread's copy of it
    /// is too low: reads the pool's (a line every thread shares) and keeps it. The mark only grows
    /// while the pool lives, so an old copy only sends more frees here, never lets a bad one pass.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool RefreshHighWaterSeen(ThreadCacheState* cache, ulong index)
    {
        long highWater = Volatile.Read(ref *cache->View.HighWaterBlocks);
        if (index >= (ulong)highWater) return false;
        cache->HighWaterSeen = highWater;
        return true;
    }

    /// <summary>
    /// Takes up to <paramref name="blocks"/>.Length blocks. Returns Ok when all were taken;
    /// otherwise the status that stopped it, with <paramref name="taken"/> telling how many
    /// leading entries hold blocks (those belong to the caller).
    /// </summary>
    public NpStatus AllocBatch(Span<nint> blocks, out int taken)
    {
        fixed (nint* output = blocks)
        {
            int done = 0;
            while (done < blocks.Length)
            {
                PoolCache? cache = ThreadCaches.Get(this, _id);
                if (cache is not null && _callView.Plain)
                {
                    done += TakeFromLoaded(cache, output + done, blocks.Length - done);
                    if (done == blocks.Length) break;
                }
                // An empty magazine, a duplicate, flags or a bound, or no cache yet: one block the general way.
                NpStatus status = AllocSlow(out output[done]);
                if (status != NpStatus.Ok)
                {
                    taken = done;
                    return status;
                }
                done++;
            }
            taken = done;
            return NpStatus.Ok;
        }
    }

    /// <summary>
    /// Moves up to <paramref name="wanted"/> blocks from the loaded magazine to <paramref name="output"/>;
    /// stops early at a duplicate (left for the slow path to drop). Everything the loop needs is
    /// in locals, so nothing is spilled and reloaded per block.
    /// </summary>
    private int TakeFromLoaded(PoolCache cache, nint* output, int wanted)
    {
        Magazine* loaded = cache.Loaded;
        int* rounds = Magazine.Rounds(loaded);
        int count = loaded->Count;
        int take = Math.Min(count, wanted);
        byte* states = _blockStates;
        byte* blocks = _blocks;
        ulong stride = _stride;
        long sequence = cache.Sequence;
        Volatile.Write(ref cache.Sequence, sequence + 1);
        int reused = 0, k = 0;
        for (; k < take; k++)
        {
            int index = rounds[count - 1 - k];
            int state = states[index];
            if (state == StateAllocated) break;
            Volatile.Write(ref states[index], StateAllocated);
            reused += state >> 1; // StateFresh (0) counts as created, StateFree (2) as reused
            output[k] = (nint)(blocks + (ulong)index * stride);
        }
        loaded->Count = count - k;
        cache.Reused += reused;
        cache.Created += k - reused;
        cache.Net += k;
        if (cache.Net > cache.MaxNet) cache.MaxNet = cache.Net;
        Volatile.Write(ref cache.Sequence, sequence + 2);
        return k;
    }

    /// <summary>
    /// Frees every valid pointer in <paramref name="blocks"/>. Invalid ones are skipped and
    /// counted; the status is that of the first invalid pointer, or Ok, and the thread's
    /// <see cref="LastError"/> describes that first invalid pointer too.
    /// </summary>
    public NpStatus FreeBatch(ReadOnlySpan<nint> blocks, out int freed)
    {
        fixed (nint* input = blocks)
        {
            int done = 0, i = 0;
            NpStatus first = FreeUntilInvalid(input, blocks.Length, ref i, ref done);
            if (first != NpStatus.Ok) first = FreeRestAfterInvalid(input, blocks.Length, ref i, ref done, first);
            freed = done;
            return first;
        }
    }

    /// <summary>
    /// Frees entries from <paramref name="i"/> on until one is invalid (its status, with
    /// <paramref name="i"/> past it) or all are done (Ok); <paramref name="done"/> counts the frees.
    /// </summary>
    private NpStatus FreeUntilInvalid(nint* input, int length, ref int i, ref int done)
    {
        while (i < length)
        {
            PoolCache? cache = ThreadCaches.Get(this, _id);
            if (cache is not null && _callView.Plain)
            {
                int put = PutIntoLoaded(cache, input + i, length - i);
                i += put;
                done += put;
                if (i == length) break;
            }
            // A full magazine, an invalid pointer, flags or a bound, or no cache yet: one block the general way.
            NpStatus status = FreeSlow(input[i++]);
            if (status != NpStatus.Ok) return status;
            done++;
        }
        return NpStatus.Ok;
    }

    /// <summary>
    /// The rest of a batch after its first invalid entry: frees the valid ones and, when later
    /// entries are invalid too, makes the thread's last error the first one's again (the status
    /// the batch returns names the first).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private NpStatus FreeRestAfterInvalid(nint* input, int length, ref int i, ref int done, NpStatus first)
    {
        LastErrorRecord firstError = LastError.Save();
        bool laterFailed = false;
        while (i < length)
            laterFailed |= FreeUntilInvalid(input, length, ref i, ref done) != NpStatus.Ok;
        if (laterFailed) LastError.Restore(firstError);
        return first;
    }

    /// <summary>Moves valid pointers into the loaded magazine until it is full or one is invalid; returns how many.</summary>
    private int PutIntoLoaded(PoolCache cache, nint* input, int available)
    {
        Magazine* loaded = cache.Loaded;
        int* rounds = Magazine.Rounds(loaded);
        int count = loaded->Count;
        int put = Math.Min(_magazineCapacity - count, available);
        byte* states = _blockStates;
        ulong blocks = (ulong)_blocks;
        ulong highWater = (ulong)Volatile.Read(ref *_highWaterBlocks);
        ExactDivider divider = _divider;
        long sequence = cache.Sequence;
        Volatile.Write(ref cache.Sequence, sequence + 1);
        int k = 0;
        for (; k < put; k++)
        {
            ulong index = divider.QuotientIfExact((ulong)input[k] - blocks);
            if (index >= highWater || states[index] != StateAllocated) break;
            Volatile.Write(ref states[index], StateFree);
            rounds[count + k] = (int)index;
        }
        loaded->Count = count + k;
        cache.Frees += k;
        cache.Net -= k;
        Volatile.Write(ref cache.Sequence, sequence + 2);
        return k;
    }

    /// <summary>Counts a block just marked allocated in <paramref name="cache"/>'s counters and returns its address.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nint HandedOut(PoolCache cache, int index, byte previousState)
    {
        if (previousState == StateFresh) cache.Created++;
        else
        {
            cache.Reused++;
            if (cache.View.TouchesBlocks) cache.Pool.PrepareReused(index);
        }
        if (++cache.Net > cache.MaxNet) cache.MaxNet = cache.Net;
        return (nint)(cache.View.Blocks + (ulong)index * cache.View.Stride);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void PrepareReused(long index)
    {
        var span = new Span<byte>(_blocks + (ulong)index * _stride, (int)_blockSize);
        if ((_flags & BlockPoolFlags.PoisonOnFree) != 0 && span.IndexOfAnyExcept(PoisonByte) >= 0)
            Interlocked.Increment(ref _poisonViolations);
        if ((_flags & BlockPoolFlags.ZeroOnAlloc) != 0) span.Clear();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Poison(ulong index)
    {
        if ((_flags & BlockPoolFlags.PoisonOnFree) != 0)
            new Span<byte>(_blocks + index * _stride, (int)_blockSize).Fill(PoisonByte);
    }

    /// <summary>Why a free was refused, for a pointer that failed the fast checks.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private NpStatus RejectFree(nint block)
    {
        ulong offset = (ulong)block - (ulong)_blocks;
        if (block == 0)
            return LastError.Set(NpStatus.NullPointer, "free of NULL in pool '{s}'", subject: Label);
        if (offset >= (ulong)Volatile.Read(ref *_highWaterBlocks) * _stride)
        {
            Interlocked.Increment(ref _foreignFrees);
            return LastError.Set(NpStatus.ForeignPointer, "pointer {x0} does not belong to pool '{s}'", block, subject: Label);
        }
        if (((ulong)block & (_alignment - 1)) != 0)
        {
            Interlocked.Increment(ref _invalidFrees);
            return LastError.Set(NpStatus.MisalignedPointer, "pointer {x0} is not aligned to {1} bytes (pool '{s}')", block, _alignment, Label);
        }
        ulong index = offset / _stride;
        if (index * _stride != offset)
        {
            Interlocked.Increment(ref _invalidFrees);
            return LastError.Set(NpStatus.InteriorPointer, "pointer {x0} is {1} bytes into a block of pool '{s}'", block, offset - index * _stride, Label);
        }
        Interlocked.Increment(ref _doubleFrees);
        return LastError.Set(NpStatus.DoubleFree, "block {x0} of pool '{s}' is not allocated (double free)", block, subject: Label);
    }

    /// <summary>
    /// Releases all memory. Blocks still handed out become invalid at once (like memory of a
    /// destroyed arena). Must not race with other calls on this pool; later calls fail cleanly.
    /// </summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            // Every later call fails the cache lookup and the foreign-pointer bound, so it reaches a slow path that checks _disposed.
            int id = _id;
            _id = -1;
            Volatile.Write(ref *_highWaterBlocks, 0);
            FreeAllMagazinesLocked();
            Interlocked.Increment(ref *s_destroyedPools); // before the states go: see DestroyedPools
            foreach (PoolCache cache in _caches) cache.Release();
            _caches.Clear();
            if (_ownsReservation) VirtualMemory.Release((nint)_blocks, (nuint)_blocksReservedBytes);
            VirtualMemory.Release((nint)_chunkStates, (nuint)_metaReservedBytes);
            if (id >= 0) PoolIds.Return(id);
        }
    }
}
