using System.Runtime.InteropServices;

namespace NativePools.Tests.Native;

// The IPC part of the C ABI (servers and clients), declared as the header declares it
// (blittable only: np_server and np_client = ulong, np_handler_fn = an unmanaged function
// pointer with the typedef's exact signature), in the same partial NativeApi and namespace as
// the pool parts, so AbiLayoutTests compares these declarations and structs with
// native-headers/nativepools.h too.

public static unsafe partial class NativeApi
{
    [LibraryImport(Library)] public static partial int np_server_options_init(NpServerOptions* options);
    [LibraryImport(Library)] public static partial int np_server_create(NpServerOptions* options, ulong* server);
    [LibraryImport(Library)]
    public static partial int np_server_add_route(ulong server, byte* name,
        delegate* unmanaged<void*, uint, byte*, uint, byte*, uint, uint*, int> handler, void* user_data, uint* route_id);
    [LibraryImport(Library)] public static partial int np_server_start(ulong server);
    [LibraryImport(Library)] public static partial int np_server_stop(ulong server, uint drain_timeout_ms);
    [LibraryImport(Library)] public static partial int np_server_destroy(ulong server);
    [LibraryImport(Library)] public static partial int np_server_get_stats(ulong server, NpServerStats* stats);
    [LibraryImport(Library)] public static partial int np_server_get_route_stats(ulong server, uint route_id, NpRouteStats* stats);
    [LibraryImport(Library)] public static partial int np_server_receive(ulong server, uint timeout_ms, NpRequest* request);
    [LibraryImport(Library)] public static partial int np_server_reply(ulong server, ulong token, void* data, uint length);
    [LibraryImport(Library)] public static partial int np_server_reply_error(ulong server, ulong token, int status);

    [LibraryImport(Library)] public static partial int np_client_connect(byte* address, uint timeout_ms, ulong* client);
    [LibraryImport(Library)] public static partial int np_client_options_init(NpClientOptions* options);
    [LibraryImport(Library)] public static partial int np_client_connect_with(byte* address, uint timeout_ms, NpClientOptions* options, ulong* client);
    [LibraryImport(Library)] public static partial int np_client_close(ulong client);
    [LibraryImport(Library)] public static partial int np_client_resolve(ulong client, byte* name, uint* route_id);
    [LibraryImport(Library)]
    public static partial int np_client_call(ulong client, uint route_id, void* request, uint request_length,
        void* response, uint response_capacity, uint* response_length, uint timeout_ms);
    [LibraryImport(Library)] public static partial int np_client_send(ulong client, uint route_id, void* request, uint request_length, ulong* request_id, uint timeout_ms);
    [LibraryImport(Library)]
    public static partial int np_client_receive(ulong client, ulong* request_id, void* response, uint response_capacity,
        uint* response_length, uint timeout_ms);
    [LibraryImport(Library)] public static partial int np_client_claim(ulong client, uint route_id, uint length, void** buffer, uint timeout_ms);
    [LibraryImport(Library)] public static partial int np_client_commit(ulong client, uint length, ulong* request_id);
    [LibraryImport(Library)] public static partial int np_client_abort(ulong client);
    [LibraryImport(Library)] public static partial int np_client_max_message_size(ulong client, uint* max_message_size);
}

/// <summary>np_server_options.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct NpServerOptions
{
    public uint struct_size;
    public uint ring_size;
    public uint max_message_size;
    public uint max_clients;
    public uint worker_threads;
    public uint idle_timeout_ms;
    public uint spin_us;
    public uint max_pending;
    public uint allowed_uid_count;
    public uint reserved;
    public uint* allowed_uids;
    public byte* address;
    public byte* name;
    public uint max_client_pending;
    public uint max_client_pending_bytes;
}

/// <summary>np_client_options.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct NpClientOptions
{
    public uint struct_size;
    public uint allowed_server_uid_count;
    public uint* allowed_server_uids;
}

/// <summary>np_server_stats.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct NpServerStats
{
    public uint struct_size;
    public uint reserved;
    public ulong connections_now;
    public ulong connections_peak;
    public ulong connections_total;
    public ulong connections_rejected;
    public ulong requests;
    public ulong responses;
    public ulong error_responses;
    public ulong bytes_in;
    public ulong bytes_out;
    public ulong protocol_errors;
    public ulong handler_errors;
    public ulong unknown_routes;
    public ulong peer_hangups;
    public ulong idle_closed;
    public ulong pending_requests;
    public ulong buffers_created;
    public ulong buffers_reused;
    public ulong client_limit_hits;
    public ulong refused_no_descriptor;
    public ulong accept_backoffs;
}

/// <summary>np_route_stats.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct NpRouteStats
{
    public uint struct_size;
    public uint route_id;
    public ulong requests;
    public ulong responses;
    public ulong errors;
    public ulong bytes_in;
    public ulong bytes_out;
}

/// <summary>np_request.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct NpRequest
{
    public uint struct_size;
    public uint route_id;
    public ulong token;
    public byte* data;
    public uint length;
    public uint reserved;
}

/// <summary>The IPC constants (NP_WAIT_FOREVER and friends), as the header defines them.</summary>
public static class NpIpcConstants
{
    public const uint NP_WAIT_FOREVER = 4294967295U;
    public const uint NP_ROUTE_NAME_MAX = 56;
    public const uint NP_DEFAULT_MAX_MESSAGE_SIZE = 1048576U;
}
