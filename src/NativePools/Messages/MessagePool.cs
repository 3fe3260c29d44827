using System;
using System.Runtime.CompilerServices;
using System.Threading;
using NativePools.Diagnostics;
using NativePools.Handles;
using NativePools.Platform;
using NativePools.Pools;

namespace NativePools.Messages;

/// <summary>
/// Message buffers by size: a set of size classes, each a <see cref="BlockPool"/> of that block size.
/// <see cref="Acquire"/> picks the smallest class that holds the requested size; <see cref="Release"/>
/// finds the class from the pointer alone.
///
/// Address layout: one reservation of <see cref="ClassRangeBytes"/> (16 GiB) per class, class k at
/// <c>base + k * 16 GiB</c>, each class's block pool placed in its range. So the class of a released
/// pointer is <c>(pointer - base) &gt;&gt; 34</c>: one subtraction and one shift, without reading the
/// block or asking each class. The class's pool then checks the pointer as every block pool does
/// (double, foreign, interior, misaligned: O(1), out of band). A class holds at most 16 GiB of blocks
/// (in flight and free together); beyond that acquire returns <see cref="NpStatus.PoolExhausted"/>.
///
/// Hot path: acquire and release are the class pool's alloc and free: the calling thread's magazine,
/// no lock, no allocation on the managed heap. A thread exchanges a whole magazine with the class's
/// depot under its lock once per magazine of operations.
///
/// Retention: each class keeps at most <c>min(RetainPerClass, RetainBytesPerClass / class size)</c>
/// free blocks for reuse. Free blocks are counted exactly when a thread hands a full magazine of
/// released blocks to the depot (and when stats are read); releases that find the class over its
/// limit there count as discarded. The check is per magazine, not per release: between exchanges a
/// thread's released blocks sit in its own cache, at most two magazines per class (magazine capacity
/// <c>min(64, 256 KiB / stride, max(1, limit / 8))</c>). When memory goes back:
/// <list type="bullet">
/// <item>Classes of 16 KiB or more per block (default: 10 KiB and up) commit one block per chunk. A
/// discarded block's pages go back to the OS at once (MADV_DONTNEED; pages shared with a neighbouring
/// block are zeroed instead). After each exchange the class holds at most the limit plus what the
/// threads' caches hold, so resident memory follows in-flight + retained + cached blocks.</item>
/// <item>Smaller classes commit 16 KiB chunks. Discarded blocks stay usable; whole chunks with no block
/// in flight or cached by a thread go back to the OS once the surplus over the limit reaches the larger
/// of one chunk, a quarter of the limit, and twice the surplus the previous attempt could not give back.
/// At least the limit stays free; free blocks in chunks that still hold a buffer in flight stay
/// committed until those chunks empty.</item>
/// </list>
///
/// Threading: every member may run concurrently with every other except <see cref="Dispose"/>, which
/// must not race with other calls on the same pool.
/// </summary>
public sealed unsafe class MessagePool : HandleObject, IDisposable
{
    /// <summary>log2 of <see cref="ClassRangeBytes"/>.</summary>
    public const int ClassRangeShift = 34;
    /// <summary>Address space each class reserves (16 GiB): the most bytes of blocks one class holds.</summary>
    public const ulong ClassRangeBytes = 1UL << ClassRangeShift;
    /// <summary>Target bytes of a chunk (the unit of commit and release); blocks of this size or more get one chunk each.</summary>
    public const ulong ChunkBytes = 16UL << 10;

    private readonly BlockPool[] _classes;
    private readonly uint[] _sizes;
    private readonly byte* _base;
    private readonly ulong _reservedBytes;
    private readonly uint _largest;
    private int _disposed;

    // Events the classes cannot count (slow paths only, hence Interlocked).
    private long _oversize, _unowned, _baseOversize, _baseUnowned;
    private readonly object _resetLock = new();

    /// <summary>Name given at creation, or null.</summary>
    public string? Name { get; }

    private string Label => Name ?? "(unnamed)";

    /// <summary>Number of size classes.</summary>
    public int ClassCount => _classes.Length;

    /// <summary>The largest message size this pool serves.</summary>
    public uint LargestClassSize => _largest;

    private MessagePool(BlockPool[] classes, uint[] sizes, byte* reservation, ulong reservedBytes, string? name)
    {
        _classes = classes;
        _sizes = sizes;
        _base = reservation;
        _reservedBytes = reservedBytes;
        _largest = sizes[^1];
        Name = name;
    }

    /// <summary>
    /// Creates a message pool. Returns <see cref="NpStatus.Ok"/> and the pool, or an error status with the
    /// thread's <see cref="LastError"/> detail set (<see cref="NpStatus.InvalidArgument"/> for class sizes
    /// that are missing, out of range, not strictly ascending or too many; <see cref="NpStatus.OutOfMemory"/>).
    /// </summary>
    public static NpStatus Create(MessagePoolOptions options, out MessagePool? pool)
    {
        pool = null;
        if (options is null) return LastError.Set(NpStatus.NullPointer, "message pool options are null");
        uint[]? given = options.ClassSizes;
        if (given is null || given.Length == 0)
            return LastError.Set(NpStatus.InvalidArgument, "a message pool needs at least one class size");
        if (given.Length > MessagePoolOptions.MaxClasses)
            return LastError.Set(NpStatus.InvalidArgument, "{0} class sizes given; a message pool has at most {1}", given.Length, MessagePoolOptions.MaxClasses);
        uint[] sizes = (uint[])given.Clone(); // the caller may change its array later
        for (int k = 0; k < sizes.Length; k++)
        {
            if (sizes[k] == 0 || sizes[k] > MessagePoolOptions.MaxClassSize)
                return LastError.Set(NpStatus.InvalidArgument, "class size {0} is outside 1..{1}", sizes[k], MessagePoolOptions.MaxClassSize);
            if (k > 0 && sizes[k] <= sizes[k - 1])
                return LastError.Set(NpStatus.InvalidArgument, "class sizes must be strictly ascending: {0} follows {1}", sizes[k], sizes[k - 1]);
        }

        ulong reservedBytes = (ulong)sizes.Length * ClassRangeBytes;
        byte* reservation = (byte*)VirtualMemory.Reserve((nuint)reservedBytes, VirtualMemory.PageSize);
        if (reservation == null)
            return LastError.Set(NpStatus.OutOfMemory, "reserving {0} bytes of address space for a message pool failed (errno {1}): the process's address space is limited (ulimit -v, valgrind) or used up; a message pool reserves 16 GiB per size class, so fewer classes reserve less", reservedBytes, VirtualMemory.LastErrno);

        var classes = new BlockPool[sizes.Length];
        for (int k = 0; k < sizes.Length; k++)
        {
            NpStatus status = CreateClass(options, sizes[k], reservation + (ulong)k * ClassRangeBytes, out BlockPool? created);
            if (status != NpStatus.Ok)
            {
                for (int j = 0; j < k; j++) classes[j].Dispose();
                VirtualMemory.Release((nint)reservation, (nuint)reservedBytes);
                return status;
            }
            classes[k] = created!;
        }
        pool = new MessagePool(classes, sizes, reservation, reservedBytes, options.Name);
        return NpStatus.Ok;
    }

    private static NpStatus CreateClass(MessagePoolOptions options, uint size, byte* range, out BlockPool? pool)
    {
        ulong retain = Math.Min(options.RetainPerClass, options.RetainBytesPerClass / size);
        retain = Math.Min(retain, BlockPoolOptions.MaxBlockCount);
        ulong stride = (size + 7UL) & ~7UL; // the block pool's default alignment: 8, or less for tiny blocks
        var blockOptions = new BlockPoolOptions
        {
            BlockSize = size,
            GrowthBlocks = Math.Max(1, ChunkBytes / stride),
            Name = (options.Name ?? "(unnamed)") + "/" + size.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var tuning = new BlockPoolTuning
        {
            Reservation = (nint)range,
            ReservationBytes = ClassRangeBytes,
            RetainFreeBlocks = (long)retain,
            MagazineCapacityLimit = (int)Math.Max(1, Math.Min(64, retain / 8)),
            KeepMappingOnRelease = true,
        };
        return BlockPool.Create(blockOptions, tuning, out pool);
    }

    // ------------------------------------------------------------------ hot path

    /// <summary>
    /// Takes a message buffer of at least <paramref name="size"/> bytes from the smallest class that holds
    /// it (size 0 gets the smallest class); <paramref name="capacity"/> receives that class's size.
    /// Sizes above the largest class return <see cref="NpStatus.InvalidArgument"/> (counted as oversize);
    /// a full class returns <see cref="NpStatus.PoolExhausted"/>, a refusal of the OS <see cref="NpStatus.OutOfMemory"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public NpStatus Acquire(nuint size, out byte* message, out nuint capacity)
    {
        uint[] sizes = _sizes;
        for (int k = 0; k < sizes.Length; k++)
        {
            if (size <= sizes[k])
            {
                NpStatus status = _classes[k].Alloc(out nint block);
                message = (byte*)block;
                capacity = status == NpStatus.Ok ? sizes[k] : 0;
                return status;
            }
        }
        message = null;
        capacity = 0;
        return RejectOversize(size);
    }

    /// <summary>
    /// Returns a message buffer. O(1): the class comes from the address, and the class's pool rejects
    /// (and counts) double, foreign, interior and misaligned releases without touching the buffer.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public NpStatus Release(byte* message)
    {
        // Pointers below the base wrap around to a huge class index, like those above the last class.
        ulong k = ((ulong)message - (ulong)_base) >> ClassRangeShift;
        BlockPool[] classes = _classes;
        if (k < (ulong)classes.Length) return classes[k].Free((nint)message);
        return RejectUnowned(message);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private NpStatus RejectOversize(nuint size)
    {
        Interlocked.Increment(ref _oversize);
        if (Volatile.Read(ref _disposed) != 0) return Destroyed();
        return LastError.Set(NpStatus.InvalidArgument, "size {0} exceeds the largest message class, {1} bytes (message pool '{s}')", size, _largest, Label);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private NpStatus RejectUnowned(byte* message)
    {
        if (message == null)
            return LastError.Set(NpStatus.NullPointer, "release of NULL in message pool '{s}'", subject: Label);
        if (Volatile.Read(ref _disposed) != 0) return Destroyed();
        Interlocked.Increment(ref _unowned);
        return LastError.Set(NpStatus.ForeignPointer, "pointer {x0} does not belong to message pool '{s}'", (nint)message, subject: Label);
    }

    private NpStatus Destroyed() => LastError.Set(NpStatus.InvalidHandle, "message pool '{s}' is destroyed", subject: Label);

    // ------------------------------------------------------------------ classes

    /// <summary>The class that serves <paramref name="size"/>, or -1 when it exceeds the largest class.</summary>
    public int ClassIndexFor(nuint size)
    {
        for (int k = 0; k < _sizes.Length; k++)
            if (size <= _sizes[k]) return k;
        return -1;
    }

    /// <summary>The class whose address range holds <paramref name="message"/>, or -1. Does not read the buffer.</summary>
    public int ClassIndexOf(byte* message)
    {
        ulong k = ((ulong)message - (ulong)_base) >> ClassRangeShift;
        return k < (ulong)_classes.Length ? (int)k : -1;
    }

    /// <summary>The message size of class <paramref name="classIndex"/>.</summary>
    public uint GetClassSize(int classIndex) => _sizes[classIndex];

    /// <summary>
    /// Warm-up: grows the class that serves <paramref name="size"/> until it holds at least
    /// <paramref name="count"/> blocks (free and in flight together), with their pages faulted in.
    /// Blocks reserved beyond the retention limit stay until releases find the class over its limit.
    /// </summary>
    public NpStatus Reserve(nuint size, ulong count)
    {
        int k = ClassIndexFor(size);
        if (k < 0)
        {
            if (Volatile.Read(ref _disposed) != 0) return Destroyed();
            return LastError.Set(NpStatus.InvalidArgument, "size {0} exceeds the largest message class, {1} bytes (message pool '{s}')", size, _largest, Label);
        }
        return _classes[k].ReserveCapacity(count);
    }

    // ------------------------------------------------------------------ stats

    /// <summary>The counters of class <paramref name="classIndex"/> (0 to <see cref="ClassCount"/> - 1).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The index is not a class.</exception>
    public MessageClassStats GetClassStats(int classIndex)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(classIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(classIndex, _classes.Length);
        BlockPool pool = _classes[classIndex];
        BlockPoolStats s = pool.GetStats(out ulong discarded);
        return new MessageClassStats
        {
            ClassSize = s.BlockSize,
            BlockStride = s.BlockStride,
            RetainLimit = (ulong)pool.RetainLimit,
            BlocksPerChunk = (ulong)pool.BlocksPerChunk,
            MagazineCapacity = s.MagazineCapacity,
            Capacity = s.Capacity,
            BytesCommitted = s.BytesReserved,
            InFlight = s.InUse,
            PeakInFlight = s.PeakInUse,
            FreeBlocks = s.Capacity > s.InUse ? s.Capacity - s.InUse : 0,
            Acquisitions = s.Allocations,
            Created = s.Created,
            Reused = s.Reused,
            Released = s.Frees,
            Discarded = discarded,
            FailedAcquisitions = s.FailedAllocations,
            DoubleReleases = s.DoubleFrees,
            ForeignReleases = s.ForeignFrees,
            InvalidReleases = s.InvalidFrees,
            ChunksReleased = s.ChunksReleased,
            ReuseRate = s.ReuseRate,
        };
    }

    /// <summary>
    /// The totals: the sum of every class's counters (read one class after another), plus the events
    /// no class sees (oversize acquisitions, releases of pointers outside every class).
    /// </summary>
    public MessagePoolStats GetStats()
    {
        var t = new MessagePoolStats { ClassCount = (ulong)_classes.Length };
        for (int k = 0; k < _classes.Length; k++)
        {
            MessageClassStats c = GetClassStats(k);
            t.Capacity += c.Capacity;
            t.BytesCommitted += c.BytesCommitted;
            t.InFlight += c.InFlight;
            t.PeakInFlight += c.PeakInFlight;
            t.FreeBlocks += c.FreeBlocks;
            t.Acquisitions += c.Acquisitions;
            t.Created += c.Created;
            t.Reused += c.Reused;
            t.Released += c.Released;
            t.Discarded += c.Discarded;
            t.FailedAcquisitions += c.FailedAcquisitions;
            t.DoubleReleases += c.DoubleReleases;
            t.ForeignReleases += c.ForeignReleases;
            t.InvalidReleases += c.InvalidReleases;
            t.ChunksReleased += c.ChunksReleased;
        }
        lock (_resetLock)
        {
            t.OversizeAcquisitions = (ulong)(Volatile.Read(ref _oversize) - _baseOversize);
            t.UnownedReleases = (ulong)(Volatile.Read(ref _unowned) - _baseUnowned);
        }
        t.ReuseRate = t.Acquisitions == 0 ? 0 : (double)t.Reused / t.Acquisitions;
        return t;
    }

    /// <summary>Zeroes the event counters of every class and of the pool; peaks restart from the current in-flight counts.</summary>
    public void ResetStats()
    {
        foreach (BlockPool pool in _classes) pool.ResetStats();
        lock (_resetLock)
        {
            _baseOversize = Volatile.Read(ref _oversize);
            _baseUnowned = Volatile.Read(ref _unowned);
        }
    }

    // ------------------------------------------------------------------ lifetime

    /// <summary>
    /// Releases all memory: every class's blocks and metadata, then the address reservation. Buffers still
    /// in flight become invalid at once. Must not race with other calls on this pool; later calls fail
    /// cleanly with <see cref="NpStatus.InvalidHandle"/>.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        foreach (BlockPool pool in _classes) pool.Dispose();
        // The classes never unmap their ranges (the reservation is ours): one munmap returns them all.
        VirtualMemory.Release((nint)_base, (nuint)_reservedBytes);
    }
}
