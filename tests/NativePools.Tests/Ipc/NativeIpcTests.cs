using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using NativePools.Ipc;
using NativePools.Tests.Ipc;
using NativePools.Tests.Support;
using NUnit.Framework;
using static NativePools.Tests.Native.NativeApi;

namespace NativePools.Tests.Native;

/// <summary>
/// The IPC part of the built libnativepools.so through P/Invoke: servers made with np_server_*
/// whose handlers are C# [UnmanagedCallersOnly] functions (run on the library's worker threads),
/// pull routes answered from C# threads, and clients on many C# threads through np_client_*.
/// Every answer is checked against its request and every counter against what the test did.
/// </summary>
[TestFixture]
public sealed unsafe class NativeIpcTests
{
    private const int PullErrorStatus = -55;

    [Test]
    public void CSharpHandlersAndPullRepliers_ManyClientThreads_StatsAndRouteStatsConsistent()
    {
        const int threads = 8, repliers = 2;
        int calls = StressSize.Pick(1_500, 25_000);
        string address = IpcTest.NewAddress("native-many");
        HandlerState* sumState = NativeIpc.NewState();
        HandlerState* failState = NativeIpc.NewState();
        ulong server = NativeIpc.Create(address, NativeIpc.Options(maxMessage: 16 * 1024, workers: 2));
        try
        {
            uint sum = NativeIpc.AddRoute(server, "sum", NativeIpc.Sum, sumState);
            uint fail = NativeIpc.AddRoute(server, "fail", NativeIpc.Fail, failState);
            uint pull = NativeIpc.AddRoute(server, "pull", null, null);
            sumState->ExpectedRoute = sum;
            failState->ExpectedRoute = fail;
            NativeIpc.Start(server);

            // Pull repliers: answer with the "sum" of the request, or with an error when its first byte is a multiple of 7.
            bool done = false;
            var replierFailures = new ConcurrentQueue<string>();
            Thread[] replierThreads = Enumerable.Range(0, repliers).Select(r => IpcTest.Start($"replier-{r}", () =>
            {
                byte[] answer = new byte[16 * 1024];
                while (true)
                {
                    var request = new NpRequest { struct_size = (uint)sizeof(NpRequest) };
                    int s = np_server_receive(server, 50, &request);
                    if (s == (int)NpStatus.Timeout) { if (Volatile.Read(ref done)) return; continue; }
                    if (s != 0) { replierFailures.Enqueue($"np_server_receive: {(NpStatus)s}"); return; }
                    if (request.route_id != pull) replierFailures.Enqueue($"pull request on route {request.route_id}");
                    var data = new ReadOnlySpan<byte>(request.data, (int)request.length);
                    int replied;
                    if (data.Length > 0 && data[0] % 7 == 0)
                        replied = np_server_reply_error(server, request.token, PullErrorStatus);
                    else
                    {
                        IpcTest.Sum(pull, data, answer, out int n);
                        fixed (byte* a = answer) replied = np_server_reply(server, request.token, a, (uint)n);
                    }
                    if (replied != 0) replierFailures.Enqueue($"np_server_reply: {(NpStatus)replied}");
                }
            })).ToArray();

            ulong[] clients = Enumerable.Range(0, threads).Select(_ => NativeIpc.Connect(address)).ToArray();
            // Per route: requests, errors, bytes in, bytes out, as the clients saw them.
            long[,] seen = new long[4, 4];
            ThreadRunner.Run(threads, t =>
            {
                ulong client = clients[t];
                Check.That(NativeIpc.Resolve(client, "sum") == sum && NativeIpc.Resolve(client, "pull") == pull, "route ids resolve as added");
                byte[] request = new byte[4096];
                byte[] response = new byte[16 * 1024];
                var rng = new Random(100 + t);
                long[,] mine = new long[4, 4];
                for (int i = 0; i < calls; i++)
                {
                    uint route = (i % 10) switch { 9 => fail, 3 or 6 => pull, _ => sum };
                    int size = rng.Next(0, i % 20 == 0 ? request.Length + 1 : 300);
                    IpcTest.Fill(request.AsSpan(0, size), ((ulong)t << 32) | (uint)i);
                    bool pullError = route == pull && size > 0 && request[0] % 7 == 0;
                    uint length;
                    int status;
                    fixed (byte* q = request) fixed (byte* r = response)
                        status = np_client_call(client, route, q, (uint)size, r, (uint)response.Length, &length, IpcTest.CallMs);
                    bool error = route == fail || pullError;
                    if (error)
                    {
                        Check.Status((NpStatus)status, NpStatus.HandlerFailed, $"thread {t} call {i} on route {route}");
                        string detail = NativeIpc.LastErrorText();
                        Check.That(detail.Contains((route == fail ? NativeIpc.FailStatus : PullErrorStatus).ToString()), $"the detail names the handler's status: {detail}");
                    }
                    else
                    {
                        Check.Status((NpStatus)status, NpStatus.Ok, $"thread {t} call {i} on route {route}: {NativeIpc.LastErrorText()}");
                        Check.That(IpcTest.IsSumOf(response.AsSpan(0, (int)length), request.AsSpan(0, size)), $"thread {t} call {i}: wrong answer");
                    }
                    mine[route, 0]++;
                    if (error) mine[route, 1]++;
                    mine[route, 2] += size;
                    if (!error) mine[route, 3] += size + 8;
                }
                lock (seen) for (int r = 0; r < 4; r++) for (int f = 0; f < 4; f++) seen[r, f] += mine[r, f];
            });
            NpServerStats live = NativeIpc.Stats(server);
            Assert.That(live.connections_now, Is.EqualTo((ulong)threads), "every client is still connected");
            foreach (ulong c in clients) Assert.That(np_client_close(c), Is.Zero);
            Assert.That(IpcTest.Eventually(() => NativeIpc.Stats(server).connections_now == 0), Is.True, "the server saw every client close");
            Volatile.Write(ref done, true);
            IpcTest.JoinAll(replierThreads, "repliers");
            Assert.That(replierFailures, Is.Empty);

            Assert.That(np_server_stop(server, 1000), Is.Zero);
            NpServerStats s = NativeIpc.Stats(server);
            ulong total = (ulong)(threads * calls);
            long errors = seen[fail, 1] + seen[pull, 1];
            long bytesIn = seen[sum, 2] + seen[fail, 2] + seen[pull, 2];
            long bytesOut = seen[sum, 3] + seen[pull, 3];
            Assert.Multiple(() =>
            {
                Assert.That(s.requests, Is.EqualTo(total), "requests");
                Assert.That(s.responses, Is.EqualTo(total), "responses");
                Assert.That(s.error_responses, Is.EqualTo((ulong)errors), "error_responses: handler failures and error replies");
                Assert.That(s.handler_errors, Is.EqualTo((ulong)seen[fail, 1]), "handler_errors: the failing handler only");
                Assert.That(s.bytes_in, Is.EqualTo((ulong)bytesIn), "bytes_in");
                Assert.That(s.bytes_out, Is.EqualTo((ulong)bytesOut), "bytes_out");
                Assert.That(s.connections_total, Is.EqualTo((ulong)threads));
                Assert.That(s.connections_peak, Is.EqualTo((ulong)threads));
                Assert.That(s.connections_now, Is.Zero);
                Assert.That(s.peer_hangups, Is.EqualTo((ulong)threads), "each np_client_close is a hang-up the server sees");
                Assert.That(s.pending_requests, Is.Zero);
                Assert.That(s.protocol_errors + s.unknown_routes + s.connections_rejected + s.idle_closed, Is.Zero);
                Assert.That(s.reserved, Is.Zero, "np_server_stats.reserved is written as 0");
                foreach (uint route in new[] { sum, fail, pull })
                {
                    NpRouteStats r = NativeIpc.RouteStats(server, route);
                    Assert.That(r.route_id, Is.EqualTo(route));
                    Assert.That(r.requests, Is.EqualTo((ulong)seen[route, 0]), $"route {route} requests");
                    Assert.That(r.responses, Is.EqualTo((ulong)seen[route, 0]), $"route {route} responses");
                    Assert.That(r.errors, Is.EqualTo((ulong)seen[route, 1]), $"route {route} errors");
                    Assert.That(r.bytes_in, Is.EqualTo((ulong)seen[route, 2]), $"route {route} bytes_in");
                    Assert.That(r.bytes_out, Is.EqualTo((ulong)seen[route, 3]), $"route {route} bytes_out");
                }
                Assert.That(sumState->Calls, Is.EqualTo(seen[sum, 0]), "the sum handler ran once per sum request");
                Assert.That(failState->Calls, Is.EqualTo(seen[fail, 0]), "the failing handler ran once per fail request");
                Assert.That(sumState->BytesIn, Is.EqualTo(seen[sum, 2]), "the handler saw every request byte");
                Assert.That(sumState->WrongRoute + failState->WrongRoute, Is.Zero, "each handler got its own route id");
            });
        }
        finally
        {
            Assert.That(np_server_destroy(server), Is.Zero);
            NativeMemory.Free(sumState);
            NativeMemory.Free(failState);
        }
    }

    [Test]
    public void Client_PipelineClaimCommitAbort_AndMaxMessageSize()
    {
        string address = IpcTest.NewAddress("native-pipeline");
        ulong server = NativeIpc.Create(address, NativeIpc.Options(maxMessage: 16 * 1024));
        uint sum = NativeIpc.AddRoute(server, "sum", NativeIpc.Sum, null);
        NativeIpc.Start(server);
        ulong client = NativeIpc.Connect(address);
        try
        {
            uint max;
            Assert.That(np_client_max_message_size(client, &max), Is.Zero);
            Assert.That(max, Is.EqualTo(16u * 1024));

            // 100 pipelined sends, then 100 receives in order.
            const int n = 100;
            var ids = new ulong[n];
            byte[] payload = new byte[200];
            byte[] response = new byte[16 * 1024];
            for (int i = 0; i < n; i++)
            {
                IpcTest.Fill(payload.AsSpan(0, i), (ulong)i);
                ulong id;
                fixed (byte* p = payload) Assert.That(np_client_send(client, sum, p, (uint)i, &id, IpcTest.CallMs), Is.Zero, NativeIpc.LastErrorText());
                ids[i] = id;
            }
            for (int i = 0; i < n; i++)
            {
                ulong id;
                uint length;
                fixed (byte* r = response) Assert.That(np_client_receive(client, &id, r, (uint)response.Length, &length, IpcTest.CallMs), Is.Zero, NativeIpc.LastErrorText());
                IpcTest.Fill(payload.AsSpan(0, i), (ulong)i);
                Assert.That(id, Is.EqualTo(ids[i]));
                Assert.That(IpcTest.IsSumOf(response.AsSpan(0, (int)length), payload.AsSpan(0, i)), Is.True, $"pipelined response {i}");
            }

            // Zero copy: claim, write in place, commit fewer bytes; an aborted claim sends nothing.
            void* slot;
            Assert.That(np_client_claim(client, sum, 1000, &slot, IpcTest.CallMs), Is.Zero);
            new Span<byte>(slot, 1000).Fill(0xAB);
            Assert.That(np_client_abort(client), Is.Zero);
            Assert.That(np_client_claim(client, sum, 1000, &slot, IpcTest.CallMs), Is.Zero);
            IpcTest.Fill(new Span<byte>(slot, 600), 42);
            byte[] expected = new Span<byte>(slot, 600).ToArray();
            ulong committed, got;
            uint len;
            Assert.That(np_client_commit(client, 600, &committed), Is.Zero);
            fixed (byte* r = response) Assert.That(np_client_receive(client, &got, r, (uint)response.Length, &len, IpcTest.CallMs), Is.Zero);
            Assert.That(got, Is.EqualTo(committed));
            Assert.That(IpcTest.IsSumOf(response.AsSpan(0, (int)len), expected), Is.True, "the committed bytes, as written in place");

            Assert.That(np_server_stop(server, 1000), Is.Zero);
            NpServerStats s = NativeIpc.Stats(server);
            Assert.That(s.requests, Is.EqualTo((ulong)n + 1), "the aborted claim never reached the server");
        }
        finally
        {
            Assert.That(np_client_close(client), Is.Zero);
            Assert.That(np_server_destroy(server), Is.Zero);
        }
    }

    [Test]
    public void Stop_WithCallsBlockedOnManyThreads_EachGetsShutdown_ThenDestroy()
    {
        const int threads = 6;
        string address = IpcTest.NewAddress("native-stop");
        ulong server = NativeIpc.Create(address, NativeIpc.Options());
        uint pull = NativeIpc.AddRoute(server, "pull", null, null);
        NativeIpc.Start(server);
        ulong[] clients = Enumerable.Range(0, threads).Select(_ => NativeIpc.Connect(address)).ToArray();
        var statuses = new int[threads];
        Thread[] callers = Enumerable.Range(0, threads).Select(t => IpcTest.Start($"caller-{t}", () =>
        {
            byte q = 1, r = 0;
            uint length;
            statuses[t] = np_client_call(clients[t], pull, &q, 1, &r, 1, &length, NpIpcConstants.NP_WAIT_FOREVER);
        })).ToArray();
        Assert.That(IpcTest.Eventually(() => NativeIpc.Stats(server).pending_requests == threads), Is.True, "every call is waiting for its answer");
        Assert.That(np_server_stop(server, 0), Is.Zero);
        IpcTest.JoinAll(callers, "callers blocked in np_client_call");
        Assert.That(statuses.Select(s => (NpStatus)s), Is.All.EqualTo(NpStatus.Shutdown));
        var request = new NpRequest { struct_size = (uint)sizeof(NpRequest) };
        Assert.That((NpStatus)np_server_receive(server, 0, &request), Is.EqualTo(NpStatus.Shutdown));
        Assert.That(np_server_stop(server, 0), Is.Zero, "stopping twice is harmless");
        Assert.That(np_server_destroy(server), Is.Zero);
        var gone = new NpServerStats { struct_size = (uint)sizeof(NpServerStats) };
        Assert.That((NpStatus)np_server_get_stats(server, &gone), Is.EqualTo(NpStatus.InvalidHandle), "the handle is gone");
        byte b = 0;
        uint n;
        Assert.That((NpStatus)np_client_call(clients[0], pull, &b, 1, &b, 1, &n, 1000), Is.EqualTo(NpStatus.Shutdown), "a call after the server went");
        foreach (ulong c in clients) Assert.That(np_client_close(c), Is.Zero);
    }

    [Test]
    public void Handler_StoppingOrDestroyingItsOwnServer_IsRefusedWithInvalidState()
    {
        string address = IpcTest.NewAddress("native-self-stop");
        HandlerState* state = NativeIpc.NewState();
        ulong server = NativeIpc.Create(address, NativeIpc.Options());
        try
        {
            uint route = NativeIpc.AddRoute(server, "stop", NativeIpc.StopsItsServer, state);
            state->Server = server;
            state->ExpectedRoute = route;
            NativeIpc.Start(server);
            ulong client = NativeIpc.Connect(address);
            byte b = 0;
            uint length;
            Assert.That(np_client_call(client, route, &b, 1, null, 0, &length, IpcTest.CallMs), Is.Zero, NativeIpc.LastErrorText());
            Assert.That(state->Calls, Is.EqualTo(1));
            Assert.That((NpStatus)state->StopStatus, Is.EqualTo(NpStatus.InvalidState), "np_server_stop from a handler");
            Assert.That((NpStatus)state->DestroyStatus, Is.EqualTo(NpStatus.InvalidState), "np_server_destroy from a handler");
            Assert.That(np_client_call(client, route, &b, 1, null, 0, &length, IpcTest.CallMs), Is.Zero, "the server still serves");
            Assert.That(np_client_close(client), Is.Zero);
        }
        finally
        {
            Assert.That(np_server_destroy(server), Is.Zero);
            NativeMemory.Free(state);
        }
    }

    [Test]
    public void CrossRuntime_CoreServerWithLibraryClients_AndLibraryServerWithCoreClients()
    {
        const int calls = 300;
        // The managed core in this (CoreCLR) process serves clients of the NativeAOT library, and back.
        string coreAddress = IpcTest.NewAddress("core-server");
        using (IpcServer core = IpcTest.StartCoreServer(coreAddress, new IpcServerOptions { MaxMessageSize = 8192 }, ("sum", IpcTest.Sum)))
        {
            ulong client = NativeIpc.Connect(coreAddress);
            uint route = NativeIpc.Resolve(client, "sum");
            byte[] q = new byte[2048], r = new byte[8192];
            for (int i = 0; i < calls; i++)
            {
                int size = i * 7 % q.Length;
                IpcTest.Fill(q.AsSpan(0, size), (ulong)i);
                uint length;
                fixed (byte* qp = q) fixed (byte* rp = r)
                    Assert.That(np_client_call(client, route, qp, (uint)size, rp, (uint)r.Length, &length, IpcTest.CallMs), Is.Zero, NativeIpc.LastErrorText());
                Assert.That(IpcTest.IsSumOf(r.AsSpan(0, (int)length), q.AsSpan(0, size)), Is.True, $"library client, core server, call {i}");
            }
            Assert.That(np_client_close(client), Is.Zero);
        }

        string libraryAddress = IpcTest.NewAddress("library-server");
        ulong server = NativeIpc.Create(libraryAddress, NativeIpc.Options(maxMessage: 8192));
        try
        {
            uint sum = NativeIpc.AddRoute(server, "sum", NativeIpc.Sum, null);
            NativeIpc.Start(server);
            using IpcClient client = IpcTest.ConnectCore(libraryAddress);
            Assert.That(IpcTest.Route(client, "sum"), Is.EqualTo(sum));
            byte[] q = new byte[2048], r = new byte[8192];
            for (int i = 0; i < calls; i++)
            {
                int size = i * 11 % q.Length;
                IpcTest.Fill(q.AsSpan(0, size), (ulong)i);
                uint length;
                fixed (byte* qp = q) fixed (byte* rp = r)
                    Assert.That(client.Call(sum, qp, (uint)size, rp, (uint)r.Length, out length, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
                Assert.That(IpcTest.IsSumOf(r.AsSpan(0, (int)length), q.AsSpan(0, size)), Is.True, $"core client, library server, call {i}");
            }
        }
        finally
        {
            Assert.That(np_server_destroy(server), Is.Zero);
        }
    }
}
