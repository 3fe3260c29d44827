namespace NativePools.Ipc;

/// <summary>A snapshot of a server's counters (each a recent value while the server runs).</summary>
public struct IpcServerStats
{
    /// <summary>Clients connected now: one that hung up or died stops counting at once, even while its handler still runs.</summary>
    public ulong ConnectionsNow;
    /// <summary>Most clients connected at once (at most MaxClients).</summary>
    public ulong ConnectionsPeak;
    /// <summary>Connections accepted since start.</summary>
    public ulong ConnectionsTotal;
    /// <summary>Connections refused at the handshake (uid not allowed, server full, handshake failure).</summary>
    public ulong ConnectionsRejected;
    /// <summary>Requests read from the rings.</summary>
    public ulong Requests;
    /// <summary>Responses written (including error responses).</summary>
    public ulong Responses;
    /// <summary>Responses that carried an error status (handler failure, unknown route, shutdown).</summary>
    public ulong ErrorResponses;
    /// <summary>Request payload bytes.</summary>
    public ulong BytesIn;
    /// <summary>Response payload bytes.</summary>
    public ulong BytesOut;
    /// <summary>Connections dropped because the peer broke the protocol (garbage in shared memory).</summary>
    public ulong ProtocolErrors;
    /// <summary>Handler calls that returned an error status.</summary>
    public ulong HandlerErrors;
    /// <summary>Requests for a route id the server does not have.</summary>
    public ulong UnknownRoutes;
    /// <summary>Connections closed because the client hung up or died.</summary>
    public ulong PeerHangups;
    /// <summary>Connections closed by the idle timeout.</summary>
    public ulong IdleClosed;
    /// <summary>Pull-mode requests received by workers and not yet replied to.</summary>
    public ulong PendingRequests;
    /// <summary>Message buffers taken from the server's message pool for the first time.</summary>
    public ulong BuffersCreated;
    /// <summary>Message buffers taken from the pool again after a release.</summary>
    public ulong BuffersReused;
    /// <summary>Times a client reached its share of pending pull requests or bytes (its further requests waited in its ring).</summary>
    public ulong ClientLimitHits;
    /// <summary>Clients refused because the server had no file descriptor left for them (also in <see cref="ConnectionsRejected"/>). </summary>
    public ulong RefusedNoDescriptor;
    /// <summary>Times the control thread paused accepting after an accept failure it could not answer (out of descriptors with no reserve, out of memory). </summary>
    public ulong AcceptBackoffs;
}

/// <summary>A snapshot of one route's counters.</summary>
public struct IpcRouteStats
{
    /// <summary>Requests read from the rings.</summary>
    public ulong Requests;
    /// <summary>Responses written (including error responses).</summary>
    public ulong Responses;
    /// <summary>Error responses.</summary>
    public ulong Errors;
    /// <summary>Request payload bytes.</summary>
    public ulong BytesIn;
    /// <summary>Response payload bytes.</summary>
    public ulong BytesOut;
}

/// <summary>Counters of one worker thread: only that thread writes them, readers sum all workers.</summary>
internal sealed class WorkerCounters
{
    public long Requests;
    public long Responses;
    public long ErrorResponses;
    public long BytesIn;
    public long BytesOut;
    public long ProtocolErrors;
    public long HandlerErrors;
    public long UnknownRoutes;
    public long PeerHangups;
    public long IdleClosed;
    public long ClientLimitHits;
    /// <summary>Per route: [route * RouteFields + field].</summary>
    public readonly long[] Routes;

    public const int RouteFields = 5;
    public const int RouteRequests = 0, RouteResponses = 1, RouteErrors = 2, RouteBytesIn = 3, RouteBytesOut = 4;

    public WorkerCounters(int routeCount) => Routes = new long[(routeCount + 1) * RouteFields];
}
