using System.Runtime.InteropServices;
using NativePools.Native.Abi;

[assembly: NativeTypedef("np_status", typeof(int), "Result of every fallible call: NP_OK (0) or a negative NP_E_* code.")]
[assembly: NativeTypedef("np_pool", typeof(ulong), "Opaque handle of a block pool; 0 is never valid.")]

namespace NativePools.Native.Abi;

/// <summary>Library version and ABI constants (the version comes from the file VERSION).</summary>
[NativeConstants]
public static class VersionConstants
{
    /// <summary>Major version: changes break the ABI.</summary>
    public const int NP_VERSION_MAJOR = LibraryVersion.Major;
    /// <summary>Minor version: additions only.</summary>
    public const int NP_VERSION_MINOR = LibraryVersion.Minor;
    /// <summary>Patch version: fixes only.</summary>
    public const int NP_VERSION_PATCH = LibraryVersion.Patch;
    /// <summary>The version as one number, as np_version() returns it: (major &lt;&lt; 16) | (minor &lt;&lt; 8) | patch.</summary>
    public const uint NP_VERSION_NUMBER = (uint)((NP_VERSION_MAJOR << 16) | (NP_VERSION_MINOR << 8) | NP_VERSION_PATCH);
}

/// <summary>Block pool constants.</summary>
[NativeConstants]
public static class PoolConstants
{
    /// <summary>Flag: every block handed out reads as zeros.</summary>
    public const uint NP_POOL_ZERO_ON_ALLOC = 1;
    /// <summary>Flag: freed blocks are filled with NP_POOL_POISON_BYTE; writes after free are reported by alloc (counted) and by validate.</summary>
    public const uint NP_POOL_POISON_ON_FREE = 2;
    /// <summary>
    /// Flag: block states change with atomic instructions, so even two threads freeing the same
    /// block at the same instant get exactly one NP_OK. Without it such a race is caught when the
    /// block is next handed out (the duplicate is dropped and counted) and by validate. Costs a
    /// locked instruction (about 11 ns here) per operation.
    /// </summary>
    public const uint NP_POOL_ATOMIC_STATE = 4;
    /// <summary>The byte poison mode writes over freed blocks.</summary>
    public const int NP_POOL_POISON_BYTE = 0xDE;
    /// <summary>Smallest block size.</summary>
    public const ulong NP_POOL_MIN_BLOCK_SIZE = 1;
    /// <summary>Largest block size (16 MiB).</summary>
    public const ulong NP_POOL_MAX_BLOCK_SIZE = 16UL << 20;
    /// <summary>Largest alignment.</summary>
    public const ulong NP_POOL_MAX_ALIGNMENT = 4096;
    /// <summary>Preset: 264-byte blocks (small message).</summary>
    public const int NP_POOL_PRESET_SMALL = 1;
    /// <summary>Preset: 1 KiB blocks (medium message).</summary>
    public const int NP_POOL_PRESET_MEDIUM = 2;
    /// <summary>Preset: 10 KiB blocks (large message).</summary>
    public const int NP_POOL_PRESET_LARGE = 3;
    /// <summary>np_pool_owns result: the pointer is not the start of a block of this pool.</summary>
    public const int NP_BLOCK_NOT_OWNED = 0;
    /// <summary>np_pool_owns result: a block of this pool, currently allocated.</summary>
    public const int NP_BLOCK_ALLOCATED = 1;
    /// <summary>np_pool_owns result: a block of this pool, currently free.</summary>
    public const int NP_BLOCK_FREE = 2;
}

/// <summary>How a pool is shaped. Fill with np_pool_options_init() or np_pool_options_preset(), then adjust.</summary>
[NativeStruct("np_pool_options")]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct PoolOptionsAbi
{
    /// <summary>sizeof(np_pool_options); set by np_pool_options_init().</summary>
    public uint struct_size;
    /// <summary>NP_POOL_ZERO_ON_ALLOC | NP_POOL_POISON_ON_FREE | NP_POOL_ATOMIC_STATE, or 0.</summary>
    public uint flags;
    /// <summary>Usable bytes per block, NP_POOL_MIN_BLOCK_SIZE to NP_POOL_MAX_BLOCK_SIZE.</summary>
    public ulong block_size;
    /// <summary>Power of two from 1 to 4096; 0 picks 8 (smaller blocks: their size rounded up to a power of two).</summary>
    public ulong alignment;
    /// <summary>Blocks committed and pre-faulted at creation.</summary>
    public ulong initial_blocks;
    /// <summary>Blocks added per growth step (one chunk); 0 picks enough for 64 KiB.</summary>
    public ulong growth_blocks;
    /// <summary>Most blocks the pool may hold, 0 for unbounded (up to a 64 GiB address reservation). Allocation returns NP_E_POOL_EXHAUSTED only when max_blocks blocks are in use: free blocks other threads cache are taken back first, so every call on a bounded pool takes the general path (one locked instruction, no C fast path).</summary>
    public ulong max_blocks;
    /// <summary>Optional NUL-terminated UTF-8 name for diagnostics; copied at creation; may be NULL.</summary>
    [NativeType("const char*")] public byte* name;
}

/// <summary>A snapshot of a pool's counters. Set struct_size = sizeof(np_pool_stats) before the call.</summary>
[NativeStruct("np_pool_stats")]
[StructLayout(LayoutKind.Sequential)]
public struct PoolStatsAbi
{
    /// <summary>sizeof(np_pool_stats), set by the caller.</summary>
    public uint struct_size;
    /// <summary>Reserved, written as 0.</summary>
    public uint reserved;
    /// <summary>Usable bytes per block.</summary>
    public ulong block_size;
    /// <summary>Distance between block starts (block size rounded up to the alignment).</summary>
    public ulong block_stride;
    /// <summary>Blocks in committed chunks, free or in use.</summary>
    public ulong capacity;
    /// <summary>Blocks handed out and not freed.</summary>
    public ulong in_use;
    /// <summary>Highest in_use since creation or the last reset.</summary>
    public ulong peak_in_use;
    /// <summary>Committed chunks.</summary>
    public ulong chunks;
    /// <summary>Bytes of block memory committed.</summary>
    public ulong bytes_reserved;
    /// <summary>Bytes of out-of-band metadata committed.</summary>
    public ulong bytes_metadata;
    /// <summary>Successful allocations (created + reused).</summary>
    public ulong allocations;
    /// <summary>Successful frees.</summary>
    public ulong frees;
    /// <summary>Blocks handed out for the first time.</summary>
    public ulong created;
    /// <summary>Blocks handed out again after a free.</summary>
    public ulong reused;
    /// <summary>Allocations refused (exhausted, out of memory).</summary>
    public ulong failed_allocations;
    /// <summary>Frees of blocks that were not allocated.</summary>
    public ulong double_frees;
    /// <summary>Frees of pointers outside the pool.</summary>
    public ulong foreign_frees;
    /// <summary>Frees of interior or misaligned pointers inside the pool.</summary>
    public ulong invalid_frees;
    /// <summary>Freed blocks found written after their free (poison mode).</summary>
    public ulong poison_violations;
    /// <summary>Chunks given back to the OS by np_pool_trim().</summary>
    public ulong chunks_released;
    /// <summary>Threads that hold a cache of this pool (at most two magazines of blocks each).</summary>
    public ulong cached_threads;
    /// <summary>Free blocks in the shared depot, cached by no thread (includes never-used blocks).</summary>
    public ulong depot_blocks;
    /// <summary>Blocks per magazine: each thread caches at most two magazines of free blocks per pool, so capacity beyond in_use stays below threads x 2 x magazine_capacity plus a growth step.</summary>
    public ulong magazine_capacity;
    /// <summary>reused / allocations (0 when nothing was allocated).</summary>
    public double reuse_rate;
}

/// <summary>What np_pool_validate() found. Set struct_size = sizeof(np_pool_validation) before the call.</summary>
[NativeStruct("np_pool_validation")]
[StructLayout(LayoutKind.Sequential)]
public struct PoolValidationAbi
{
    /// <summary>sizeof(np_pool_validation), set by the caller.</summary>
    public uint struct_size;
    /// <summary>1 when no other thread used the pool during the walk, so counts were compared too.</summary>
    public uint counts_checked;
    /// <summary>Entries on the free list.</summary>
    public ulong free_listed;
    /// <summary>Blocks marked allocated.</summary>
    public ulong allocated;
    /// <summary>Blocks marked free.</summary>
    public ulong free;
    /// <summary>Inconsistencies found.</summary>
    public ulong errors;
    /// <summary>Free blocks whose poison was overwritten (poison mode).</summary>
    public ulong poison_violations;
}
