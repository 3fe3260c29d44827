using System;
using System.Threading;
using NativePools.Ipc;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Ipc;

/// <summary>
/// Once warm, IPC calls allocate nothing on the managed heap: not on the calling thread, not on
/// the server's worker thread (measured from inside the handler), not on a pull-mode
/// receive/reply thread. A GC would stall every caller. Exact byte counts, not timings.
/// </summary>
[TestFixture]
public sealed unsafe class CoreIpcAllocationTests
{
    // Read before any measurement: the first read of NP_STRESS allocates its value ("full").
    private readonly int _calls = StressSize.Pick(9_000, 200_000);
    private readonly int _pullCalls = StressSize.Pick(4_000, 100_000);
    private const int WarmUp = 3_000;

    // Written by the handler on the worker thread: that thread's allocated bytes when the handler ran.
    private long _workerAllocated;
    private long _handlerCalls;

    private NpStatus RecordingEcho(uint route, ReadOnlySpan<byte> request, Span<byte> response, out int length)
    {
        Volatile.Write(ref _workerAllocated, GC.GetAllocatedBytesForCurrentThread());
        Interlocked.Increment(ref _handlerCalls);
        request.CopyTo(response);
        length = request.Length;
        return NpStatus.Ok;
    }

    [Test]
    public void HandlerCalls_CallSendReceiveClaimCommit_AllocateNothing_OnTheCallerNorOnTheWorker()
    {
        string address = IpcTest.NewAddress("alloc");
        using IpcServer server = IpcTest.StartCoreServer(address, new IpcServerOptions { MaxMessageSize = 16 * 1024 }, ("echo", RecordingEcho));
        using IpcClient client = IpcTest.ConnectCore(address);
        uint echo = IpcTest.Route(client, "echo");
        byte* request = stackalloc byte[4096];
        byte* response = stackalloc byte[16 * 1024];
        for (int i = 0; i < 4096; i++) request[i] = (byte)i;

        int failures = RunCalls(client, echo, request, response, WarmUp); // tiering, first-use statics, pool buffers
        long workerBefore = Volatile.Read(ref _workerAllocated);
        long handlerCallsBefore = Interlocked.Read(ref _handlerCalls);
        long before = GC.GetAllocatedBytesForCurrentThread();
        failures += RunCalls(client, echo, request, response, _calls);
        long after = GC.GetAllocatedBytesForCurrentThread();
        long workerAfter = Volatile.Read(ref _workerAllocated);

        Assert.That(failures, Is.Zero, "every call succeeded with the right length");
        Assert.That(Interlocked.Read(ref _handlerCalls) - handlerCallsBefore, Is.EqualTo(_calls + (_calls + 1) / 3), "the handler measured every request (one extra per Send/Receive round)");
        Assert.Multiple(() =>
        {
            Assert.That(after - before, Is.Zero, $"managed bytes allocated on the calling thread by {_calls} calls (Call, Send/Receive, Claim/Commit/Receive)");
            Assert.That(workerAfter - workerBefore, Is.Zero, $"managed bytes allocated on the server's worker thread while serving {_calls} calls");
        });
    }

    private static int RunCalls(IpcClient client, uint route, byte* request, byte* response, int calls)
    {
        int failures = 0;
        for (int i = 0; i < calls; i++)
        {
            uint size = (uint)(i * 61 % 4096);
            uint length;
            switch (i % 3)
            {
                case 0:
                    if (client.Call(route, request, size, response, 16 * 1024, out length, IpcTest.CallMs) != NpStatus.Ok || length != size) failures++;
                    break;
                case 1:
                    if (client.Send(route, request, size, out _, IpcTest.CallMs) != NpStatus.Ok) failures++;
                    if (client.Send(route, request, 7, out _, IpcTest.CallMs) != NpStatus.Ok) failures++;
                    if (client.Receive(out _, response, 16 * 1024, out length, IpcTest.CallMs) != NpStatus.Ok || length != size) failures++;
                    if (client.Receive(out _, response, 16 * 1024, out length, IpcTest.CallMs) != NpStatus.Ok || length != 7) failures++;
                    break;
                default:
                    if (client.Claim(route, size, out byte* slot, IpcTest.CallMs) != NpStatus.Ok) { failures++; break; }
                    Buffer.MemoryCopy(request, slot, size, size);
                    if (client.Commit(size, out _) != NpStatus.Ok) failures++;
                    if (client.Receive(out _, response, 16 * 1024, out length, IpcTest.CallMs) != NpStatus.Ok || length != size) failures++;
                    break;
            }
        }
        return failures;
    }

    [Test]
    public void PullCalls_AllocateNothing_OnTheCallerNorOnTheReplier()
    {
        string address = IpcTest.NewAddress("alloc-pull");
        using IpcServer server = IpcTest.StartCoreServer(address, new IpcServerOptions { MaxMessageSize = 16 * 1024 }, ("pull", null));
        using IpcClient client = IpcTest.ConnectCore(address);
        uint pull = IpcTest.Route(client, "pull");
        int total = WarmUp + _pullCalls;
        long replierBefore = 0, replierAfter = 0;
        int replierFailures = 0;
        Thread replier = IpcTest.Start("replier", () =>
        {
            for (int i = 0; i < total; i++)
            {
                if (i == WarmUp) replierBefore = GC.GetAllocatedBytesForCurrentThread();
                if (server.Receive(IpcTest.CallMs, out ulong token, out _, out byte* data, out uint length) != NpStatus.Ok) { replierFailures++; continue; }
                if (server.Reply(token, data, length, 0) != NpStatus.Ok) replierFailures++; // echo in place
            }
            replierAfter = GC.GetAllocatedBytesForCurrentThread();
        });
        byte* request = stackalloc byte[4096];
        byte* response = stackalloc byte[4096];
        int failures = RunPullCalls(client, pull, request, response, WarmUp);
        long before = GC.GetAllocatedBytesForCurrentThread();
        failures += RunPullCalls(client, pull, request, response, _pullCalls);
        long after = GC.GetAllocatedBytesForCurrentThread();
        IpcTest.JoinAll([replier], "replier");

        Assert.That(failures + replierFailures, Is.Zero);
        Assert.Multiple(() =>
        {
            Assert.That(after - before, Is.Zero, $"managed bytes allocated on the calling thread by {_pullCalls} pull calls");
            Assert.That(replierAfter - replierBefore, Is.Zero, $"managed bytes allocated on the thread that received and answered {_pullCalls} pull requests");
        });
    }

    private static int RunPullCalls(IpcClient client, uint route, byte* request, byte* response, int calls)
    {
        int failures = 0;
        for (int i = 0; i < calls; i++)
        {
            uint size = (uint)(i * 29 % 4096);
            if (client.Call(route, request, size, response, 4096, out uint length, IpcTest.CallMs) != NpStatus.Ok || length != size) failures++;
        }
        return failures;
    }
}
