using System;
using System.Linq;
using System.Text;
using NativePools.Diagnostics;
using NativePools.Messages;
using NativePools.Tests.Native;

namespace NativePools.Tests.Messages;

/// <summary>
/// One message pool as a scenario sees it. Two implementations: the managed core in-process
/// (<see cref="CoreMessageBackend"/>) and the built libnativepools.so through P/Invoke
/// (<see cref="NativeMessageBackend"/>), so every scenario runs against both. Stats come back
/// in the core's types; the native side copies them field by field out of the ABI structs.
/// </summary>
public interface ITestMessagePool : IDisposable
{
    int ClassCount { get; }
    NpStatus Acquire(nuint size, out nint message, out nuint capacity);
    NpStatus Release(nint message);
    NpStatus Reserve(nuint size, ulong count);
    MessagePoolStats GetStats();
    MessageClassStats GetClassStats(int classIndex);
    void ResetStats();
}

/// <summary>Creates message pools and reads the calling thread's last error, for one implementation.</summary>
public interface IMessagePoolBackend
{
    /// <summary>"core" or "native", for messages.</summary>
    string Name { get; }
    NpStatus Create(MessagePoolOptions options, out ITestMessagePool? pool);
    NpStatus LastErrorStatus();
    string LastErrorMessage();
}

/// <summary>The managed core: <see cref="MessagePool"/> and <see cref="LastError"/>.</summary>
public sealed class CoreMessageBackend : IMessagePoolBackend
{
    public static readonly CoreMessageBackend Instance = new();

    public string Name => "core";

    public NpStatus Create(MessagePoolOptions options, out ITestMessagePool? pool)
    {
        NpStatus status = MessagePool.Create(options, out MessagePool? created);
        pool = created is null ? null : new CoreTestMessagePool(created);
        return status;
    }

    public NpStatus LastErrorStatus() => LastError.Status;

    public string LastErrorMessage() => LastError.Message;
}

/// <summary>A <see cref="MessagePool"/> behind <see cref="ITestMessagePool"/>.</summary>
public sealed unsafe class CoreTestMessagePool(MessagePool pool) : ITestMessagePool
{
    public MessagePool Pool { get; } = pool;
    public int ClassCount => Pool.ClassCount;

    public NpStatus Acquire(nuint size, out nint message, out nuint capacity)
    {
        NpStatus status = Pool.Acquire(size, out byte* m, out capacity);
        message = (nint)m;
        return status;
    }

    public NpStatus Release(nint message) => Pool.Release((byte*)message);
    public NpStatus Reserve(nuint size, ulong count) => Pool.Reserve(size, count);
    public MessagePoolStats GetStats() => Pool.GetStats();
    public MessageClassStats GetClassStats(int classIndex) => Pool.GetClassStats(classIndex);
    public void ResetStats() => Pool.ResetStats();
    public void Dispose() => Pool.Dispose();
}

/// <summary>The built library through <see cref="NativeApi"/>.</summary>
public sealed unsafe class NativeMessageBackend : IMessagePoolBackend
{
    public static readonly NativeMessageBackend Instance = new();

    public string Name => "native";

    /// <summary>Default class sizes go as class_count 0 / class_sizes NULL (the library's defaults), others as given.</summary>
    public NpStatus Create(MessagePoolOptions options, out ITestMessagePool? pool)
    {
        pool = null;
        NpMsgPoolOptions o;
        int init = NativeApi.np_msgpool_options_init(&o);
        if (init != 0) throw new InvalidOperationException($"np_msgpool_options_init returned {init}");
        o.retain_per_class = options.RetainPerClass;
        o.retain_bytes_per_class = options.RetainBytesPerClass;
        bool defaults = options.ClassSizes.AsSpan().SequenceEqual(MessagePoolOptions.DefaultClassSizes);
        byte[]? name = options.Name is null ? null : Encoding.UTF8.GetBytes(options.Name + "\0");
        fixed (uint* sizes = options.ClassSizes)
        fixed (byte* namePtr = name)
        {
            o.class_sizes = defaults ? null : sizes;
            o.class_count = defaults ? 0 : (uint)options.ClassSizes.Length;
            o.name = namePtr;
            ulong handle;
            var status = (NpStatus)NativeApi.np_msgpool_create(&o, &handle);
            if (status == NpStatus.Ok) pool = new NativeTestMessagePool(handle);
            return status;
        }
    }

    public NpStatus LastErrorStatus() => (NpStatus)NativeApi.np_last_error_status();

    public string LastErrorMessage() => NativeBackend.LastErrorText();
}

/// <summary>An np_msgpool handle behind <see cref="ITestMessagePool"/>.</summary>
public sealed unsafe class NativeTestMessagePool(ulong handle) : ITestMessagePool
{
    public ulong Handle { get; } = handle;

    public int ClassCount => (int)GetStats().ClassCount;

    public NpStatus Acquire(nuint size, out nint message, out nuint capacity)
    {
        void* m;
        nuint c;
        var status = (NpStatus)NativeApi.np_msgpool_acquire(Handle, size, &m, &c);
        message = (nint)m;
        capacity = c;
        return status;
    }

    public NpStatus Release(nint message) => (NpStatus)NativeApi.np_msgpool_release(Handle, (void*)message);

    public NpStatus Reserve(nuint size, ulong count) => (NpStatus)NativeApi.np_msgpool_reserve(Handle, size, count);

    public MessagePoolStats GetStats()
    {
        var s = new NpMsgPoolStats { struct_size = (uint)sizeof(NpMsgPoolStats) };
        int status = NativeApi.np_msgpool_get_stats(Handle, &s);
        if (status != 0) throw new InvalidOperationException($"np_msgpool_get_stats returned {status}: {NativeBackend.LastErrorText()}");
        return new MessagePoolStats
        {
            ClassCount = s.class_count,
            Capacity = s.capacity,
            BytesCommitted = s.bytes_committed,
            InFlight = s.in_flight,
            PeakInFlight = s.peak_in_flight,
            FreeBlocks = s.free_blocks,
            Acquisitions = s.acquisitions,
            Created = s.created,
            Reused = s.reused,
            Released = s.released,
            Discarded = s.discarded,
            FailedAcquisitions = s.failed_acquisitions,
            DoubleReleases = s.double_releases,
            ForeignReleases = s.foreign_releases,
            InvalidReleases = s.invalid_releases,
            ChunksReleased = s.chunks_released,
            OversizeAcquisitions = s.oversize_acquisitions,
            UnownedReleases = s.unowned_releases,
            ReuseRate = s.reuse_rate,
        };
    }

    public MessageClassStats GetClassStats(int classIndex)
    {
        var s = new NpMsgPoolClassStats { struct_size = (uint)sizeof(NpMsgPoolClassStats) };
        int status = NativeApi.np_msgpool_get_class_stats(Handle, (uint)classIndex, &s);
        if (status != 0) throw new InvalidOperationException($"np_msgpool_get_class_stats returned {status}: {NativeBackend.LastErrorText()}");
        if (s.class_index != (uint)classIndex) throw new InvalidOperationException($"class_index {s.class_index}, asked for {classIndex}");
        return new MessageClassStats
        {
            ClassSize = s.class_size,
            BlockStride = s.block_stride,
            RetainLimit = s.retain_limit,
            BlocksPerChunk = s.blocks_per_chunk,
            MagazineCapacity = s.magazine_capacity,
            Capacity = s.capacity,
            BytesCommitted = s.bytes_committed,
            InFlight = s.in_flight,
            PeakInFlight = s.peak_in_flight,
            FreeBlocks = s.free_blocks,
            Acquisitions = s.acquisitions,
            Created = s.created,
            Reused = s.reused,
            Released = s.released,
            Discarded = s.discarded,
            FailedAcquisitions = s.failed_acquisitions,
            DoubleReleases = s.double_releases,
            ForeignReleases = s.foreign_releases,
            InvalidReleases = s.invalid_releases,
            ChunksReleased = s.chunks_released,
            ReuseRate = s.reuse_rate,
        };
    }

    public void ResetStats()
    {
        int status = NativeApi.np_msgpool_reset_stats(Handle);
        if (status != 0) throw new InvalidOperationException($"np_msgpool_reset_stats returned {status}");
    }

    public void Dispose() => NativeApi.np_msgpool_destroy(Handle);
}
