using System.Runtime.InteropServices;

namespace NativePools.Tests.Native;

// The message pool part of the C ABI, declared as the header declares it (blittable only), in
// the same partial NativeApi and namespace as the block pool part, so AbiLayoutTests compares
// these declarations and structs with native-headers/nativepools.h too.

public static unsafe partial class NativeApi
{
    [LibraryImport(Library)] public static partial int np_msgpool_options_init(NpMsgPoolOptions* options);
    [LibraryImport(Library)] public static partial int np_msgpool_create(NpMsgPoolOptions* options, ulong* pool);
    [LibraryImport(Library)] public static partial int np_msgpool_destroy(ulong pool);
    [LibraryImport(Library)] public static partial int np_msgpool_acquire(ulong pool, nuint size, void** message, nuint* capacity);
    [LibraryImport(Library)] public static partial int np_msgpool_release(ulong pool, void* message);
    [LibraryImport(Library)] public static partial int np_msgpool_reserve(ulong pool, nuint size, ulong count);
    [LibraryImport(Library)] public static partial int np_msgpool_get_stats(ulong pool, NpMsgPoolStats* stats);
    [LibraryImport(Library)] public static partial int np_msgpool_get_class_stats(ulong pool, uint class_index, NpMsgPoolClassStats* stats);
    [LibraryImport(Library)] public static partial int np_msgpool_reset_stats(ulong pool);
}

/// <summary>np_msgpool_options.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct NpMsgPoolOptions
{
    public uint struct_size;
    public uint class_count;
    public uint* class_sizes;
    public ulong retain_per_class;
    public ulong retain_bytes_per_class;
    public byte* name;
}

/// <summary>np_msgpool_stats.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct NpMsgPoolStats
{
    public uint struct_size;
    public uint class_count;
    public ulong capacity;
    public ulong bytes_committed;
    public ulong in_flight;
    public ulong peak_in_flight;
    public ulong free_blocks;
    public ulong acquisitions;
    public ulong created;
    public ulong reused;
    public ulong released;
    public ulong discarded;
    public ulong failed_acquisitions;
    public ulong double_releases;
    public ulong foreign_releases;
    public ulong invalid_releases;
    public ulong chunks_released;
    public ulong oversize_acquisitions;
    public ulong unowned_releases;
    public double reuse_rate;
}

/// <summary>np_msgpool_class_stats.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct NpMsgPoolClassStats
{
    public uint struct_size;
    public uint class_index;
    public ulong class_size;
    public ulong block_stride;
    public ulong retain_limit;
    public ulong blocks_per_chunk;
    public ulong magazine_capacity;
    public ulong capacity;
    public ulong bytes_committed;
    public ulong in_flight;
    public ulong peak_in_flight;
    public ulong free_blocks;
    public ulong acquisitions;
    public ulong created;
    public ulong reused;
    public ulong released;
    public ulong discarded;
    public ulong failed_acquisitions;
    public ulong double_releases;
    public ulong foreign_releases;
    public ulong invalid_releases;
    public ulong chunks_released;
    public double reuse_rate;
}

/// <summary>The message pool constants (NP_MSGPOOL_*), as the header defines them.</summary>
public static class NpMsgPoolConstants
{
    public const uint NP_MSGPOOL_MAX_CLASSES = 16;
    public const uint NP_MSGPOOL_MAX_CLASS_SIZE = 16u << 20;
    public const uint NP_MSGPOOL_DEFAULT_CLASS_COUNT = 8;
    public const ulong NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS = 1024;
    public const ulong NP_MSGPOOL_DEFAULT_RETAIN_BYTES_PER_CLASS = 64UL << 20;
    public const ulong NP_MSGPOOL_CLASS_RANGE_BYTES = 1UL << 34;
}
