using System.Runtime.InteropServices;
using NativePools.Native.Abi;

[assembly: NativeTypedef("np_server", typeof(ulong), "Opaque handle of an IPC server; 0 is never valid.")]
[assembly: NativeTypedef("np_client", typeof(ulong), "Opaque handle of an IPC client connection; 0 is never valid.")]

namespace NativePools.Native.Abi;

/// <summary>IPC constants.</summary>
[NativeConstants]
public static class IpcConstants
{
    /// <summary>A timeout that never expires. A dead peer still ends the wait (NP_E_PEER_GONE).</summary>
    public const uint NP_WAIT_FOREVER = 0xFFFFFFFF;
    /// <summary>Longest route name in bytes (UTF-8, without the NUL).</summary>
    public const int NP_ROUTE_NAME_MAX = 56;
    /// <summary>Default largest message payload (1 MiB).</summary>
    public const uint NP_DEFAULT_MAX_MESSAGE_SIZE = 1u << 20;
    /// <summary>The largest max_message_size a server accepts (16 MiB).</summary>
    public const uint NP_MAX_MESSAGE_SIZE = 16u << 20;
}

/// <summary>How a server is shaped. Fill with np_server_options_init(), then set address and adjust.</summary>
[NativeStruct("np_server_options")]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct ServerOptionsAbi
{
    /// <summary>sizeof(np_server_options); set by np_server_options_init().</summary>
    public uint struct_size;
    /// <summary>Bytes of each ring (one per direction per connection), a power of two from 4096 to 2^30; 0 picks the smallest that holds two maximum messages.</summary>
    public uint ring_size;
    /// <summary>Largest request or response payload, from 4 (an error answer's status) to NP_MAX_MESSAGE_SIZE; 0 picks NP_DEFAULT_MAX_MESSAGE_SIZE.</summary>
    public uint max_message_size;
    /// <summary>Most connections at once (0 picks 1024); further clients get NP_E_SERVER_FULL.</summary>
    public uint max_clients;
    /// <summary>Threads that serve connections and run handlers; 0 picks 1.</summary>
    public uint worker_threads;
    /// <summary>Close connections without a request for this many ms; 0 never.</summary>
    public uint idle_timeout_ms;
    /// <summary>How long a waiting side (worker or client) spins before it parks, in µs; 0 picks 200. Keep it above the time a parked thread takes to wake here, or both sides fall into park/wake convoys. Clients that see slow answers spin only 2 µs.</summary>
    public uint spin_us;
    /// <summary>Most pull-mode requests received and not yet replied to; 0 picks 4096.</summary>
    public uint max_pending;
    /// <summary>Entries in allowed_uids.</summary>
    public uint allowed_uid_count;
    /// <summary>Reserved, set to 0.</summary>
    public uint reserved;
    /// <summary>Peer uids allowed besides the server's own (checked with SO_PEERCRED); NULL with count 0: own uid only.</summary>
    [NativeType("const uint32_t*")] public uint* allowed_uids;
    /// <summary>Required. A socket path whose directory is private (0700, created if missing), or "@name" in the abstract namespace.</summary>
    [NativeType("const char*")] public byte* address;
    /// <summary>Optional name for diagnostics; may be NULL.</summary>
    [NativeType("const char*")] public byte* name;
    /// <summary>Most pull-mode requests one client may have unanswered; 0 picks the smaller of 256 and max_pending. Beyond it the client's requests wait in its ring (client_limit_hits counts it).</summary>
    public uint max_client_pending;
    /// <summary>Most payload bytes of one client's unanswered pull-mode requests (one request always fits); 0 picks 16 MiB.</summary>
    public uint max_client_pending_bytes;
}

/// <summary>How a client connects. Fill with np_client_options_init(), then adjust.</summary>
[NativeStruct("np_client_options")]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct ClientOptionsAbi
{
    /// <summary>sizeof(np_client_options); set by np_client_options_init().</summary>
    public uint struct_size;
    /// <summary>Entries in allowed_server_uids.</summary>
    public uint allowed_server_uid_count;
    /// <summary>Server uids trusted besides the client's own (checked with SO_PEERCRED on the connected socket); NULL with count 0: own uid only.</summary>
    [NativeType("const uint32_t*")] public uint* allowed_server_uids;
}

/// <summary>A snapshot of a server's counters. Set struct_size = sizeof(np_server_stats) before the call.</summary>
[NativeStruct("np_server_stats")]
[StructLayout(LayoutKind.Sequential)]
public struct ServerStatsAbi
{
    /// <summary>sizeof(np_server_stats), set by the caller.</summary>
    public uint struct_size;
    /// <summary>Reserved, written as 0.</summary>
    public uint reserved;
    /// <summary>Clients connected now: a client that hung up or died stops counting at once, even while its handler still runs.</summary>
    public ulong connections_now;
    /// <summary>Most clients connected at once (at most max_clients).</summary>
    public ulong connections_peak;
    /// <summary>Connections accepted since start.</summary>
    public ulong connections_total;
    /// <summary>Connections refused at the handshake (uid not allowed, server full, no file descriptor left).</summary>
    public ulong connections_rejected;
    /// <summary>Requests read.</summary>
    public ulong requests;
    /// <summary>Responses written, error responses included.</summary>
    public ulong responses;
    /// <summary>Responses that carried an error status.</summary>
    public ulong error_responses;
    /// <summary>Request payload bytes.</summary>
    public ulong bytes_in;
    /// <summary>Response payload bytes.</summary>
    public ulong bytes_out;
    /// <summary>Connections dropped because the client broke the protocol (garbage in shared memory).</summary>
    public ulong protocol_errors;
    /// <summary>Handler calls that returned an error.</summary>
    public ulong handler_errors;
    /// <summary>Requests for route ids the server does not have.</summary>
    public ulong unknown_routes;
    /// <summary>Connections closed because the client hung up or died.</summary>
    public ulong peer_hangups;
    /// <summary>Connections closed by the idle timeout.</summary>
    public ulong idle_closed;
    /// <summary>Pull-mode requests received and not yet replied to.</summary>
    public ulong pending_requests;
    /// <summary>Message buffers the server took from its message pool for the first time.</summary>
    public ulong buffers_created;
    /// <summary>Message buffers taken again after a release (reuse).</summary>
    public ulong buffers_reused;
    /// <summary>Times a client reached its max_client_pending or max_client_pending_bytes (its further pull requests waited in its ring).</summary>
    public ulong client_limit_hits;
    /// <summary>Connections refused because the server had no file descriptor left for them (also in connections_rejected).</summary>
    public ulong refused_no_descriptor;
    /// <summary>Times the server paused accepting for a moment after an accept failure it could not answer.</summary>
    public ulong accept_backoffs;
}

/// <summary>A snapshot of one route's counters. Set struct_size = sizeof(np_route_stats) before the call.</summary>
[NativeStruct("np_route_stats")]
[StructLayout(LayoutKind.Sequential)]
public struct RouteStatsAbi
{
    /// <summary>sizeof(np_route_stats), set by the caller.</summary>
    public uint struct_size;
    /// <summary>The route these counters belong to.</summary>
    public uint route_id;
    /// <summary>Requests received.</summary>
    public ulong requests;
    /// <summary>Responses sent, error responses included.</summary>
    public ulong responses;
    /// <summary>Error responses.</summary>
    public ulong errors;
    /// <summary>Request payload bytes.</summary>
    public ulong bytes_in;
    /// <summary>Response payload bytes.</summary>
    public ulong bytes_out;
}

/// <summary>A pull-mode request as np_server_receive() hands it out. Set struct_size = sizeof(np_request) before the call.</summary>
[NativeStruct("np_request")]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct RequestAbi
{
    /// <summary>sizeof(np_request), set by the caller.</summary>
    public uint struct_size;
    /// <summary>The route the client called.</summary>
    public uint route_id;
    /// <summary>Pass to np_server_reply() or np_server_reply_error(), exactly once.</summary>
    public ulong token;
    /// <summary>The request payload, a private copy valid until the reply; the reply may reuse it as its own buffer.</summary>
    [NativeType("uint8_t*")] public byte* data;
    /// <summary>Payload bytes.</summary>
    public uint length;
    /// <summary>Reserved, written as 0.</summary>
    public uint reserved;
}
