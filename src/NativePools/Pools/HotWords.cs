using System;

namespace NativePools.Pools;

/// <summary>
/// A few shared words that threads read or write often, each alone
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
