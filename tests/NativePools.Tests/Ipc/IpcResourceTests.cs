using System;
using System.IO;
using System.Linq;
using NativePools.Ipc;
using NativePools.Tests.Ipc;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Native;

/// <summary>
/// What servers and connections hold, and give back: descriptors and mappings return to their
/// count once connections close and servers are destroyed; closed connections free their
/// max_clients slot; a server that cannot get its descriptors says so with a status.
/// </summary>
[TestFixture]
public sealed unsafe class IpcResourceTests
{
    /// <summary>
    /// Open descriptors of the kinds servers and connections use: sockets, eventfds, epoll
    /// instances and memfds. Files the test host opens on its own (an assembly the runtime loads
    /// late, under load) are not counted.
    /// </summary>
    private static int OpenDescriptors() => DescriptorTargets().Count(t =>
        t.StartsWith("socket:", StringComparison.Ordinal) || t.StartsWith("anon_inode:", StringComparison.Ordinal) ||
        t.StartsWith("/memfd:", StringComparison.Ordinal));

    /// <summary>What each open descriptor is (its /proc/self/fd link), to name the ones a failure left over.</summary>
    private static string[] DescriptorTargets() =>
        Directory.GetFiles("/proc/self/fd").Select(f => { try { return new FileInfo(f).LinkTarget ?? "?"; } catch (IOException) { return "(closed)"; } }).ToArray();

    private static string Extra(string[] before) =>
        string.Join(", ", DescriptorTargets().GroupBy(t => t).Select(g => (g.Key, Count: g.Count() - before.Count(b => b == g.Key))).Where(x => x.Count > 0).Select(x => $"{x.Count} x {x.Key}"));

    /// <summary>Connection mappings (the memfd "np-ipc") in this process, client and server sides.</summary>
    private static int ConnectionMappings() => File.ReadAllLines("/proc/self/maps").Count(l => l.Contains("memfd:np-ipc", StringComparison.Ordinal));

    [Test]
    public void ConnectCallClose_OnManyThreads_ConnectionsGiveBackEveryDescriptorAndMapping()
    {
        const int threads = 4;
        int rounds = StressSize.Pick(150, 2_000);
        string address = IpcTest.NewAddress("churn");
        IpcServer server = IpcTest.StartCoreServer(address, new IpcServerOptions { MaxMessageSize = 4096, RingSize = 16 * 1024, WorkerThreads = 2 },
            ("sum", IpcTest.Sum));
        using (server)
        {
            // One connection first, so lazily created process-wide descriptors are in the baseline.
            using (IpcClient warm = IpcTest.ConnectCore(address)) { }
            Assert.That(IpcTest.Eventually(() => server.GetStats().ConnectionsNow == 0), Is.True);
            int fdsBefore = OpenDescriptors();
            string[] targetsBefore = DescriptorTargets();
            Assert.That(ConnectionMappings(), Is.Zero, "no connection is mapped before the churn");

            ThreadRunner.Run(threads, t =>
            {
                byte[] q = new byte[512], r = new byte[520];
                for (int i = 0; i < rounds; i++)
                {
                    NpStatus connected = IpcClient.Connect(address, IpcTest.ConnectMs, out IpcClient? client);
                    Check.Status(connected, NpStatus.Ok, $"thread {t} round {i}: connect");
                    using (client)
                    {
                        client!.Resolve("sum", out uint sum);
                        int size = (t * 7 + i) % q.Length;
                        IpcTest.Fill(q.AsSpan(0, size), (ulong)(t * 100_000 + i));
                        uint n;
                        fixed (byte* qp = q) fixed (byte* rp = r)
                            Check.Status(client.Call(sum, qp, (uint)size, rp, (uint)r.Length, out n, IpcTest.CallMs), NpStatus.Ok, $"thread {t} round {i}: call");
                        Check.That(IpcTest.IsSumOf(r.AsSpan(0, (int)n), q.AsSpan(0, size)), $"thread {t} round {i}: wrong answer");
                    }
                }
            });
            ulong total = (ulong)(threads * rounds) + 1;
            // connections_now falls at each hang-up; peer_hangups counts when the worker has closed the connection.
            Assert.That(IpcTest.Eventually(() => server.GetStats() is { ConnectionsNow: 0 } s && s.PeerHangups == total), Is.True, "every connection was released");
            IpcServerStats s = server.GetStats();
            Assert.Multiple(() =>
            {
                Assert.That(s.ConnectionsTotal, Is.EqualTo(total));
                Assert.That(s.PeerHangups, Is.EqualTo(total));
                Assert.That(s.ConnectionsRejected, Is.Zero);
                Assert.That(s.Requests, Is.EqualTo(total - 1));
            });
            Assert.That(IpcTest.Eventually(() => OpenDescriptors() <= fdsBefore), Is.True,
                $"descriptors after {total - 1} more connections: {OpenDescriptors()}, before: {fdsBefore}; new: {Extra(targetsBefore)}");
            Assert.That(IpcTest.Eventually(() => ConnectionMappings() == 0), Is.True,
                $"connection mappings left after {total - 1} connections came and went: {ConnectionMappings()}");
        }
    }

    [Test]
    public void ServersCreatedStartedAndDestroyed_GiveBackEveryDescriptor([Values("core", "library")] string kind)
    {
        const int servers = 10;
        // A first cycle warms up what the runtime and library open once per process.
        using (ITestIpcServer warm = TestIpcServers.Start(kind, IpcTest.NewAddress("fd-warm-" + kind), 4096)) { }
        int before = OpenDescriptors();
        string[] targetsBefore = DescriptorTargets();
        byte* b = stackalloc byte[16];
        for (int i = 0; i < servers; i++)
        {
            using ITestIpcServer server = TestIpcServers.Start(kind, IpcTest.NewAddress("fd-" + kind), 4096); // 2 worker threads
            using IpcClient client = IpcTest.ConnectCore(server.Address);
            Assert.That(client.Call(TestIpcServers.SumRoute, b, 1, b, 16, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
        }
        Assert.That(IpcTest.Eventually(() => OpenDescriptors() <= before, TimeSpan.FromSeconds(5)), Is.True,
            $"descriptors after {servers} servers with 2 workers each came and went: {OpenDescriptors()}, before: {before}; new: {Extra(targetsBefore)}");
    }

    [Test]
    public void SequentialClients_NeverMoreThanOneAtOnce_AreNeverRefusedServerFull()
    {
        // max_clients 2, one client at a time: a client that closed must not keep its slot long
        // enough to refuse the next one (its close is complete when Dispose returns).
        int rounds = StressSize.Pick(500, 5_000);
        string address = IpcTest.NewAddress("sequential");
        using IpcServer server = IpcTest.StartCoreServer(address, new IpcServerOptions { MaxMessageSize = 4096, RingSize = 16 * 1024, MaxClients = 2 }, ("sum", IpcTest.Sum));
        int refused = 0, firstRefused = -1;
        byte* b = stackalloc byte[16];
        for (int i = 0; i < rounds; i++)
        {
            NpStatus status = IpcClient.Connect(address, IpcTest.ConnectMs, out IpcClient? client);
            if (status == NpStatus.ServerFull)
            {
                if (refused++ == 0) firstRefused = i;
                continue;
            }
            Assert.That(status, Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
            using (client)
                Assert.That(client!.Call(1, b, 1, b, 16, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
        }
        Assert.That(refused, Is.Zero,
            $"{refused} of {rounds} connects were refused NP_E_SERVER_FULL (first at round {firstRefused}) although at most one client was open at any time " +
            $"(connections_rejected {server.GetStats().ConnectionsRejected})");
    }

    [Test]
    public void Start_WithoutDescriptorsForItsWorkers_ReturnsAStatus_NeverThrows()
    {
        // In a child process whose descriptor limit (soft and hard) leaves room for the socket,
        // the acceptor's doorbell and a few workers, but not for all 64.
        ChildProcessMain.Result result = ChildProcessMain.Run("core-start-without-descriptors", [IpcTest.NewAddress("no-fds"), "12"], IpcTest.Liveness);
        Assert.That(result.Stdout, Does.Contain("done"), $"the child ran to the end\n{result}");
        ChildProcessMain.AssertSucceeded(result, "start without descriptors");
        Assert.That(result.Stdout, Does.Contain("start=NP_E_IO"), $"Start reports NP_E_IO (documented), not an exception\n{result}");
        Assert.That(result.Stdout, Does.Contain("dispose=ok"));
    }
}

/// <summary>The child side of <see cref="IpcResourceTests.Start_WithoutDescriptorsForItsWorkers_ReturnsAStatus_NeverThrows"/>.</summary>
public static unsafe class IpcStartWithoutDescriptors
{
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct RLimit { public ulong Current, Max; }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int setrlimit(int resource, RLimit* limit);

    public static int ChildBody(string[] args)
    {
        Console.WriteLine("child started"); // the console's own descriptors are open from here on
        Assert.That(IpcServer.Create(new IpcServerOptions { Address = args[0], WorkerThreads = 64 }, out IpcServer? server), Is.EqualTo(NpStatus.Ok));
        int open = Directory.GetFiles("/proc/self/fd").Length - 1; // without the directory's own descriptor
        // Room for the listening socket, the acceptor's doorbell and the first few workers (an epoll
        // and a doorbell each, and the runtime's own needs), never for all 64.
        int room = int.Parse(args[1]);
        var limit = new RLimit { Current = (ulong)(open + room), Max = (ulong)(open + room) };
        Console.WriteLine($"open {open}, limit {limit.Current}: setrlimit={setrlimit(7 /* RLIMIT_NOFILE */, &limit)}");
        string result;
        try
        {
            NpStatus status = server!.Start();
            result = StatusText.NameString(status) + " " + Diagnostics.LastError.Message;
        }
        catch (Exception e)
        {
            result = $"exception {e.GetType().Name}: {e.Message}";
        }
        Console.WriteLine("start=" + result);
        try { server!.Dispose(); Console.WriteLine("dispose=ok"); }
        catch (Exception e) { Console.WriteLine($"dispose=exception {e.GetType().Name}: {e.Message}"); }
        Console.WriteLine("done");
        return 0;
    }
}
