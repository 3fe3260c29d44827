using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativePools.Handles;
using NativePools.Native.Abi;
using NativePools.Native.FastPath;
using NativePools.Pools;

namespace NativePools.Native.Exports;

/// <summary>
/// Fixed-size block pools. Unless a function says otherwise, it may be called from any thread,
/// concurrently with any other call on the same or other pools, except np_pool_destroy(),
/// which must not race with other calls on the same pool.
/// </summary>
[NativeExports("Block pools")]
public static unsafe class PoolExports
{
    internal static readonly HandleTable<BlockPool> Pools = new(kind: 1);

    /// <summary>Fills options with defaults: block_size 0 (must be set), alignment 0 (8), unbounded, no flags.</summary>
    /// <param name="options">The struct to fill; struct_size is set to sizeof(np_pool_options).</param>
    /// <returns>NP_OK, or NP_E_NULL_POINTER.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_pool_options_init")]
    [return: NativeType("np_status")]
    public static int OptionsInit([NativeType("np_pool_options*")] PoolOptionsAbi* options)
    {
        if (options == null) return (int)Shim.Null(nameof(options));
        *options = default;
        options->struct_size = (uint)sizeof(PoolOptionsAbi);
        return (int)NpStatus.Ok;
    }

    /// <summary>Fills options with defaults for a preset size: NP_POOL_PRESET_SMALL (264 B), _MEDIUM (1 KiB) or _LARGE (10 KiB).</summary>
    /// <param name="options">The struct to fill.</param>
    /// <param name="preset">One of NP_POOL_PRESET_*.</param>
    /// <returns>NP_OK, NP_E_NULL_POINTER, or NP_E_INVALID_ARGUMENT for an unknown preset.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_pool_options_preset")]
    [return: NativeType("np_status")]
    public static int OptionsPreset([NativeType("np_pool_options*")] PoolOptionsAbi* options, int preset)
    {
        if (options == null) return (int)Shim.Null(nameof(options));
        if (!PoolPresets.TryGet((PoolPreset)preset, out BlockPoolOptions o))
            return (int)Diagnostics.LastError.Set(NpStatus.InvalidArgument, "unknown preset {0}", preset);
        *options = default;
        options->struct_size = (uint)sizeof(PoolOptionsAbi);
        options->block_size = o.BlockSize;
        return (int)NpStatus.Ok;
    }

    /// <summary>Creates a pool. Initial blocks are committed and pre-faulted now; more are added on demand.</summary>
    /// <param name="options">Shape of the pool; struct_size must be sizeof(np_pool_options).</param>
    /// <param name="pool">Receives the new handle (0 on failure).</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_UNSUPPORTED_STRUCT_SIZE; NP_E_INVALID_ARGUMENT for sizes, alignments, limits or flags out of range; NP_E_OUT_OF_MEMORY.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_pool_create")]
    [return: NativeType("np_status")]
    public static int Create([NativeType("const np_pool_options*")] PoolOptionsAbi* options, [NativeType("np_pool*")] ulong* pool)
    {
        try
        {
            if (pool == null) return (int)Shim.Null(nameof(pool));
            *pool = 0;
            if (!PoolFastPath.LayoutAgrees) return (int)PoolFastPath.LayoutDisagrees();
            if (options == null) return (int)Shim.Null(nameof(options));
            if (options->struct_size != sizeof(PoolOptionsAbi))
                return (int)Shim.BadStructSize("np_pool_options", options->struct_size, sizeof(PoolOptionsAbi));
            var o = new BlockPoolOptions
            {
                BlockSize = options->block_size,
                Alignment = options->alignment,
                InitialBlocks = options->initial_blocks,
                GrowthBlocks = options->growth_blocks,
                MaxBlocks = options->max_blocks,
                Flags = (BlockPoolFlags)options->flags,
                Name = Shim.ReadName(options->name),
            };
            NpStatus status = BlockPool.Create(o, out BlockPool? created);
            if (status != NpStatus.Ok) return (int)status;
            ulong handle = Pools.Add(created!);
            if (handle == 0)
            {
                created!.Dispose();
                return (int)Diagnostics.LastError.Set(NpStatus.OutOfMemory, "too many live pools ({0})", HandleTable<BlockPool>.MaxSlots);
            }
            *pool = handle;
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>
    /// Destroys a pool and returns all its memory to the OS. Blocks still handed out become
    /// invalid at once, like memory of a destroyed arena; the handle becomes stale, so later
    /// calls with it return NP_E_INVALID_HANDLE. Destroying 0 is a no-op.
    /// </summary>
    /// <param name="pool">The pool, or 0.</param>
    /// <returns>NP_OK, or NP_E_INVALID_HANDLE for a stale or garbage handle.</returns>
    /// <remarks>Must not race with other calls on the same pool.</remarks>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_pool_destroy")]
    [return: NativeType("np_status")]
    public static int Destroy([NativeType("np_pool")] ulong pool)
    {
        try
        {
            if (pool == 0) return (int)NpStatus.Ok;
            BlockPool? p = Pools.Remove(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "pool");
            p.Dispose();
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Takes one block. O(1); grows the pool when no block is free.</summary>
    /// <param name="pool">The pool.</param>
    /// <param name="block">Receives the block (NULL on failure), aligned as configured, valid until freed or the pool is destroyed.</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_INVALID_HANDLE; NP_E_POOL_EXHAUSTED at max_blocks; NP_E_OUT_OF_MEMORY.</returns>
    // The exported np_pool_alloc is C (FastPath/pool_fast_path.c): it takes a block from the
    // calling thread's magazine without entering the runtime, and calls this (through its
    // generated shim np_pool_alloc_general) for everything else.
    [UnmanagedCallersOnly(EntryPoint = "managed_np_pool_alloc")]
    [NativeFastPath("np_pool_alloc")]
    [return: NativeType("np_status")]
    public static int Alloc([NativeType("np_pool")] ulong pool, void** block)
    {
        try
        {
            if (block == null) return (int)Shim.Null(nameof(block));
            *block = null;
            BlockPool? p = Pools.Get(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "pool");
            NpStatus status = p.Alloc(out nint b);
            if (status == NpStatus.Ok && PoolThreadSlot.Find(pool) == 0) PoolThreadSlot.Remember(pool, p);
            *block = (void*)b;
            return (int)status;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Returns one block. O(1); never reads or writes the block unless NP_POOL_POISON_ON_FREE is set.</summary>
    /// <param name="pool">The pool the block came from.</param>
    /// <param name="block">The block.</param>
    /// <returns>NP_OK; NP_E_INVALID_HANDLE; NP_E_NULL_POINTER; NP_E_DOUBLE_FREE; NP_E_FOREIGN_POINTER; NP_E_INTERIOR_POINTER; NP_E_MISALIGNED_POINTER. Every rejected free is counted and leaves the pool intact.</returns>
    // The exported np_pool_free is C, as np_pool_alloc (see Alloc).
    [UnmanagedCallersOnly(EntryPoint = "managed_np_pool_free")]
    [NativeFastPath("np_pool_free")]
    [return: NativeType("np_status")]
    public static int Free([NativeType("np_pool")] ulong pool, void* block)
    {
        try
        {
            BlockPool? p = Pools.Get(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "pool");
            NpStatus status = p.Free((nint)block);
            if (status == NpStatus.Ok && PoolThreadSlot.Find(pool) == 0) PoolThreadSlot.Remember(pool, p);
            return (int)status;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>
    /// Takes count blocks in one call (one library transition instead of count). On failure the
    /// leading *allocated entries hold blocks that belong to the caller; the rest are NULL.
    /// </summary>
    /// <param name="pool">The pool.</param>
    /// <param name="blocks">Array of count pointers to fill.</param>
    /// <param name="count">Blocks wanted (0 is allowed).</param>
    /// <param name="allocated">Receives how many entries were filled.</param>
    /// <returns>NP_OK when all count were taken; otherwise what stopped it, as np_pool_alloc().</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_pool_alloc_batch")]
    [return: NativeType("np_status")]
    public static int AllocBatch([NativeType("np_pool")] ulong pool, void** blocks, nuint count, nuint* allocated)
    {
        try
        {
            if (allocated == null) return (int)Shim.Null(nameof(allocated));
            *allocated = 0;
            if (blocks == null && count != 0) return (int)Shim.Null(nameof(blocks));
            if (count > int.MaxValue)
                return (int)Diagnostics.LastError.Set(NpStatus.InvalidArgument, "count {0} is too large", count);
            BlockPool? p = Pools.Get(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "pool");
            var span = new Span<nint>(blocks, (int)count);
            NpStatus status = p.AllocBatch(span, out int taken);
            span[taken..].Clear();
            *allocated = (nuint)taken;
            return (int)status;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Returns count blocks in one call. Every valid entry is freed; invalid ones are skipped and counted.</summary>
    /// <param name="pool">The pool.</param>
    /// <param name="blocks">Array of count block pointers.</param>
    /// <param name="count">Entries in blocks (0 is allowed).</param>
    /// <param name="freed">Optional (may be NULL): receives how many were freed.</param>
    /// <returns>NP_OK when every entry was valid; else the status of the first invalid entry, as np_pool_free(); np_last_error_status() and np_last_error_message() then describe that first invalid entry too.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_pool_free_batch")]
    [return: NativeType("np_status")]
    public static int FreeBatch([NativeType("np_pool")] ulong pool, [NativeType("void* const*")] void** blocks, nuint count, nuint* freed)
    {
        try
        {
            if (freed != null) *freed = 0;
            if (blocks == null && count != 0) return (int)Shim.Null(nameof(blocks));
            if (count > int.MaxValue)
                return (int)Diagnostics.LastError.Set(NpStatus.InvalidArgument, "count {0} is too large", count);
            BlockPool? p = Pools.Get(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "pool");
            NpStatus status = p.FreeBatch(new ReadOnlySpan<nint>(blocks, (int)count), out int done);
            if (freed != null) *freed = (nuint)done;
            return (int)status;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Warm-up: grows the pool until at least free_blocks blocks are free and faults their pages in.</summary>
    /// <param name="pool">The pool.</param>
    /// <param name="free_blocks">Free blocks wanted.</param>
    /// <returns>NP_OK; NP_E_INVALID_HANDLE; NP_E_POOL_EXHAUSTED when max_blocks does not allow it; NP_E_OUT_OF_MEMORY.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_pool_reserve")]
    [return: NativeType("np_status")]
    public static int Reserve([NativeType("np_pool")] ulong pool, ulong free_blocks)
    {
        try
        {
            BlockPool? p = Pools.Get(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "pool");
            return (int)p.Reserve(free_blocks);
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Gives every chunk with no block in use back to the OS. Chunks with any block in use are never touched.</summary>
    /// <param name="pool">The pool.</param>
    /// <param name="bytes_released">Optional (may be NULL): receives the bytes of memory returned.</param>
    /// <returns>NP_OK; NP_E_INVALID_HANDLE; NP_E_CORRUPTED if the free list is damaged (nothing is released then).</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_pool_trim")]
    [return: NativeType("np_status")]
    public static int Trim([NativeType("np_pool")] ulong pool, ulong* bytes_released)
    {
        try
        {
            if (bytes_released != null) *bytes_released = 0;
            BlockPool? p = Pools.Get(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "pool");
            NpStatus status = p.Trim(out ulong released);
            if (bytes_released != null) *bytes_released = released;
            return (int)status;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Tells whether a pointer is a block of this pool, without touching the pointed-to memory.</summary>
    /// <param name="pool">The pool.</param>
    /// <param name="block">Any pointer value.</param>
    /// <param name="result">Receives NP_BLOCK_NOT_OWNED, NP_BLOCK_ALLOCATED or NP_BLOCK_FREE.</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_INVALID_HANDLE.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_pool_owns")]
    [return: NativeType("np_status")]
    public static int Owns([NativeType("np_pool")] ulong pool, [NativeType("const void*")] void* block, int* result)
    {
        try
        {
            if (result == null) return (int)Shim.Null(nameof(result));
            *result = PoolConstants.NP_BLOCK_NOT_OWNED;
            BlockPool? p = Pools.Get(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "pool");
            *result = p.Owns((nint)block);
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>
    /// Full integrity walk: the free list has no cycle and holds only free blocks, each once;
    /// block states agree with it; in poison mode free blocks still hold the poison. When no
    /// other thread used the pool meanwhile, the counts are compared with the stats as well.
    /// Allocators that find the free list empty wait for the walk to end.
    /// </summary>
    /// <param name="pool">The pool.</param>
    /// <param name="report">Optional (may be NULL): receives what was found; struct_size must be set.</param>
    /// <returns>NP_OK when intact; NP_E_CORRUPTED (detail in np_last_error_message()); NP_E_INVALID_HANDLE; NP_E_UNSUPPORTED_STRUCT_SIZE.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_pool_validate")]
    [return: NativeType("np_status")]
    public static int Validate([NativeType("np_pool")] ulong pool, [NativeType("np_pool_validation*")] PoolValidationAbi* report)
    {
        try
        {
            if (report != null && report->struct_size != sizeof(PoolValidationAbi))
                return (int)Shim.BadStructSize("np_pool_validation", report->struct_size, sizeof(PoolValidationAbi));
            BlockPool? p = Pools.Get(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "pool");
            NpStatus status = p.Validate(out BlockPoolValidation v);
            if (report != null)
            {
                *report = new PoolValidationAbi
                {
                    struct_size = (uint)sizeof(PoolValidationAbi),
                    counts_checked = v.CountsChecked,
                    free_listed = v.FreeListed,
                    allocated = v.Allocated,
                    free = v.Free,
                    errors = v.Errors,
                    poison_violations = v.PoisonViolations,
                };
            }
            return (int)status;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Copies the pool's counters. Exact when no other thread is operating; otherwise each field is a recent value.</summary>
    /// <param name="pool">The pool.</param>
    /// <param name="stats">Receives the counters; struct_size must be sizeof(np_pool_stats).</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_UNSUPPORTED_STRUCT_SIZE; NP_E_INVALID_HANDLE.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_pool_get_stats")]
    [return: NativeType("np_status")]
    public static int GetStats([NativeType("np_pool")] ulong pool, [NativeType("np_pool_stats*")] PoolStatsAbi* stats)
    {
        try
        {
            if (stats == null) return (int)Shim.Null(nameof(stats));
            if (stats->struct_size != sizeof(PoolStatsAbi))
                return (int)Shim.BadStructSize("np_pool_stats", stats->struct_size, sizeof(PoolStatsAbi));
            BlockPool? p = Pools.Get(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "pool");
            BlockPoolStats s = p.GetStats();
            *stats = new PoolStatsAbi
            {
                struct_size = (uint)sizeof(PoolStatsAbi),
                block_size = s.BlockSize,
                block_stride = s.BlockStride,
                capacity = s.Capacity,
                in_use = s.InUse,
                peak_in_use = s.PeakInUse,
                chunks = s.Chunks,
                bytes_reserved = s.BytesReserved,
                bytes_metadata = s.BytesMetadata,
                allocations = s.Allocations,
                frees = s.Frees,
                created = s.Created,
                reused = s.Reused,
                failed_allocations = s.FailedAllocations,
                double_frees = s.DoubleFrees,
                foreign_frees = s.ForeignFrees,
                invalid_frees = s.InvalidFrees,
                poison_violations = s.PoisonViolations,
                chunks_released = s.ChunksReleased,
                cached_threads = s.CachedThreads,
                depot_blocks = s.DepotBlocks,
                magazine_capacity = s.MagazineCapacity,
                reuse_rate = s.ReuseRate,
            };
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Zeroes the event counters (allocations, frees, created, reused, failures, detections); the peak restarts from the current in_use.</summary>
    /// <param name="pool">The pool.</param>
    /// <returns>NP_OK; NP_E_INVALID_HANDLE.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_pool_reset_stats")]
    [return: NativeType("np_status")]
    public static int ResetStats([NativeType("np_pool")] ulong pool)
    {
        try
        {
            BlockPool? p = Pools.Get(pool);
            if (p is null) return (int)Shim.BadHandle(pool, "pool");
            p.ResetStats();
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }
}
