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
/// Layout: one contiguous address-space reservation holds every block the pool can ever
/// have, so a pointer maps to its block index with one subtraction and one division, and
/// anything outside the reservation is foreign without being dereferenced. The reservation
/// is committed a chunk (growth step) at a time. Metadata lives out of band, in separate
/// reservations: one state byte per block and one 32-bit free-list link per block. Double
/// free, foreign, interior and misaligned pointers are therefore caught in O(1) without
/// reading or writing the freed block.
///
/// Free blocks sit on a lock-free LIFO (Treiber stack) whose 64-bit head packs a 32-bit
/// block index with a 32-bit tag that changes on every update, which defeats ABA.
/// Growth, trim and validate serialise on <see cref="_slowLock"/>; alloc and free never take it
/// unless the free list is empty.
///
/// Threading: every member may run concurrently with every other, except <see cref="Dispose"/>,
/// which must not race with other calls on the same pool.
/// </summary>
public sealed unsafe class BlockPool : HandleObject, IDisposable
{
    /// <summary>Byte written over freed blocks in poison mode.</summary>
    public const byte PoisonByte = 0xDE;

    private const int Nil = -1;

    // Block states (one byte each, out of band).
    private const byte StateFresh = 0;      // free, never handed out since its chunk was committed
    private const byte StateAllocated = 1;  // handed out
    private const byte StateFree = 2;       // freed, on the free list

    // Chunk states.
    private const byte ChunkUncommitted = 0;
    private const byte ChunkActive = 1;
    private const byte ChunkReleased = 2;   // trimmed: pages returned, blocks off the free list

    // ---- geometry (immutable after construction) ----
    private readonly ulong _blockSize;
    private readonly ulong _alignment;
    private readonly ulong _stride;
    private readonly int _strideShift;          // log2(stride) when stride is a power of two, else -1
    private readonly long _blocksPerChunk;
    private readonly long _blockLimit;          // blocks the reservation holds (max_blocks when bounded)
    private readonly long _chunkLimit;
    private readonly BlockPoolFlags _flags;
    private readonly byte* _blocks;
    private readonly ulong _blocksReservedBytes;
    private readonly byte* _chunkStates;
    private readonly byte* _blockStates;
    private readonly int* _next;
    private readonly ulong _metaReservedBytes;
    private readonly MetaLayout _meta;

    // ---- hot shared state, each word on its own cache lines ----
    private readonly HotWords _hotWords;        // keeps the three words below alive
    private readonly long* _head;               // (tag << 32) | (uint)index, index Nil when empty
    private readonly long* _inUse;              // blocks handed out and not freed
    private readonly long* _highWaterBytes;     // bytes of the reservation ever committed: the foreign-pointer bound
    private readonly StripedCounters _counters;

    // ---- slow-path state, guarded by _slowLock ----
    private readonly object _slowLock = new();
    private long _committedChunks;              // chunk indices [0, _committedChunks) have been committed at least once
    private long _activeChunks;
    private long _capacity;
    private ulong _blockStatesCommitted;        // bytes of _blockStates committed
    private ulong _nextCommitted;               // bytes of _next committed
    private long _peakInUse;
    private long _chunksReleased;
    private bool _disposed;

    /// <summary>Name given at creation (for diagnostics), or null.</summary>
    public string? Name { get; }

    /// <summary>Usable bytes per block.</summary>
    public ulong BlockSize => _blockSize;

    /// <summary>Alignment of every block start.</summary>
    public ulong Alignment => _alignment;

    /// <summary>Distance between consecutive block starts.</summary>
    public ulong Stride => _stride;

    /// <summary>Blocks per chunk (growth step).</summary>
    public long BlocksPerChunk => _blocksPerChunk;

    /// <summary>The most blocks this pool can ever hold.</summary>
    public long BlockLimit => _blockLimit;

    private BlockPool(in BlockPoolOptions o, ulong alignment, ulong stride, long blocksPerChunk, long blockLimit,
        byte* blocks, ulong blocksReservedBytes, byte* meta, ulong metaReservedBytes)
    {
        Name = o.Name;
        _blockSize = o.BlockSize;
        _alignment = alignment;
        _stride = stride;
        _strideShift = BitOperations.IsPow2(stride) ? BitOperations.TrailingZeroCount(stride) : -1;
        _blocksPerChunk = blocksPerChunk;
        _blockLimit = blockLimit;
        _chunkLimit = (blockLimit + blocksPerChunk - 1) / blocksPerChunk;
        _flags = o.Flags;
        _blocks = blocks;
        _blocksReservedBytes = blocksReservedBytes;
        _metaReservedBytes = metaReservedBytes;
        _meta = new MetaLayout(_chunkLimit, blockLimit);
        _chunkStates = meta;
        _blockStates = meta + _meta.BlockStatesOffset;
        _next = (int*)(meta + _meta.NextOffset);
        _hotWords = new HotWords(3);
        _head = _hotWords[0];
        _inUse = _hotWords[1];
        _highWaterBytes = _hotWords[2];
        *_head = PackHead(0, Nil);
        _counters = new StripedCounters();
    }

    /// <summary>
    /// The metadata reservation: [chunk states][block states][free-list links], each array
    /// starting on a page so each can be committed on its own as the pool grows.
    /// </summary>
    private readonly struct MetaLayout(long chunks, long blocks)
    {
        public readonly ulong ChunkStatesBytes = VirtualMemory.AlignUp((nuint)chunks, VirtualMemory.PageSize);
        public ulong BlockStatesOffset => ChunkStatesBytes;
        public ulong NextOffset => BlockStatesOffset + VirtualMemory.AlignUp((nuint)blocks, VirtualMemory.PageSize);
        public ulong TotalBytes => NextOffset + VirtualMemory.AlignUp((nuint)((ulong)blocks * sizeof(int)), VirtualMemory.PageSize);
    }

    /// <summary>
    /// Creates a pool. Returns <see cref="NpStatus.Ok"/> and the pool, or an error status with the
    /// thread's <see cref="LastError"/> detail set.
    /// </summary>
    public static NpStatus Create(in BlockPoolOptions options, out BlockPool? pool)
    {
        pool = null;
        BlockPoolOptions o = options;
        if (o.BlockSize < BlockPoolOptions.MinBlockSize || o.BlockSize > BlockPoolOptions.MaxBlockSize)
            return LastError.Set(NpStatus.InvalidArgument, "block_size {0} is outside 1..16777216", (long)o.BlockSize);
        ulong alignment = o.Alignment;
        if (alignment == 0)
            alignment = o.BlockSize >= 8 ? 8 : BitOperations.RoundUpToPowerOf2(o.BlockSize);
        if (!BitOperations.IsPow2(alignment) || alignment > BlockPoolOptions.MaxAlignment)
            return LastError.Set(NpStatus.InvalidArgument, "alignment {0} is not a power of two from 1 to 4096", (long)o.Alignment);
        if (o.MaxBlocks > BlockPoolOptions.MaxBlockCount)
            return LastError.Set(NpStatus.InvalidArgument, "max_blocks {0} exceeds {1}", (long)o.MaxBlocks, (long)BlockPoolOptions.MaxBlockCount);
        if (o.MaxBlocks != 0 && o.InitialBlocks > o.MaxBlocks)
            return LastError.Set(NpStatus.InvalidArgument, "initial_blocks {0} exceeds max_blocks {1}", (long)o.InitialBlocks, (long)o.MaxBlocks);
        if ((o.Flags & ~(BlockPoolFlags.ZeroOnAlloc | BlockPoolFlags.PoisonOnFree)) != 0)
            return LastError.Set(NpStatus.InvalidArgument, "unknown flag bits {x0}", (long)o.Flags);

        ulong stride = (o.BlockSize + alignment - 1) & ~(alignment - 1);
        long blockLimit = o.MaxBlocks != 0
            ? (long)o.MaxBlocks
            : (long)Math.Min(BlockPoolOptions.MaxBlockCount, BlockPoolOptions.UnboundedReservationBytes / stride);
        if (o.InitialBlocks > (ulong)blockLimit)
            return LastError.Set(NpStatus.InvalidArgument, "initial_blocks {0} exceeds the pool's limit of {1} blocks", (long)o.InitialBlocks, blockLimit);
        if (o.GrowthBlocks > BlockPoolOptions.MaxBlockCount)
            return LastError.Set(NpStatus.InvalidArgument, "growth_blocks {0} exceeds {1}", (long)o.GrowthBlocks, (long)BlockPoolOptions.MaxBlockCount);
        long blocksPerChunk = o.GrowthBlocks != 0
            ? (long)o.GrowthBlocks
            : (long)Math.Max(1, (BlockPoolOptions.DefaultGrowthBytes + stride - 1) / stride);
        blocksPerChunk = Math.Min(blocksPerChunk, blockLimit);

        ulong blocksBytes = (ulong)blockLimit * stride;
        long chunkLimit = (blockLimit + blocksPerChunk - 1) / blocksPerChunk;
        ulong metaBytes = new MetaLayout(chunkLimit, blockLimit).TotalBytes;

        nint blocks = VirtualMemory.Reserve((nuint)blocksBytes, (nuint)alignment);
        if (blocks == 0)
            return LastError.Set(NpStatus.OutOfMemory, "reserving {0} bytes of address space failed (errno {1})", (long)blocksBytes, VirtualMemory.LastErrno);
        nint meta = VirtualMemory.Reserve((nuint)metaBytes, 64);
        if (meta == 0)
        {
            VirtualMemory.Release(blocks, (nuint)blocksBytes);
            return LastError.Set(NpStatus.OutOfMemory, "reserving {0} bytes of metadata failed (errno {1})", (long)metaBytes, VirtualMemory.LastErrno);
        }

        var created = new BlockPool(o, alignment, stride, blocksPerChunk, blockLimit,
            (byte*)blocks, blocksBytes, (byte*)meta, metaBytes);
        // Chunk states are small (one byte per chunk): commit them all now.
        if (!VirtualMemory.Commit(meta, (nuint)created._meta.ChunkStatesBytes))
        {
            created.Dispose();
            return LastError.Set(NpStatus.OutOfMemory, "committing {0} bytes of metadata failed (errno {1})", (long)created._meta.ChunkStatesBytes, VirtualMemory.LastErrno);
        }
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

    /// <summary>Takes a free block. O(1); grows the pool when the free list is empty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public NpStatus Alloc(out nint block)
    {
        int index = Pop();
        if (index == Nil) return AllocSlow(out block);
        block = HandOut(index);
        return NpStatus.Ok;
    }

    /// <summary>Returns a block. O(1); reports double, foreign, interior and misaligned frees without touching the block.</summary>
    public NpStatus Free(nint block)
    {
        ulong offset = (ulong)block - (ulong)_blocks;
        if (offset >= (ulong)Volatile.Read(ref *_highWaterBytes))
            return RejectFree(block, offset);
        ulong index = _strideShift >= 0 ? offset >> _strideShift : offset / _stride;
        if (index * _stride != offset)
            return RejectFree(block, offset);
        if (Interlocked.CompareExchange(ref _blockStates[index], StateFree, StateAllocated) != StateAllocated)
            return RejectFree(block, offset);
        if ((_flags & BlockPoolFlags.PoisonOnFree) != 0)
            new Span<byte>((void*)block, (int)_blockSize).Fill(PoisonByte);
        Push((int)index);
        Interlocked.Decrement(ref *_inUse);
        _counters.Increment(StripedCounters.Frees);
        return NpStatus.Ok;
    }

    /// <summary>
    /// Takes up to <paramref name="blocks"/>.Length blocks. Returns Ok when all were taken;
    /// otherwise the status that stopped it, with <paramref name="taken"/> telling how many
    /// leading entries hold blocks (those belong to the caller).
    /// </summary>
    public NpStatus AllocBatch(Span<nint> blocks, out int taken)
    {
        for (int i = 0; i < blocks.Length; i++)
        {
            NpStatus status = Alloc(out blocks[i]);
            if (status != NpStatus.Ok)
            {
                taken = i;
                return status;
            }
        }
        taken = blocks.Length;
        return NpStatus.Ok;
    }

    /// <summary>
    /// Frees every valid pointer in <paramref name="blocks"/>. Invalid ones are skipped and
    /// counted; the status is that of the first invalid pointer, or Ok.
    /// </summary>
    public NpStatus FreeBatch(ReadOnlySpan<nint> blocks, out int freed)
    {
        NpStatus first = NpStatus.Ok;
        int count = 0;
        foreach (nint block in blocks)
        {
            NpStatus status = Free(block);
            if (status == NpStatus.Ok) count++;
            else if (first == NpStatus.Ok) first = status;
        }
        freed = count;
        return first;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private nint HandOut(int index)
    {
        byte previous = _blockStates[index];
        Volatile.Write(ref _blockStates[index], StateAllocated);
        byte* block = _blocks + (ulong)index * _stride;
        if (previous == StateFresh)
        {
            // Fresh blocks are zero: new mappings and trimmed pages read as zeros.
            _counters.Increment(StripedCounters.Created);
        }
        else
        {
            _counters.Increment(StripedCounters.Reused);
            if (_flags != BlockPoolFlags.None) PrepareReused(block);
        }
        long inUse = Interlocked.Increment(ref *_inUse);
        if (inUse > Volatile.Read(ref _peakInUse)) RaisePeak(inUse);
        return (nint)block;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void PrepareReused(byte* block)
    {
        var span = new Span<byte>(block, (int)_blockSize);
        if ((_flags & BlockPoolFlags.PoisonOnFree) != 0 && span.IndexOfAnyExcept(PoisonByte) >= 0)
            _counters.Increment(StripedCounters.PoisonViolations);
        if ((_flags & BlockPoolFlags.ZeroOnAlloc) != 0) span.Clear();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RaisePeak(long inUse)
    {
        long peak = Volatile.Read(ref _peakInUse);
        while (inUse > peak)
        {
            long seen = Interlocked.CompareExchange(ref _peakInUse, inUse, peak);
            if (seen == peak) return;
            peak = seen;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private NpStatus RejectFree(nint block, ulong offset)
    {
        if (block == 0)
            return LastError.Set(NpStatus.NullPointer, "free of NULL in pool '{s}'", subject: Name);
        if (offset >= (ulong)Volatile.Read(ref *_highWaterBytes))
        {
            _counters.Increment(StripedCounters.ForeignFrees);
            return LastError.Set(NpStatus.ForeignPointer, "pointer {x0} does not belong to pool '{s}'", block, subject: Name);
        }
        if (((ulong)block & (_alignment - 1)) != 0)
        {
            _counters.Increment(StripedCounters.InvalidFrees);
            return LastError.Set(NpStatus.MisalignedPointer, "pointer {x0} is not aligned to {1} bytes (pool '{s}')", block, (long)_alignment, Name);
        }
        ulong index = offset / _stride;
        if (index * _stride != offset)
        {
            _counters.Increment(StripedCounters.InvalidFrees);
            return LastError.Set(NpStatus.InteriorPointer, "pointer {x0} is {1} bytes into a block of pool '{s}'", block, (long)(offset - index * _stride), Name);
        }
        _counters.Increment(StripedCounters.DoubleFrees);
        return LastError.Set(NpStatus.DoubleFree, "block {x0} of pool '{s}' is not allocated (double free)", block, subject: Name);
    }

    // ------------------------------------------------------------------ free list

    private static long PackHead(uint tag, int index) => (long)(((ulong)tag << 32) | (uint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Pop()
    {
        long head = Volatile.Read(ref *_head);
        while (true)
        {
            int index = (int)head;
            if (index == Nil) return Nil;
            // The link lives out of band and stays mapped for the pool's life, so reading it
            // for a block another thread just popped is harmless: the tag makes our CAS fail.
            int next = Volatile.Read(ref _next[index]);
            long seen = Interlocked.CompareExchange(ref *_head, PackHead((uint)(head >> 32) + 1, next), head);
            if (seen == head) return index;
            head = seen;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Push(int index) => PushChain(index, index);

    /// <summary>Pushes a pre-linked chain first → … → last (links already in <see cref="_next"/>).</summary>
    private void PushChain(int first, int last)
    {
        long head = Volatile.Read(ref *_head);
        while (true)
        {
            _next[last] = (int)head;
            long seen = Interlocked.CompareExchange(ref *_head, PackHead((uint)(head >> 32) + 1, first), head);
            if (seen == head) return;
            head = seen;
        }
    }

    /// <summary>Detaches the whole free list and returns its first index (Nil when empty).</summary>
    private int TakeAll()
    {
        long head = Volatile.Read(ref *_head);
        while (true)
        {
            long seen = Interlocked.CompareExchange(ref *_head, PackHead((uint)(head >> 32) + 1, Nil), head);
            if (seen == head) return (int)head;
            head = seen;
        }
    }

    // ------------------------------------------------------------------ slow path: growth

    [MethodImpl(MethodImplOptions.NoInlining)]
    private NpStatus AllocSlow(out nint block)
    {
        block = 0;
        lock (_slowLock)
        {
            if (_disposed) return LastError.Set(NpStatus.InvalidHandle, "pool '{s}' is destroyed", subject: Name);
            // Another thread may have grown the pool (or trim/validate put blocks back) while we waited.
            int index = Pop();
            if (index == Nil)
            {
                NpStatus status = GrowLocked(keepFirst: true, out index);
                if (status != NpStatus.Ok)
                {
                    _counters.Increment(StripedCounters.FailedAllocations);
                    return status;
                }
            }
            block = HandOut(index);
            return NpStatus.Ok;
        }
    }

    /// <summary>
    /// Commits one chunk (a released one first, else the next new one) and pushes its blocks.
    /// With <paramref name="keepFirst"/> the chunk's first block is returned instead of pushed.
    /// </summary>
    private NpStatus GrowLocked(bool keepFirst, out int kept)
    {
        kept = Nil;
        long chunk = FindReleasedChunkLocked();
        if (chunk < 0)
        {
            if (_committedChunks == _chunkLimit)
            {
                return LastError.Set(NpStatus.PoolExhausted, "pool '{s}' holds its maximum of {0} blocks and all are in use", _blockLimit, subject: Name);
            }
            chunk = _committedChunks;
        }

        long first = chunk * _blocksPerChunk;
        long end = Math.Min(first + _blocksPerChunk, _blockLimit);
        if (!CommitMetaLocked(end) || !CommitBlocksLocked(first, end))
            return LastError.Set(NpStatus.OutOfMemory, "committing memory for pool '{s}' failed (errno {0})", VirtualMemory.LastErrno, subject: Name);

        if (chunk == _committedChunks)
        {
            _committedChunks++;
            Volatile.Write(ref *_highWaterBytes, end * (long)_stride);
        }
        _chunkStates[chunk] = ChunkActive;
        _activeChunks++;
        _capacity += end - first;

        // Link the chunk's blocks in address order so they are handed out front to back.
        long start = first;
        if (keepFirst)
        {
            kept = (int)first;
            start++;
        }
        if (start < end)
        {
            for (long i = start; i < end - 1; i++) _next[i] = (int)(i + 1);
            PushChain((int)start, (int)(end - 1));
        }
        return NpStatus.Ok;
    }

    private long FindReleasedChunkLocked()
    {
        if (_activeChunks == _committedChunks) return -1;
        for (long c = 0; c < _committedChunks; c++)
            if (_chunkStates[c] == ChunkReleased) return c;
        return -1;
    }

    private bool CommitMetaLocked(long blockEnd) =>
        CommitPrefix(_blockStates, ref _blockStatesCommitted, (ulong)blockEnd, _meta.NextOffset - _meta.BlockStatesOffset) &&
        CommitPrefix((byte*)_next, ref _nextCommitted, (ulong)blockEnd * sizeof(int), _meta.TotalBytes - _meta.NextOffset);

    /// <summary>Commits the first <paramref name="needed"/> bytes of an array, page by page, never past <paramref name="limit"/>.</summary>
    private static bool CommitPrefix(byte* array, ref ulong committed, ulong needed, ulong limit)
    {
        if (needed <= committed) return true;
        ulong target = Math.Min(VirtualMemory.AlignUp((nuint)needed, VirtualMemory.PageSize), limit);
        if (!VirtualMemory.Commit((nint)(array + committed), (nuint)(target - committed))) return false;
        committed = target;
        return true;
    }

    private bool CommitBlocksLocked(long first, long end)
    {
        ulong page = VirtualMemory.PageSize;
        ulong from = VirtualMemory.AlignDown((nuint)((ulong)first * _stride), (nuint)page);
        ulong to = Math.Min(VirtualMemory.AlignUp((nuint)((ulong)end * _stride), (nuint)page), VirtualMemory.AlignUp((nuint)_blocksReservedBytes, (nuint)page));
        return VirtualMemory.Commit((nint)(_blocks + from), (nuint)(to - from));
    }

    /// <summary>
    /// Warm-up: grows until at least <paramref name="freeBlocks"/> blocks are free, and faults
    /// their pages in so first use does not pay for page faults.
    /// </summary>
    public NpStatus Reserve(ulong freeBlocks)
    {
        lock (_slowLock)
        {
            if (_disposed) return LastError.Set(NpStatus.InvalidHandle, "pool '{s}' is destroyed", subject: Name);
            if (freeBlocks > (ulong)_blockLimit)
                return LastError.Set(NpStatus.PoolExhausted, "cannot reserve {0} blocks: pool '{s}' holds at most {1}", (long)freeBlocks, _blockLimit, Name);
            long committedBefore = _committedChunks;
            while (_capacity - Volatile.Read(ref *_inUse) < (long)freeBlocks)
            {
                NpStatus status = GrowLocked(keepFirst: false, out _);
                if (status != NpStatus.Ok) return status;
            }
            if (_committedChunks > committedBefore)
            {
                ulong from = VirtualMemory.AlignDown((nuint)((ulong)(committedBefore * _blocksPerChunk) * _stride), VirtualMemory.PageSize);
                ulong to = VirtualMemory.AlignUp((nuint)(ulong)Volatile.Read(ref *_highWaterBytes), VirtualMemory.PageSize);
                if (!VirtualMemory.Prefault((nint)(_blocks + from), (nuint)(to - from)))
                {
                    // Older kernels: touch one byte per page. These blocks are fresh (zero) and unowned.
                    for (ulong at = from; at < to; at += VirtualMemory.PageSize) _blocks[at] = 0;
                }
            }
            return NpStatus.Ok;
        }
    }

    // ------------------------------------------------------------------ slow path: trim and validate

    /// <summary>
    /// Gives every chunk with no block in use back to the OS. Their blocks leave the free list;
    /// later growth recommits them first. Returns the bytes whose pages were released.
    /// </summary>
    public NpStatus Trim(out ulong bytesReleased)
    {
        bytesReleased = 0;
        lock (_slowLock)
        {
            if (_disposed) return LastError.Set(NpStatus.InvalidHandle, "pool '{s}' is destroyed", subject: Name);
            if (_committedChunks == 0) return NpStatus.Ok;
            // Holding the lock keeps allocators that find the list empty waiting in AllocSlow,
            // so detaching the list cannot make them fail spuriously.
            int list = TakeAll();
            int* freeInChunk = (int*)NativeMemory.AllocZeroed((nuint)_committedChunks, sizeof(int));
            try
            {
                long listed = 0;
                long blocks = Math.Min(_committedChunks * _blocksPerChunk, _blockLimit);
                for (int i = list; i != Nil; i = _next[i], listed++)
                {
                    if ((uint)i >= (ulong)blocks || listed > _capacity)
                    {
                        // Damaged list: release nothing; validate() tells exactly what is wrong.
                        RestoreList(list);
                        return LastError.Set(NpStatus.Corrupted, "free list of pool '{s}' is damaged (run validate)", subject: Name);
                    }
                    freeInChunk[i / _blocksPerChunk]++;
                }

                // Rebuild the list without the blocks of chunks that are entirely free.
                int keptFirst = Nil, keptLast = Nil;
                for (int i = list; i != Nil;)
                {
                    int next = _next[i];
                    long chunk = i / _blocksPerChunk;
                    if (freeInChunk[chunk] != ChunkBlockCount(chunk))
                    {
                        if (keptLast == Nil) keptFirst = i; else _next[keptLast] = i;
                        keptLast = i;
                    }
                    i = next;
                }
                for (long c = 0; c < _committedChunks; c++)
                {
                    if (_chunkStates[c] == ChunkActive && freeInChunk[c] == ChunkBlockCount(c))
                        bytesReleased += ReleaseChunkLocked(c);
                }
                if (keptFirst != Nil) PushChain(keptFirst, keptLast);
                return NpStatus.Ok;
            }
            finally
            {
                NativeMemory.Free(freeInChunk);
            }
        }
    }

    private long ChunkBlockCount(long chunk) =>
        Math.Min(_blocksPerChunk, _blockLimit - chunk * _blocksPerChunk);

    /// <summary>
    /// Puts a detached list back. Walks at most capacity steps and stops at a link that leaves
    /// the committed blocks; PushChain then overwrites the last link, which also cuts a cycle.
    /// </summary>
    private void RestoreList(int list)
    {
        long blocks = Math.Min(_committedChunks * _blocksPerChunk, _blockLimit);
        if (list == Nil || (uint)list >= (ulong)blocks) return;
        int last = list;
        for (long steps = 0; steps < _capacity; steps++)
        {
            int next = _next[last];
            if (next == Nil || (uint)next >= (ulong)blocks) break;
            last = next;
        }
        PushChain(list, last);
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
            VirtualMemory.Decommit((nint)(_blocks + pageFrom), (nuint)(pageTo - pageFrom));
        }
        new Span<byte>(_blockStates + first, (int)(end - first)).Fill(StateFresh);
        _chunkStates[chunk] = ChunkReleased;
        _activeChunks--;
        _capacity -= end - first;
        _chunksReleased++;
        return pageTo - pageFrom;
    }

    /// <summary>
    /// Full integrity walk: the free list has no cycle, holds only free blocks of active chunks,
    /// each once; block states agree with the list; in poison mode free blocks still hold the
    /// poison. The counts are compared as well when no other thread used the pool meanwhile.
    /// </summary>
    public NpStatus Validate(out BlockPoolValidation report)
    {
        report = default;
        lock (_slowLock)
        {
            if (_disposed) return LastError.Set(NpStatus.InvalidHandle, "pool '{s}' is destroyed", subject: Name);
            long allocationsBefore = _counters.Sum(StripedCounters.Created) + _counters.Sum(StripedCounters.Reused);
            long freesBefore = _counters.Sum(StripedCounters.Frees);
            int list = TakeAll();
            long blocks = _committedChunks * _blocksPerChunk;
            blocks = Math.Min(blocks, _blockLimit);
            byte* seen = (byte*)NativeMemory.AllocZeroed((nuint)Math.Max(1, blocks));
            var problem = new Problem();
            try
            {
                long listed = 0;
                int previous = Nil;
                for (int i = list; i != Nil; previous = i, i = _next[i])
                {
                    if ((uint)i >= (ulong)blocks || _chunkStates[i / _blocksPerChunk] != ChunkActive)
                    {
                        report.Errors++;
                        problem.Note("free list links to block {0}, outside the active chunks", i);
                        if (previous == Nil) list = Nil; else _next[previous] = Nil; // cut the bad tail
                        break;
                    }
                    if (seen[i] != 0)
                    {
                        report.Errors++;
                        problem.Note("free list visits block {0} twice (a cycle)", i);
                        _next[previous] = Nil;
                        break;
                    }
                    seen[i] = 1;
                    listed++;
                    byte state = _blockStates[i];
                    if (state == StateAllocated)
                    {
                        report.Errors++;
                        problem.Note("block {0} is on the free list but marked allocated", i);
                    }
                    else if (state == StateFree && (_flags & BlockPoolFlags.PoisonOnFree) != 0 &&
                             new ReadOnlySpan<byte>(_blocks + (ulong)i * _stride, (int)_blockSize).IndexOfAnyExcept(PoisonByte) >= 0)
                    {
                        report.PoisonViolations++;
                    }
                }
                report.FreeListed = (ulong)listed;

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
            }
            finally
            {
                NativeMemory.Free(seen);
                RestoreList(list);
            }

            long allocationsAfter = _counters.Sum(StripedCounters.Created) + _counters.Sum(StripedCounters.Reused);
            long freesAfter = _counters.Sum(StripedCounters.Frees);
            if (allocationsBefore == allocationsAfter && freesBefore == freesAfter)
            {
                // Nobody allocated or freed during the walk, so the numbers must agree exactly.
                report.CountsChecked = 1;
                long inUse = Volatile.Read(ref *_inUse);
                if (report.Free != report.FreeListed)
                {
                    report.Errors++;
                    problem.Note("{0} blocks are marked free but {1} are on the free list", (long)report.Free, (long)report.FreeListed);
                }
                if ((long)report.Allocated != inUse)
                {
                    report.Errors++;
                    problem.Note("{0} blocks are marked allocated but the pool counts {1} in use", (long)report.Allocated, inUse);
                }
                if ((long)(report.Allocated + report.Free) != _capacity)
                {
                    report.Errors++;
                    problem.Note("active chunks hold {0} blocks but the capacity is {1}", (long)(report.Allocated + report.Free), _capacity);
                }
            }
            if (report.Errors != 0)
                return LastError.Set(NpStatus.Corrupted, problem.Template! + " (pool '{s}')", problem.Arg0, problem.Arg1, Name);
            if (report.PoisonViolations != 0)
                return LastError.Set(NpStatus.Corrupted, "{0} freed blocks of pool '{s}' were written after their free", (long)report.PoisonViolations, subject: Name);
            return NpStatus.Ok;
        }
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
        ulong offset = (ulong)pointer - (ulong)_blocks;
        if (offset >= (ulong)Volatile.Read(ref *_highWaterBytes)) return 0;
        ulong index = offset / _stride;
        if (index * _stride != offset) return 0;
        if (_chunkStates[(long)index / _blocksPerChunk] != ChunkActive) return 0;
        return Volatile.Read(ref _blockStates[index]) == StateAllocated ? 1 : 2;
    }

    /// <summary>A copy of the counters. Exact when no other thread is operating; otherwise each field is a recent value.</summary>
    public BlockPoolStats GetStats()
    {
        var s = new BlockPoolStats
        {
            BlockSize = _blockSize,
            BlockStride = _stride,
            InUse = (ulong)Math.Max(0, Volatile.Read(ref *_inUse)),
            Created = (ulong)_counters.Sum(StripedCounters.Created),
            Reused = (ulong)_counters.Sum(StripedCounters.Reused),
            Frees = (ulong)_counters.Sum(StripedCounters.Frees),
            FailedAllocations = (ulong)_counters.Sum(StripedCounters.FailedAllocations),
            DoubleFrees = (ulong)_counters.Sum(StripedCounters.DoubleFrees),
            ForeignFrees = (ulong)_counters.Sum(StripedCounters.ForeignFrees),
            InvalidFrees = (ulong)_counters.Sum(StripedCounters.InvalidFrees),
            PoisonViolations = (ulong)_counters.Sum(StripedCounters.PoisonViolations),
        };
        lock (_slowLock)
        {
            s.Capacity = (ulong)_capacity;
            s.Chunks = (ulong)_activeChunks;
            s.BytesReserved = (ulong)_capacity * _stride;
            s.BytesMetadata = _meta.ChunkStatesBytes + _blockStatesCommitted + _nextCommitted;
            s.PeakInUse = (ulong)Volatile.Read(ref _peakInUse);
            s.ChunksReleased = (ulong)_chunksReleased;
        }
        s.Allocations = s.Created + s.Reused;
        s.ReuseRate = s.Allocations == 0 ? 0 : (double)s.Reused / s.Allocations;
        return s;
    }

    /// <summary>Zeroes the event counters; the peak restarts from the current in-use count.</summary>
    public void ResetStats()
    {
        lock (_slowLock)
        {
            _counters.Clear();
            Volatile.Write(ref _peakInUse, Volatile.Read(ref *_inUse));
        }
    }

    /// <summary>
    /// Releases all memory. Blocks still handed out become invalid at once (like memory of a
    /// destroyed arena). Must not race with other calls on this pool.
    /// </summary>
    public void Dispose()
    {
        lock (_slowLock)
        {
            if (_disposed) return;
            _disposed = true;
            // Make every later free a foreign free and every alloc go to the slow path, where it fails.
            Volatile.Write(ref *_highWaterBytes, 0);
            TakeAll();
            VirtualMemory.Release((nint)_blocks, (nuint)_blocksReservedBytes);
            VirtualMemory.Release((nint)_chunkStates, (nuint)_metaReservedBytes);
        }
    }
}
