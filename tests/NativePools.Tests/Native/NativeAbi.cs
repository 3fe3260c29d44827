using System.Runtime.InteropServices;

namespace NativePools.Tests.Native;

// The ABI structs, declared here independently of the library's C# (this project does not
// reference NativePools.Native): field names are the C names, so AbiLayoutTests can compare
// every size and offset with the generated header's static asserts.

/// <summary>np_pool_options.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct NpPoolOptions
{
    public uint struct_size;
    public uint flags;
    public ulong block_size;
    public ulong alignment;
    public ulong initial_blocks;
    public ulong growth_blocks;
    public ulong max_blocks;
    public byte* name;
}

/// <summary>np_pool_stats.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct NpPoolStats
{
    public uint struct_size;
    public uint reserved;
    public ulong block_size;
    public ulong block_stride;
    public ulong capacity;
    public ulong in_use;
    public ulong peak_in_use;
    public ulong chunks;
    public ulong bytes_reserved;
    public ulong bytes_metadata;
    public ulong allocations;
    public ulong frees;
    public ulong created;
    public ulong reused;
    public ulong failed_allocations;
    public ulong double_frees;
    public ulong foreign_frees;
    public ulong invalid_frees;
    public ulong poison_violations;
    public ulong chunks_released;
    public ulong cached_threads;
    public ulong depot_blocks;
    public ulong magazine_capacity;
    public double reuse_rate;
}

/// <summary>np_pool_validation.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct NpPoolValidation
{
    public uint struct_size;
    public uint counts_checked;
    public ulong free_listed;
    public ulong allocated;
    public ulong free;
    public ulong errors;
    public ulong poison_violations;
}

/// <summary>The C constants the tests use (NP_*), as the header defines them.</summary>
public static class NpConstants
{
    public const uint NP_POOL_ZERO_ON_ALLOC = 1;
    public const uint NP_POOL_POISON_ON_FREE = 2;
    public const int NP_POOL_PRESET_SMALL = 1;
    public const int NP_POOL_PRESET_MEDIUM = 2;
    public const int NP_POOL_PRESET_LARGE = 3;
    public const int NP_BLOCK_NOT_OWNED = 0;
    public const int NP_BLOCK_ALLOCATED = 1;
    public const int NP_BLOCK_FREE = 2;
}
