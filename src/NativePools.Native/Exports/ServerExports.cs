using System;
using System.Runtime.InteropServices;
using NativePools.Handles;
using NativePools.Ipc;
using NativePools.Native.Abi;

namespace NativePools.Native.Exports;

/// <summary>
/// IPC servers: request/response over per-connection shared-memory rings, with a Unix-socket
/// handshake. Handler routes run a C callback on the server's worker threads; pull routes
/// queue requests for np_server_receive() on any thread. Unless a function says otherwise it may
/// be called from any thread; np_server_stop() and np_server_destroy() must not be called from
/// a handler of the same server, nor race with other calls on it.
/// </summary>
[NativeExports("IPC servers")]
public static unsafe class ServerExports
{
    internal static readonly HandleTable<IpcServer> Servers = new(kind: 4);

    /// <summary>sizeof(np_server_options) before max_client_pending and max_client_pending_bytes were appended.</summary>
    private const int OptionsSizeBeforeClientBounds = 64;
    /// <summary>sizeof(np_server_stats) before client_limit_hits, refused_no_descriptor and accept_backoffs were appended.</summary>
    private const int StatsSizeBeforeClientBounds = 144;

    /// <summary>Fills options with defaults (every size 0 = its default); the address must still be set.</summary>
    /// <param name="options">The struct to fill; struct_size is set to sizeof(np_server_options).</param>
    /// <returns>NP_OK, or NP_E_NULL_POINTER.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_server_options_init")]
    [return: NativeType("np_status")]
    public static int OptionsInit([NativeType("np_server_options*")] ServerOptionsAbi* options)
    {
        if (options == null) return (int)Shim.Null(nameof(options));
        *options = default;
        options->struct_size = (uint)sizeof(ServerOptionsAbi);
        return (int)NpStatus.Ok;
    }

    /// <summary>Creates a stopped server: add routes, then np_server_start().</summary>
    /// <param name="options">Shape of the server; struct_size must be sizeof(np_server_options) (or the size of an older version of it).</param>
    /// <param name="server">Receives the new handle (0 on failure).</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_UNSUPPORTED_STRUCT_SIZE; NP_E_INVALID_ARGUMENT for a missing or too long address or sizes out of range; NP_E_OUT_OF_MEMORY.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_server_create")]
    [return: NativeType("np_status")]
    public static int Create([NativeType("const np_server_options*")] ServerOptionsAbi* options, [NativeType("np_server*")] ulong* server)
    {
        try
        {
            if (server == null) return (int)Shim.Null(nameof(server));
            *server = 0;
            if (options == null) return (int)Shim.Null(nameof(options));
            // Older callers pass the struct without the fields appended since; those take their defaults.
            bool current = options->struct_size == sizeof(ServerOptionsAbi);
            if (!current && options->struct_size != OptionsSizeBeforeClientBounds)
                return (int)Shim.BadStructSize("np_server_options", options->struct_size, sizeof(ServerOptionsAbi));
            if (options->allowed_uid_count > 1024)
                return (int)Diagnostics.LastError.Set(NpStatus.InvalidArgument, "allowed_uid_count {0} is above 1024", options->allowed_uid_count);
            if (options->allowed_uid_count > 0 && options->allowed_uids == null) return (int)Shim.Null("allowed_uids");
            var o = new IpcServerOptions
            {
                Address = Shim.ReadName(options->address),
                RingSize = options->ring_size,
                MaxMessageSize = options->max_message_size,
                MaxClients = (int)Math.Min(options->max_clients, int.MaxValue),
                WorkerThreads = (int)Math.Min(options->worker_threads, int.MaxValue),
                IdleTimeoutMs = options->idle_timeout_ms,
                SpinMicroseconds = options->spin_us,
                MaxPending = (int)Math.Min(options->max_pending, int.MaxValue),
                AllowedUids = new ReadOnlySpan<uint>(options->allowed_uids, (int)options->allowed_uid_count).ToArray(),
                Name = Shim.ReadName(options->name),
                MaxClientPending = current ? (int)Math.Min(options->max_client_pending, int.MaxValue) : 0,
                MaxClientPendingBytes = current ? options->max_client_pending_bytes : 0,
            };
            NpStatus status = IpcServer.Create(o, out IpcServer? created);
            if (status != NpStatus.Ok) return (int)status;
            ulong handle = Servers.Add(created!);
            if (handle == 0)
            {
                created!.Dispose();
                return (int)Diagnostics.LastError.Set(NpStatus.OutOfMemory, "too many live servers");
            }
            *server = handle;
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>
    /// Registers a named route before np_server_start(). With a handler, requests run it on a
    /// worker thread; with handler NULL the route is pull-mode (np_server_receive()).
    /// </summary>
    /// <param name="server">The server.</param>
    /// <param name="name">Route name, 1 to NP_ROUTE_NAME_MAX bytes of UTF-8, unique in the server.</param>
    /// <param name="handler">The handler, or NULL for a pull route.</param>
    /// <param name="user_data">Passed to every handler call as is.</param>
    /// <param name="route_id">Receives the route's id (1, 2, ... in registration order); clients find it with np_client_resolve().</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_INVALID_HANDLE; NP_E_INVALID_ARGUMENT for an empty, too long or duplicate name; NP_E_INVALID_STATE after start.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_server_add_route")]
    [return: NativeType("np_status")]
    public static int AddRoute([NativeType("np_server")] ulong server, [NativeType("const char*")] byte* name,
        [NativeType("np_handler_fn")] nint handler, void* user_data, uint* route_id)
    {
        try
        {
            if (route_id == null) return (int)Shim.Null(nameof(route_id));
            *route_id = 0;
            if (name == null) return (int)Shim.Null(nameof(name));
            IpcServer? s = Servers.Get(server);
            if (s is null) return (int)Shim.BadHandle(server, "server");
            NpStatus status = s.AddRoute(Shim.ReadName(name), handler, (nint)user_data, null, out uint id);
            *route_id = id;
            return (int)status;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Binds the socket and starts the acceptor and worker threads. Routes are fixed from now on.</summary>
    /// <param name="server">The server.</param>
    /// <returns>NP_OK; NP_E_INVALID_HANDLE; NP_E_INVALID_STATE when already started; NP_E_PERMISSION_DENIED when the socket directory is not private; NP_E_ADDRESS_IN_USE; NP_E_IO.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_server_start")]
    [return: NativeType("np_status")]
    public static int Start([NativeType("np_server")] ulong server)
    {
        try
        {
            IpcServer? s = Servers.Get(server);
            if (s is null) return (int)Shim.BadHandle(server, "server");
            return (int)s.Start();
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>
    /// Stops accepting, keeps serving for up to drain_timeout_ms until nothing is in flight, then
    /// answers every request still unanswered with NP_E_SHUTDOWN and closes all connections.
    /// Returns when the server's threads have ended. Stopping twice is harmless.
    /// </summary>
    /// <param name="server">The server.</param>
    /// <param name="drain_timeout_ms">Longest wait for in-flight requests (0: answer them NP_E_SHUTDOWN now).</param>
    /// <returns>NP_OK; NP_E_INVALID_HANDLE; NP_E_INVALID_STATE when called from one of this server's handlers.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_server_stop")]
    [return: NativeType("np_status")]
    public static int Stop([NativeType("np_server")] ulong server, uint drain_timeout_ms)
    {
        try
        {
            IpcServer? s = Servers.Get(server);
            if (s is null) return (int)Shim.BadHandle(server, "server");
            return (int)s.Stop(drain_timeout_ms);
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Stops the server if running (no drain) and frees it. Destroying 0 is a no-op.</summary>
    /// <param name="server">The server, or 0.</param>
    /// <returns>NP_OK; NP_E_INVALID_HANDLE; NP_E_INVALID_STATE when called from one of this server's handlers.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_server_destroy")]
    [return: NativeType("np_status")]
    public static int Destroy([NativeType("np_server")] ulong server)
    {
        try
        {
            if (server == 0) return (int)NpStatus.Ok;
            IpcServer? s = Servers.Get(server);
            if (s is null) return (int)Shim.BadHandle(server, "server");
            if (s.IsWorkerThread)
                return (int)Diagnostics.LastError.Set(NpStatus.InvalidState, "np_server_destroy was called from a handler of the same server");
            if (Servers.Remove(server) is null) return (int)Shim.BadHandle(server, "server");
            s.Dispose();
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Copies the server's counters (recent values while it runs).</summary>
    /// <param name="server">The server.</param>
    /// <param name="stats">Receives the counters; struct_size must be sizeof(np_server_stats) (or the size of an older version of it).</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_UNSUPPORTED_STRUCT_SIZE; NP_E_INVALID_HANDLE.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_server_get_stats")]
    [return: NativeType("np_status")]
    public static int GetStats([NativeType("np_server")] ulong server, [NativeType("np_server_stats*")] ServerStatsAbi* stats)
    {
        try
        {
            if (stats == null) return (int)Shim.Null(nameof(stats));
            uint size = stats->struct_size;
            if (size != sizeof(ServerStatsAbi) && size != StatsSizeBeforeClientBounds)
                return (int)Shim.BadStructSize("np_server_stats", size, sizeof(ServerStatsAbi));
            IpcServer? s = Servers.Get(server);
            if (s is null) return (int)Shim.BadHandle(server, "server");
            IpcServerStats x = s.GetStats();
            var full = new ServerStatsAbi
            {
                struct_size = size,
                connections_now = x.ConnectionsNow,
                connections_peak = x.ConnectionsPeak,
                connections_total = x.ConnectionsTotal,
                connections_rejected = x.ConnectionsRejected,
                requests = x.Requests,
                responses = x.Responses,
                error_responses = x.ErrorResponses,
                bytes_in = x.BytesIn,
                bytes_out = x.BytesOut,
                protocol_errors = x.ProtocolErrors,
                handler_errors = x.HandlerErrors,
                unknown_routes = x.UnknownRoutes,
                peer_hangups = x.PeerHangups,
                idle_closed = x.IdleClosed,
                pending_requests = x.PendingRequests,
                buffers_created = x.BuffersCreated,
                buffers_reused = x.BuffersReused,
                client_limit_hits = x.ClientLimitHits,
                refused_no_descriptor = x.RefusedNoDescriptor,
                accept_backoffs = x.AcceptBackoffs,
            };
            // An older caller's struct ends before the appended fields: write only what it has.
            Buffer.MemoryCopy(&full, stats, size, size);
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Copies one route's counters.</summary>
    /// <param name="server">The server.</param>
    /// <param name="route_id">A route id from np_server_add_route().</param>
    /// <param name="stats">Receives the counters; struct_size must be sizeof(np_route_stats).</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_UNSUPPORTED_STRUCT_SIZE; NP_E_INVALID_HANDLE; NP_E_UNKNOWN_ROUTE.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_server_get_route_stats")]
    [return: NativeType("np_status")]
    public static int GetRouteStats([NativeType("np_server")] ulong server, uint route_id, [NativeType("np_route_stats*")] RouteStatsAbi* stats)
    {
        try
        {
            if (stats == null) return (int)Shim.Null(nameof(stats));
            if (stats->struct_size != sizeof(RouteStatsAbi))
                return (int)Shim.BadStructSize("np_route_stats", stats->struct_size, sizeof(RouteStatsAbi));
            IpcServer? s = Servers.Get(server);
            if (s is null) return (int)Shim.BadHandle(server, "server");
            if (!s.GetRouteStats(route_id, out IpcRouteStats x))
                return (int)Diagnostics.LastError.Set(NpStatus.UnknownRoute, "the server has no route {0}", route_id);
            *stats = new RouteStatsAbi
            {
                struct_size = (uint)sizeof(RouteStatsAbi),
                route_id = route_id,
                requests = x.Requests,
                responses = x.Responses,
                errors = x.Errors,
                bytes_in = x.BytesIn,
                bytes_out = x.BytesOut,
            };
            return (int)NpStatus.Ok;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Pull mode: takes the next request of any pull route, waiting up to timeout_ms. Any thread.</summary>
    /// <param name="server">The server (started).</param>
    /// <param name="timeout_ms">Longest wait; 0 does not wait; NP_WAIT_FOREVER waits until a request or stop.</param>
    /// <param name="request">Receives the request; struct_size must be sizeof(np_request). Its data stays valid until the reply.</param>
    /// <returns>NP_OK; NP_E_NULL_POINTER; NP_E_UNSUPPORTED_STRUCT_SIZE; NP_E_INVALID_HANDLE; NP_E_TIMEOUT; NP_E_SHUTDOWN once the server stopped; NP_E_INVALID_STATE before start.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_server_receive")]
    [return: NativeType("np_status")]
    public static int Receive([NativeType("np_server")] ulong server, uint timeout_ms, [NativeType("np_request*")] RequestAbi* request)
    {
        try
        {
            if (request == null) return (int)Shim.Null(nameof(request));
            if (request->struct_size != sizeof(RequestAbi))
                return (int)Shim.BadStructSize("np_request", request->struct_size, sizeof(RequestAbi));
            IpcServer? s = Servers.Get(server);
            if (s is null) return (int)Shim.BadHandle(server, "server");
            NpStatus status = s.Receive(timeout_ms, out ulong token, out uint route, out byte* data, out uint length);
            *request = new RequestAbi { struct_size = (uint)sizeof(RequestAbi), route_id = route, token = token, data = data, length = length };
            return (int)status;
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Pull mode: answers a received request with a payload. Never blocks (a full ring queues the answer). Any thread, once per token.</summary>
    /// <param name="server">The server.</param>
    /// <param name="token">np_request.token.</param>
    /// <param name="data">The response payload (may be the request's own data buffer); NULL only with length 0.</param>
    /// <param name="length">Payload bytes, at most the maximum message size.</param>
    /// <returns>NP_OK; NP_E_INVALID_HANDLE; NP_E_NULL_POINTER; NP_E_MESSAGE_TOO_LARGE; NP_E_INVALID_ARGUMENT for a token already answered or never received; NP_E_PEER_GONE when the client left (the token is spent); NP_E_SHUTDOWN when the stop already answered it.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_server_reply")]
    [return: NativeType("np_status")]
    public static int Reply([NativeType("np_server")] ulong server, ulong token, [NativeType("const void*")] void* data, uint length)
    {
        try
        {
            IpcServer? s = Servers.Get(server);
            if (s is null) return (int)Shim.BadHandle(server, "server");
            return (int)s.Reply(token, (byte*)data, length, 0);
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }

    /// <summary>Pull mode: answers a received request with an error. Whatever the status, even one the transport uses itself (NP_E_SHUTDOWN, NP_E_UNKNOWN_ROUTE), the client's call returns NP_E_HANDLER_FAILED and its detail message names the status.</summary>
    /// <param name="server">The server.</param>
    /// <param name="token">np_request.token.</param>
    /// <param name="status">A negative status to report.</param>
    /// <returns>As np_server_reply(); NP_E_INVALID_ARGUMENT when status is not negative.</returns>
    [UnmanagedCallersOnly(EntryPoint = "managed_np_server_reply_error")]
    [return: NativeType("np_status")]
    public static int ReplyError([NativeType("np_server")] ulong server, ulong token, [NativeType("np_status")] int status)
    {
        try
        {
            IpcServer? s = Servers.Get(server);
            if (s is null) return (int)Shim.BadHandle(server, "server");
            if (status >= 0) return (int)Diagnostics.LastError.Set(NpStatus.InvalidArgument, "np_server_reply_error needs a negative status, not {0}", status);
            return (int)s.Reply(token, null, 0, status);
        }
        catch (Exception e) { return (int)Shim.Caught(e); }
    }
}
