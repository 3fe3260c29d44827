using System;

namespace NativePools.Pools;

/// <summary>Behaviour switches of a block pool. Values are part of the C ABI (NP_POOL_*).</summary>
[Flags]
public enum BlockPoolFlags : uint
{
    /// <summary>No extra work per operation.</summary>
    None = 0,
    /// <summary>Every block handed out reads as zeros.</summary>
    ZeroOnAlloc = 1,
    /// <summary>Freed blocks are filled with <see cref="BlockPool.PoisonByte"/>; a write after free is reported by alloc and validate.</summary>
    PoisonOnFree = 2,
    /// <summary>
    /// Block states change with atomic instructions, so even two threads freeing the same block
    /// at the same instant get exactly one success. Costs a locked instruction per operation.
    /// </summary>
    AtomicState = 4,
}

/// <summary>How a <see cref="BlockPool"/> is shaped. Zero fields take their documented defaults.</summary>
public struct BlockPoolOptions
{
    /// <summary>Smallest block size accepted.</summary>
    public const ulong MinBlockSize = 1;
    /// <summary>Largest block size accepted (16 MiB).</summary>
    public const ulong MaxBlockSize = 16UL << 20;
    /// <summary>Largest alignment accepted.</summary>
    public const ulong MaxAlignment = 4096;
    /// <summary>Most blocks a pool can ever hold (block indices are 31-bit).</summary>
    public const ulong MaxBlockCount = int.MaxValue - 1;
    /// <summary>Address space an unbounded pool reserves (64 GiB): the ceiling of its growth.</summary>
    public const ulong UnboundedReservationBytes = 64UL << 30;
    /// <summary>Every flag this version knows.</summary>
    public const BlockPoolFlags KnownFlags = BlockPoolFlags.ZeroOnAlloc | BlockPoolFlags.PoisonOnFree | BlockPoolFlags.AtomicState;
    /// <summary>Bytes a growth step commits when <see cref="GrowthBlocks"/> is 0.</summary>
    public const ulong DefaultGrowthBytes = 64UL << 10;

    /// <summary>Usable bytes per block, 1 to 16 MiB.</summary>
    public ulong BlockSize;
    /// <summary>Power of two from 1 to 4096; 0 picks 8 (or the next power of two of smaller blocks).</summary>
    public ulong Alignment;
    /// <summary>Blocks committed (and pre-faulted) at creation.</summary>
    public ulong InitialBlocks;
    /// <summary>Blocks added per growth step (one chunk); 0 picks enough for 64 KiB.</summary>
    public ulong GrowthBlocks;
    /// <summary>Most blocks the pool may hold; 0 is unbounded (up to a 64 GiB reservation).</summary>
    public ulong MaxBlocks;
    /// <summary>Extra behaviour.</summary>
    public BlockPoolFlags Flags;
    /// <summary>Name shown in diagnostics; may be null.</summary>
    public string? Name;

    /// <summary>Options for fixed blocks of <paramref name="blockSize"/> bytes, everything else default.</summary>
    public static BlockPoolOptions ForSize(ulong blockSize) => new() { BlockSize = blockSize };
}

/// <summary>The three message sizes callers ask for most.</summary>
public enum PoolPreset : int
{
    /// <summary>264-byte blocks (a small message with its header).</summary>
    Small = 1,
    /// <summary>1 KiB blocks.</summary>
    Medium = 2,
    /// <summary>10 KiB blocks.</summary>
    Large = 3,
}

/// <summary>Block sizes behind <see cref="PoolPreset"/>.</summary>
public static class PoolPresets
{
    /// <summary>Block size of the small preset.</summary>
    public const ulong SmallBlockSize = 264;
    /// <summary>Block size of the medium preset.</summary>
    public const ulong MediumBlockSize = 1024;
    /// <summary>Block size of the large preset.</summary>
    public const ulong LargeBlockSize = 10 * 1024;

    /// <summary>Default options for a preset, or false when the preset is unknown.</summary>
    public static bool TryGet(PoolPreset preset, out BlockPoolOptions options)
    {
        ulong size = preset switch
        {
            PoolPreset.Small => SmallBlockSize,
            PoolPreset.Medium => MediumBlockSize,
            PoolPreset.Large => LargeBlockSize,
            _ => 0,
        };
        options = BlockPoolOptions.ForSize(size);
        options.Name = preset switch
        {
            PoolPreset.Small => "small",
            PoolPreset.Medium => "medium",
            PoolPreset.Large => "large",
            _ => null,
        };
        return size != 0;
    }
}

/// <summary>A point-in-time copy of a pool's counters.</summary>
public struct BlockPoolStats
{
    /// <summary>Usable bytes per block as configured.</summary>
    public ulong BlockSize;
    /// <summary>Distance between block starts (block size rounded up to the alignment).</summary>
    public ulong BlockStride;
    /// <summary>Blocks in committed chunks (free and in use).</summary>
    public ulong Capacity;
    /// <summary>Blocks handed out and not yet freed.</summary>
    public ulong InUse;
    /// <summary>Highest <see cref="InUse"/> seen since creation or the last reset.</summary>
    public ulong PeakInUse;
    /// <summary>Committed chunks.</summary>
    public ulong Chunks;
    /// <summary>Bytes of block memory committed.</summary>
    public ulong BytesReserved;
    /// <summary>Bytes of out-of-band metadata committed (block states and free-list links).</summary>
    public ulong BytesMetadata;
    /// <summary>Successful allocations (created + reused).</summary>
    public ulong Allocations;
    /// <summary>Successful frees.</summary>
    public ulong Frees;
    /// <summary>Blocks handed out for the first time (fresh memory).</summary>
    public ulong Created;
    /// <summary>Blocks handed out again after a free.</summary>
    public ulong Reused;
    /// <summary>Allocations refused (exhausted or out of memory).</summary>
    public ulong FailedAllocations;
    /// <summary>Frees of blocks that were not allocated.</summary>
    public ulong DoubleFrees;
    /// <summary>Frees of pointers outside this pool.</summary>
    public ulong ForeignFrees;
    /// <summary>Frees of interior or misaligned pointers inside this pool.</summary>
    public ulong InvalidFrees;
    /// <summary>Freed blocks found written to after their free (poison mode only).</summary>
    public ulong PoisonViolations;
    /// <summary>Chunks given back to the OS by trim.</summary>
    public ulong ChunksReleased;
    /// <summary>Threads holding a cache (two magazines) of this pool.</summary>
    public ulong CachedThreads;
    /// <summary>Free blocks in the shared depot (not cached by any thread).</summary>
    public ulong DepotBlocks;
    /// <summary>Blocks per magazine: a thread caches at most two magazines of free blocks per pool.</summary>
    public ulong MagazineCapacity;
    /// <summary>Reused / allocations, 0 when nothing was allocated.</summary>
    public double ReuseRate;
}

/// <summary>What <see cref="BlockPool.Validate"/> found.</summary>
public struct BlockPoolValidation
{
    /// <summary>Entries on the free list.</summary>
    public ulong FreeListed;
    /// <summary>Blocks whose state says allocated.</summary>
    public ulong Allocated;
    /// <summary>Blocks whose state says free (fresh or freed).</summary>
    public ulong Free;
    /// <summary>Inconsistencies found (0 when the pool is intact).</summary>
    public ulong Errors;
    /// <summary>Freed blocks whose poison pattern was overwritten (poison mode only).</summary>
    public ulong PoisonViolations;
    /// <summary>1 when no other thread used the pool during the walk, so the counts were compared too.</summary>
    public uint CountsChecked;
}
