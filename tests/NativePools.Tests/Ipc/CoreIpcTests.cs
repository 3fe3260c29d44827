using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using NativePools.Ipc;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Ipc;

/// <summary>The IPC core in-process: a server and its clients in the test process, over real sockets and shared memory.</summary>
[TestFixture]
public unsafe class CoreIpcTests
{
    private static string NewAddress() => "@nativepools-test-" + Guid.NewGuid().ToString("N");

    private static IpcServer StartEchoServer(string address, out uint echoRoute, IpcServerOptions? options = null)
    {
        options ??= new IpcServerOptions();
        options.Address = address;
        Assert.That(IpcServer.Create(options, out IpcServer? server), Is.EqualTo(NpStatus.Ok));
        Assert.That(server!.AddRoute("echo", 0, 0, Echo, out echoRoute), Is.EqualTo(NpStatus.Ok));
        Assert.That(server.Start(), Is.EqualTo(NpStatus.Ok));
        return server;
    }

    private static NpStatus Echo(uint route, ReadOnlySpan<byte> request, Span<byte> response, out int length)
    {
        request.CopyTo(response);
        length = request.Length;
        return NpStatus.Ok;
    }

    [Test]
    public void Call_EchoesPayloadsOfManySizes()
    {
        string address = NewAddress();
        using IpcServer server = StartEchoServer(address, out _);
        Assert.That(IpcClient.Connect(address, 2000, out IpcClient? client), Is.EqualTo(NpStatus.Ok));
        using (client)
        {
            Assert.That(client!.Resolve("echo", out uint route), Is.EqualTo(NpStatus.Ok));
            var rng = new Random(7);
            byte[] request = new byte[1 << 20];
            byte[] response = new byte[1 << 20];
            foreach (int size in new[] { 0, 1, 15, 16, 17, 4096, 65536, 300_000, 1 << 20 })
            {
                for (int repeat = 0; repeat < 5; repeat++)
                {
                    rng.NextBytes(request.AsSpan(0, size));
                    fixed (byte* req = request) fixed (byte* resp = response)
                    {
                        NpStatus status = client.Call(route, req, (uint)size, resp, (uint)response.Length, out uint length, 5000);
                        Assert.That(status, Is.EqualTo(NpStatus.Ok), $"size {size}: {Diagnostics.LastError.Message}");
                        Assert.That(length, Is.EqualTo((uint)size));
                    }
                    Assert.That(response.AsSpan(0, size).SequenceEqual(request.AsSpan(0, size)), Is.True, $"size {size}");
                }
            }
        }
        IpcServerStats stats = server.GetStats();
        Assert.That(stats.Requests, Is.EqualTo(45UL));
        Assert.That(stats.Responses, Is.EqualTo(45UL));
    }

    [Test]
    public void Pull_ReceiveAndReplyFromAnotherThread()
    {
        string address = NewAddress();
        Assert.That(IpcServer.Create(new IpcServerOptions { Address = address }, out IpcServer? server), Is.EqualTo(NpStatus.Ok));
        using (server)
        {
            Assert.That(server!.AddRoute("pull", 0, 0, null, out uint pullRoute), Is.EqualTo(NpStatus.Ok));
            Assert.That(server.Start(), Is.EqualTo(NpStatus.Ok));
            var replier = new Thread(() =>
            {
                for (int i = 0; i < 100; i++)
                {
                    NpStatus s = server.Receive(5000, out ulong token, out uint route, out byte* data, out uint length);
                    if (s != NpStatus.Ok) return;
                    for (uint k = 0; k < length; k++) data[k] ^= 0xFF;
                    server.Reply(token, data, length, 0);
                }
            });
            replier.Start();
            Assert.That(IpcClient.Connect(address, 2000, out IpcClient? client), Is.EqualTo(NpStatus.Ok));
            using (client)
            {
                byte* req = stackalloc byte[100];
                byte* resp = stackalloc byte[100];
                for (int i = 0; i < 100; i++)
                {
                    for (int k = 0; k < 100; k++) req[k] = (byte)(i + k);
                    Assert.That(client!.Call(pullRoute, req, (uint)(i + 1), resp, 100, out uint length, 5000), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
                    Assert.That(length, Is.EqualTo((uint)(i + 1)));
                    for (int k = 0; k <= i; k++) Assert.That(resp[k], Is.EqualTo((byte)~(i + k)));
                }
            }
            replier.Join();
        }
    }

    [Test]
    public void BadCalls_GetTheirStatus()
    {
        string address = NewAddress();
        using IpcServer server = StartEchoServer(address, out uint route, new IpcServerOptions { MaxMessageSize = 4096 });
        Assert.That(IpcClient.Connect(address, 2000, out IpcClient? client), Is.EqualTo(NpStatus.Ok));
        using (client)
        {
            byte* buffer = stackalloc byte[8192];
            Assert.That(client!.Resolve("nope", out _), Is.EqualTo(NpStatus.UnknownRoute));
            Assert.That(client.Call(99, buffer, 1, buffer, 8192, out _, 1000), Is.EqualTo(NpStatus.UnknownRoute));
            Assert.That(client.Call(route, buffer, 4097, buffer, 8192, out _, 1000), Is.EqualTo(NpStatus.MessageTooLarge));
            Assert.That(client.Call(route, buffer, 100, buffer, 10, out uint needed, 1000), Is.EqualTo(NpStatus.BufferTooSmall));
            Assert.That(needed, Is.EqualTo(100u));
            Assert.That(client.Receive(out _, buffer, 8192, out uint length, 1000), Is.EqualTo(NpStatus.Ok));
            Assert.That(length, Is.EqualTo(100u));
            Assert.That(client.Call(route, buffer, 4096, buffer, 8192, out length, 1000), Is.EqualTo(NpStatus.Ok));
        }
        Assert.That(IpcClient.Connect(NewAddress(), 50, out _), Is.EqualTo(NpStatus.Timeout));
    }

    [Test]
    public void ServerStopped_BlockedCallGetsShutdownOrPeerGone()
    {
        string address = NewAddress();
        Assert.That(IpcServer.Create(new IpcServerOptions { Address = address }, out IpcServer? server), Is.EqualTo(NpStatus.Ok));
        Assert.That(server!.AddRoute("never", 0, 0, null, out uint route), Is.EqualTo(NpStatus.Ok));
        Assert.That(server.Start(), Is.EqualTo(NpStatus.Ok));
        Assert.That(IpcClient.Connect(address, 2000, out IpcClient? client), Is.EqualTo(NpStatus.Ok));
        NpStatus callStatus = NpStatus.Ok;
        var caller = new Thread(() =>
        {
            byte b = 1;
            callStatus = client!.Call(route, &b, 1, &b, 1, out _, 10_000);
        });
        caller.Start();
        Thread.Sleep(100);
        server.Stop(50);
        caller.Join();
        Assert.That(callStatus, Is.EqualTo(NpStatus.Shutdown));
        client!.Dispose();
        server.Dispose();
    }

    // ------------------------------------------------------------------ handler routes

    private const int FailStatus = -1000;

    [Test]
    public void HandlerRoutes_ResultsStatusesAndCounters()
    {
        string address = IpcTest.NewAddress("handlers");
        IpcRequestHandler whoAmI = (uint route, ReadOnlySpan<byte> _, Span<byte> response, out int length) =>
        {
            MemoryMarshal.Write(response, route);
            length = 4;
            return NpStatus.Ok;
        };
        IpcServer server = IpcTest.StartCoreServer(address, new IpcServerOptions { MaxMessageSize = 4096 },
            ("sum", IpcTest.Sum),
            ("fail", (uint _, ReadOnlySpan<byte> _, Span<byte> _, out int n) => { n = 0; return (NpStatus)FailStatus; }),
            ("throw", (uint _, ReadOnlySpan<byte> _, Span<byte> _, out int n) => throw new InvalidOperationException("handler bug")),
            ("overclaim", (uint _, ReadOnlySpan<byte> _, Span<byte> r, out int n) => { n = r.Length + 1; return NpStatus.Ok; }),
            ("negative-length", (uint _, ReadOnlySpan<byte> _, Span<byte> _, out int n) => { n = -1; return NpStatus.Ok; }),
            ("empty", (uint _, ReadOnlySpan<byte> _, Span<byte> _, out int n) => { n = 0; return NpStatus.Ok; }),
            ("who-a", whoAmI),
            ("who-b", whoAmI));
        using (server)
        {
            string[] names = ["sum", "fail", "throw", "overclaim", "negative-length", "empty", "who-a", "who-b"];
            using IpcClient client = IpcTest.ConnectCore(address);
            uint[] ids = names.Select(n => IpcTest.Route(client, n)).ToArray();
            Assert.That(ids, Is.EqualTo(new uint[] { 1, 2, 3, 4, 5, 6, 7, 8 }), "route ids are 1, 2, ... in registration order");

            byte[] request = new byte[100];
            byte[] response = new byte[4096];
            IpcTest.Fill(request, 1);
            var results = new Dictionary<string, (NpStatus Status, uint Length, string Detail)>();
            fixed (byte* req = request) fixed (byte* resp = response)
            {
                for (int i = 0; i < names.Length; i++)
                {
                    NpStatus status = client.Call(ids[i], req, (uint)request.Length, resp, (uint)response.Length, out uint length, IpcTest.CallMs);
                    results[names[i]] = (status, length, Diagnostics.LastError.Message);
                    if (names[i] == "sum")
                        Assert.That(IpcTest.IsSumOf(response.AsSpan(0, (int)length), request), Is.True, "sum answers with the request and its checksum");
                    if (names[i].StartsWith("who-", StringComparison.Ordinal))
                        Assert.That(MemoryMarshal.Read<uint>(response), Is.EqualTo(ids[i]), $"{names[i]}: one handler learns which route it serves");
                }
            }
            Assert.Multiple(() =>
            {
                Assert.That(results["sum"].Status, Is.EqualTo(NpStatus.Ok));
                Assert.That(results["sum"].Length, Is.EqualTo(108u));
                Assert.That(results["fail"].Status, Is.EqualTo(NpStatus.HandlerFailed));
                Assert.That(results["fail"].Detail, Does.Contain(FailStatus.ToString()), "the detail carries the handler's status");
                Assert.That(results["throw"].Status, Is.EqualTo(NpStatus.HandlerFailed), "a handler that throws fails the call, not the server");
                Assert.That(results["overclaim"].Status, Is.EqualTo(NpStatus.HandlerFailed), "a length beyond the response buffer is never sent");
                Assert.That(results["negative-length"].Status, Is.EqualTo(NpStatus.HandlerFailed));
                Assert.That(results["empty"].Status, Is.EqualTo(NpStatus.Ok));
                Assert.That(results["empty"].Length, Is.Zero);
                Assert.That(results["who-a"].Status, Is.EqualTo(NpStatus.Ok));
                Assert.That(results["who-b"].Status, Is.EqualTo(NpStatus.Ok));
            });
            fixed (byte* req = request) fixed (byte* resp = response)
                Assert.That(client.Call(ids[0], req, 10, resp, 4096, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), "the connection outlives handler failures");

            // Counters are exact once the server stopped (its workers have ended).
            server.Stop(1000);
            IpcServerStats stats = server.GetStats();
            Assert.Multiple(() =>
            {
                Assert.That(stats.Requests, Is.EqualTo(9ul));
                Assert.That(stats.Responses, Is.EqualTo(9ul));
                Assert.That(stats.ErrorResponses, Is.EqualTo(4ul), "fail, throw, overclaim, negative-length");
                Assert.That(stats.HandlerErrors, Is.EqualTo(4ul));
                Assert.That(stats.BytesIn, Is.EqualTo(8ul * 100 + 10));
                Assert.That(stats.BytesOut, Is.EqualTo(108ul + 0 + 4 + 4 + 18));
                Assert.That(stats.UnknownRoutes, Is.Zero);
                Assert.That(stats.ProtocolErrors, Is.Zero);
                Assert.That(stats.ConnectionsTotal, Is.EqualTo(1ul));
                Assert.That(server.GetRouteStats(1, out IpcRouteStats sum), Is.True);
                Assert.That((sum.Requests, sum.Responses, sum.Errors, sum.BytesIn, sum.BytesOut), Is.EqualTo((2ul, 2ul, 0ul, 110ul, 126ul)), "route 'sum'");
                Assert.That(server.GetRouteStats(2, out IpcRouteStats fail), Is.True);
                Assert.That((fail.Requests, fail.Responses, fail.Errors, fail.BytesIn, fail.BytesOut), Is.EqualTo((1ul, 1ul, 1ul, 100ul, 0ul)), "route 'fail'");
                Assert.That(server.GetRouteStats(7, out IpcRouteStats whoA), Is.True);
                Assert.That((whoA.Requests, whoA.Responses, whoA.Errors, whoA.BytesOut), Is.EqualTo((1ul, 1ul, 0ul, 4ul)), "route 'who-a'");
                Assert.That(server.GetRouteStats(0, out _), Is.False, "route 0 does not exist");
                Assert.That(server.GetRouteStats(9, out _), Is.False, "route 9 does not exist");
            });
        }
    }

    // ------------------------------------------------------------------ pull routes

    [Test]
    public void Pull_RepliesInAnyOrder_EachResponseCarriesItsRequestId()
    {
        const int n = 32;
        string address = IpcTest.NewAddress("pull-order");
        IpcServer server = IpcTest.StartCoreServer(address, new IpcServerOptions { MaxMessageSize = 4096 }, ("echo", IpcTest.Echo), ("pull", null));
        using (server)
        {
            using IpcClient client = IpcTest.ConnectCore(address);
            uint pull = IpcTest.Route(client, "pull");
            var sent = new Dictionary<ulong, byte[]>();
            var sendOrder = new List<ulong>();
            for (int i = 0; i < n; i++)
            {
                byte[] payload = new byte[1 + i * 37 % 500];
                IpcTest.Fill(payload, (ulong)i);
                ulong id;
                fixed (byte* p = payload)
                    Assert.That(client.Send(pull, p, (uint)payload.Length, out id, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
                Assert.That(sent.ContainsKey(id), Is.False, "request ids are unique");
                sent[id] = payload;
                sendOrder.Add(id);
            }

            // The server takes all of them, then answers in reverse order with each request's "sum".
            var received = new List<(ulong Token, byte[] Answer)>();
            for (int i = 0; i < n; i++)
            {
                Assert.That(server.Receive(IpcTest.CallMs, out ulong token, out uint route, out byte* data, out uint length), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
                Assert.That(route, Is.EqualTo(pull));
                var request = new ReadOnlySpan<byte>(data, (int)length);
                Assert.That(request.SequenceEqual(sent[sendOrder[i]]), Is.True, $"pull request {i} arrives intact and in ring order");
                byte[] answer = new byte[length + 8];
                IpcTest.Sum(route, request, answer, out _);
                received.Add((token, answer));
            }
            Assert.That(server.GetStats().PendingRequests, Is.EqualTo((ulong)n), "received, not yet answered");
            received.Reverse();
            foreach (var (token, answer) in received)
                fixed (byte* a = answer)
                    Assert.That(server.Reply(token, a, (uint)answer.Length, 0), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);

            byte[] response = new byte[4096];
            var order = new List<ulong>();
            for (int i = 0; i < n; i++)
            {
                ulong id;
                uint length;
                fixed (byte* r = response)
                    Assert.That(client.Receive(out id, r, (uint)response.Length, out length, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
                Assert.That(sent.ContainsKey(id), Is.True, $"response {i} names a request that was sent");
                Assert.That(IpcTest.IsSumOf(response.AsSpan(0, (int)length), sent[id]), Is.True, $"response {i} answers request {id}");
                order.Add(id);
            }
            sendOrder.Reverse();
            Assert.That(order, Is.EqualTo(sendOrder), "responses come in the order the server answered (reversed), each with its request id");
            Assert.That(server.GetStats().PendingRequests, Is.Zero);
        }
    }

    [Test]
    public void Pull_ManyRepliersAndClients_EveryCallGetsItsOwnAnswer()
    {
        int clients = 4, repliers = 3, calls = StressSize.Pick(500, 10_000);
        string address = IpcTest.NewAddress("pull-many");
        IpcServer server = IpcTest.StartCoreServer(address, new IpcServerOptions { MaxMessageSize = 4096, WorkerThreads = 2 }, ("pull", null));
        using (server)
        {
            bool done = false;
            var replierFailures = new ConcurrentQueue<string>();
            long replies = 0;
            Thread[] replierThreads = Enumerable.Range(0, repliers).Select(r => IpcTest.Start($"replier-{r}", () =>
            {
                byte[] answer = new byte[4096];
                while (true)
                {
                    NpStatus s = server.Receive(50, out ulong token, out uint route, out byte* data, out uint length);
                    if (s == NpStatus.Timeout) { if (Volatile.Read(ref done)) return; continue; }
                    if (s != NpStatus.Ok) { replierFailures.Enqueue($"receive: {s}"); return; }
                    IpcTest.Sum(route, new ReadOnlySpan<byte>(data, (int)length), answer, out int n);
                    fixed (byte* a = answer)
                    {
                        NpStatus sent = server.Reply(token, a, (uint)n, 0);
                        if (sent != NpStatus.Ok) replierFailures.Enqueue($"reply: {sent}");
                    }
                    Interlocked.Increment(ref replies);
                }
            })).ToArray();

            ThreadRunner.Run(clients, t =>
            {
                NpStatus connected = IpcClient.Connect(address, IpcTest.ConnectMs, out IpcClient? client);
                Check.Status(connected, NpStatus.Ok, "connect");
                using (client)
                {
                    client!.Resolve("pull", out uint route);
                    byte[] request = new byte[1024];
                    byte[] response = new byte[4096];
                    for (int i = 0; i < calls; i++)
                    {
                        int size = (t * 31 + i * 17) % request.Length;
                        IpcTest.Fill(request.AsSpan(0, size), (ulong)(t * 1_000_000 + i));
                        uint length;
                        fixed (byte* q = request) fixed (byte* r = response)
                            Check.Status(client.Call(route, q, (uint)size, r, (uint)response.Length, out length, IpcTest.CallMs), NpStatus.Ok, $"call {i}");
                        Check.That(IpcTest.IsSumOf(response.AsSpan(0, (int)length), request.AsSpan(0, size)), $"client {t} call {i}: wrong answer");
                    }
                }
            });
            Volatile.Write(ref done, true);
            IpcTest.JoinAll(replierThreads, "repliers");
            Assert.That(replierFailures, Is.Empty);
            server.Stop(1000);
            IpcServerStats stats = server.GetStats();
            ulong total = (ulong)(clients * calls);
            Assert.Multiple(() =>
            {
                Assert.That(Interlocked.Read(ref replies), Is.EqualTo((long)total));
                Assert.That(stats.Requests, Is.EqualTo(total));
                Assert.That(stats.Responses, Is.EqualTo(total));
                Assert.That(stats.ErrorResponses, Is.Zero);
                Assert.That(stats.PendingRequests, Is.Zero);
                Assert.That(stats.BytesOut, Is.EqualTo(stats.BytesIn + 8 * total), "every answer is its request plus 8 bytes");
            });
        }
    }

    [Test]
    public void Pull_ClientGoneBeforeReply_ReplyIsPeerGone_AndUntakenRequestsAreSkipped()
    {
        string address = IpcTest.NewAddress("pull-gone");
        IpcServer server = IpcTest.StartCoreServer(address, new IpcServerOptions { MaxMessageSize = 4096 }, ("pull", null));
        using (server)
        {
            IpcClient leaving = IpcTest.ConnectCore(address);
            uint pull = IpcTest.Route(leaving, "pull");
            byte b = 7;
            Assert.That(leaving.Send(pull, &b, 1, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
            Assert.That(leaving.Send(pull, &b, 1, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
            Assert.That(server.Receive(IpcTest.CallMs, out ulong token, out _, out byte* data, out uint length), Is.EqualTo(NpStatus.Ok));
            Assert.That(IpcTest.Eventually(() => server.GetStats().PendingRequests == 2), Is.True, "both requests are pending");
            leaving.Dispose();
            // connections_now falls at the hang-up; peer_hangups counts once the worker has closed the connection.
            Assert.That(IpcTest.Eventually(() => server.GetStats() is { ConnectionsNow: 0, PeerHangups: 1 }), Is.True, "the server sees the hang-up");

            Assert.That(server.Reply(token, data, length, 0), Is.EqualTo(NpStatus.PeerGone), "the client of this token left");
            Assert.That(server.Reply(token, data, length, 0), Is.EqualTo(NpStatus.InvalidArgument), "the token is spent");
            Assert.That(server.Receive(0, out _, out _, out _, out _), Is.EqualTo(NpStatus.Timeout), "the request nobody took is dropped, not handed out");
            Assert.That(server.GetStats().PendingRequests, Is.Zero);

            // Others are served as before.
            using IpcClient other = IpcTest.ConnectCore(address);
            NpStatus callStatus = NpStatus.Internal;
            Thread caller = IpcTest.Start("caller", () =>
            {
                byte q = 9, r = 0;
                callStatus = other.Call(pull, &q, 1, &r, 1, out _, IpcTest.CallMs);
            });
            Assert.That(server.Receive(IpcTest.CallMs, out token, out _, out data, out length), Is.EqualTo(NpStatus.Ok));
            Assert.That(server.Reply(token, data, length, 0), Is.EqualTo(NpStatus.Ok));
            IpcTest.JoinAll([caller], "caller");
            Assert.That(callStatus, Is.EqualTo(NpStatus.Ok));
        }
    }

    [Test]
    public void Pull_MaxPendingFull_RequestsWaitInTheirRings_AndAllAreAnswered()
    {
        const int clients = 6, perClient = 20, maxPending = 2;
        string address = IpcTest.NewAddress("pull-pending");
        IpcServer server = IpcTest.StartCoreServer(address, new IpcServerOptions { MaxMessageSize = 4096, MaxPending = maxPending }, ("pull", null));
        using (server)
        {
            IpcClient[] senders = Enumerable.Range(0, clients).Select(_ => IpcTest.ConnectCore(address)).ToArray();
            uint pull = IpcTest.Route(senders[0], "pull");
            for (int c = 0; c < clients; c++)
                for (int i = 0; i < perClient; i++)
                {
                    byte q = (byte)(c * perClient + i);
                    Assert.That(senders[c].Send(pull, &q, 1, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
                }
            Assert.That(IpcTest.Eventually(() => server.GetStats().PendingRequests == maxPending), Is.True, "the table fills to max_pending");
            Thread.Sleep(50);
            Assert.That(server.GetStats().PendingRequests, Is.EqualTo((ulong)maxPending), "and no further: the rest wait in their rings");
            int answered = 0;
            while (answered < clients * perClient)
            {
                Assert.That(server.Receive(IpcTest.CallMs, out ulong token, out _, out byte* data, out uint length), Is.EqualTo(NpStatus.Ok), $"request {answered}");
                data[0] ^= 0xFF;
                Assert.That(server.Reply(token, data, length, 0), Is.EqualTo(NpStatus.Ok));
                answered++;
            }
            for (int c = 0; c < clients; c++)
                for (int i = 0; i < perClient; i++)
                {
                    byte r = 0;
                    Assert.That(senders[c].Receive(out _, &r, 1, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
                    Assert.That(r, Is.EqualTo((byte)~(c * perClient + i)), $"client {c} answer {i}: in order, its own");
                }
            foreach (IpcClient c in senders) c.Dispose();
        }
    }

    [TestCase(2u << 20)]
    [TestCase(16u << 20)]
    public void MaxMessageSizeAboveOneMiB_TheServerStarts_AndCarriesMessagesThatLarge(uint maxMessage)
    {
        // np_server_create accepts max_message_size up to 2^29; a server it created must start.
        string address = IpcTest.NewAddress("big-messages");
        Assert.That(IpcServer.Create(new IpcServerOptions { Address = address, MaxMessageSize = maxMessage }, out IpcServer? created), Is.EqualTo(NpStatus.Ok));
        using IpcServer server = created!;
        Assert.That(server.AddRoute("echo", 0, 0, IpcTest.Echo, out uint echo), Is.EqualTo(NpStatus.Ok));
        Assert.That(server.AddRoute("pull", 0, 0, null, out uint pull), Is.EqualTo(NpStatus.Ok));
        Assert.That(server.Start(), Is.EqualTo(NpStatus.Ok), $"start with max_message_size {maxMessage}: {Diagnostics.LastError.Message}");
        using IpcClient client = IpcTest.ConnectCore(address);
        Assert.That(client.MaxMessageSize, Is.EqualTo(maxMessage));
        byte[] request = new byte[maxMessage], response = new byte[maxMessage];
        IpcTest.Fill(request, 3);
        uint length;
        fixed (byte* q = request) fixed (byte* r = response)
            Assert.That(client.Call(echo, q, maxMessage, r, maxMessage, out length, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
        Assert.That(length, Is.EqualTo(maxMessage));
        Assert.That(response.AsSpan().SequenceEqual(request), Is.True, "a maximum-size message, echoed intact");
        // A pull request that large is copied out of the ring into a pooled buffer too.
        NpStatus pulled = NpStatus.Internal;
        Thread replier = IpcTest.Start("replier", () =>
        {
            pulled = server.Receive(IpcTest.CallMs, out ulong token, out _, out byte* data, out uint n);
            if (pulled == NpStatus.Ok) pulled = server.Reply(token, data, n, 0);
        });
        fixed (byte* q = request) fixed (byte* r = response)
            Assert.That(client.Call(pull, q, maxMessage, r, maxMessage, out length, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
        IpcTest.JoinAll([replier], "replier");
        Assert.That(pulled, Is.EqualTo(NpStatus.Ok));
        Assert.That(response.AsSpan().SequenceEqual(request), Is.True, "a maximum-size pull request, echoed intact");
    }
}
