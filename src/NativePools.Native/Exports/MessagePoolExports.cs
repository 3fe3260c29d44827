using System;
using System.Runtime.InteropServices;
using NativePools.Diagnostics;
using NativePools.Handles;
using NativePools.Messages;
using NativePools.Native.Abi;

namespace NativePools.Native.Exports;

/// <summary>
/// Size-classed message buffers. A message pool has up to NP_MSGPOOL_MAX_CLASSES size classes, each a
/// block pool; np_msgpool_acquire() takes a buffer from the smallest class that holds the size asked
/// for, np_msgpool_release() finds the class from the address alone (each class owns a 16 GiB address
/// range) and returns it. Each class keeps at most retain_limit free blocks for reuse; releases beyond
/// it are discarded and their memory goes back to the OS: at once for classes of 16 KiB and more
/// (one block per chunk), in whole 16 KiB chunks with nothing in flight for smaller classes. Free
/// blocks are counted when a thread hands a magazine of released blocks to the class's depot (and
/// when stats are read), not at every release: each thread caches up to two magazines of released
/// blocks per class (see magazine_capacity in np_msgpool_class_stats). Unless a function says
/// otherwise, it may be called from any thread, concurrently with any other call on the same or other
/// pools, except np_msgpool_destroy(), which must not race with other calls on the same pool. A
/// buffer may be acquired on one thread and released on another.
/// </summary>
[NativeExports("Message pools")]
public static unsafe class MessagePoolExports
{
    internal static readonly HandleTable<MessagePool> MessagePools = new(kind: 3);

    /// <summary>
    /// Fills options with defaults: the NP_MSGPOOL_DEFAULT_CLASS_COUNT default classes (class_count 0,
    /// class_sizes NULL), retain_per_class NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS, retain_bytes_per_class
    /// NP_MSGPOOL_DEFAULT_RETAIN_BYTES_PER_CLASS, no name.
    /// </summary>
    /// <param name="options">The struct to fill; struct_size is set to sizeof(np_msgpool_options).</param>
    /// <returns>NP_OK, or NP_E_NULL_POINTER.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_msgpool_options_init")]
    [return: NativeType("np_status")]
    public static int OptionsInit([NativeType("np_msgpool_options*")] MessagePoolOptionsAbi* options)
    {
        try
        {
            if (options == null) return (int)Shim.Null(nameof(options));
            *options = default;
            options->struct_size = (uint)sizeof(MessagePoolOptionsAbi);
            options->retain_per_class = MessagePoolConstants.NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS;
            options->retain_bytes_per_class = MessagePoolConstants.NP_MSGPOOL_DEFAULT_RETAIN_BYTES_PER_CLASS;
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>
    /// Creates a message pool: reserves 16 GiB of address space per class (no memory is committed until
    /// buffers are acquired or reserved).
    /// </summary>
    /// <param name="options">Shape of the pool; struct_size must be sizeof(np_msgpool_options).</param>
    /// <param name="pool">Receives the new handle (0 on failure).</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER (options, pool, or class_sizes with class_count above 0); NP_E_UNSUPPORTED_STRUCT_SIZE; NP_E_INVALID_ARGUMENT for more than NP_MSGPOOL_MAX_CLASSES classes, a size of 0 or above NP_MSGPOOL_MAX_CLASS_SIZE, sizes not strictly ascending, or class_sizes without class_count; NP_E_OUT_OF_MEMORY.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_msgpool_create")]
    [return: NativeType("np_status")]
    public static int Create([NativeType("const np_msgpool_options*")] MessagePoolOptionsAbi* options, [NativeType("np_msgpool*")] ulong* pool)
    {
        try
        {
            if (pool == null) return (int)Shim.Null(nameof(pool));
            *pool = 0;
            if (options == null) return (int)Shim.Null(nameof(options));
            if (options->struct_size != sizeof(MessagePoolOptionsAbi))
                return (int)Shim.BadStructSize("np_msgpool_options", options->struct_size, sizeof(MessagePoolOptionsAbi));
            uint count = options->class_count;
            if (count > MessagePoolConstants.NP_MSGPOOL_MAX_CLASSES)
                return (int)LastError.Set(NpStatus.InvalidArgument, "class_count {0} exceeds NP_MSGPOOL_MAX_CLASSES ({1})", count, MessagePoolConstants.NP_MSGPOOL_MAX_CLASSES);
            if (count > 0 && options->class_sizes == null) return (int)Shim.Null("class_sizes");
            if (count == 0 && options->class_sizes != null)
                return (int)LastError.Set(NpStatus.InvalidArgument, "class_sizes is set but class_count is 0 (NULL and 0 pick the default classes)");
            var o = new MessagePoolOptions
            {
                RetainPerClass = options->retain_per_class,
                RetainBytesPerClass = options->retain_bytes_per_class,
                Name = Shim.ReadName(options->name),
            };
            if (count > 0) o.ClassSizes = new ReadOnlySpan<uint>(options->class_sizes, (int)count).ToArray();
            NpStatus status = MessagePool.Create(o, out MessagePool? created);
            if (status != NpStatus.Ok) return (int)status;
            ulong handle = MessagePools.Add(created!);
            if (handle == 0)
            {
                created!.Dispose();
                return (int)LastError.Set(NpStatus.OutOfMemory, "too many live message pools ({0})", HandleTable<MessagePool>.MaxSlots);
            }
            *pool = handle;
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>
    /// Destroys a message pool and returns all its memory and address space to the OS. Buffers still in
    /// flight become invalid at once; the handle becomes stale, so later calls with it return
    /// NP_E_INVALID_HANDLE. Destroying 0 is a no-op.
    /// </summary>
    /// <param name="pool">The message pool, or 0.</param>
    /// <returns>NP_OK, or NP_E_INVALID_HANDLE for a stale or garbage handle.</returns>
    /// <remarks>Must not race with other calls on the same pool.</remarks>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_msgpool_destroy")]
    [return: NativeType("np_status")]
    public static int Destroy([NativeType("np_msgpool")] ulong pool)
    {
        try
        {
            if (pool == 0) return (int)NpStatus.Ok;
            MessagePool? p = MessagePools.Remove(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "message pool");
            p.Dispose();
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>
    /// Takes a message buffer of at least size bytes from the smallest class whose size is at least size
    /// (size 0 gets the smallest class). O(classes) to pick the class, then O(1); takes no lock while
    /// the calling thread's magazine of the class holds a block.
    /// </summary>
    /// <param name="pool">The message pool.</param>
    /// <param name="size">Bytes needed, 0 to the largest class size.</param>
    /// <param name="message">Receives the buffer (NULL on failure), 8-byte aligned (less only for classes smaller than 8 bytes), valid until released or the pool is destroyed.</param>
    /// <param name="capacity">Optional (may be NULL): receives the buffer's usable size, its class size (0 on failure).</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_INVALID_HANDLE; NP_E_INVALID_ARGUMENT when size exceeds the largest class (the detail names it; counted as oversize_acquisitions); NP_E_POOL_EXHAUSTED when the class's 16 GiB range is full; NP_E_OUT_OF_MEMORY.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_msgpool_acquire")]
    [return: NativeType("np_status")]
    public static int Acquire([NativeType("np_msgpool")] ulong pool, nuint size, void** message, nuint* capacity)
    {
        try
        {
            if (capacity != null) *capacity = 0;
            if (message == null) return (int)Shim.Null(nameof(message));
            *message = null;
            MessagePool? p = MessagePools.Get(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "message pool");
            NpStatus status = p.Acquire(size, out byte* buffer, out nuint usable);
            *message = buffer;
            if (capacity != null) *capacity = usable;
            return (int)status;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>
    /// Returns a message buffer to its class. O(1): the class comes from the address; the buffer is
    /// neither read nor written. The block is kept for reuse, or discarded when the class holds more
    /// than its retain_limit free blocks (see the section above).
    /// </summary>
    /// <param name="pool">The message pool the buffer came from.</param>
    /// <param name="message">The buffer, as np_msgpool_acquire() returned it.</param>
    /// <returns>NP_OK; NP_E_INVALID_HANDLE; NP_E_NULL_POINTER; NP_E_DOUBLE_FREE (not in flight); NP_E_FOREIGN_POINTER (not a buffer of this pool); NP_E_INTERIOR_POINTER; NP_E_MISALIGNED_POINTER. Every rejected release is counted and leaves the pool intact.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_msgpool_release")]
    [return: NativeType("np_status")]
    public static int Release([NativeType("np_msgpool")] ulong pool, void* message)
    {
        try
        {
            MessagePool? p = MessagePools.Get(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "message pool");
            return (int)p.Release((byte*)message);
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>
    /// Warm-up: grows the class that serves size until it holds at least count blocks, free and in
    /// flight together, and faults their pages in. Free blocks beyond the class's retain_limit stay
    /// until releases find the class over its limit.
    /// </summary>
    /// <param name="pool">The message pool.</param>
    /// <param name="size">A message size; its class (as np_msgpool_acquire() picks it) is warmed.</param>
    /// <param name="count">Blocks the class should hold.</param>
    /// <returns>NP_OK; NP_E_INVALID_HANDLE; NP_E_INVALID_ARGUMENT when size exceeds the largest class; NP_E_POOL_EXHAUSTED when count blocks do not fit the class's 16 GiB range; NP_E_OUT_OF_MEMORY.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_msgpool_reserve")]
    [return: NativeType("np_status")]
    public static int Reserve([NativeType("np_msgpool")] ulong pool, nuint size, ulong count)
    {
        try
        {
            MessagePool? p = MessagePools.Get(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "message pool");
            return (int)p.Reserve(size, count);
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>
    /// Copies the pool's totals: the sum of every class's counters, plus oversize_acquisitions and
    /// unowned_releases. Exact when no other thread is operating; otherwise each field is a recent value.
    /// </summary>
    /// <param name="pool">The message pool.</param>
    /// <param name="stats">Receives the totals; struct_size must be sizeof(np_msgpool_stats).</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_UNSUPPORTED_STRUCT_SIZE; NP_E_INVALID_HANDLE.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_msgpool_get_stats")]
    [return: NativeType("np_status")]
    public static int GetStats([NativeType("np_msgpool")] ulong pool, [NativeType("np_msgpool_stats*")] MessagePoolStatsAbi* stats)
    {
        try
        {
            if (stats == null) return (int)Shim.Null(nameof(stats));
            if (stats->struct_size != sizeof(MessagePoolStatsAbi))
                return (int)Shim.BadStructSize("np_msgpool_stats", stats->struct_size, sizeof(MessagePoolStatsAbi));
            MessagePool? p = MessagePools.Get(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "message pool");
            MessagePoolStats s = p.GetStats();
            *stats = new MessagePoolStatsAbi
            {
                struct_size = (uint)sizeof(MessagePoolStatsAbi),
                class_count = (uint)s.ClassCount,
                capacity = s.Capacity,
                bytes_committed = s.BytesCommitted,
                in_flight = s.InFlight,
                peak_in_flight = s.PeakInFlight,
                free_blocks = s.FreeBlocks,
                acquisitions = s.Acquisitions,
                created = s.Created,
                reused = s.Reused,
                released = s.Released,
                discarded = s.Discarded,
                failed_acquisitions = s.FailedAcquisitions,
                double_releases = s.DoubleReleases,
                foreign_releases = s.ForeignReleases,
                invalid_releases = s.InvalidReleases,
                chunks_released = s.ChunksReleased,
                oversize_acquisitions = s.OversizeAcquisitions,
                unowned_releases = s.UnownedReleases,
                reuse_rate = s.ReuseRate,
            };
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Copies the counters of one size class. Exact when no other thread is operating on it; otherwise each field is a recent value.</summary>
    /// <param name="pool">The message pool.</param>
    /// <param name="class_index">0 to class_count - 1 (np_msgpool_stats.class_count); classes are in ascending size.</param>
    /// <param name="stats">Receives the counters; struct_size must be sizeof(np_msgpool_class_stats).</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_UNSUPPORTED_STRUCT_SIZE; NP_E_INVALID_HANDLE; NP_E_INVALID_ARGUMENT for an index that is not a class.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_msgpool_get_class_stats")]
    [return: NativeType("np_status")]
    public static int GetClassStats([NativeType("np_msgpool")] ulong pool, uint class_index, [NativeType("np_msgpool_class_stats*")] MessageClassStatsAbi* stats)
    {
        try
        {
            if (stats == null) return (int)Shim.Null(nameof(stats));
            if (stats->struct_size != sizeof(MessageClassStatsAbi))
                return (int)Shim.BadStructSize("np_msgpool_class_stats", stats->struct_size, sizeof(MessageClassStatsAbi));
            MessagePool? p = MessagePools.Get(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "message pool");
            if (class_index >= (uint)p.ClassCount)
                return (int)LastError.Set(NpStatus.InvalidArgument, "class_index {0} is not a class: the message pool has {1}", class_index, p.ClassCount);
            MessageClassStats s = p.GetClassStats((int)class_index);
            *stats = new MessageClassStatsAbi
            {
                struct_size = (uint)sizeof(MessageClassStatsAbi),
                class_index = class_index,
                class_size = s.ClassSize,
                block_stride = s.BlockStride,
                retain_limit = s.RetainLimit,
                blocks_per_chunk = s.BlocksPerChunk,
                magazine_capacity = s.MagazineCapacity,
                capacity = s.Capacity,
                bytes_committed = s.BytesCommitted,
                in_flight = s.InFlight,
                peak_in_flight = s.PeakInFlight,
                free_blocks = s.FreeBlocks,
                acquisitions = s.Acquisitions,
                created = s.Created,
                reused = s.Reused,
                released = s.Released,
                discarded = s.Discarded,
                failed_acquisitions = s.FailedAcquisitions,
                double_releases = s.DoubleReleases,
                foreign_releases = s.ForeignReleases,
                invalid_releases = s.InvalidReleases,
                chunks_released = s.ChunksReleased,
                reuse_rate = s.ReuseRate,
            };
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Zeroes the event counters of every class and of the pool (acquisitions, releases, created, reused, discarded, failures, rejected releases); peaks restart from the current in_flight.</summary>
    /// <param name="pool">The message pool.</param>
    /// <returns>NP_OK; NP_E_INVALID_HANDLE.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_msgpool_reset_stats")]
    [return: NativeType("np_status")]
    public static int ResetStats([NativeType("np_msgpool")] ulong pool)
    {
        try
        {
            MessagePool? p = MessagePools.Get(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "message pool");
            p.ResetStats();
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }
}
