using System;
using System.Numerics;
using System.Threading;

namespace NativePools.Pools;

/// <summary>
/// Event counters split into per-thread stripes, each on its own 128-byte span, so threads
/// do not fight over one cache line on every operation. Reads sum the stripes. Lives in a
/// pinned array: it stays valid as long as its owner, with nothing to free.
/// </summary>
internal sealed unsafe class StripedCounters
{
    public const int Created = 0;
    public const int Reused = 1;
    public const int Frees = 2;
    public const int FailedAllocations = 3;
    public const int DoubleFrees = 4;
    public const int ForeignFrees = 5;
    public const int InvalidFrees = 6;
    public const int PoisonViolations = 7;
    private const int CountersPerStripe = 8;
    private const int LongsPerStripe = 16; // 128 bytes

    private readonly long[] _storage;
    private readonly long* _base;
    private readonly int _stripeMask;

    public StripedCounters()
    {
        int stripes = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(Environment.ProcessorCount * 4, 8, 64));
        _stripeMask = stripes - 1;
        // One spare stripe so the base can be rounded up to a 128-byte boundary.
        _storage = GC.AllocateArray<long>((stripes + 1) * LongsPerStripe, pinned: true);
        fixed (long* raw = _storage)
            _base = (long*)(((nuint)raw + 127) & ~(nuint)127);
    }

    public void Increment(int counter)
    {
        int stripe = Environment.CurrentManagedThreadId & _stripeMask;
        Interlocked.Increment(ref _base[stripe * LongsPerStripe + counter]);
    }

    public long Sum(int counter)
    {
        long total = 0;
        for (int s = 0; s <= _stripeMask; s++) total += Volatile.Read(ref _base[s * LongsPerStripe + counter]);
        return total;
    }

    public void Clear()
    {
        for (int s = 0; s <= _stripeMask; s++)
            for (int c = 0; c < CountersPerStripe; c++)
                Volatile.Write(ref _base[s * LongsPerStripe + c], 0);
    }
}

/// <summary>
/// A few shared words that every thread writes (free-list head, in-use count), each alone
/// on a 128-byte span (adjacent-line prefetch pairs 64-byte lines), in a pinned array so
/// the object's own read-mostly fields never share their lines.
/// </summary>
internal sealed unsafe class HotWords
{
    private const int LongsPerWord = 16;
    private readonly long[] _storage;
    private readonly long* _base;

    public HotWords(int count)
    {
        _storage = GC.AllocateArray<long>((count + 1) * LongsPerWord, pinned: true);
        fixed (long* raw = _storage)
            _base = (long*)(((nuint)raw + 127) & ~(nuint)127);
    }

    public long* this[int word] => _base + word * LongsPerWord;
}
