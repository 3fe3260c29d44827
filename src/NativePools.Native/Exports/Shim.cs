using System;
using System.Text;
using NativePools.Diagnostics;

namespace NativePools.Native.Exports;

/// <summary>What every export shim shares: failure recording and exception mapping.</summary>
internal static unsafe class Shim
{
    /// <summary>Records a NULL argument failure.</summary>
    public static NpStatus Null(string argument) =>
        LastError.Set(NpStatus.NullPointer, "argument '{s}' is NULL", subject: argument);

    /// <summary>Records an invalid handle failure.</summary>
    public static NpStatus BadHandle(ulong handle, string kind) =>
        LastError.Set(NpStatus.InvalidHandle, "{x0} is not a live {s} handle (0, destroyed, stale or garbage)", handle, subject: kind);

    /// <summary>Records a struct_size the library does not know.</summary>
    public static NpStatus BadStructSize(string structName, uint given, int expected) =>
        LastError.Set(NpStatus.UnsupportedStructSize, "{s}.struct_size is {0}; this library knows {1}", given, expected, structName);

    /// <summary>Maps an exception that reached an export boundary; it must never escape (that aborts the host).</summary>
    public static NpStatus Caught(Exception e)
    {
        try
        {
            NpStatus status = e is OutOfMemoryException ? NpStatus.OutOfMemory : NpStatus.Internal;
            return LastError.Set(status, "{s}", subject: e.GetType().Name + ": " + e.Message);
        }
        catch
        {
            return NpStatus.Internal;
        }
    }

    /// <summary>Reads an optional NUL-terminated UTF-8 string (NULL gives null), at most 256 bytes.</summary>
    public static string? ReadName(byte* text)
    {
        if (text == null) return null;
        int length = 0;
        while (length < 256 && text[length] != 0) length++;
        return Encoding.UTF8.GetString(text, length);
    }
}
