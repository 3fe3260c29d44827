using System;
using System.Linq;
using System.Threading;
using NativePools.Ipc;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Ipc;

/// <summary>
/// Many client threads against one in-process server: every answer checked against its
/// request, counters exact once the server stopped. CI: 16 threads x 2,000 calls; full
/// (NP_STRESS=full): 16 x 50,000.
/// </summary>
[TestFixture]
public sealed unsafe class CoreIpcThreadTests
{
    [Test]
    public void ManyThreads_OwnClients_EveryAnswerMatches_CountersExact()
    {
        const int threads = 16;
        int calls = StressSize.Pick(2_000, 50_000);
        string address = IpcTest.NewAddress("threads");
        IpcServer server = IpcTest.StartCoreServer(address, new IpcServerOptions { MaxMessageSize = 16 * 1024, WorkerThreads = 2 },
            ("sum", IpcTest.Sum), ("echo", IpcTest.Echo));
        IpcClient[] clients = Enumerable.Range(0, threads).Select(_ => IpcTest.ConnectCore(address)).ToArray();
        uint sum = IpcTest.Route(clients[0], "sum"), echo = IpcTest.Route(clients[0], "echo");
        long bytesIn = 0, sumCalls = 0;
        ThreadRunner.Run(threads, t =>
        {
            IpcClient client = clients[t];
            byte[] request = new byte[8192];
            byte[] response = new byte[16 * 1024];
            var rng = new Random(t);
            long myBytes = 0, mySums = 0;
            for (int i = 0; i < calls; i++)
            {
                // Mostly small requests, now and then up to 8 KiB; every fourth call echoes.
                int size = i % 16 == 0 ? rng.Next(0, request.Length + 1) : rng.Next(0, 256);
                IpcTest.Fill(request.AsSpan(0, size), ((ulong)t << 32) | (uint)i);
                bool isEcho = i % 4 == 3;
                uint length;
                NpStatus s;
                fixed (byte* q = request) fixed (byte* r = response)
                    s = client.Call(isEcho ? echo : sum, q, (uint)size, r, (uint)response.Length, out length, IpcTest.CallMs);
                Check.Status(s, NpStatus.Ok, $"thread {t} call {i}");
                bool right = isEcho
                    ? response.AsSpan(0, (int)length).SequenceEqual(request.AsSpan(0, size))
                    : IpcTest.IsSumOf(response.AsSpan(0, (int)length), request.AsSpan(0, size));
                Check.That(right, $"thread {t} call {i}: the answer does not match the request ({length} bytes for {size})");
                myBytes += size;
                if (!isEcho) mySums++;
            }
            Interlocked.Add(ref bytesIn, myBytes);
            Interlocked.Add(ref sumCalls, mySums);
        });
        server.Stop(1000);
        IpcServerStats stats = server.GetStats();
        ulong total = (ulong)(threads * calls);
        Assert.That(server.GetRouteStats(sum, out IpcRouteStats sumStats), Is.True);
        Assert.That(server.GetRouteStats(echo, out IpcRouteStats echoStats), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(stats.Requests, Is.EqualTo(total));
            Assert.That(stats.Responses, Is.EqualTo(total));
            Assert.That(stats.ErrorResponses, Is.Zero);
            Assert.That(stats.BytesIn, Is.EqualTo((ulong)bytesIn));
            Assert.That(stats.BytesOut, Is.EqualTo((ulong)bytesIn + 8 * (ulong)sumCalls));
            Assert.That(stats.ConnectionsTotal, Is.EqualTo((ulong)threads));
            Assert.That(stats.ConnectionsPeak, Is.EqualTo((ulong)threads));
            Assert.That(stats.ProtocolErrors + stats.PeerHangups + stats.UnknownRoutes + stats.HandlerErrors, Is.Zero);
            Assert.That(sumStats.Requests + echoStats.Requests, Is.EqualTo(total), "route requests add up");
            Assert.That(sumStats.Requests, Is.EqualTo((ulong)sumCalls));
            Assert.That(sumStats.BytesIn + echoStats.BytesIn, Is.EqualTo((ulong)bytesIn), "route bytes add up");
            Assert.That(sumStats.BytesOut - sumStats.BytesIn, Is.EqualTo(8 * (ulong)sumCalls));
            Assert.That(echoStats.BytesOut, Is.EqualTo(echoStats.BytesIn));
        });
        foreach (IpcClient c in clients) c.Dispose();
        server.Dispose();
    }

    [Test]
    public void ManyThreads_ShareOneClient_CallsSerialize_EveryAnswerMatches()
    {
        const int threads = 8;
        int calls = StressSize.Pick(500, 10_000);
        string address = IpcTest.NewAddress("shared-client");
        using IpcServer server = IpcTest.StartCoreServer(address, new IpcServerOptions { MaxMessageSize = 4096 }, ("sum", IpcTest.Sum));
        using IpcClient client = IpcTest.ConnectCore(address);
        uint sum = IpcTest.Route(client, "sum");
        ThreadRunner.Run(threads, t =>
        {
            byte[] request = new byte[1024];
            byte[] response = new byte[4096];
            for (int i = 0; i < calls; i++)
            {
                int size = (i * 13 + t) % request.Length;
                IpcTest.Fill(request.AsSpan(0, size), ((ulong)t << 32) | (uint)i);
                uint length;
                fixed (byte* q = request) fixed (byte* r = response)
                    Check.Status(client.Call(sum, q, (uint)size, r, (uint)response.Length, out length, IpcTest.CallMs), NpStatus.Ok, $"thread {t} call {i}");
                Check.That(IpcTest.IsSumOf(response.AsSpan(0, (int)length), request.AsSpan(0, size)), $"thread {t} call {i}: got another thread's answer");
            }
        });
        server.Stop(1000);
        Assert.That(server.GetStats().Requests, Is.EqualTo((ulong)(threads * calls)));
    }
}
