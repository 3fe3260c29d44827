using System;
using System.Runtime.InteropServices;
using NativePools.Handles;
using NativePools.Ipc;
using NativePools.Native.Abi;

namespace NativePools.Native.Exports;

/// <summary>
/// IPC clients. A client handle may be used from several threads: its calls take the client's
/// lock and run one at a time (open one client per thread for parallel calls, or pipeline with
/// np_client_send()/np_client_receive()). A call or send waiting for its answer or for ring
/// room holds the lock while it waits. np_client_close() must not race with other calls on
/// the same client. No call makes a syscall while the server keeps up (spin, then park).
/// </summary>
[NativeExports("IPC clients")]
public static unsafe class ClientExports
{
    internal static readonly HandleTable<IpcClient> Clients = new(kind: 5);

    /// <summary>Connects to a server, retrying while nobody listens at the address yet, until timeout_ms. Only a server running under the client's own uid is trusted (np_client_connect_with() allows others).</summary>
    /// <param name="address">The server's socket path, or "@name" for the abstract namespace.</param>
    /// <param name="timeout_ms">Longest wait for the server to accept and complete the handshake; 0 tries once.</param>
    /// <param name="client">Receives the new handle (0 on failure).</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_INVALID_ARGUMENT for a bad address; NP_E_TIMEOUT (also when nothing listens at the address in time); NP_E_PEER_GONE when the server closed during the handshake (it is stopping); NP_E_SHUTDOWN; NP_E_PERMISSION_DENIED (uid not allowed); NP_E_SERVER_FULL; NP_E_UNTRUSTED_PEER when the server runs under another uid; NP_E_PROTOCOL when the server's handshake or memory is malformed; NP_E_OUT_OF_MEMORY; NP_E_IO when this process or the server has no file descriptor left for the connection (the detail message says which) or another system call fails.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_client_connect")]
    [return: NativeType("np_status")]
    public static int Connect([NativeType("const char*")] byte* address, uint timeout_ms, [NativeType("np_client*")] ulong* client)
    {
        try
        {
            if (client == null) return (int)Shim.Null(nameof(client));
            *client = 0;
            if (address == null) return (int)Shim.Null(nameof(address));
            return ConnectCore(address, timeout_ms, null, client);
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Fills client options with defaults (trust only servers of the client's own uid).</summary>
    /// <param name="options">The struct to fill; struct_size is set to sizeof(np_client_options).</param>
    /// <returns>NP_OK, or NP_E_NULL_POINTER.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_client_options_init")]
    [return: NativeType("np_status")]
    public static int OptionsInit([NativeType("np_client_options*")] ClientOptionsAbi* options)
    {
        if (options == null) return (int)Shim.Null(nameof(options));
        *options = default;
        options->struct_size = (uint)sizeof(ClientOptionsAbi);
        return (int)NpStatus.Ok;
    }

    /// <summary>As np_client_connect(), with options: the server may also run under one of options->allowed_server_uids.</summary>
    /// <param name="address">The server's socket path, or "@name" for the abstract namespace.</param>
    /// <param name="timeout_ms">Longest wait for the server to accept and complete the handshake; 0 tries once.</param>
    /// <param name="options">From np_client_options_init(); struct_size must be sizeof(np_client_options).</param>
    /// <param name="client">Receives the new handle (0 on failure).</param>
    /// <returns>As np_client_connect(); NP_E_UNSUPPORTED_STRUCT_SIZE; NP_E_INVALID_ARGUMENT for more than 1024 allowed uids.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_client_connect_with")]
    [return: NativeType("np_status")]
    public static int ConnectWith([NativeType("const char*")] byte* address, uint timeout_ms,
        [NativeType("const np_client_options*")] ClientOptionsAbi* options, [NativeType("np_client*")] ulong* client)
    {
        try
        {
            if (client == null) return (int)Shim.Null(nameof(client));
            *client = 0;
            if (address == null) return (int)Shim.Null(nameof(address));
            if (options == null) return (int)Shim.Null(nameof(options));
            if (options->struct_size != sizeof(ClientOptionsAbi))
                return (int)Shim.BadStructSize("np_client_options", options->struct_size, sizeof(ClientOptionsAbi));
            if (options->allowed_server_uid_count > 1024)
                return (int)Diagnostics.LastError.Set(NpStatus.InvalidArgument, "allowed_server_uid_count {0} is above 1024", options->allowed_server_uid_count);
            if (options->allowed_server_uid_count > 0 && options->allowed_server_uids == null) return (int)Shim.Null("allowed_server_uids");
            uint[] allowed = new ReadOnlySpan<uint>(options->allowed_server_uids, (int)options->allowed_server_uid_count).ToArray();
            return ConnectCore(address, timeout_ms, allowed, client);
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Connects and registers the handle; the callers catch.</summary>
    private static int ConnectCore(byte* address, uint timeout_ms, uint[]? allowedServerUids, ulong* client)
    {
        NpStatus status = IpcClient.Connect(Shim.ReadName(address), timeout_ms, allowedServerUids, out IpcClient? created);
        if (status != NpStatus.Ok) return (int)status;
        ulong handle = Clients.Add(created!);
        if (handle == 0)
        {
            created!.Dispose();
            return (int)Diagnostics.LastError.Set(NpStatus.OutOfMemory, "too many live clients");
        }
        *client = handle;
        return (int)NpStatus.Ok;
    }

    /// <summary>Closes the connection; the server sees the hang-up at once. Closing 0 is a no-op.</summary>
    /// <param name="client">The client, or 0.</param>
    /// <returns>NP_OK; NP_E_INVALID_HANDLE.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_client_close")]
    [return: NativeType("np_status")]
    public static int Close([NativeType("np_client")] ulong client)
    {
        try
        {
            if (client == 0) return (int)NpStatus.Ok;
            IpcClient? c = Clients.Remove(client);
            if (c is null) return (int)Shim.BadHandle(client, "client");
            c.Dispose();
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Finds a route's id by name (a local lookup in the table the server shared at connect). Resolve once, call many times.</summary>
    /// <param name="client">The client.</param>
    /// <param name="name">The route name.</param>
    /// <param name="route_id">Receives the id.</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_INVALID_HANDLE; NP_E_UNKNOWN_ROUTE.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_client_resolve")]
    [return: NativeType("np_status")]
    public static int Resolve([NativeType("np_client")] ulong client, [NativeType("const char*")] byte* name, uint* route_id)
    {
        try
        {
            if (route_id == null) return (int)Shim.Null(nameof(route_id));
            *route_id = 0;
            if (name == null) return (int)Shim.Null(nameof(name));
            IpcClient? c = Clients.Get(client);
            if (c is null) return (int)Shim.BadHandle(client, "client");
            NpStatus status = c.Resolve(Shim.ReadName(name), out uint id);
            *route_id = id;
            return (int)status;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>
    /// Sends a request and waits for its response. The response is copied into the caller's
    /// buffer; when it does not fit, the call returns NP_E_BUFFER_TOO_SMALL with the size needed
    /// in response_length and the response stays queued for np_client_receive().
    /// </summary>
    /// <param name="client">The client.</param>
    /// <param name="route_id">From np_client_resolve().</param>
    /// <param name="request">Request payload; NULL only with length 0.</param>
    /// <param name="request_length">Payload bytes, at most the server's maximum message size.</param>
    /// <param name="response">Buffer for the response payload (NULL with capacity 0 for empty responses).</param>
    /// <param name="response_capacity">Bytes the buffer holds.</param>
    /// <param name="response_length">Receives the response's length (or the size needed).</param>
    /// <param name="timeout_ms">Longest wait for room and response; 0 returns NP_E_TIMEOUT unless the answer is immediate; NP_WAIT_FOREVER.</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_INVALID_HANDLE; NP_E_UNKNOWN_ROUTE (a route id out of range, or the server has no such route); NP_E_MESSAGE_TOO_LARGE; NP_E_BUFFER_TOO_SMALL; NP_E_TIMEOUT (a late response is dropped); NP_E_HANDLER_FAILED (whatever status the handler or the reply chose; the detail message names it); NP_E_OUT_OF_MEMORY when the server had no memory for the request; NP_E_PEER_GONE; NP_E_SHUTDOWN; NP_E_PROTOCOL when the server broke the protocol (then on every later call); NP_E_INVALID_STATE while pipelined responses are outstanding or a claim is open.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_client_call")]
    [return: NativeType("np_status")]
    public static int Call([NativeType("np_client")] ulong client, uint route_id, [NativeType("const void*")] void* request, uint request_length,
        void* response, uint response_capacity, uint* response_length, uint timeout_ms)
    {
        try
        {
            if (response_length == null) return (int)Shim.Null(nameof(response_length));
            *response_length = 0;
            if (request == null && request_length > 0) return (int)Shim.Null(nameof(request));
            if (response == null && response_capacity > 0) return (int)Shim.Null(nameof(response));
            IpcClient? c = Clients.Get(client);
            if (c is null) return (int)Shim.BadHandle(client, "client");
            NpStatus status = c.Call(route_id, (byte*)request, request_length, (byte*)response, response_capacity, out uint length, timeout_ms);
            *response_length = length;
            return (int)status;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Sends a request without waiting for the response (pipelining: many may be in flight). Waits only for ring room.</summary>
    /// <param name="client">The client.</param>
    /// <param name="route_id">From np_client_resolve().</param>
    /// <param name="request">Request payload; NULL only with length 0.</param>
    /// <param name="request_length">Payload bytes.</param>
    /// <param name="request_id">Receives the id its response will carry.</param>
    /// <param name="timeout_ms">Longest wait for ring room.</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_INVALID_HANDLE; NP_E_UNKNOWN_ROUTE; NP_E_MESSAGE_TOO_LARGE; NP_E_TIMEOUT; NP_E_PEER_GONE; NP_E_SHUTDOWN; NP_E_PROTOCOL when the server broke the protocol; NP_E_INVALID_STATE while a claim is open.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_client_send")]
    [return: NativeType("np_status")]
    public static int Send([NativeType("np_client")] ulong client, uint route_id, [NativeType("const void*")] void* request, uint request_length,
        ulong* request_id, uint timeout_ms)
    {
        try
        {
            if (request_id == null) return (int)Shim.Null(nameof(request_id));
            *request_id = 0;
            if (request == null && request_length > 0) return (int)Shim.Null(nameof(request));
            IpcClient? c = Clients.Get(client);
            if (c is null) return (int)Shim.BadHandle(client, "client");
            NpStatus status = c.Send(route_id, (byte*)request, request_length, out ulong id, timeout_ms);
            *request_id = id;
            return (int)status;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>
    /// Receives the next response to a sent (or claimed and committed) request, in the order the
    /// server answered. An error response returns its status with request_id set.
    /// </summary>
    /// <param name="client">The client.</param>
    /// <param name="request_id">Receives the id of the request this answers.</param>
    /// <param name="response">Buffer for the payload.</param>
    /// <param name="response_capacity">Bytes the buffer holds.</param>
    /// <param name="response_length">Receives the payload length (or the size needed).</param>
    /// <param name="timeout_ms">Longest wait.</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_INVALID_HANDLE; NP_E_BUFFER_TOO_SMALL (stays queued); NP_E_TIMEOUT; NP_E_HANDLER_FAILED (whatever status the handler or the reply chose; the detail message names it); NP_E_UNKNOWN_ROUTE when the server has no such route; NP_E_OUT_OF_MEMORY when the server had no memory for the request; NP_E_PEER_GONE; NP_E_SHUTDOWN; NP_E_PROTOCOL when the server broke the protocol; NP_E_INVALID_STATE when nothing is outstanding. Each error answer sets request_id.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_client_receive")]
    [return: NativeType("np_status")]
    public static int Receive([NativeType("np_client")] ulong client, ulong* request_id, void* response, uint response_capacity,
        uint* response_length, uint timeout_ms)
    {
        try
        {
            if (request_id == null) return (int)Shim.Null(nameof(request_id));
            if (response_length == null) return (int)Shim.Null(nameof(response_length));
            *request_id = 0;
            *response_length = 0;
            if (response == null && response_capacity > 0) return (int)Shim.Null(nameof(response));
            IpcClient? c = Clients.Get(client);
            if (c is null) return (int)Shim.BadHandle(client, "client");
            NpStatus status = c.Receive(out ulong id, (byte*)response, response_capacity, out uint length, timeout_ms);
            *request_id = id;
            *response_length = length;
            return (int)status;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>
    /// Zero copy: reserves room for a request of up to length bytes directly in the shared ring
    /// and returns where to write it. Publish with np_client_commit() or give up with np_client_abort().
    /// </summary>
    /// <param name="client">The client.</param>
    /// <param name="route_id">From np_client_resolve().</param>
    /// <param name="length">Most bytes the request will have.</param>
    /// <param name="buffer">Receives the place to write the payload, valid until commit or abort.</param>
    /// <param name="timeout_ms">Longest wait for ring room.</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_INVALID_HANDLE; NP_E_UNKNOWN_ROUTE; NP_E_MESSAGE_TOO_LARGE; NP_E_TIMEOUT; NP_E_PEER_GONE; NP_E_SHUTDOWN; NP_E_PROTOCOL when the server broke the protocol; NP_E_INVALID_STATE when a claim is already open.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_client_claim")]
    [return: NativeType("np_status")]
    public static int Claim([NativeType("np_client")] ulong client, uint route_id, uint length, void** buffer, uint timeout_ms)
    {
        try
        {
            if (buffer == null) return (int)Shim.Null(nameof(buffer));
            *buffer = null;
            IpcClient? c = Clients.Get(client);
            if (c is null) return (int)Shim.BadHandle(client, "client");
            NpStatus status = c.Claim(route_id, length, out byte* b, timeout_ms);
            *buffer = b;
            return (int)status;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Publishes the claimed request with its final length; receive its response with np_client_receive().</summary>
    /// <param name="client">The client.</param>
    /// <param name="length">Final payload bytes, at most the claimed length.</param>
    /// <param name="request_id">Receives the id its response will carry.</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_INVALID_HANDLE; NP_E_INVALID_ARGUMENT when length exceeds the claim; NP_E_INVALID_STATE without an open claim.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_client_commit")]
    [return: NativeType("np_status")]
    public static int Commit([NativeType("np_client")] ulong client, uint length, ulong* request_id)
    {
        try
        {
            if (request_id == null) return (int)Shim.Null(nameof(request_id));
            *request_id = 0;
            IpcClient? c = Clients.Get(client);
            if (c is null) return (int)Shim.BadHandle(client, "client");
            NpStatus status = c.Commit(length, out ulong id);
            *request_id = id;
            return (int)status;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Gives up an open claim; nothing is sent.</summary>
    /// <param name="client">The client.</param>
    /// <returns>NP_OK; NP_E_INVALID_HANDLE; NP_E_INVALID_STATE without an open claim.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_client_abort")]
    [return: NativeType("np_status")]
    public static int Abort([NativeType("np_client")] ulong client)
    {
        try
        {
            IpcClient? c = Clients.Get(client);
            if (c is null) return (int)Shim.BadHandle(client, "client");
            return (int)c.Abort();
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>The largest request or response payload this connection carries.</summary>
    /// <param name="client">The client.</param>
    /// <param name="max_message_size">Receives the size.</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_INVALID_HANDLE.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_client_max_message_size")]
    [return: NativeType("np_status")]
    public static int MaxMessageSize([NativeType("np_client")] ulong client, uint* max_message_size)
    {
        try
        {
            if (max_message_size == null) return (int)Shim.Null(nameof(max_message_size));
            *max_message_size = 0;
            IpcClient? c = Clients.Get(client);
            if (c is null) return (int)Shim.BadHandle(client, "client");
            *max_message_size = c.MaxMessageSize;
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }
}
