using System;
using System.Runtime.InteropServices;

namespace NativePools.Tests.Support;

/// <summary>
/// Fills a block with bytes derived from a 64-bit tag and checks them later, usually on
/// another thread. Two live blocks that overlapped, a block handed out twice, or a write by
/// the pool into a live block all show up as a mismatch.
/// </summary>
public static unsafe class BlockPattern
{
    /// <summary>Writes the pattern of <paramref name="tag"/> over all <paramref name="size"/> bytes.</summary>
    public static void Write(nint block, int size, ulong tag)
    {
        var span = new Span<byte>((void*)block, size);
        span.Fill(FillByte(tag));
        // The tag itself at both ends catches blocks whose fill byte happens to agree.
        if (size >= 2 * sizeof(ulong))
        {
            MemoryMarshal.Write(span, in tag);
            MemoryMarshal.Write(span[(size - sizeof(ulong))..], in tag);
        }
    }

    /// <summary>True when the block still holds exactly the pattern of <paramref name="tag"/>.</summary>
    public static bool Matches(nint block, int size, ulong tag)
    {
        var span = new ReadOnlySpan<byte>((void*)block, size);
        if (size < 2 * sizeof(ulong)) return span.IndexOfAnyExcept(FillByte(tag)) < 0;
        return MemoryMarshal.Read<ulong>(span) == tag
            && MemoryMarshal.Read<ulong>(span[(size - sizeof(ulong))..]) == tag
            && span[sizeof(ulong)..(size - sizeof(ulong))].IndexOfAnyExcept(FillByte(tag)) < 0;
    }

    /// <summary>True when every byte of the block is <paramref name="value"/>.</summary>
    public static bool AllBytesAre(nint block, int size, byte value) =>
        new ReadOnlySpan<byte>((void*)block, size).IndexOfAnyExcept(value) < 0;

    /// <summary>A tag unique to (thread, sequence number).</summary>
    public static ulong Tag(int thread, long sequence) => ((ulong)(uint)thread << 40) ^ (ulong)sequence ^ 0x5A00_0000_0000_0000UL;

    // Never 0 (fresh memory) nor 0xDE (poison), so neither can pass for a written block.
    private static byte FillByte(ulong tag)
    {
        byte b = (byte)(tag * 0x9E3779B97F4A7C15UL >> 56);
        return b is 0 or 0xDE ? (byte)0x5A : b;
    }
}
