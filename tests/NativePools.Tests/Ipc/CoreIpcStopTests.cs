using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Threading;
using NativePools.Ipc;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Ipc;

/// <summary>
/// Stopping a server with calls in flight: every caller gets its response or Shutdown (never a
/// hang, never a wrong answer), whether the calls were being served by handlers, were waiting
/// as pull requests, or were pipelined; after the stop every call is Shutdown.
/// </summary>
[TestFixture]
public sealed unsafe class CoreIpcStopTests
{
    [TestCase(0)]
    [TestCase(2000)]
    public void Stop_WhileManyThreadsCallHandlers_EachCallGetsItsAnswerOrShutdown(int drainMs)
    {
        const int threads = 8;
        string address = IpcTest.NewAddress("stop-handlers");
        IpcServer server = IpcTest.StartCoreServer(address, new IpcServerOptions { MaxMessageSize = 8192, WorkerThreads = 2 }, ("sum", IpcTest.Sum));
        IpcClient[] clients = Enumerable.Range(0, threads).Select(_ => IpcTest.ConnectCore(address)).ToArray();
        uint sum = IpcTest.Route(clients[0], "sum");
        long okCalls = 0;
        int warmedUp = 0;
        var failures = new ConcurrentQueue<string>();
        var lastStatus = new NpStatus[threads];
        Thread[] callers = Enumerable.Range(0, threads).Select(t => IpcTest.Start($"caller-{t}", () =>
        {
            byte[] request = new byte[4096];
            byte[] response = new byte[8192];
            for (int i = 0; ; i++)
            {
                if (i == 50) Interlocked.Increment(ref warmedUp);
                int size = (t * 131 + i * 7) % request.Length;
                IpcTest.Fill(request.AsSpan(0, size), (ulong)(t << 20 | i));
                NpStatus s;
                uint length;
                fixed (byte* q = request) fixed (byte* r = response)
                    s = clients[t].Call(sum, q, (uint)size, r, (uint)response.Length, out length, IpcTest.CallMs);
                if (s != NpStatus.Ok)
                {
                    lastStatus[t] = s;
                    if (s != NpStatus.Shutdown) failures.Enqueue($"caller {t} call {i}: {s}: {Diagnostics.LastError.Message}");
                    return;
                }
                if (!IpcTest.IsSumOf(response.AsSpan(0, (int)length), request.AsSpan(0, size)))
                {
                    failures.Enqueue($"caller {t} call {i}: a wrong answer");
                    return;
                }
                Interlocked.Increment(ref okCalls);
            }
        })).ToArray();
        Assert.That(IpcTest.Eventually(() => Volatile.Read(ref warmedUp) == threads), Is.True, "every caller got going");
        Assert.That(server.Stop((uint)drainMs), Is.EqualTo(NpStatus.Ok));
        IpcTest.JoinAll(callers, "callers after the stop");
        Assert.That(failures, Is.Empty);
        Assert.That(lastStatus, Is.All.EqualTo(NpStatus.Shutdown), "each caller's loop ended with Shutdown");

        byte b = 0;
        Assert.That(clients[0].Call(sum, &b, 1, &b, 1, out _, 1000), Is.EqualTo(NpStatus.Shutdown), "calls after the stop");
        Assert.That(clients[1].Send(sum, &b, 1, out _, 1000), Is.EqualTo(NpStatus.Shutdown), "sends after the stop");
        Assert.That(IpcClient.Connect(address, 50, out _), Is.EqualTo(NpStatus.Timeout), "nobody listens any more");
        IpcServerStats stats = server.GetStats();
        Assert.That(stats.Responses - stats.ErrorResponses, Is.EqualTo((ulong)Interlocked.Read(ref okCalls)), "every answer the server sent was received as Ok");
        Assert.That(stats.Requests, Is.EqualTo(stats.Responses), "every request read got an answer (a response or Shutdown)");
        foreach (IpcClient c in clients) c.Dispose();
        server.Dispose();
    }

    [Test]
    public void Stop_WithPullRequestsWaitingAndPipelined_EveryOneGetsShutdown()
    {
        const int threads = 6, pipelined = 20;
        string address = IpcTest.NewAddress("stop-pull");
        IpcServer server = IpcTest.StartCoreServer(address, new IpcServerOptions { MaxMessageSize = 4096 }, ("pull", null));
        IpcClient[] clients = Enumerable.Range(0, threads + 1).Select(_ => IpcTest.ConnectCore(address)).ToArray();
        uint pull = IpcTest.Route(clients[0], "pull");
        var statuses = new NpStatus[threads];
        Thread[] callers = Enumerable.Range(0, threads).Select(t => IpcTest.Start($"caller-{t}", () =>
        {
            byte q = (byte)t, r = 0;
            statuses[t] = clients[t].Call(pull, &q, 1, &r, 1, out _, IpcClient.WaitForever);
        })).ToArray();
        IpcClient pipeliner = clients[threads];
        for (int i = 0; i < pipelined; i++)
        {
            byte q = (byte)i;
            Assert.That(pipeliner.Send(pull, &q, 1, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
        }
        // One request is taken by the application and never answered before the stop.
        Assert.That(server.Receive(IpcTest.CallMs, out ulong token, out _, out byte* data, out uint length), Is.EqualTo(NpStatus.Ok));
        Assert.That(IpcTest.Eventually(() => server.GetStats().PendingRequests == threads + pipelined), Is.True, "every request is pending");

        Assert.That(server.Stop(0), Is.EqualTo(NpStatus.Ok));
        IpcTest.JoinAll(callers, "blocked callers");
        Assert.That(statuses, Is.All.EqualTo(NpStatus.Shutdown));
        byte b = 0;
        for (int i = 0; i < pipelined; i++)
            Assert.That(pipeliner.Receive(out _, &b, 1, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.Shutdown), $"pipelined request {i}");
        Assert.That(server.Reply(token, data, length, 0), Is.EqualTo(NpStatus.Shutdown), "the stop answered the taken request itself");
        Assert.That(server.Receive(0, out _, out _, out _, out _), Is.EqualTo(NpStatus.Shutdown));
        Assert.That(server.GetStats().PendingRequests, Is.Zero);
        foreach (IpcClient c in clients) c.Dispose();
        server.Dispose();
    }

    [Test]
    public void Stop_WithDrainTime_RepliersStillAnswer_AndCallersGetTheirAnswers()
    {
        const int threads = 4;
        string address = IpcTest.NewAddress("stop-drain");
        IpcServer server = IpcTest.StartCoreServer(address, new IpcServerOptions { MaxMessageSize = 4096 }, ("pull", null));
        IpcClient[] clients = Enumerable.Range(0, threads).Select(_ => IpcTest.ConnectCore(address)).ToArray();
        uint pull = IpcTest.Route(clients[0], "pull");
        var statuses = new NpStatus[threads];
        var answers = new byte[threads];
        Thread[] callers = Enumerable.Range(0, threads).Select(t => IpcTest.Start($"caller-{t}", () =>
        {
            byte q = (byte)(10 + t), r = 0;
            statuses[t] = clients[t].Call(pull, &q, 1, &r, 1, out _, IpcTest.CallMs);
            answers[t] = r;
        })).ToArray();
        var taken = new (ulong Token, nint Data)[threads];
        for (int i = 0; i < threads; i++)
        {
            Assert.That(server.Receive(IpcTest.CallMs, out ulong token, out _, out byte* data, out _), Is.EqualTo(NpStatus.Ok));
            taken[i] = (token, (nint)data);
        }
        // The replier answers only once the stop has begun: the drain must wait for it.
        var stopping = new ManualResetEventSlim();
        NpStatus[] replies = new NpStatus[threads];
        Thread replier = IpcTest.Start("replier", () =>
        {
            stopping.Wait();
            Thread.Sleep(100);
            for (int i = 0; i < threads; i++)
            {
                byte* d = (byte*)taken[i].Data;
                d[0] = (byte)(d[0] + 100);
                replies[i] = server.Reply(taken[i].Token, d, 1, 0);
            }
        });
        stopping.Set();
        Assert.That(server.Stop(30_000), Is.EqualTo(NpStatus.Ok));
        IpcTest.JoinAll([replier, .. callers], "replier and callers");
        Assert.That(replies, Is.All.EqualTo(NpStatus.Ok), "replies during the drain are accepted");
        Assert.That(statuses, Is.All.EqualTo(NpStatus.Ok), "the drain delivered every answer");
        Assert.That(answers, Is.EqualTo(Enumerable.Range(0, threads).Select(t => (byte)(110 + t)).ToArray()), "each caller got its own answer");
        foreach (IpcClient c in clients) c.Dispose();
        server.Dispose();
    }

    [Test]
    public void Stop_Twice_AndFromAnotherThreadMeanwhile_IsHarmless()
    {
        string address = IpcTest.NewAddress("stop-twice");
        IpcServer server = IpcTest.StartCoreServer(address, null, ("pull", null));
        using IpcClient client = IpcTest.ConnectCore(address);
        uint pull = IpcTest.Route(client, "pull");
        byte q = 1;
        Assert.That(client.Send(pull, &q, 1, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
        Assert.That(IpcTest.Eventually(() => server.GetStats().PendingRequests == 1), Is.True);
        // Two concurrent stops: the second waits for the first instead of freeing under it.
        NpStatus other = NpStatus.Internal;
        Thread second = IpcTest.Start("second-stop", () => other = server.Stop(0));
        Assert.That(server.Stop(300), Is.EqualTo(NpStatus.Ok));
        IpcTest.JoinAll([second], "second stop");
        Assert.That(other, Is.EqualTo(NpStatus.Ok));
        Assert.That(server.Stop(0), Is.EqualTo(NpStatus.Ok), "a third stop");
        Assert.That(client.Receive(out _, &q, 1, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.Shutdown));
        server.Dispose();
        server.Dispose();
    }
}
