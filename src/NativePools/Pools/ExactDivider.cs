using System.Numerics;
using System.Runtime.CompilerServices;

namespace NativePools.Pools;

/// <summary>
/// Division by a fixed divisor that only has to be right when the dividend is an exact
/// multiple, with the multiple-test for free: one multiply and one rotate instead of a 64-bit
/// <c>div</c> (tens of cycles). For d = odd · 2^k, x · inverse(odd) mod 2^64 rotated right by k
/// is the exact quotient for multiples of d, and larger than (2^64 - 1) / d for anything else
/// (Granlund and Montgomery 1994; Lemire et al. 2019).
/// </summary>
internal readonly struct ExactDivider
{
    // Read by the export layer's C fast path too (see ThreadCacheState.Layout).
    internal readonly ulong Inverse;
    internal readonly int Shift;

    public ExactDivider(ulong divisor)
    {
        Shift = BitOperations.TrailingZeroCount(divisor);
        ulong odd = divisor >> Shift;
        // Newton's iteration doubles the correct low bits each step: 3 → 6 → 12 → 24 → 48 → 96.
        ulong inverse = odd;
        for (int i = 0; i < 5; i++) inverse *= 2 - odd * inverse;
        Inverse = inverse;
    }

    /// <summary>
    /// The quotient when <paramref name="dividend"/> is a multiple of the divisor; otherwise a
    /// value larger than any quotient of a multiple below 2^64, so a bound check rejects it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong QuotientIfExact(ulong dividend) => BitOperations.RotateRight(dividend * Inverse, Shift);
}
