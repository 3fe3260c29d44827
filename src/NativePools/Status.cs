using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NativePools;

/// <summary>
/// Outcome of every fallible operation. 0 is success, negatives are errors. The numeric
/// values are part of the C ABI (<c>np_status</c>): never renumber, only append.
/// </summary>
public enum NpStatus : int
{
    /// <summary>Success.</summary>
    Ok = 0,
    /// <summary>An argument is out of its documented range.</summary>
    InvalidArgument = -1,
    /// <summary>A required pointer argument is NULL.</summary>
    NullPointer = -2,
    /// <summary>The handle is 0, destroyed, stale or garbage.</summary>
    InvalidHandle = -3,
    /// <summary>The operating system refused memory (mmap/mprotect failed or address space is exhausted).</summary>
    OutOfMemory = -4,
    /// <summary>The pool holds its configured maximum number of blocks and all are in use.</summary>
    PoolExhausted = -5,
    /// <summary>The block is not currently allocated: freed twice, or never handed out.</summary>
    DoubleFree = -6,
    /// <summary>The pointer does not lie inside this pool's memory.</summary>
    ForeignPointer = -7,
    /// <summary>The pointer lies inside a block of this pool but not at its start.</summary>
    InteriorPointer = -8,
    /// <summary>The pointer lies inside this pool but is not aligned to the pool's alignment.</summary>
    MisalignedPointer = -9,
    /// <summary>An integrity check found the pool's metadata inconsistent.</summary>
    Corrupted = -10,
    /// <summary>The caller's buffer is too small; the call reports the size it needs. (Reserved for calls that fill caller buffers; no pool call returns it.)</summary>
    BufferTooSmall = -11,
    /// <summary>The <c>struct_size</c> field of an options or stats struct is not one this library knows.</summary>
    UnsupportedStructSize = -12,
    /// <summary>An unexpected internal failure; the detail message says more.</summary>
    Internal = -13,
    /// <summary>The operation did not complete within its timeout.</summary>
    Timeout = -14,
    /// <summary>The other process closed the connection or died.</summary>
    PeerGone = -15,
    /// <summary>The server is stopping or has stopped; the request was not (or will not be) served.</summary>
    Shutdown = -16,
    /// <summary>The message is larger than the connection's maximum message size.</summary>
    MessageTooLarge = -17,
    /// <summary>No route has this name or id.</summary>
    UnknownRoute = -18,
    /// <summary>The operating system or the server's policy refused access (uid not allowed, unsafe socket directory).</summary>
    PermissionDenied = -19,
    /// <summary>The server already serves its maximum number of clients.</summary>
    ServerFull = -20,
    /// <summary>The peer broke the protocol (malformed handshake or shared-memory contents); the connection was dropped.</summary>
    ProtocolError = -21,
    /// <summary>The call is not valid in the object's current state (e.g. adding a route after start, a call while responses are outstanding).</summary>
    InvalidState = -22,
    /// <summary>A system call failed; the detail message gives errno.</summary>
    IoError = -23,
    /// <summary>The server's handler (or a pull-mode reply) reported an error for this request; the detail message gives its status.</summary>
    HandlerFailed = -24,
    /// <summary>The address is already in use by a live server.</summary>
    AddressInUse = -25,
    /// <summary>The server's process runs under a uid this client does not trust (checked with SO_PEERCRED before any data is read).</summary>
    UntrustedPeer = -26,
}

/// <summary>Static, NUL-terminated UTF-8 names and messages of <see cref="NpStatus"/> values.</summary>
internal static unsafe class StatusText
{
    /// <summary>The lowest (most negative) status value defined.</summary>
    public const int MinStatus = (int)NpStatus.UntrustedPeer;

    /// <summary>The symbolic C name of a status, e.g. <c>NP_E_DOUBLE_FREE</c>.</summary>
    public static ReadOnlySpan<byte> Name(NpStatus status) => status switch
    {
        NpStatus.Ok => "NP_OK"u8,
        NpStatus.InvalidArgument => "NP_E_INVALID_ARGUMENT"u8,
        NpStatus.NullPointer => "NP_E_NULL_POINTER"u8,
        NpStatus.InvalidHandle => "NP_E_INVALID_HANDLE"u8,
        NpStatus.OutOfMemory => "NP_E_OUT_OF_MEMORY"u8,
        NpStatus.PoolExhausted => "NP_E_POOL_EXHAUSTED"u8,
        NpStatus.DoubleFree => "NP_E_DOUBLE_FREE"u8,
        NpStatus.ForeignPointer => "NP_E_FOREIGN_POINTER"u8,
        NpStatus.InteriorPointer => "NP_E_INTERIOR_POINTER"u8,
        NpStatus.MisalignedPointer => "NP_E_MISALIGNED_POINTER"u8,
        NpStatus.Corrupted => "NP_E_CORRUPTED"u8,
        NpStatus.BufferTooSmall => "NP_E_BUFFER_TOO_SMALL"u8,
        NpStatus.UnsupportedStructSize => "NP_E_UNSUPPORTED_STRUCT_SIZE"u8,
        NpStatus.Internal => "NP_E_INTERNAL"u8,
        NpStatus.Timeout => "NP_E_TIMEOUT"u8,
        NpStatus.PeerGone => "NP_E_PEER_GONE"u8,
        NpStatus.Shutdown => "NP_E_SHUTDOWN"u8,
        NpStatus.MessageTooLarge => "NP_E_MESSAGE_TOO_LARGE"u8,
        NpStatus.UnknownRoute => "NP_E_UNKNOWN_ROUTE"u8,
        NpStatus.PermissionDenied => "NP_E_PERMISSION_DENIED"u8,
        NpStatus.ServerFull => "NP_E_SERVER_FULL"u8,
        NpStatus.ProtocolError => "NP_E_PROTOCOL"u8,
        NpStatus.InvalidState => "NP_E_INVALID_STATE"u8,
        NpStatus.IoError => "NP_E_IO"u8,
        NpStatus.HandlerFailed => "NP_E_HANDLER_FAILED"u8,
        NpStatus.AddressInUse => "NP_E_ADDRESS_IN_USE"u8,
        NpStatus.UntrustedPeer => "NP_E_UNTRUSTED_PEER"u8,
        _ => "NP_E_UNKNOWN"u8,
    };

    /// <summary>A one-line English description of a status.</summary>
    public static ReadOnlySpan<byte> Message(NpStatus status) => status switch
    {
        NpStatus.Ok => "success"u8,
        NpStatus.InvalidArgument => "an argument is out of its documented range"u8,
        NpStatus.NullPointer => "a required pointer argument is NULL"u8,
        NpStatus.InvalidHandle => "the handle is 0, destroyed, stale or garbage"u8,
        NpStatus.OutOfMemory => "the operating system refused memory"u8,
        NpStatus.PoolExhausted => "the pool reached its maximum number of blocks and all are in use"u8,
        NpStatus.DoubleFree => "the block is not allocated (double free, or never handed out)"u8,
        NpStatus.ForeignPointer => "the pointer does not belong to this pool"u8,
        NpStatus.InteriorPointer => "the pointer is inside a block but not at its start"u8,
        NpStatus.MisalignedPointer => "the pointer is not aligned to the pool's alignment"u8,
        NpStatus.Corrupted => "an integrity check found inconsistent pool metadata"u8,
        NpStatus.BufferTooSmall => "the buffer is too small; the call reports the size needed"u8,
        NpStatus.UnsupportedStructSize => "the struct_size field is not a size this library knows"u8,
        NpStatus.Internal => "an unexpected internal failure"u8,
        NpStatus.Timeout => "the operation did not complete within its timeout"u8,
        NpStatus.PeerGone => "the other process closed the connection or died"u8,
        NpStatus.Shutdown => "the server is stopping or has stopped"u8,
        NpStatus.MessageTooLarge => "the message is larger than the maximum message size"u8,
        NpStatus.UnknownRoute => "no route has this name or id"u8,
        NpStatus.PermissionDenied => "access refused (uid not allowed, or an unsafe socket directory)"u8,
        NpStatus.ServerFull => "the server serves its maximum number of clients"u8,
        NpStatus.ProtocolError => "the peer broke the protocol; the connection was dropped"u8,
        NpStatus.InvalidState => "the call is not valid in the object's current state"u8,
        NpStatus.IoError => "a system call failed"u8,
        NpStatus.HandlerFailed => "the server's handler reported an error for this request"u8,
        NpStatus.AddressInUse => "the address is already in use by a live server"u8,
        NpStatus.UntrustedPeer => "the server runs under a uid this client does not trust"u8,
        _ => "unknown status code"u8,
    };

    /// <summary>
    /// Pointer to a static NUL-terminated string. C# UTF-8 literals live in the image's read-only
    /// data and carry a hidden terminating NUL, so the pointer stays valid for the process's life.
    /// </summary>
    public static byte* Pointer(ReadOnlySpan<byte> literal) =>
        (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(literal));

    /// <summary>Managed string form of <see cref="Name"/>, for exception messages and tests.</summary>
    public static string NameString(NpStatus status) => System.Text.Encoding.UTF8.GetString(Name(status));
}
