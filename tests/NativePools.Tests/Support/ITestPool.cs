using System;
using NativePools.Pools;

namespace NativePools.Tests.Support;

/// <summary>
/// One pool as a scenario sees it. Two implementations: the managed core in-process
/// (Core/CoreBackend) and the built libnativepools.so through P/Invoke (Native/NativeBackend),
/// so every scenario runs against both. Stats and validation reports come back in the core's
/// types; the native side copies them field by field out of the ABI structs.
/// </summary>
public interface ITestPool : IDisposable
{
    /// <summary>Usable bytes per block.</summary>
    int BlockSize { get; }
    NpStatus Alloc(out nint block);
    NpStatus Free(nint block);
    NpStatus AllocBatch(Span<nint> blocks, out int taken);
    NpStatus FreeBatch(ReadOnlySpan<nint> blocks, out int freed);
    NpStatus Reserve(ulong freeBlocks);
    NpStatus Trim(out ulong bytesReleased);
    /// <summary>0 not owned, 1 allocated, 2 free (NP_BLOCK_*).</summary>
    int Owns(nint pointer);
    NpStatus Validate(out BlockPoolValidation report);
    BlockPoolStats GetStats();
    void ResetStats();
}

/// <summary>Creates pools and reads the calling thread's last error, for one implementation.</summary>
public interface IPoolBackend
{
    /// <summary>"core" or "native", for messages.</summary>
    string Name { get; }
    NpStatus Create(in BlockPoolOptions options, out ITestPool? pool);
    NpStatus CreatePreset(PoolPreset preset, out ITestPool? pool);
    /// <summary>Status of the calling thread's most recent failure.</summary>
    NpStatus LastErrorStatus();
    /// <summary>Detail message of the calling thread's most recent failure.</summary>
    string LastErrorMessage();
}

/// <summary>Block states returned by <see cref="ITestPool.Owns"/>.</summary>
public static class BlockOwnership
{
    public const int NotOwned = 0;
    public const int Allocated = 1;
    public const int Free = 2;
}
