using System;
using System.Collections.Generic;
using NativePools.Ipc;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Ipc;

/// <summary>
/// The IPC core in-process: pipelining (Send/Receive with many requests in flight) and the
/// zero-copy Claim/Commit/Abort, with every payload checked against the request it answers.
/// </summary>
[TestFixture]
public sealed unsafe class CoreIpcPipelineTests
{
    // 16 KiB messages: the default ring is then 64 KiB per direction, small enough to wrap often.
    private static readonly IpcServerOptions Small = new() { MaxMessageSize = 16 * 1024 };

    private static IpcServer StartSumServer(string address, IpcServerOptions? options = null) =>
        IpcTest.StartCoreServer(address, options ?? new IpcServerOptions { MaxMessageSize = Small.MaxMessageSize },
            ("sum", IpcTest.Sum), ("pull", null));

    [Test]
    public void Pipeline_ManyInFlight_ResponsesInSendOrderWithTheirIds()
    {
        const int inFlight = 300; // 300 small records fit both 64 KiB rings at once
        string address = IpcTest.NewAddress("pipeline");
        using IpcServer server = StartSumServer(address);
        using IpcClient client = IpcTest.ConnectCore(address);
        uint sum = IpcTest.Route(client, "sum");
        var sent = new List<(ulong Id, byte[] Payload)>();
        for (int i = 0; i < inFlight; i++)
        {
            byte[] payload = new byte[i % 120];
            IpcTest.Fill(payload, (ulong)i + 1);
            ulong id;
            fixed (byte* p = payload)
                Assert.That(client.Send(sum, p, (uint)payload.Length, out id, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
            sent.Add((id, payload));
        }
        byte[] response = new byte[Small.MaxMessageSize];
        for (int i = 0; i < inFlight; i++)
        {
            ulong id;
            uint length;
            fixed (byte* r = response)
                Assert.That(client.Receive(out id, r, (uint)response.Length, out length, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
            Assert.That(id, Is.EqualTo(sent[i].Id), $"response {i}: one connection is answered in order");
            Assert.That(IpcTest.IsSumOf(response.AsSpan(0, (int)length), sent[i].Payload), Is.True, $"response {i} answers its request");
        }
        byte b = 0;
        Assert.That(client.Receive(out _, &b, 1, out _, 0), Is.EqualTo(NpStatus.InvalidState), "nothing is outstanding any more");
    }

    [Test]
    public void Pipeline_RollingWindowOverWrappingRings_EveryResponseMatches()
    {
        int total = StressSize.Pick(5_000, 100_000);
        const int window = 6; // 6 requests of up to 4 KiB, and their answers, always fit a 64 KiB ring
        string address = IpcTest.NewAddress("rolling");
        using IpcServer server = StartSumServer(address);
        using IpcClient client = IpcTest.ConnectCore(address);
        uint sum = IpcTest.Route(client, "sum");
        var queue = new Queue<(ulong Id, byte[] Payload)>();
        byte[] response = new byte[Small.MaxMessageSize];
        var rng = new Random(11);
        int sentCount = 0, received = 0;
        ulong bytesIn = 0;
        while (received < total)
        {
            if (sentCount < total && queue.Count < window)
            {
                byte[] payload = new byte[rng.Next(0, 4097)];
                IpcTest.Fill(payload, (ulong)sentCount);
                ulong id;
                NpStatus s;
                fixed (byte* p = payload) s = client.Send(sum, p, (uint)payload.Length, out id, IpcTest.CallMs);
                Assert.That(s, Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
                queue.Enqueue((id, payload));
                bytesIn += (ulong)payload.Length;
                sentCount++;
                continue;
            }
            ulong got;
            uint length;
            NpStatus r;
            fixed (byte* resp = response) r = client.Receive(out got, resp, (uint)response.Length, out length, IpcTest.CallMs);
            Assert.That(r, Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
            var (id0, payload0) = queue.Dequeue();
            if (got != id0 || !IpcTest.IsSumOf(response.AsSpan(0, (int)length), payload0))
                Assert.Fail($"response {received}: id {got} (expected {id0}), {length} bytes for a {payload0.Length}-byte request");
            received++;
        }
        server.Stop(1000);
        IpcServerStats stats = server.GetStats();
        Assert.That((stats.Requests, stats.Responses, stats.BytesIn), Is.EqualTo(((ulong)total, (ulong)total, bytesIn)));
    }

    [Test]
    public void Pipeline_SendsBeyondRingRoom_TimeOutWithoutLosingAnything()
    {
        // 8 KiB rings and 1 KiB requests: the client sends without receiving until the request
        // ring, the response ring and the server's backpressure are all full and Send times out.
        string address = IpcTest.NewAddress("backpressure");
        using IpcServer server = StartSumServer(address, new IpcServerOptions { RingSize = 8192, MaxMessageSize = 1024 + 8 });
        using IpcClient client = IpcTest.ConnectCore(address);
        uint sum = IpcTest.Route(client, "sum");
        var sent = new List<(ulong Id, byte[] Payload)>();
        NpStatus status;
        while (true)
        {
            byte[] payload = new byte[1024];
            IpcTest.Fill(payload, (ulong)sent.Count);
            ulong id;
            fixed (byte* p = payload) status = client.Send(sum, p, (uint)payload.Length, out id, 200);
            if (status != NpStatus.Ok) break;
            sent.Add((id, payload));
            Assert.That(sent.Count, Is.LessThan(1000), "Send must eventually find the rings full");
        }
        Assert.That(status, Is.EqualTo(NpStatus.Timeout), "a full ring makes Send wait, then time out");
        Assert.That(sent.Count, Is.GreaterThanOrEqualTo(7), "a 8 KiB ring holds at least 7 records of 1 KiB");

        byte[] response = new byte[2048];
        for (int i = 0; i < sent.Count; i++)
        {
            ulong id;
            uint length;
            fixed (byte* r = response)
                Assert.That(client.Receive(out id, r, (uint)response.Length, out length, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
            Assert.That(id, Is.EqualTo(sent[i].Id));
            Assert.That(IpcTest.IsSumOf(response.AsSpan(0, (int)length), sent[i].Payload), Is.True, $"response {i}");
        }
        fixed (byte* r = response)
            Assert.That(client.Call(sum, r, 100, r, (uint)response.Length, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), "the connection is fine after the timeout");
    }

    [Test]
    public void Pipeline_CallWhileResponsesAreOutstanding_IsInvalidState()
    {
        string address = IpcTest.NewAddress("call-outstanding");
        using IpcServer server = StartSumServer(address);
        using IpcClient client = IpcTest.ConnectCore(address);
        uint sum = IpcTest.Route(client, "sum");
        byte* buffer = stackalloc byte[64];
        Assert.That(client.Send(sum, buffer, 8, out ulong id, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
        Assert.That(client.Call(sum, buffer, 8, buffer, 64, out _, IpcTest.CallMs), Is.EqualTo(NpStatus.InvalidState));
        Assert.That(client.Receive(out ulong got, buffer, 64, out uint length, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
        Assert.That((got, length), Is.EqualTo((id, 16u)));
        Assert.That(client.Call(sum, buffer, 8, buffer, 64, out length, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), "a call works once everything was received");
    }

    // ------------------------------------------------------------------ claim / commit / abort

    [Test]
    public void Claim_WriteInPlace_CommitShorter_ThenReceive_OverManyWraps()
    {
        int rounds = StressSize.Pick(3_000, 50_000);
        string address = IpcTest.NewAddress("claim");
        using IpcServer server = StartSumServer(address);
        using IpcClient client = IpcTest.ConnectCore(address);
        uint sum = IpcTest.Route(client, "sum");
        byte[] expected = new byte[8192];
        byte[] response = new byte[Small.MaxMessageSize];
        var rng = new Random(5);
        ulong bytesIn = 0;
        for (int i = 0; i < rounds; i++)
        {
            int claimed = rng.Next(0, 8193);
            int length = rng.Next(0, claimed + 1);
            Assert.That(client.Claim(sum, (uint)claimed, out byte* slot, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
            IpcTest.Fill(expected.AsSpan(0, length), (ulong)i);
            expected.AsSpan(0, length).CopyTo(new Span<byte>(slot, length));
            Assert.That(client.Commit((uint)length, out ulong id), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
            bytesIn += (ulong)length;
            // Every other round also sends a copied request, so claims and sends interleave.
            ulong id2 = 0;
            if (i % 2 == 0)
                fixed (byte* e = expected) Assert.That(client.Send(sum, e, (uint)length, out id2, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
            for (int k = 0; k < (i % 2 == 0 ? 2 : 1); k++)
            {
                ulong got;
                uint n;
                fixed (byte* r = response)
                    Assert.That(client.Receive(out got, r, (uint)response.Length, out n, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
                if (got != (k == 0 ? id : id2) || !IpcTest.IsSumOf(response.AsSpan(0, (int)n), expected.AsSpan(0, length)))
                    Assert.Fail($"round {i}: response {k} has id {got} and {n} bytes; expected id {(k == 0 ? id : id2)} answering {length} bytes (claimed {claimed})");
            }
            if (i % 2 == 0) bytesIn += (ulong)length;
        }
        server.Stop(1000);
        Assert.That(server.GetStats().BytesIn, Is.EqualTo(bytesIn), "the server saw exactly the committed lengths");
    }

    [Test]
    public void Claim_AbortSendsNothing_AndTheRoomIsReused()
    {
        int rounds = StressSize.Pick(2_000, 20_000);
        string address = IpcTest.NewAddress("abort");
        using IpcServer server = StartSumServer(address);
        using IpcClient client = IpcTest.ConnectCore(address);
        uint sum = IpcTest.Route(client, "sum");
        byte[] payload = new byte[4096];
        byte[] response = new byte[Small.MaxMessageSize];
        var rng = new Random(3);
        int realSends = 0;
        for (int i = 0; i < rounds; i++)
        {
            // Claims of random sizes (some force a padding record at the ring's end), filled with garbage, then dropped.
            Assert.That(client.Claim(sum, (uint)rng.Next(0, 12_000), out byte* slot, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
            new Span<byte>(slot, 16).Fill(0xEE);
            Assert.That(client.Abort(), Is.EqualTo(NpStatus.Ok));
            if (i % 3 != 0) continue;
            int length = rng.Next(0, payload.Length + 1);
            IpcTest.Fill(payload.AsSpan(0, length), (ulong)i);
            uint n;
            fixed (byte* p = payload) fixed (byte* r = response)
                Assert.That(client.Call(sum, p, (uint)length, r, (uint)response.Length, out n, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
            Assert.That(IpcTest.IsSumOf(response.AsSpan(0, (int)n), payload.AsSpan(0, length)), Is.True, $"round {i}");
            realSends++;
        }
        server.Stop(1000);
        IpcServerStats stats = server.GetStats();
        Assert.That((stats.Requests, stats.ProtocolErrors), Is.EqualTo(((ulong)realSends, 0ul)), "aborted claims never reach the server");
    }

    [Test]
    public void Claim_Misuse_GetsItsStatus_AndTheClaimSurvives()
    {
        string address = IpcTest.NewAddress("claim-misuse");
        using IpcServer server = StartSumServer(address);
        using IpcClient client = IpcTest.ConnectCore(address);
        uint sum = IpcTest.Route(client, "sum");
        byte* buffer = stackalloc byte[256];
        Assert.Multiple(() =>
        {
            Assert.That(client.Commit(1, out _), Is.EqualTo(NpStatus.InvalidState), "commit without a claim");
            Assert.That(client.Abort(), Is.EqualTo(NpStatus.InvalidState), "abort without a claim");
            Assert.That(client.Claim(99, 10, out _, 100), Is.EqualTo(NpStatus.UnknownRoute), "claim on a route the server lacks");
            Assert.That(client.Claim(0, 10, out _, 100), Is.EqualTo(NpStatus.UnknownRoute), "claim on route 0");
            Assert.That(client.Claim(sum, Small.MaxMessageSize + 1, out _, 100), Is.EqualTo(NpStatus.MessageTooLarge), "claim beyond the maximum message");
        });
        Assert.That(client.Claim(sum, 100, out byte* slot, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
        for (int i = 0; i < 50; i++) slot[i] = (byte)i;
        Assert.Multiple(() =>
        {
            Assert.That(client.Claim(sum, 10, out _, 100), Is.EqualTo(NpStatus.InvalidState), "a second claim");
            Assert.That(client.Send(sum, buffer, 1, out _, 100), Is.EqualTo(NpStatus.InvalidState), "send while a claim is open");
            Assert.That(client.Call(sum, buffer, 1, buffer, 256, out _, 100), Is.EqualTo(NpStatus.InvalidState), "call while a claim is open");
            Assert.That(client.Commit(101, out _), Is.EqualTo(NpStatus.InvalidArgument), "commit beyond the claimed length");
        });
        Assert.That(client.Commit(50, out ulong id), Is.EqualTo(NpStatus.Ok), "the claim stayed open through the refused calls");
        Assert.That(client.Receive(out ulong got, buffer, 256, out uint length, IpcTest.CallMs), Is.EqualTo(NpStatus.Ok));
        byte[] expected = new byte[50];
        for (int i = 0; i < 50; i++) expected[i] = (byte)i;
        Assert.That(got, Is.EqualTo(id));
        Assert.That(IpcTest.IsSumOf(new ReadOnlySpan<byte>(buffer, (int)length), expected), Is.True);
    }
}
