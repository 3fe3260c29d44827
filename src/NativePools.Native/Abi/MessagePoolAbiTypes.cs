using System.Runtime.InteropServices;
using NativePools.Native.Abi;

[assembly: NativeTypedef("np_msgpool", typeof(ulong), "Opaque handle of a message pool (size-classed message buffers); 0 is never valid.")]

namespace NativePools.Native.Abi;

/// <summary>Message pool constants.</summary>
[NativeConstants]
public static class MessagePoolConstants
{
    /// <summary>The most size classes one message pool has.</summary>
    public const uint NP_MSGPOOL_MAX_CLASSES = 16;
    /// <summary>The largest class size (16 MiB).</summary>
    public const uint NP_MSGPOOL_MAX_CLASS_SIZE = 16u << 20;
    /// <summary>Number of default size classes: 64, 264, 1024, 4096, 10240, 65536, 262144 and 1048576 bytes.</summary>
    public const uint NP_MSGPOOL_DEFAULT_CLASS_COUNT = 8;
    /// <summary>Default of np_msgpool_options.retain_per_class: free blocks each class keeps for reuse.</summary>
    public const ulong NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS = 1024;
    /// <summary>Default of np_msgpool_options.retain_bytes_per_class: 64 MiB.</summary>
    public const ulong NP_MSGPOOL_DEFAULT_RETAIN_BYTES_PER_CLASS = 64UL << 20;
    /// <summary>Address space each class reserves (16 GiB): the most bytes of blocks, in flight and free, one class holds.</summary>
    public const ulong NP_MSGPOOL_CLASS_RANGE_BYTES = 1UL << 34;
}

/// <summary>How a message pool is shaped. Fill with np_msgpool_options_init(), then adjust.</summary>
[NativeStruct("np_msgpool_options")]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct MessagePoolOptionsAbi
{
    /// <summary>sizeof(np_msgpool_options); set by np_msgpool_options_init().</summary>
    public uint struct_size;
    /// <summary>Entries in class_sizes, at most NP_MSGPOOL_MAX_CLASSES; 0 (with class_sizes NULL) picks the NP_MSGPOOL_DEFAULT_CLASS_COUNT default classes.</summary>
    public uint class_count;
    /// <summary>Block size of each class in bytes, strictly ascending, 1 to NP_MSGPOOL_MAX_CLASS_SIZE; copied at creation; NULL when class_count is 0.</summary>
    [NativeType("const uint32_t*")] public uint* class_sizes;
    /// <summary>Free blocks each class keeps for reuse (0 keeps none); each class keeps min(retain_per_class, retain_bytes_per_class / class size). Releases beyond it are discarded.</summary>
    public ulong retain_per_class;
    /// <summary>Cap of the bytes of free blocks each class keeps; np_msgpool_options_init() sets 64 MiB.</summary>
    public ulong retain_bytes_per_class;
    /// <summary>Optional NUL-terminated UTF-8 name for diagnostics (classes show as "name/size"); copied at creation; may be NULL.</summary>
    [NativeType("const char*")] public byte* name;
}

/// <summary>A message pool's totals: each field shared with np_msgpool_class_stats is the sum over the classes. Set struct_size = sizeof(np_msgpool_stats) before the call.</summary>
[NativeStruct("np_msgpool_stats")]
[StructLayout(LayoutKind.Sequential)]
public struct MessagePoolStatsAbi
{
    /// <summary>sizeof(np_msgpool_stats), set by the caller.</summary>
    public uint struct_size;
    /// <summary>Number of size classes.</summary>
    public uint class_count;
    /// <summary>Committed blocks of every class, free or in flight.</summary>
    public ulong capacity;
    /// <summary>Bytes of block memory committed.</summary>
    public ulong bytes_committed;
    /// <summary>Messages acquired and not released.</summary>
    public ulong in_flight;
    /// <summary>Sum of the classes' peak_in_flight: an upper bound of the most messages ever in flight at once.</summary>
    public ulong peak_in_flight;
    /// <summary>Committed blocks not in flight: retained, cached by threads, or never handed out.</summary>
    public ulong free_blocks;
    /// <summary>Successful acquisitions (created + reused).</summary>
    public ulong acquisitions;
    /// <summary>Acquisitions served by a block handed out for the first time since its memory was committed.</summary>
    public ulong created;
    /// <summary>Acquisitions served by a retained block.</summary>
    public ulong reused;
    /// <summary>Successful releases (retained or discarded).</summary>
    public ulong released;
    /// <summary>Releases found over their class's retention limit.</summary>
    public ulong discarded;
    /// <summary>Acquisitions a class refused (NP_E_POOL_EXHAUSTED, NP_E_OUT_OF_MEMORY); oversize requests are counted in oversize_acquisitions.</summary>
    public ulong failed_acquisitions;
    /// <summary>Releases of blocks that were not in flight.</summary>
    public ulong double_releases;
    /// <summary>Releases of pointers inside a class's address range that are not blocks of it.</summary>
    public ulong foreign_releases;
    /// <summary>Releases of interior or misaligned pointers.</summary>
    public ulong invalid_releases;
    /// <summary>Chunks whose memory went back to the OS.</summary>
    public ulong chunks_released;
    /// <summary>Acquisitions refused because the size exceeds the largest class (no class sees them).</summary>
    public ulong oversize_acquisitions;
    /// <summary>Releases of non-NULL pointers outside every class's address range (no class sees them).</summary>
    public ulong unowned_releases;
    /// <summary>reused / acquisitions (0 when nothing was acquired).</summary>
    public double reuse_rate;
}

/// <summary>The counters of one size class. Set struct_size = sizeof(np_msgpool_class_stats) before the call.</summary>
[NativeStruct("np_msgpool_class_stats")]
[StructLayout(LayoutKind.Sequential)]
public struct MessageClassStatsAbi
{
    /// <summary>sizeof(np_msgpool_class_stats), set by the caller.</summary>
    public uint struct_size;
    /// <summary>The class's index, as asked for.</summary>
    public uint class_index;
    /// <summary>Usable bytes of each message of this class: the capacity np_msgpool_acquire() reports.</summary>
    public ulong class_size;
    /// <summary>Distance between block starts.</summary>
    public ulong block_stride;
    /// <summary>Free blocks the class keeps for reuse: min(retain_per_class, retain_bytes_per_class / class_size).</summary>
    public ulong retain_limit;
    /// <summary>Blocks per chunk, the unit in which memory is committed and given back (1 for classes of 16 KiB and more).</summary>
    public ulong blocks_per_chunk;
    /// <summary>Blocks per magazine: each thread caches at most two magazines of free blocks per class.</summary>
    public ulong magazine_capacity;
    /// <summary>Committed blocks, free or in flight.</summary>
    public ulong capacity;
    /// <summary>Bytes of block memory committed.</summary>
    public ulong bytes_committed;
    /// <summary>Messages acquired and not released.</summary>
    public ulong in_flight;
    /// <summary>Highest in_flight since creation or the last reset (exact with one thread; sampled at magazine exchanges with several, never above the truth).</summary>
    public ulong peak_in_flight;
    /// <summary>capacity - in_flight: retained, cached by threads, or never handed out.</summary>
    public ulong free_blocks;
    /// <summary>Successful acquisitions (created + reused).</summary>
    public ulong acquisitions;
    /// <summary>Acquisitions served by a block handed out for the first time since its memory was committed.</summary>
    public ulong created;
    /// <summary>Acquisitions served by a retained block.</summary>
    public ulong reused;
    /// <summary>Successful releases (retained or discarded).</summary>
    public ulong released;
    /// <summary>Releases found over the retention limit.</summary>
    public ulong discarded;
    /// <summary>Acquisitions refused (NP_E_POOL_EXHAUSTED, NP_E_OUT_OF_MEMORY).</summary>
    public ulong failed_acquisitions;
    /// <summary>Releases of blocks of this class that were not in flight.</summary>
    public ulong double_releases;
    /// <summary>Releases of pointers inside this class's address range that are not blocks of it.</summary>
    public ulong foreign_releases;
    /// <summary>Releases of interior or misaligned pointers of this class.</summary>
    public ulong invalid_releases;
    /// <summary>Chunks whose memory went back to the OS.</summary>
    public ulong chunks_released;
    /// <summary>reused / acquisitions (0 when nothing was acquired).</summary>
    public double reuse_rate;
}
