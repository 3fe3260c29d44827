using System;

namespace NativePools.Messages;

/// <summary>How a <see cref="MessagePool"/> is shaped. A new instance holds the defaults.</summary>
public sealed class MessagePoolOptions
{
    /// <summary>The most size classes one message pool has.</summary>
    public const int MaxClasses = 16;
    /// <summary>The largest class size (the largest block a block pool holds, 16 MiB).</summary>
    public const uint MaxClassSize = 16u << 20;
    /// <summary>Free blocks each class keeps for reuse by default (before the byte cap).</summary>
    public const ulong DefaultRetainPerClass = 1024;
    /// <summary>Default cap of the bytes each class keeps free for reuse (64 MiB).</summary>
    public const ulong DefaultRetainBytesPerClass = 64UL << 20;

    /// <summary>The default class sizes: 64 B, 264 B, 1 KiB, 4 KiB, 10 KiB, 64 KiB, 256 KiB, 1 MiB.</summary>
    public static ReadOnlySpan<uint> DefaultClassSizes => [64, 264, 1024, 4096, 10240, 65536, 262144, 1048576];

    /// <summary>Block size of each class, strictly ascending, 1 to <see cref="MaxClassSize"/>, at most <see cref="MaxClasses"/> of them.</summary>
    public uint[] ClassSizes = DefaultClassSizes.ToArray();

    /// <summary>
    /// The most free blocks a class keeps for reuse. Each class keeps
    /// min(<see cref="RetainPerClass"/>, <see cref="RetainBytesPerClass"/> / class size) blocks;
    /// releases beyond that are discarded (see <see cref="MessagePool"/>). 0 keeps none.
    /// </summary>
    public ulong RetainPerClass = DefaultRetainPerClass;

    /// <summary>Cap of the bytes of free blocks each class keeps for reuse.</summary>
    public ulong RetainBytesPerClass = DefaultRetainBytesPerClass;

    /// <summary>Name shown in diagnostics (classes are named "name/size"); may be null.</summary>
    public string? Name;
}

/// <summary>
/// A copy of one size class's counters. Events (acquisitions, releases, ...) count since creation
/// or the last <see cref="MessagePool.ResetStats"/>.
/// </summary>
public struct MessageClassStats
{
    /// <summary>Usable bytes of each message of this class (what acquire reports as capacity).</summary>
    public ulong ClassSize;
    /// <summary>Distance between block starts.</summary>
    public ulong BlockStride;
    /// <summary>Free blocks this class keeps for reuse; releases beyond it are discarded.</summary>
    public ulong RetainLimit;
    /// <summary>Blocks per chunk, the unit in which memory is committed and given back.</summary>
    public ulong BlocksPerChunk;
    /// <summary>Blocks per magazine: each thread caches at most two magazines of free blocks per class.</summary>
    public ulong MagazineCapacity;
    /// <summary>Blocks whose memory is committed, free or in flight.</summary>
    public ulong Capacity;
    /// <summary>Bytes of block memory committed.</summary>
    public ulong BytesCommitted;
    /// <summary>Messages acquired and not yet released.</summary>
    public ulong InFlight;
    /// <summary>Highest <see cref="InFlight"/> seen (exact with one thread; sampled at magazine exchanges with several).</summary>
    public ulong PeakInFlight;
    /// <summary>Committed blocks not in flight (retained, cached by threads, or never handed out).</summary>
    public ulong FreeBlocks;
    /// <summary>Successful acquisitions (created + reused).</summary>
    public ulong Acquisitions;
    /// <summary>Acquisitions served by a block handed out for the first time since its memory was committed.</summary>
    public ulong Created;
    /// <summary>Acquisitions served by a retained block.</summary>
    public ulong Reused;
    /// <summary>Successful releases (retained or discarded).</summary>
    public ulong Released;
    /// <summary>Releases found over the retention limit (see <see cref="MessagePool"/> for when their memory goes back).</summary>
    public ulong Discarded;
    /// <summary>Acquisitions refused (the class's address range is full, or the OS refused memory).</summary>
    public ulong FailedAcquisitions;
    /// <summary>Releases of blocks of this class that were not in flight.</summary>
    public ulong DoubleReleases;
    /// <summary>Releases of pointers in this class's address range that are not blocks of it.</summary>
    public ulong ForeignReleases;
    /// <summary>Releases of interior or misaligned pointers of this class.</summary>
    public ulong InvalidReleases;
    /// <summary>Chunks whose memory went back to the OS.</summary>
    public ulong ChunksReleased;
    /// <summary><see cref="Reused"/> / <see cref="Acquisitions"/>, 0 when nothing was acquired.</summary>
    public double ReuseRate;
}

/// <summary>A message pool's totals: every field shared with <see cref="MessageClassStats"/> is the sum over the classes.</summary>
public struct MessagePoolStats
{
    /// <summary>Size classes.</summary>
    public ulong ClassCount;
    /// <summary>Sum of the classes' committed blocks.</summary>
    public ulong Capacity;
    /// <summary>Sum of the classes' committed bytes.</summary>
    public ulong BytesCommitted;
    /// <summary>Messages in flight over all classes.</summary>
    public ulong InFlight;
    /// <summary>Sum of the classes' peaks: an upper bound of the most messages ever in flight at once.</summary>
    public ulong PeakInFlight;
    /// <summary>Sum of the classes' free blocks.</summary>
    public ulong FreeBlocks;
    /// <summary>Successful acquisitions.</summary>
    public ulong Acquisitions;
    /// <summary>Acquisitions served by fresh blocks.</summary>
    public ulong Created;
    /// <summary>Acquisitions served by retained blocks.</summary>
    public ulong Reused;
    /// <summary>Successful releases.</summary>
    public ulong Released;
    /// <summary>Releases found over their class's retention limit.</summary>
    public ulong Discarded;
    /// <summary>Acquisitions refused by a class (exhausted or out of memory); oversize requests are counted apart.</summary>
    public ulong FailedAcquisitions;
    /// <summary>Releases of blocks that were not in flight.</summary>
    public ulong DoubleReleases;
    /// <summary>Releases of pointers in a class's address range that are not blocks of it.</summary>
    public ulong ForeignReleases;
    /// <summary>Releases of interior or misaligned pointers.</summary>
    public ulong InvalidReleases;
    /// <summary>Chunks whose memory went back to the OS.</summary>
    public ulong ChunksReleased;
    /// <summary>Acquisitions refused because the size exceeds the largest class (totals only).</summary>
    public ulong OversizeAcquisitions;
    /// <summary>Releases of non-NULL pointers outside every class's address range (totals only).</summary>
    public ulong UnownedReleases;
    /// <summary><see cref="Reused"/> / <see cref="Acquisitions"/>, 0 when nothing was acquired.</summary>
    public double ReuseRate;
}
