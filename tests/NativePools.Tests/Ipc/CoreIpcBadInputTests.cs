using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using NativePools.Ipc;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Ipc;

/// <summary>
/// Every bad input the IPC core API can see gets a clear status and leaves the server, and
/// where it makes sense the client, usable: options, addresses, routes, lifecycle misuse,
/// sizes, buffers, timeouts with late responses, pull tokens.
/// </summary>
[TestFixture]
public sealed unsafe class CoreIpcBadInputTests
{
    private const uint Max = 4096;

    private static IpcServer StartServer(string address) =>
        IpcTest.StartCoreServer(address, new IpcServerOptions { MaxMessageSize = Max }, ("sum", IpcTest.Sum), ("pull", null));

    [Test]
    public void ServerOptions_OutOfRange_AreRefusedWithTheirField()
    {
        string address = IpcTest.NewAddress("options");
        var cases = new (string What, IpcServerOptions Options, string Detail)[]
        {
            ("no address", new IpcServerOptions(), "address"),
            ("empty address", new IpcServerOptions { Address = "" }, "address"),
            ("'@' alone", new IpcServerOptions { Address = "@" }, "address"),
            ("address of 108 bytes", new IpcServerOptions { Address = "@" + new string('a', 107) }, "107"),
            ("address with NUL", new IpcServerOptions { Address = "@a\0b" }, "NUL"),
            ("ring not a power of two", new IpcServerOptions { Address = address, RingSize = 12_288 }, "ring_size"),
            ("ring below 4096", new IpcServerOptions { Address = address, RingSize = 2048 }, "ring_size"),
            ("ring above 2^30", new IpcServerOptions { Address = address, RingSize = 1u << 31 }, "ring_size"),
            ("ring smaller than a message", new IpcServerOptions { Address = address, RingSize = 4096, MaxMessageSize = 4096 }, "cannot hold"),
            ("max message above 2^29", new IpcServerOptions { Address = address, MaxMessageSize = (1u << 29) + 1 }, "max_message_size"),
            ("negative max clients", new IpcServerOptions { Address = address, MaxClients = -1 }, "max_clients"),
            ("too many max clients", new IpcServerOptions { Address = address, MaxClients = 65_537 }, "max_clients"),
            ("65 workers", new IpcServerOptions { Address = address, WorkerThreads = 65 }, "worker_threads"),
            ("negative workers", new IpcServerOptions { Address = address, WorkerThreads = -2 }, "worker_threads"),
            ("negative max pending", new IpcServerOptions { Address = address, MaxPending = -1 }, "max_pending"),
            ("spin above a second", new IpcServerOptions { Address = address, SpinMicroseconds = 1_000_001 }, "spin_us"),
        };
        Assert.Multiple(() =>
        {
            foreach (var (what, options, detail) in cases)
            {
                NpStatus status = IpcServer.Create(options, out IpcServer? server);
                Assert.That(status, Is.EqualTo(NpStatus.InvalidArgument), what);
                Assert.That(server, Is.Null, what);
                Assert.That(Diagnostics.LastError.Message, Does.Contain(detail), what);
            }
        });
    }

    [Test]
    public void AddRoute_BadNamesAndLateRoutes_AreRefused()
    {
        string address = IpcTest.NewAddress("routes");
        Assert.That(IpcServer.Create(new IpcServerOptions { Address = address }, out IpcServer? created), Is.EqualTo(NpStatus.Ok));
        using IpcServer server = created!;
        string longest = new('r', 56);
        Assert.Multiple(() =>
        {
            Assert.That(server.AddRoute(null, 0, 0, null, out _), Is.EqualTo(NpStatus.InvalidArgument), "null name");
            Assert.That(server.AddRoute("", 0, 0, null, out _), Is.EqualTo(NpStatus.InvalidArgument), "empty name");
            Assert.That(server.AddRoute(longest + "r", 0, 0, null, out _), Is.EqualTo(NpStatus.InvalidArgument), "57 bytes");
            Assert.That(server.AddRoute(new string('é', 29), 0, 0, null, out _), Is.EqualTo(NpStatus.InvalidArgument), "29 two-byte characters are 58 bytes");
            Assert.That(server.AddRoute(longest, 0, 0, null, out uint id), Is.EqualTo(NpStatus.Ok), "56 bytes is the limit");
            Assert.That(id, Is.EqualTo(1u));
            Assert.That(server.AddRoute(longest, 0, 0, IpcTest.Echo, out _), Is.EqualTo(NpStatus.InvalidArgument), "duplicate name");
            Assert.That(server.Receive(0, out _, out _, out _, out _), Is.EqualTo(NpStatus.InvalidState), "receive before start");
            Assert.That(server.Start(), Is.EqualTo(NpStatus.Ok));
            Assert.That(server.AddRoute("late", 0, 0, null, out _), Is.EqualTo(NpStatus.InvalidState), "route after start");
            Assert.That(server.Start(), Is.EqualTo(NpStatus.InvalidState), "start twice");
        });
        using IpcClient client = IpcTest.ConnectCore(address);
        Assert.That(client.Resolve(longest, out uint resolved), Is.EqualTo(NpStatus.Ok), "the 56-byte name travels whole");
        Assert.That(resolved, Is.EqualTo(1u));
    }

    [Test]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Start_AddressInUse_AndSocketDirectoryRules()
    {
        string address = IpcTest.NewAddress("in-use");
        using IpcServer first = StartServer(address);
        Assert.That(IpcServer.Create(new IpcServerOptions { Address = address }, out IpcServer? second), Is.EqualTo(NpStatus.Ok));
        using (second)
            Assert.That(second!.Start(), Is.EqualTo(NpStatus.AddressInUse), "a live server owns the abstract name");

        string root = Path.Combine(Path.GetTempPath(), $"np-ipc-dirs-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        try
        {
            // A directory others can enter is refused: they could reach the socket.
            string open = Path.Combine(root, "open");
            Directory.CreateDirectory(open);
            File.SetUnixFileMode(open, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
            Assert.That(IpcServer.Create(new IpcServerOptions { Address = Path.Combine(open, "s.sock") }, out IpcServer? refused), Is.EqualTo(NpStatus.Ok));
            using (refused)
                Assert.That(refused!.Start(), Is.EqualTo(NpStatus.PermissionDenied), Diagnostics.LastError.Message);

            // A missing directory is created 0700; clients connect by path; the socket file goes at stop.
            string socket = Path.Combine(root, "private", "s.sock");
            using (IpcServer server = StartServer(socket))
            {
                Assert.That(File.GetUnixFileMode(Path.Combine(root, "private")), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
                using IpcClient client = IpcTest.ConnectCore(socket);
                byte* b = stackalloc byte[16];
                Assert.That(client.Call(IpcTest.Route(client, "sum"), b, 4, b, 16, out uint n, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
                Assert.That(n, Is.EqualTo(12u));
                server.Stop(100);
                Assert.That(File.Exists(socket), Is.False, "stop removes the socket file");
            }

            // A stale socket file (a server that died) does not block a new server.
            string stale = Path.Combine(root, "private", "stale.sock");
            File.WriteAllText(stale, "");
            using (IpcServer server = StartServer(stale))
            using (IpcClient client = IpcTest.ConnectCore(stale))
                Assert.That(client.Resolve("sum", out _), Is.EqualTo(NpStatus.Ok), "a client connects through the replaced socket file");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Test]
    public void Connect_BadAddressesAndNoServer_GetTheirStatus()
    {
        Assert.Multiple(() =>
        {
            Assert.That(IpcClient.Connect(null, 100, out IpcClient? c), Is.EqualTo(NpStatus.InvalidArgument), "null");
            Assert.That(c, Is.Null);
            Assert.That(IpcClient.Connect("", 100, out _), Is.EqualTo(NpStatus.InvalidArgument), "empty");
            Assert.That(IpcClient.Connect("@", 100, out _), Is.EqualTo(NpStatus.InvalidArgument), "'@'");
            Assert.That(IpcClient.Connect("@" + new string('x', 107), 100, out _), Is.EqualTo(NpStatus.InvalidArgument), "108 bytes");
            Assert.That(IpcClient.Connect("@a\0b", 100, out _), Is.EqualTo(NpStatus.InvalidArgument), "NUL inside");
            Assert.That(IpcClient.Connect(IpcTest.NewAddress("nobody"), 0, out _), Is.EqualTo(NpStatus.Timeout), "timeout 0 tries once");
            Assert.That(IpcClient.Connect(IpcTest.NewAddress("nobody"), 30, out _), Is.EqualTo(NpStatus.Timeout), "nobody listens");
            Assert.That(IpcClient.Connect("/proc/np-no-such-dir/s.sock", 30, out _), Is.EqualTo(NpStatus.Timeout), "no such socket file (yet)");
        });
    }

    [Test]
    public void MaxClients_FurtherClientsAreRefusedServerFull_UntilOneLeaves()
    {
        string address = IpcTest.NewAddress("full");
        using IpcServer server = IpcTest.StartCoreServer(address, new IpcServerOptions { MaxClients = 2, MaxMessageSize = Max }, ("sum", IpcTest.Sum));
        IpcClient a = IpcTest.ConnectCore(address);
        using IpcClient b = IpcTest.ConnectCore(address);
        Assert.That(IpcClient.Connect(address, IpcTest.ConnectMs, out IpcClient? c), Is.EqualTo(NpStatus.ServerFull));
        Assert.That(c, Is.Null);
        Assert.That(server.GetStats().ConnectionsRejected, Is.EqualTo(1ul));
        a.Dispose();
        Assert.That(IpcTest.Eventually(() => server.GetStats().ConnectionsNow == 1), Is.True, "the server sees the first client leave");
        using IpcClient d = IpcTest.ConnectCore(address);
        byte* x = stackalloc byte[16];
        Assert.That(d.Call(IpcTest.Route(d, "sum"), x, 1, x, 16, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
        Assert.That(b.Call(IpcTest.Route(b, "sum"), x, 1, x, 16, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
    }

    [Test]
    public void ClientCalls_BadRoutesSizesAndPointers_GetTheirStatus_AndSendNothing()
    {
        string address = IpcTest.NewAddress("bad-calls");
        using IpcServer server = StartServer(address);
        using IpcClient client = IpcTest.ConnectCore(address);
        uint sum = IpcTest.Route(client, "sum");
        byte* buffer = stackalloc byte[(int)Max + 16];
        Assert.Multiple(() =>
        {
            Assert.That(client.Resolve(null, out _), Is.EqualTo(NpStatus.UnknownRoute), "resolve null");
            Assert.That(client.Resolve("SUM", out _), Is.EqualTo(NpStatus.UnknownRoute), "names are case-sensitive");
            Assert.That(client.Call(0, buffer, 1, buffer, Max, out _, 100), Is.EqualTo(NpStatus.UnknownRoute), "route 0");
            Assert.That(client.Call(3, buffer, 1, buffer, Max, out _, 100), Is.EqualTo(NpStatus.UnknownRoute), "route 3 of 2");
            Assert.That(client.Send(uint.MaxValue, buffer, 1, out _, 100), Is.EqualTo(NpStatus.UnknownRoute), "send to route 2^32-1");
            Assert.That(client.Call(sum, buffer, Max + 1, buffer, Max, out _, 100), Is.EqualTo(NpStatus.MessageTooLarge), "one byte over");
            Assert.That(client.Send(sum, buffer, uint.MaxValue, out _, 100), Is.EqualTo(NpStatus.MessageTooLarge), "2^32-1 bytes");
            Assert.That(client.Call(sum, null, 5, buffer, Max, out _, 100), Is.EqualTo(NpStatus.NullPointer), "NULL request with a length");
            Assert.That(client.Receive(out _, buffer, Max, out _, 100), Is.EqualTo(NpStatus.InvalidState), "receive with nothing outstanding");
        });
        Assert.That(client.Call(sum, null, 0, buffer, Max, out uint length, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), "NULL request of length 0");
        Assert.That(length, Is.EqualTo(8u));
        Assert.That(client.Call(sum, buffer, Max - 8, buffer, Max, out length, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), "the largest sum request");
        server.Stop(1000);
        Assert.That(server.GetStats().Requests, Is.EqualTo(2ul), "refused calls sent nothing");
    }

    [Test]
    public void Call_NullResponseBuffer_IsRefused_AndTheClientStaysUsable()
    {
        string address = IpcTest.NewAddress("null-response");
        using IpcServer server = StartServer(address);
        using IpcClient client = IpcTest.ConnectCore(address);
        uint sum = IpcTest.Route(client, "sum");
        byte* buffer = stackalloc byte[64];
        Assert.That(client.Call(sum, buffer, 8, null, 64, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.NullPointer), "a NULL response buffer with a capacity");
        NpStatus next = client.Call(sum, buffer, 8, buffer, 64, out uint length, IpcTest.CallMs);
        Assert.That(next, Is.EqualTo(NpStatus.Ok), $"the next call on the same client: {Diagnostics.LastError.Message}");
        Assert.That(length, Is.EqualTo(16u));
    }

    [Test]
    public void BufferTooSmall_ResponseStaysQueued_UntilReceivedWithRoom()
    {
        string address = IpcTest.NewAddress("too-small");
        using IpcServer server = StartServer(address);
        using IpcClient client = IpcTest.ConnectCore(address);
        uint sum = IpcTest.Route(client, "sum");
        byte[] request = new byte[1000];
        IpcTest.Fill(request, 77);
        byte* response = stackalloc byte[2000];
        fixed (byte* q = request)
        {
            Assert.That(client.Call(sum, q, 1000, response, 10, out uint needed, IpcTest.CallMs), Is.EqualTo(NpStatus.BufferTooSmall));
            Assert.That(needed, Is.EqualTo(1008u), "the size needed");
            Assert.That(client.Call(sum, q, 1, response, 2000, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.InvalidState), "a call while the response is queued");
            Assert.That(client.Receive(out _, response, 1007, out needed, IpcTest.CallMs), Is.EqualTo(NpStatus.BufferTooSmall), "still one byte short");
            Assert.That(needed, Is.EqualTo(1008u));
            Assert.That(client.Receive(out ulong id, response, 1008, out uint length, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
            Assert.That(id, Is.Not.Zero);
            Assert.That(IpcTest.IsSumOf(new ReadOnlySpan<byte>(response, (int)length), request), Is.True, "the queued response is the right one, intact");
            Assert.That(client.Call(sum, q, 1000, response, 2000, out length, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
            Assert.That(IpcTest.IsSumOf(new ReadOnlySpan<byte>(response, (int)length), request), Is.True);
        }
    }

    [Test]
    public void ZeroTimeout_TimesOut_AndTheLateResponseIsDropped()
    {
        string address = IpcTest.NewAddress("late");
        using IpcServer server = StartServer(address);
        using IpcClient client = IpcTest.ConnectCore(address);
        uint pull = IpcTest.Route(client, "pull");
        const byte late = 1, fresh = 2;
        byte q = late, response = 0;
        Assert.That(client.Call(pull, &q, 1, &q, 1, out _, 0), Is.EqualTo(NpStatus.Timeout), "nobody answers at once");
        // The answer to the timed-out call arrives now, before the next call's.
        Assert.That(server.Receive(IpcTest.CallMs, out ulong token, out _, out byte* data, out uint length), Is.EqualTo(NpStatus.Ok));
        Assert.That(data[0], Is.EqualTo(late));
        Assert.That(server.Reply(token, data, length, 0), Is.EqualTo(NpStatus.Ok));
        NpStatus status = NpStatus.Internal;
        Thread caller = IpcTest.Start("caller", () =>
        {
            byte f = fresh, r = 0;
            status = client.Call(pull, &f, 1, &r, 1, out _, IpcTest.CallMs);
            response = r;
        });
        Assert.That(server.Receive(IpcTest.CallMs, out token, out _, out data, out length), Is.EqualTo(NpStatus.Ok));
        Assert.That(data[0], Is.EqualTo(fresh));
        data[0] = 0x42;
        Assert.That(server.Reply(token, data, length, 0), Is.EqualTo(NpStatus.Ok));
        IpcTest.JoinAll([caller], "caller");
        Assert.That(status, Is.EqualTo(NpStatus.Ok), "the next call gets its own answer");
        Assert.That(response, Is.EqualTo(0x42), "not the late one");
        Assert.That(client.LateResponses, Is.EqualTo(1));
    }

    [Test]
    public void ManyTimedOutCalls_AllTheirLateResponsesAreDropped()
    {
        // More timed-out calls than the client remembers individually (64): every late
        // response must still be dropped, and the next call must get its own answer.
        const int timedOut = 100;
        string address = IpcTest.NewAddress("many-late");
        using IpcServer server = StartServer(address);
        using IpcClient client = IpcTest.ConnectCore(address);
        uint pull = IpcTest.Route(client, "pull");
        for (int i = 0; i < timedOut; i++)
        {
            byte b = (byte)i;
            Assert.That(client.Call(pull, &b, 1, &b, 1, out _, 0), Is.EqualTo(NpStatus.Timeout));
        }
        for (int i = 0; i < timedOut; i++)
        {
            Assert.That(server.Receive(IpcTest.CallMs, out ulong token, out _, out byte* data, out uint length), Is.EqualTo(NpStatus.Ok));
            Assert.That(server.Reply(token, data, length, 0), Is.EqualTo(NpStatus.Ok));
        }
        NpStatus status = NpStatus.Internal;
        string detail = "";
        byte answer = 0;
        Thread caller = IpcTest.Start("caller", () =>
        {
            byte q = 200, r = 0;
            status = client.Call(pull, &q, 1, &r, 1, out _, IpcTest.CallMs);
            detail = Diagnostics.LastError.Message;
            answer = r;
        });
        // Serve the fresh call if it got as far as sending it.
        if (server.Receive(10_000, out ulong t, out _, out byte* d, out uint l) == NpStatus.Ok)
        {
            d[0] = 0x99;
            server.Reply(t, d, l, 0);
        }
        IpcTest.JoinAll([caller], "caller");
        Assert.That(status, Is.EqualTo(NpStatus.Ok), $"the call after {timedOut} timed-out calls: {detail}");
        Assert.That(answer, Is.EqualTo(0x99));
        Assert.That(client.LateResponses, Is.EqualTo(timedOut));
    }

    [Test]
    public void PullTokens_Misused_GetTheirStatus()
    {
        string address = IpcTest.NewAddress("tokens");
        using IpcServer server = StartServer(address);
        using IpcClient client = IpcTest.ConnectCore(address);
        uint pull = IpcTest.Route(client, "pull");
        byte q = 1;
        Assert.That(client.Send(pull, &q, 1, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
        Assert.That(client.Send(pull, &q, 1, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
        Assert.That(server.Receive(IpcTest.CallMs, out ulong token, out _, out byte* data, out uint length), Is.EqualTo(NpStatus.Ok));
        byte* big = stackalloc byte[(int)Max + 1];
        Assert.Multiple(() =>
        {
            Assert.That(server.Reply(0, data, length, 0), Is.EqualTo(NpStatus.InvalidArgument), "token 0");
            Assert.That(server.Reply(token + 1, data, length, 0), Is.EqualTo(NpStatus.InvalidArgument), "a token never handed out");
            Assert.That(server.Reply(token ^ (1UL << 30), data, length, 0), Is.EqualTo(NpStatus.InvalidArgument), "a token of another generation");
            Assert.That(server.Reply(ulong.MaxValue, data, length, 0), Is.EqualTo(NpStatus.InvalidArgument), "garbage token");
            Assert.That(server.Reply(token, null, 3, 0), Is.EqualTo(NpStatus.NullPointer), "NULL data with a length");
            Assert.That(server.Reply(token, big, Max + 1, 0), Is.EqualTo(NpStatus.MessageTooLarge), "reply beyond the maximum message");
            Assert.That(server.Reply(token, null, 0, 5), Is.EqualTo(NpStatus.InvalidArgument), "a positive error status");
        });
        Assert.That(server.Reply(token, null, 0, -77), Is.EqualTo(NpStatus.Ok), "the token survived the refused replies: answer it with an error");
        Assert.That(server.Reply(token, data, length, 0), Is.EqualTo(NpStatus.InvalidArgument), "a token answered already");
        Assert.That(server.Receive(IpcTest.CallMs, out ulong second, out _, out data, out length), Is.EqualTo(NpStatus.Ok));
        Assert.That(server.Reply(second, data, length, 0), Is.EqualTo(NpStatus.Ok));

        byte r = 0;
        Assert.That(client.Receive(out _, &r, 1, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.HandlerFailed), "an error reply fails the call");
        Assert.That(Diagnostics.LastError.Message, Does.Contain("-77"));
        Assert.That(client.Receive(out _, &r, 1, out uint n, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
        Assert.That((n, r), Is.EqualTo((1u, q)));
        Assert.That(server.Receive(0, out _, out _, out _, out _), Is.EqualTo(NpStatus.Timeout), "nothing left");
        server.Stop(100);
        Assert.That(server.Receive(0, out _, out _, out _, out _), Is.EqualTo(NpStatus.Shutdown), "receive after stop");
        Assert.That(server.GetStats().ErrorResponses, Is.EqualTo(1ul));
    }

    [Test]
    public void ClosedClient_EveryCallGetsAStatus_NeverACrash()
    {
        // In a child process: a crash here would abort the whole test run.
        ChildProcessMain.Result result = ChildProcessMain.Run("core-closed-client", [IpcTest.NewAddress("closed")], IpcTest.Liveness);
        AssertEveryCallFailedCleanly(result, "open-call=NP_OK", 6);
    }

    [Test]
    public void DisposedServer_EveryCallGetsAStatus_NeverACrash()
    {
        ChildProcessMain.Result result = ChildProcessMain.Run("core-disposed-server", [IpcTest.NewAddress("disposed")], IpcTest.Liveness);
        AssertEveryCallFailedCleanly(result, "open-call=NP_OK", 4);
    }

    private static void AssertEveryCallFailedCleanly(ChildProcessMain.Result result, string beforeClose, int calls)
    {
        Assert.That(result.Stdout, Does.Contain("done"), $"the child ran every call to the end\n{result}");
        ChildProcessMain.AssertSucceeded(result, "calls on a closed object");
        string[] lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(lines, Does.Contain(beforeClose), "the object worked before it was closed");
        string[] statuses = lines.Where(l => l.StartsWith("status ", StringComparison.Ordinal)).ToArray();
        Assert.That(statuses, Has.Length.EqualTo(calls), "one status per call on a closed object");
        Assert.Multiple(() =>
        {
            foreach (string line in statuses)
                Assert.That(line, Does.Match(@"=NP_E_[A-Z_]+$"), "a failure status, not NP_OK, not an exception");
        });
    }
}

/// <summary>The child sides of the closed-object tests of <see cref="CoreIpcBadInputTests"/>.</summary>
public static unsafe class CoreIpcClosedObjects
{
    /// <summary>
    /// Child role "core-closed-client": calls every operation of a disposed client. Prints
    /// "status OP=NAME" per call (flushed at once, so a crash leaves the calls before it), then "done".
    /// </summary>
    public static int ClosedClient(string[] args)
    {
        string address = args[0];
        IpcServer.Create(new IpcServerOptions { Address = address }, out IpcServer? server);
        server!.AddRoute("sum", 0, 0, IpcTest.Sum, out uint sum);
        server.Start();
        IpcClient.Connect(address, IpcTest.ConnectMs, out IpcClient? client);
        byte* buffer = stackalloc byte[64];
        Line("open-call=" + StatusText.NameString(client!.Call(sum, buffer, 4, buffer, 64, out _, IpcTest.CallMs)));
        client.Dispose();
        Report("client.call", () => client.Call(sum, buffer, 4, buffer, 64, out _, 1000));
        Report("client.send", () => client.Send(sum, buffer, 4, out _, 1000));
        Report("client.receive", () => client.Receive(out _, buffer, 64, out _, 1000));
        Report("client.claim", () => client.Claim(sum, 4, out _, 1000));
        Report("client.commit", () => client.Commit(4, out _));
        Report("client.abort", () => client.Abort());
        Line("call client.dispose (again)");
        client.Dispose();
        Line("ok client.dispose (again)");
        server.Dispose();
        Line("done");
        return 0;
    }

    /// <summary>Child role "core-disposed-server": calls every operation of a disposed server (stop and dispose again are harmless).</summary>
    public static int DisposedServer(string[] args)
    {
        string address = args[0];
        IpcServer.Create(new IpcServerOptions { Address = address }, out IpcServer? server);
        server!.AddRoute("sum", 0, 0, IpcTest.Sum, out uint sum);
        server.Start();
        IpcClient.Connect(address, IpcTest.ConnectMs, out IpcClient? client);
        byte* buffer = stackalloc byte[64];
        Line("open-call=" + StatusText.NameString(client!.Call(sum, buffer, 4, buffer, 64, out _, IpcTest.CallMs)));
        server.Dispose();
        Report("server.start", () => server.Start());
        Report("server.add-route", () => server.AddRoute("late", 0, 0, null, out _));
        Report("server.receive", () => server.Receive(0, out _, out _, out _, out _));
        Report("server.reply", () => server.Reply(1, buffer, 1, 0));
        Line("call server.get-stats");
        IpcServerStats stats = server.GetStats();
        Line($"ok server.get-stats connections_now={stats.ConnectionsNow}");
        Line("harmless server.stop=" + StatusText.NameString(server.Stop(0)));
        Line("call server.dispose (again)");
        server.Dispose();
        Line("ok server.dispose (again)");
        Line("client.call after the server went=" + StatusText.NameString(client.Call(sum, buffer, 4, buffer, 64, out _, 1000)));
        client.Dispose();
        Line("done");
        return 0;
    }

    private delegate NpStatus Op();

    private static void Report(string name, Op op)
    {
        Line("call " + name);
        string result;
        try
        {
            result = StatusText.NameString(op());
        }
        catch (Exception e)
        {
            result = "exception " + e.GetType().Name + ": " + e.Message;
        }
        Line($"status {name}={result}");
    }

    private static void Line(string text)
    {
        Console.Out.WriteLine(text);
        Console.Out.Flush();
    }
}
