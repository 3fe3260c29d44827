using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using NativePools.Ipc;
using NativePools.Tests.Ipc;
using NUnit.Framework;

namespace NativePools.Tests.Native;

/// <summary>
/// A client that writes garbage into its shared memory loses its connection (protocol_errors,
/// a hang-up on its socket, the server state word "closed" in its mapping) and nobody else
/// notices: a normal client calls all along, checking every answer. Against the managed core
/// in this process and against the library through np_server_*.
/// </summary>
[TestFixture]
public sealed unsafe class HostileClientTests
{
    private const uint MaxMessage = 16 * 1024, RingSize = 64 * 1024;

    public static readonly string[] Variants =
    [
        "tail not 16-byte aligned",
        "tail more than a ring ahead",
        "tail behind the head",
        "record longer than the maximum message",
        "record longer than what was published",
        "unknown record kind",
        "an empty (zeroed) slot published",
        "a response record in the request ring",
        "an error record in the request ring",
        "padding of the wrong length",
        "padding that runs past the published tail",
        "impossible response-ring head",
    ];

    /// <summary>A normal client calling "sum" in a loop on its own thread, every answer checked.</summary>
    private sealed class Bystander : IDisposable
    {
        private readonly Thread _thread;
        private volatile bool _stop;
        private long _calls;
        public readonly ConcurrentQueue<string> Failures = new();
        public long Calls => Interlocked.Read(ref _calls);

        public Bystander(string address)
        {
            IpcClient client = IpcTest.ConnectCore(address);
            _thread = IpcTest.Start("bystander", () =>
            {
                using (client)
                {
                    byte[] q = new byte[2048], r = new byte[2056];
                    for (int i = 0; !_stop; i++)
                    {
                        int size = i * 41 % q.Length;
                        IpcTest.Fill(q.AsSpan(0, size), (ulong)i);
                        uint n;
                        NpStatus s;
                        fixed (byte* qp = q) fixed (byte* rp = r)
                            s = client.Call(TestIpcServers.SumRoute, qp, (uint)size, rp, (uint)r.Length, out n, IpcTest.CallMs);
                        if (s != NpStatus.Ok) { Failures.Enqueue($"call {i}: {s}: {Diagnostics.LastError.Message}"); return; }
                        if (!IpcTest.IsSumOf(r.AsSpan(0, (int)n), q.AsSpan(0, size))) { Failures.Enqueue($"call {i}: wrong answer"); return; }
                        Interlocked.Increment(ref _calls);
                    }
                }
            });
        }

        /// <summary>Waits until <paramref name="more"/> further calls succeeded (the bystander is being served now).</summary>
        public void WaitForProgress(int more, string when)
        {
            long target = Calls + more;
            Assert.That(IpcTest.Eventually(() => Calls >= target || !Failures.IsEmpty), Is.True, $"the bystander made no progress {when}");
            Assert.That(Failures, Is.Empty, $"the bystander {when}");
        }

        public void Dispose()
        {
            _stop = true;
            IpcTest.JoinAll([_thread], "bystander");
        }
    }

    private static byte[] SumOf(byte[] request)
    {
        byte[] answer = new byte[request.Length + 8];
        IpcTest.Sum(0, request, answer, out _);
        return answer;
    }

    [Test]
    public void HandMadeClient_WellFormedRequests_AreAnswered_AcrossRingWraps([Values("core", "library")] string kind)
    {
        using ITestIpcServer server = TestIpcServers.Start(kind, IpcTest.NewAddress("handmade-" + kind), MaxMessage, RingSize);
        using HostileClient client = HostileClient.Connect(server.Address);
        Assert.That((client.RingSize, client.MaxMessage, client.RouteCount), Is.EqualTo((RingSize, MaxMessage, 2u)), "the welcome");
        var rng = new Random(1);
        for (int i = 0; i < 200; i++)
        {
            byte[] payload = new byte[rng.Next(0, 6000)];
            IpcTest.Fill(payload, (ulong)i);
            client.SendRequest((ushort)TestIpcServers.SumRoute, (ulong)(1000 + i), payload);
            var (recordKind, id, answer) = client.ReceiveResponse();
            Assert.That((recordKind, id), Is.EqualTo((HostileClient.KindResponse, (ulong)(1000 + i))), $"request {i}");
            Assert.That(answer, Is.EqualTo(SumOf(payload)), $"request {i}");
        }
        Assert.That(server.Stats().ProtocolErrors, Is.Zero);
        Assert.That(client.ServerState, Is.Zero, "serving");
    }

    [Test]
    public void Garbage_DropsOnlyThatConnection([Values("core", "library")] string kind, [ValueSource(nameof(Variants))] string variant)
    {
        using ITestIpcServer server = TestIpcServers.Start(kind, IpcTest.NewAddress("hostile-" + kind), MaxMessage, RingSize);
        using var bystander = new Bystander(server.Address);
        bystander.WaitForProgress(10, "before the hostile client came");
        using HostileClient hostile = HostileClient.Connect(server.Address);
        // One well-formed exchange first: the hand-made protocol is right, so the drop is the garbage's doing.
        byte[] hello = "hello"u8.ToArray();
        hostile.SendRequest((ushort)TestIpcServers.SumRoute, 1, hello);
        Assert.That(hostile.ReceiveResponse().Payload, Is.EqualTo(SumOf(hello)));
        IpcServerStats before = server.Stats();
        Assert.That(before.ConnectionsNow, Is.EqualTo(2ul));

        WriteGarbage(hostile, variant);

        Assert.That(IpcTest.Eventually(() => server.Stats().ProtocolErrors == before.ProtocolErrors + 1), Is.True,
            $"protocol_errors counts the drop (now {server.Stats().ProtocolErrors})");
        Assert.That(hostile.WaitForHangUp(), Is.True, "the server closed the hostile client's socket");
        Assert.That(hostile.ServerState, Is.EqualTo(2u), "the hostile client's mapping says: closed");
        Assert.That(IpcTest.Eventually(() => server.Stats().ConnectionsNow == 1), Is.True, "only the bystander is left");
        IpcServerStats after = server.Stats();
        Assert.That(after.PeerHangups, Is.EqualTo(before.PeerHangups), "a protocol error, not a hang-up");
        bystander.WaitForProgress(20, "after the drop");
        using (HostileClient next = HostileClient.Connect(server.Address))
        {
            next.SendRequest((ushort)TestIpcServers.SumRoute, 5, hello);
            Assert.That(next.ReceiveResponse().Payload, Is.EqualTo(SumOf(hello)), "a new connection is served");
        }
    }

    private static void WriteGarbage(HostileClient h, string variant)
    {
        ulong t = h.Tail;
        ulong ring = h.RingSize;
        ushort sum = (ushort)TestIpcServers.SumRoute;
        byte[] abcd = "abcd"u8.ToArray();
        switch (variant)
        {
            case "tail not 16-byte aligned":
                h.WriteRecord(t, 4, HostileClient.KindRequest, sum, 7, abcd);
                h.PublishTail(t + 8);
                break;
            case "tail more than a ring ahead":
                h.WriteRecord(t, 4, HostileClient.KindRequest, sum, 7, abcd);
                h.PublishTail(t + ring + 32);
                break;
            case "tail behind the head":
                h.PublishTail(t - 16);
                break;
            case "record longer than the maximum message":
                h.WriteRecord(t, h.MaxMessage + 1, HostileClient.KindRequest, sum, 7);
                h.PublishTail(t + HostileClient.RecordSize(h.MaxMessage + 1));
                break;
            case "record longer than what was published":
                h.WriteRecord(t, 1000, HostileClient.KindRequest, sum, 7);
                h.PublishTail(t + 32);
                break;
            case "unknown record kind":
                h.WriteRecord(t, 4, 9, sum, 7, abcd);
                h.PublishTail(t + 32);
                break;
            case "an empty (zeroed) slot published":
                h.PublishTail(t + 32); // nothing was ever written there: length 0, kind 0
                break;
            case "a response record in the request ring":
                h.WriteRecord(t, 4, HostileClient.KindResponse, sum, 7, abcd);
                h.PublishTail(t + 32);
                break;
            case "an error record in the request ring":
                h.WriteRecord(t, 4, HostileClient.KindError, sum, 7, abcd);
                h.PublishTail(t + 32);
                break;
            case "padding of the wrong length":
                h.WriteRecord(t, 0, HostileClient.KindPadding, 0, 0);
                h.PublishTail(t + 16);
                break;
            case "padding that runs past the published tail":
            {
                ulong toEnd = ring - (t & (ring - 1));
                h.WriteRecord(t, (uint)(toEnd - 16), HostileClient.KindPadding, 0, 0);
                h.PublishTail(t + 16);
                break;
            }
            case "impossible response-ring head":
            {
                // A misaligned head: the server reads it only when the response ring looks full.
                // 8 answers of 8 KiB fit a 64 KiB ring; the 9th makes the server look at the head.
                h.WriteResponseHead(8);
                byte[] big = new byte[8000];
                for (int i = 0; i < 9; i++) h.SendRequest(sum, (ulong)(100 + i), big);
                break;
            }
            default:
                Assert.Fail("unknown variant " + variant);
                break;
        }
    }

    [Test]
    public void UnknownRouteIds_GetAnErrorAnswer_AndTheConnectionStays([Values("core", "library")] string kind)
    {
        using ITestIpcServer server = TestIpcServers.Start(kind, IpcTest.NewAddress("routes-" + kind), MaxMessage, RingSize);
        using HostileClient h = HostileClient.Connect(server.Address);
        ushort[] routes = [0, 3, 999, ushort.MaxValue];
        foreach (ushort route in routes)
        {
            h.SendRequest(route, route + 10ul, "xyz"u8);
            var (recordKind, id, payload) = h.ReceiveResponse();
            Assert.That((recordKind, id), Is.EqualTo((HostileClient.KindServerError, route + 10ul)), $"route {route}");
            Assert.That(MemoryMarshal.Read<int>(payload), Is.EqualTo((int)NpStatus.UnknownRoute), $"route {route}");
        }
        h.SendRequest((ushort)TestIpcServers.SumRoute, 1, "ok"u8);
        Assert.That(h.ReceiveResponse().Payload, Is.EqualTo(SumOf("ok"u8.ToArray())), "still served");
        IpcServerStats s = server.Stats();
        Assert.That((s.UnknownRoutes, s.ProtocolErrors, s.ConnectionsNow), Is.EqualTo(((ulong)routes.Length, 0ul, 1ul)));
    }

    [Test]
    public void ClientThatNeverReadsItsResponses_DoesNotStallOthers([Values("core", "library")] string kind)
    {
        using ITestIpcServer server = TestIpcServers.Start(kind, IpcTest.NewAddress("slow-reader-" + kind), MaxMessage, RingSize);
        using var bystander = new Bystander(server.Address);
        using HostileClient h = HostileClient.Connect(server.Address);
        byte[] payload = new byte[1000];
        int sent = 0;
        // Send until the request ring stays full: the response ring filled up and the server stopped taking requests.
        var idle = System.Diagnostics.Stopwatch.StartNew();
        while (idle.ElapsedMilliseconds < 300)
        {
            IpcTest.Fill(payload, (ulong)sent);
            if (h.TrySendRequest((ushort)TestIpcServers.SumRoute, (ulong)sent + 1, payload)) { sent++; idle.Restart(); }
            else Thread.Sleep(1);
            Assert.That(sent, Is.LessThan(10_000), "backpressure must stop the slow reader");
        }
        Assert.That(sent, Is.GreaterThan(64), "both rings (64 KiB each) filled before the server pushed back");
        bystander.WaitForProgress(50, "while the slow reader's rings are full");
        // Reading everything now releases it: every answer arrives, in order.
        for (int i = 0; i < sent; i++)
        {
            var (recordKind, id, answer) = h.ReceiveResponse();
            IpcTest.Fill(payload, (ulong)i);
            Assert.That((recordKind, id), Is.EqualTo((HostileClient.KindResponse, (ulong)i + 1)), $"answer {i}");
            Assert.That(answer, Is.EqualTo(SumOf(payload)), $"answer {i}");
        }
        Assert.That(server.Stats().ProtocolErrors, Is.Zero);
    }
}
