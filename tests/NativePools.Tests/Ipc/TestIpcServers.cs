using System;
using NativePools.Ipc;
using NativePools.Tests.Ipc;
using NUnit.Framework;
using static NativePools.Tests.Native.NativeApi;

namespace NativePools.Tests.Native;

/// <summary>
/// A server in the test process with two routes, "sum" (id 1, a handler: the request and its
/// FNV-1a 64) and "stall" (id 2, pull mode), either the managed core ("core") or the built
/// library through np_server_* with a C# handler ("library"), seen through one interface.
/// </summary>
public unsafe interface ITestIpcServer : IDisposable
{
    string Address { get; }
    IpcServerStats Stats();
    NpStatus Receive(uint timeoutMs, out ulong token, out byte* data, out uint length);
    NpStatus Reply(ulong token, byte* data, uint length);
}

public static unsafe class TestIpcServers
{
    public const uint SumRoute = 1, StallRoute = 2;

    /// <summary>Starts a "core" or "library" server at <paramref name="address"/>.</summary>
    public static ITestIpcServer Start(string kind, string address, uint maxMessage = 65536, uint ringSize = 0) => kind switch
    {
        "core" => new CoreServer(address, maxMessage, ringSize),
        "library" => new LibraryServer(address, maxMessage, ringSize),
        _ => throw new ArgumentException("kind is core or library", nameof(kind)),
    };

    private sealed class CoreServer : ITestIpcServer
    {
        private readonly IpcServer _server;
        public string Address { get; }

        public CoreServer(string address, uint maxMessage, uint ringSize)
        {
            Address = address;
            _server = IpcTest.StartCoreServer(address, new IpcServerOptions { MaxMessageSize = maxMessage, RingSize = ringSize, WorkerThreads = 2 },
                ("sum", IpcTest.Sum), ("stall", null));
        }

        public IpcServerStats Stats() => _server.GetStats();
        public NpStatus Receive(uint timeoutMs, out ulong token, out byte* data, out uint length) => _server.Receive(timeoutMs, out token, out _, out data, out length);
        public NpStatus Reply(ulong token, byte* data, uint length) => _server.Reply(token, data, length, 0);
        public void Dispose() => _server.Dispose();
    }

    private sealed class LibraryServer : ITestIpcServer
    {
        private readonly ulong _server;
        public string Address { get; }

        public LibraryServer(string address, uint maxMessage, uint ringSize)
        {
            Address = address;
            NpServerOptions options = NativeIpc.Options(maxMessage: maxMessage, workers: 2, ringSize: ringSize);
            _server = NativeIpc.Create(address, options);
            Assert.That(NativeIpc.AddRoute(_server, "sum", NativeIpc.Sum, null), Is.EqualTo(SumRoute));
            Assert.That(NativeIpc.AddRoute(_server, "stall", null, null), Is.EqualTo(StallRoute));
            NativeIpc.Start(_server);
        }

        public IpcServerStats Stats()
        {
            NpServerStats s = NativeIpc.Stats(_server);
            return new IpcServerStats
            {
                ConnectionsNow = s.connections_now, ConnectionsPeak = s.connections_peak, ConnectionsTotal = s.connections_total,
                ConnectionsRejected = s.connections_rejected, Requests = s.requests, Responses = s.responses, ErrorResponses = s.error_responses,
                BytesIn = s.bytes_in, BytesOut = s.bytes_out, ProtocolErrors = s.protocol_errors, HandlerErrors = s.handler_errors,
                UnknownRoutes = s.unknown_routes, PeerHangups = s.peer_hangups, IdleClosed = s.idle_closed, PendingRequests = s.pending_requests,
                BuffersCreated = s.buffers_created, BuffersReused = s.buffers_reused,
            };
        }

        public NpStatus Receive(uint timeoutMs, out ulong token, out byte* data, out uint length)
        {
            var r = new NpRequest { struct_size = (uint)sizeof(NpRequest) };
            var status = (NpStatus)np_server_receive(_server, timeoutMs, &r);
            token = r.token;
            data = r.data;
            length = r.length;
            return status;
        }

        public NpStatus Reply(ulong token, byte* data, uint length) => (NpStatus)np_server_reply(_server, token, data, length);
        public void Dispose() => Assert.That(np_server_destroy(_server), Is.Zero);
    }
}
