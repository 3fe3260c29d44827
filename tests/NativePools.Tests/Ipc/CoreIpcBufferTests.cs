using System;
using NativePools.Ipc;
using NUnit.Framework;

namespace NativePools.Tests.Ipc;

/// <summary>The IPC core takes its buffers from its message pool: reuse in steady state, and messages above the default classes.</summary>
[TestFixture]
public unsafe class CoreIpcBufferTests
{
    private static NpStatus Echo(uint route, ReadOnlySpan<byte> request, Span<byte> response, out int length)
    {
        request.CopyTo(response);
        length = request.Length;
        return NpStatus.Ok;
    }

    private static (IpcServer Server, IpcClient Client, uint Route) Start(IpcServerOptions options, bool pull)
    {
        options.Address = "@nativepools-test-" + Guid.NewGuid().ToString("N");
        Assert.That(IpcServer.Create(options, out IpcServer? server), Is.EqualTo(NpStatus.Ok));
        Assert.That(server!.AddRoute("r", 0, 0, pull ? null : Echo, out uint route), Is.EqualTo(NpStatus.Ok));
        Assert.That(server.Start(), Is.EqualTo(NpStatus.Ok));
        Assert.That(IpcClient.Connect(options.Address, 5000, out IpcClient? client), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
        return (server, client!, route);
    }

    [TestCase(false)]
    [TestCase(true)]
    public void SteadyState_ReusesMoreThan99PercentOfBuffers(bool pull)
    {
        var (server, client, route) = Start(new IpcServerOptions(), pull);
        using (server)
        using (client)
        {
            var replier = new System.Threading.Thread(() =>
            {
                while (server.Receive(5000, out ulong token, out _, out byte* data, out uint length) == NpStatus.Ok)
                    server.Reply(token, data, length, 0);
            });
            if (pull) replier.Start();
            byte[] request = new byte[300], response = new byte[300];
            void Calls(int n)
            {
                fixed (byte* req = request) fixed (byte* resp = response)
                    for (int i = 0; i < n; i++)
                    {
                        req[0] = (byte)i;
                        Assert.That(client.Call(route, req, (uint)request.Length, resp, (uint)response.Length, out uint length, 5000), Is.EqualTo(NpStatus.Ok));
                        Assert.That(length == request.Length && resp[0] == (byte)i, Is.True);
                    }
            }
            Calls(1_000); // warm-up
            IpcServerStats before = server.GetStats();
            Calls(10_000);
            IpcServerStats after = server.GetStats();
            ulong created = after.BuffersCreated - before.BuffersCreated;
            ulong reused = after.BuffersReused - before.BuffersReused;
            Assert.That(created + reused, Is.GreaterThanOrEqualTo(10_000UL), "one buffer per request at least");
            Assert.That((double)reused / (created + reused), Is.GreaterThan(0.99), $"created {created}, reused {reused}");
            server.Stop(1000);
            if (pull) replier.Join();
        }
    }

    [Test]
    public void MessagesAboveTheDefaultLargestClass_RoundTrip()
    {
        const int size = 4 << 20;
        var (server, client, route) = Start(new IpcServerOptions { MaxMessageSize = size }, pull: false);
        using (server)
        using (client)
        {
            byte[] request = new byte[size], response = new byte[size];
            new Random(3).NextBytes(request);
            fixed (byte* req = request) fixed (byte* resp = response)
            {
                Assert.That(client.Call(route, req, size, resp, size, out uint length, 10_000), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
                Assert.That(length, Is.EqualTo((uint)size));
                Assert.That(client.Call(route, req, size + 1, resp, size, out _, 10_000), Is.EqualTo(NpStatus.MessageTooLarge));
            }
            Assert.That(response.AsSpan().SequenceEqual(request), Is.True);
        }
        Assert.That(IpcServer.Create(new IpcServerOptions { Address = "@x", MaxMessageSize = (16u << 20) + 1 }, out _), Is.EqualTo(NpStatus.InvalidArgument));
    }
}
