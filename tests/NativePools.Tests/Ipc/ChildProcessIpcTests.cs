using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using NativePools.Ipc;
using NativePools.Tests.Ipc;
using NativePools.Tests.Support;
using NUnit.Framework;
using static NativePools.Tests.Native.NativeApi;

namespace NativePools.Tests.Native;

/// <summary>
/// Servers and clients in different processes: the test process against the C programs of
/// <see cref="ChildPrograms"/>. A C# server (the managed core in this process, or the library
/// through np_server_*) serves child clients making checksummed calls; a child client killed
/// with SIGKILL in the middle of a call is dropped at once and nobody else notices; a child
/// server killed under blocked C# callers makes every one of them return PEER_GONE.
/// </summary>
[TestFixture]
public sealed unsafe class ChildProcessIpcTests
{
    private static ITestIpcServer StartServer(string kind, string address) => TestIpcServers.Start(kind, address);

    private static ChildProgram StartClient(string name, string address, int calls, int seed, int maxSize = 4096) =>
        ChildProgram.Start(name, ChildPrograms.Client, "calls", address, calls.ToString(), seed.ToString(), maxSize.ToString());

    [TestCase("core")]
    [TestCase("library")]
    public void CSharpServer_ChildClients_ChecksummedCalls(string kind)
    {
        const int children = 4;
        int calls = StressSize.Pick(1_500, 25_000);
        using ITestIpcServer server = StartServer(kind, IpcTest.NewAddress("children-" + kind));
        var clients = new List<ChildProgram>();
        try
        {
            for (int i = 0; i < children; i++)
                clients.Add(StartClient($"client-{i}", server.Address, calls, seed: i, maxSize: i == 0 ? 60_000 : 2048));
            foreach (ChildProgram c in clients)
            {
                int code = c.WaitForExit();
                Assert.That(code, Is.Zero, c.Output);
                Assert.That(c.Output, Does.Contain($"ok {calls} calls"), c.Output);
            }
            // connections_now falls at each hang-up; peer_hangups counts once the worker has closed the connection.
            Assert.That(IpcTest.Eventually(() => server.Stats() is { ConnectionsNow: 0 } s && s.PeerHangups == children), Is.True,
                "the server saw every child close");
            IpcServerStats s = server.Stats();
            Assert.Multiple(() =>
            {
                Assert.That(s.Requests, Is.EqualTo((ulong)(children * calls)));
                Assert.That(s.Responses, Is.EqualTo((ulong)(children * calls)));
                Assert.That(s.BytesOut - s.BytesIn, Is.EqualTo(8ul * (ulong)(children * calls)));
                Assert.That(s.ConnectionsTotal, Is.EqualTo((ulong)children));
                Assert.That(s.PeerHangups, Is.EqualTo((ulong)children));
                Assert.That(s.ErrorResponses + s.ProtocolErrors, Is.Zero);
            });
        }
        finally
        {
            foreach (ChildProgram c in clients) c.Dispose();
        }
    }

    [TestCase("core")]
    [TestCase("library")]
    public void ChildClientKilledMidCall_ServerDropsItAtOnce_OthersKeepBeingServed(string kind)
    {
        using ITestIpcServer server = StartServer(kind, IpcTest.NewAddress("kill-client-" + kind));
        using ChildProgram survivor = StartClient("survivor", server.Address, calls: 0, seed: 1);
        using ChildProgram busy = StartClient("busy-victim", server.Address, calls: 0, seed: 2);
        using ChildProgram stalled = ChildProgram.Start("stalled-victim", ChildPrograms.Client, "stall", server.Address);
        survivor.WaitForLine("progress");
        busy.WaitForLine("progress");
        stalled.WaitForLine("calling");
        // The server holds the stalled child's request: the child is blocked inside np_client_call.
        Assert.That(server.Receive(IpcTest.CallMs, out ulong token, out byte* data, out uint length), Is.EqualTo(NpStatus.Ok));
        Assert.That(length, Is.EqualTo(1u));
        IpcServerStats before = server.Stats();
        Assert.That(before.ConnectionsNow, Is.EqualTo(3ul));

        stalled.Kill();
        Assert.That(IpcTest.Eventually(() => server.Stats() is var s && s.PeerHangups == before.PeerHangups + 1 && s.ConnectionsNow == 2), Is.True,
            $"the server drops the killed child: {Describe(server.Stats())}");
        Assert.That(server.Reply(token, data, length), Is.EqualTo(NpStatus.PeerGone), "its request has nobody to answer");

        // Killed in the middle of a stream of calls (spinning or parked on an answer).
        busy.Kill();
        Assert.That(IpcTest.Eventually(() => server.Stats() is var s && s.PeerHangups == before.PeerHangups + 2 && s.ConnectionsNow == 1), Is.True,
            $"the server drops the busy child: {Describe(server.Stats())}");

        // The survivor is still served: it reports more progress, and a new client works too.
        survivor.WaitForLine("progress");
        using (IpcClient client = IpcTest.ConnectCore(server.Address))
        {
            uint sum = IpcTest.Route(client, "sum");
            byte[] q = new byte[3000], r = new byte[3008];
            IpcTest.Fill(q, 99);
            uint n;
            fixed (byte* qp = q) fixed (byte* rp = r)
                Assert.That(client.Call(sum, qp, 3000, rp, 3008, out n, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
            Assert.That(IpcTest.IsSumOf(r.AsSpan(0, (int)n), q), Is.True);
        }
        survivor.CloseStdin();
        Assert.That(survivor.WaitForExit(), Is.Zero, survivor.Output);
        Assert.That(survivor.Output, Does.Contain("ok "));
        IpcServerStats after = server.Stats();
        Assert.That(after.ProtocolErrors, Is.Zero, "a dead client is a hang-up, not a protocol error");
        Assert.That(after.ErrorResponses, Is.Zero);
    }

    private static string Describe(IpcServerStats s) =>
        $"connections_now {s.ConnectionsNow}, peer_hangups {s.PeerHangups}, protocol_errors {s.ProtocolErrors}, requests {s.Requests}";

    [Test]
    public void ChildServerKilled_CallsBlockedOnManyCSharpThreads_ReturnPeerGone()
    {
        const int libraryThreads = 4, coreThreads = 2;
        string address = IpcTest.NewAddress("kill-server");
        using ChildProgram child = ChildProgram.Start("server", ChildPrograms.Server, address, "2");
        child.WaitForLine("ready");

        // First, checksummed calls from C# threads to the C handler in the child.
        ThreadRunner.Run(4, t =>
        {
            ulong client = NativeIpc.ConnectOrThrow(address);
            try
            {
                uint sum = NativeIpc.Resolve(client, "sum");
                byte[] q = new byte[2048], r = new byte[4096];
                for (int i = 0; i < 300; i++)
                {
                    int size = (i * 37 + t) % q.Length;
                    IpcTest.Fill(q.AsSpan(0, size), (ulong)(t * 1000 + i));
                    uint n;
                    fixed (byte* qp = q) fixed (byte* rp = r)
                        Check.Status((NpStatus)np_client_call(client, sum, qp, (uint)size, rp, (uint)r.Length, &n, IpcTest.CallMs), NpStatus.Ok, $"call {i}");
                    Check.That(IpcTest.IsSumOf(r.AsSpan(0, (int)n), q.AsSpan(0, size)), $"thread {t} call {i}: wrong answer from the child");
                }
            }
            finally { np_client_close(client); }
        });

        // Then callers that block: on "stall" forever (library and core clients), and one streaming "sum" calls.
        ulong[] libraryClients = Enumerable.Range(0, libraryThreads).Select(_ => NativeIpc.Connect(address)).ToArray();
        IpcClient[] coreClients = Enumerable.Range(0, coreThreads).Select(_ => IpcTest.ConnectCore(address)).ToArray();
        ulong streamer = NativeIpc.Connect(address);
        var libraryStatus = new int[libraryThreads];
        var coreStatus = new NpStatus[coreThreads];
        int streamStatus = 0;
        long streamed = 0;
        var threads = new List<Thread>();
        for (int t = 0; t < libraryThreads; t++)
        {
            int i = t;
            threads.Add(IpcTest.Start($"library-caller-{i}", () =>
            {
                uint stall = NativeIpc.Resolve(libraryClients[i], "stall");
                byte q = 1, r = 0;
                uint n;
                libraryStatus[i] = np_client_call(libraryClients[i], stall, &q, 1, &r, 1, &n, NpIpcConstants.NP_WAIT_FOREVER);
            }));
        }
        for (int t = 0; t < coreThreads; t++)
        {
            int i = t;
            threads.Add(IpcTest.Start($"core-caller-{i}", () =>
            {
                coreClients[i].Resolve("stall", out uint stall);
                byte q = 1, r = 0;
                coreStatus[i] = coreClients[i].Call(stall, &q, 1, &r, 1, out _, IpcClient.WaitForever);
            }));
        }
        threads.Add(IpcTest.Start("streamer", () =>
        {
            uint sum = NativeIpc.Resolve(streamer, "sum");
            byte* q = stackalloc byte[512];
            byte* r = stackalloc byte[520];
            uint n;
            int s;
            while ((s = np_client_call(streamer, sum, q, 512, r, 520, &n, NpIpcConstants.NP_WAIT_FOREVER)) == 0) Interlocked.Increment(ref streamed);
            streamStatus = s;
        }));
        child.WaitForLine($"stalled {libraryThreads + coreThreads}");
        Assert.That(IpcTest.Eventually(() => Interlocked.Read(ref streamed) > 100), Is.True, "the streamer is under way");

        child.Kill();
        IpcTest.JoinAll(threads.ToArray(), "callers of a killed server");
        Assert.Multiple(() =>
        {
            Assert.That(libraryStatus.Select(s => (NpStatus)s), Is.All.EqualTo(NpStatus.PeerGone), "np_client_call blocked with NP_WAIT_FOREVER");
            Assert.That(coreStatus, Is.All.EqualTo(NpStatus.PeerGone), "IpcClient.Call blocked with WaitForever");
            Assert.That((NpStatus)streamStatus, Is.EqualTo(NpStatus.PeerGone), "a client in the middle of a stream of calls");
        });

        // Later calls fail the same way at once; the address is free for a new server.
        byte b = 0;
        uint len;
        Assert.That((NpStatus)np_client_call(libraryClients[0], 1, &b, 1, &b, 1, &len, NpIpcConstants.NP_WAIT_FOREVER), Is.EqualTo(NpStatus.PeerGone));
        foreach (ulong c in libraryClients) Assert.That(np_client_close(c), Is.Zero);
        Assert.That(np_client_close(streamer), Is.Zero);
        foreach (IpcClient c in coreClients) c.Dispose();
        using IpcServer replacement = IpcTest.StartCoreServer(address, null, ("sum", IpcTest.Sum));
        using IpcClient fresh = IpcTest.ConnectCore(address);
        byte* answer = stackalloc byte[16];
        Assert.That(fresh.Call(IpcTest.Route(fresh, "sum"), &b, 1, answer, 16, out len, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), "a new server serves at the address");
        Assert.That(len, Is.EqualTo(9u));
    }

    [Test]
    public void ChildServerStopsCleanly_BlockedCSharpCallersGetShutdown()
    {
        string address = IpcTest.NewAddress("stop-child");
        using ChildProgram child = ChildProgram.Start("server", ChildPrograms.Server, address, "1");
        child.WaitForLine("ready");
        ulong[] clients = Enumerable.Range(0, 3).Select(_ => NativeIpc.Connect(address)).ToArray();
        var statuses = new int[clients.Length];
        Thread[] callers = Enumerable.Range(0, clients.Length).Select(i => IpcTest.Start($"caller-{i}", () =>
        {
            uint stall = NativeIpc.Resolve(clients[i], "stall");
            byte q = 1, r = 0;
            uint n;
            statuses[i] = np_client_call(clients[i], stall, &q, 1, &r, 1, &n, NpIpcConstants.NP_WAIT_FOREVER);
        })).ToArray();
        child.WaitForLine($"stalled {clients.Length}");
        child.CloseStdin(); // the child calls np_server_stop(0), np_server_destroy and exits
        IpcTest.JoinAll(callers, "callers of a stopped server");
        Assert.That(statuses.Select(s => (NpStatus)s), Is.All.EqualTo(NpStatus.Shutdown));
        Assert.That(child.WaitForExit(), Is.Zero, child.Output);
        Assert.That(child.Output, Does.Contain($"stopped requests {clients.Length}"));
        foreach (ulong c in clients) Assert.That(np_client_close(c), Is.Zero);
    }
}
