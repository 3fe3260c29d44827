using System.Globalization;

namespace NativePools.Diagnostics;

/// <summary>
/// A number in a <see cref="LastError"/> detail message, with its signedness: values of unsigned
/// types (sizes, counts, options fields) print as unsigned, so a huge count never reads as a
/// negative one. Implicit from every integer type a caller has at hand; allocates nothing.
/// </summary>
internal readonly struct DetailArg
{
    private readonly ulong _bits;
    private readonly bool _unsigned;

    private DetailArg(ulong bits, bool isUnsigned)
    {
        _bits = bits;
        _unsigned = isUnsigned;
    }

    /// <summary>A signed value.</summary>
    public static implicit operator DetailArg(int value) => new((ulong)(long)value, false);
    /// <summary>A signed value.</summary>
    public static implicit operator DetailArg(long value) => new((ulong)value, false);
    /// <summary>A signed value (a pointer prints through {x0}).</summary>
    public static implicit operator DetailArg(nint value) => new((ulong)(long)value, false);
    /// <summary>An unsigned value.</summary>
    public static implicit operator DetailArg(uint value) => new(value, true);
    /// <summary>An unsigned value.</summary>
    public static implicit operator DetailArg(ulong value) => new(value, true);
    /// <summary>An unsigned value (a size).</summary>
    public static implicit operator DetailArg(nuint value) => new(value, true);

    /// <summary>The value in decimal, signed or unsigned as it was given.</summary>
    public string Decimal() =>
        _unsigned ? _bits.ToString(CultureInfo.InvariantCulture) : ((long)_bits).ToString(CultureInfo.InvariantCulture);

    /// <summary>The value's bits in hexadecimal, with a 0x prefix (addresses, handles, flag bits).</summary>
    public string Hex() => "0x" + _bits.ToString("x", CultureInfo.InvariantCulture);
}
