using System;
using System.Text;
using NativePools.Pools;
using NativePools.Tests.Support;

namespace NativePools.Tests.Native;

/// <summary>The built libnativepools.so, called through <see cref="NativeApi"/> from whichever thread runs the test code.</summary>
public sealed unsafe class NativeBackend : IPoolBackend
{
    public static readonly NativeBackend Instance = new();

    public string Name => "native";

    public NpStatus Create(in BlockPoolOptions options, out ITestPool? pool)
    {
        NpPoolOptions o;
        int init = NativeApi.np_pool_options_init(&o);
        if (init != 0) throw new InvalidOperationException($"np_pool_options_init returned {init}");
        o.block_size = options.BlockSize;
        o.alignment = options.Alignment;
        o.initial_blocks = options.InitialBlocks;
        o.growth_blocks = options.GrowthBlocks;
        o.max_blocks = options.MaxBlocks;
        o.flags = (uint)options.Flags;
        byte[]? name = options.Name is null ? null : Encoding.UTF8.GetBytes(options.Name + "\0");
        fixed (byte* namePtr = name)
        {
            o.name = namePtr;
            return CreateFrom(&o, out pool);
        }
    }

    public NpStatus CreatePreset(PoolPreset preset, out ITestPool? pool)
    {
        pool = null;
        NpPoolOptions o;
        var status = (NpStatus)NativeApi.np_pool_options_preset(&o, (int)preset);
        return status != NpStatus.Ok ? status : CreateFrom(&o, out pool);
    }

    private static NpStatus CreateFrom(NpPoolOptions* options, out ITestPool? pool)
    {
        ulong handle;
        var status = (NpStatus)NativeApi.np_pool_create(options, &handle);
        pool = status == NpStatus.Ok ? new NativeTestPool(handle, (int)options->block_size) : null;
        return status;
    }

    public NpStatus LastErrorStatus() => (NpStatus)NativeApi.np_last_error_status();

    public string LastErrorMessage() => LastErrorText();

    /// <summary>np_last_error_message() of the calling thread, sized by a first call with no buffer.</summary>
    public static string LastErrorText()
    {
        nuint length = NativeApi.np_last_error_message(null, 0);
        byte[] buffer = new byte[(int)length + 1];
        fixed (byte* b = buffer)
        {
            nuint again = NativeApi.np_last_error_message(b, (nuint)buffer.Length);
            if (again != length) throw new InvalidOperationException($"np_last_error_message reported {length} then {again} bytes");
        }
        return Encoding.UTF8.GetString(buffer, 0, (int)length);
    }
}

/// <summary>A pool handle of the native library behind <see cref="ITestPool"/>.</summary>
public sealed unsafe class NativeTestPool(ulong handle, int blockSize) : ITestPool
{
    public ulong Handle { get; } = handle;
    public int BlockSize { get; } = blockSize;

    public NpStatus Alloc(out nint block)
    {
        void* b;
        var status = (NpStatus)NativeApi.np_pool_alloc(Handle, &b);
        block = (nint)b;
        return status;
    }

    public NpStatus Free(nint block) => (NpStatus)NativeApi.np_pool_free(Handle, (void*)block);

    public NpStatus AllocBatch(Span<nint> blocks, out int taken)
    {
        nuint allocated;
        fixed (nint* b = blocks)
        {
            var status = (NpStatus)NativeApi.np_pool_alloc_batch(Handle, (void**)b, (nuint)blocks.Length, &allocated);
            taken = (int)allocated;
            return status;
        }
    }

    public NpStatus FreeBatch(ReadOnlySpan<nint> blocks, out int freed)
    {
        nuint done;
        fixed (nint* b = blocks)
        {
            var status = (NpStatus)NativeApi.np_pool_free_batch(Handle, (void**)b, (nuint)blocks.Length, &done);
            freed = (int)done;
            return status;
        }
    }

    public NpStatus Reserve(ulong freeBlocks) => (NpStatus)NativeApi.np_pool_reserve(Handle, freeBlocks);

    public NpStatus Trim(out ulong bytesReleased)
    {
        ulong released;
        var status = (NpStatus)NativeApi.np_pool_trim(Handle, &released);
        bytesReleased = released;
        return status;
    }

    public int Owns(nint pointer)
    {
        int result = -1;
        var status = (NpStatus)NativeApi.np_pool_owns(Handle, (void*)pointer, &result);
        if (status != NpStatus.Ok) throw new InvalidOperationException($"np_pool_owns returned {StatusText.NameString(status)}");
        return result;
    }

    public NpStatus Validate(out BlockPoolValidation report)
    {
        var v = new NpPoolValidation { struct_size = (uint)sizeof(NpPoolValidation) };
        var status = (NpStatus)NativeApi.np_pool_validate(Handle, &v);
        report = new BlockPoolValidation
        {
            FreeListed = v.free_listed,
            Allocated = v.allocated,
            Free = v.free,
            Errors = v.errors,
            PoisonViolations = v.poison_violations,
            CountsChecked = v.counts_checked,
        };
        return status;
    }

    public BlockPoolStats GetStats()
    {
        var s = new NpPoolStats { struct_size = (uint)sizeof(NpPoolStats) };
        var status = (NpStatus)NativeApi.np_pool_get_stats(Handle, &s);
        if (status != NpStatus.Ok) throw new InvalidOperationException($"np_pool_get_stats returned {StatusText.NameString(status)}");
        return new BlockPoolStats
        {
            BlockSize = s.block_size,
            BlockStride = s.block_stride,
            Capacity = s.capacity,
            InUse = s.in_use,
            PeakInUse = s.peak_in_use,
            Chunks = s.chunks,
            BytesReserved = s.bytes_reserved,
            BytesMetadata = s.bytes_metadata,
            Allocations = s.allocations,
            Frees = s.frees,
            Created = s.created,
            Reused = s.reused,
            FailedAllocations = s.failed_allocations,
            DoubleFrees = s.double_frees,
            ForeignFrees = s.foreign_frees,
            InvalidFrees = s.invalid_frees,
            PoisonViolations = s.poison_violations,
            ChunksReleased = s.chunks_released,
            ReuseRate = s.reuse_rate,
        };
    }

    public void ResetStats()
    {
        var status = (NpStatus)NativeApi.np_pool_reset_stats(Handle);
        if (status != NpStatus.Ok) throw new InvalidOperationException($"np_pool_reset_stats returned {StatusText.NameString(status)}");
    }

    private bool _destroyed;

    /// <summary>np_pool_destroy() on this handle, returning its status (a test may destroy a pool more than once).</summary>
    public NpStatus Destroy()
    {
        _destroyed = true;
        return (NpStatus)NativeApi.np_pool_destroy(Handle);
    }

    /// <summary>Destroys the pool unless a test already did.</summary>
    public void Dispose()
    {
        if (_destroyed) return;
        NpStatus status = Destroy();
        if (status != NpStatus.Ok) throw new InvalidOperationException($"np_pool_destroy returned {StatusText.NameString(status)}");
    }
}

