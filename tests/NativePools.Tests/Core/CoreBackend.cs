using System;
using NativePools.Diagnostics;
using NativePools.Pools;
using NativePools.Tests.Support;

namespace NativePools.Tests.Core;

/// <summary>The managed core, called in-process: <see cref="BlockPool"/> and <see cref="LastError"/>.</summary>
public sealed class CoreBackend : IPoolBackend
{
    public static readonly CoreBackend Instance = new();

    public string Name => "core";

    public NpStatus Create(in BlockPoolOptions options, out ITestPool? pool)
    {
        NpStatus status = BlockPool.Create(options, out BlockPool? created);
        pool = created is null ? null : new CoreTestPool(created);
        return status;
    }

    public NpStatus CreatePreset(PoolPreset preset, out ITestPool? pool)
    {
        pool = null;
        if (!PoolPresets.TryGet(preset, out BlockPoolOptions options)) return NpStatus.InvalidArgument;
        return Create(options, out pool);
    }

    public NpStatus LastErrorStatus() => LastError.Status;

    public string LastErrorMessage() => LastError.Message;
}

/// <summary>A <see cref="BlockPool"/> behind <see cref="ITestPool"/>.</summary>
public sealed class CoreTestPool(BlockPool pool) : ITestPool
{
    public BlockPool Pool { get; } = pool;
    public int BlockSize => (int)Pool.BlockSize;
    public NpStatus Alloc(out nint block) => Pool.Alloc(out block);
    public NpStatus Free(nint block) => Pool.Free(block);
    public NpStatus AllocBatch(Span<nint> blocks, out int taken) => Pool.AllocBatch(blocks, out taken);
    public NpStatus FreeBatch(ReadOnlySpan<nint> blocks, out int freed) => Pool.FreeBatch(blocks, out freed);
    public NpStatus Reserve(ulong freeBlocks) => Pool.Reserve(freeBlocks);
    public NpStatus Trim(out ulong bytesReleased) => Pool.Trim(out bytesReleased);
    public int Owns(nint pointer) => Pool.Owns(pointer);
    public NpStatus Validate(out BlockPoolValidation report) => Pool.Validate(out report);
    public BlockPoolStats GetStats() => Pool.GetStats();
    public void ResetStats() => Pool.ResetStats();
    public void Dispose() => Pool.Dispose();
}
