using System;
using System.Runtime.InteropServices;
using System.Text;
using NativePools.Diagnostics;
using NativePools.Native.Abi;

namespace NativePools.Native.Exports;

/// <summary>Version, status text and the per-thread error detail.</summary>
[NativeExports("Version and status")]
public static unsafe class CommonExports
{
    /// <summary>The library's version as (major &lt;&lt; 16) | (minor &lt;&lt; 8) | patch; compare with NP_VERSION_NUMBER.</summary>
    /// <remarks>Thread-safe; never fails.</remarks>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_version")]
    public static uint Version() => VersionConstants.NP_VERSION_NUMBER;

    /// <summary>The library's version as a static string, e.g. "0.1.0".</summary>
    /// <remarks>Thread-safe; never fails; the string lives as long as the process.</remarks>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_version_string")]
    [return: NativeType("const char*")]
    public static byte* VersionString() => StatusText.Pointer(LibraryVersion.Utf8);

    /// <summary>The symbolic name of a status, e.g. "NP_E_DOUBLE_FREE"; "NP_E_UNKNOWN" for codes this library does not define.</summary>
    /// <param name="status">Any value.</param>
    /// <remarks>Thread-safe; never fails; the string is static.</remarks>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_status_name")]
    [return: NativeType("const char*")]
    public static byte* StatusName([NativeType("np_status")] int status) => StatusText.Pointer(StatusText.Name((NpStatus)status));

    /// <summary>A one-line English description of a status.</summary>
    /// <param name="status">Any value.</param>
    /// <remarks>Thread-safe; never fails; the string is static.</remarks>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_status_message")]
    [return: NativeType("const char*")]
    public static byte* StatusMessage([NativeType("np_status")] int status) => StatusText.Pointer(StatusText.Message((NpStatus)status));

    /// <summary>The status of the calling thread's most recent failure (NP_OK if none). Successful calls do not reset it.</summary>
    /// <remarks>Per OS thread. Runtimes that move a caller between threads (Dart isolates) should rely on returned statuses. On a thread that has begun to exit (thread_local or pthread key destructors), the failures of its calls since then.</remarks>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_last_error_status")]
    [NativeExitPhase("np_exit_phase_last_error_status")]
    [return: NativeType("np_status")]
    public static int LastErrorStatus() => (int)LastError.Status;

    /// <summary>
    /// Copies the calling thread's detail message for its most recent failure (which pool, which
    /// pointer, which limit) as NUL-terminated UTF-8, truncated to fit, like snprintf. The detail
    /// does not repeat the status name: print np_status_name(np_last_error_status()) beside it.
    /// </summary>
    /// <param name="buffer">Destination; may be NULL when capacity is 0.</param>
    /// <param name="capacity">Bytes available at buffer, including room for the NUL.</param>
    /// <returns>The full message length in bytes, without the NUL (0 when there was no failure).</returns>
    /// <remarks>Per OS thread; never fails. On a thread that has begun to exit, the detail of its failures since then.</remarks>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_last_error_message")]
    [NativeExitPhase("np_exit_phase_last_error_message")]
    public static nuint LastErrorMessage([NativeType("char*")] byte* buffer, nuint capacity)
    {
        try
        {
            byte[] text = Encoding.UTF8.GetBytes(LastError.Message);
            if (buffer != null && capacity > 0)
            {
                int copy = (int)Math.Min((nuint)text.Length, capacity - 1);
                text.AsSpan(0, copy).CopyTo(new Span<byte>(buffer, copy));
                buffer[copy] = 0;
            }
            return (nuint)text.Length;
        }
        catch
        {
            if (buffer != null && capacity > 0) buffer[0] = 0;
            return 0;
        }
    }
}
