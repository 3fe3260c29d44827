using System;
using System.Threading;
using NativePools.Ipc;
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
}
