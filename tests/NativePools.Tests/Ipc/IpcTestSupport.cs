using System;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading;
using NativePools.Ipc;
using NUnit.Framework;

namespace NativePools.Tests.Ipc;

/// <summary>
/// What the IPC tests share: unique addresses, the checksummed "sum" payloads (the same
/// algorithm as the C child programs, see <see cref="ChildPrograms"/>), and liveness waits.
/// </summary>
public static unsafe class IpcTest
{
    /// <summary>Generous bound for anything that must happen "at once" (a hang-up seen, a call ended): a hang fails, slowness does not.</summary>
    public static readonly TimeSpan Liveness = TimeSpan.FromSeconds(60);

    /// <summary>Connect timeout for clients of a server that is already listening.</summary>
    public const uint ConnectMs = 10_000;

    /// <summary>Timeout of calls that must be answered (a hang fails after this, slowness does not).</summary>
    public const uint CallMs = 60_000;

    private static long s_counter;

    /// <summary>A fresh abstract-namespace address, unique per process and call: "@np-test-pid-tag-n-random".</summary>
    public static string NewAddress(string tag) =>
        $"@np-test-{Environment.ProcessId}-{tag}-{Interlocked.Increment(ref s_counter)}-{Random.Shared.Next():x}";

    /// <summary>FNV-1a 64 of <paramref name="data"/> (the children use the same function).</summary>
    public static ulong Fnv64(ReadOnlySpan<byte> data)
    {
        ulong hash = 0xCBF29CE484222325UL;
        foreach (byte b in data) hash = (hash ^ b) * 0x100000001B3UL;
        return hash;
    }

    /// <summary>Fills <paramref name="data"/> with bytes derived from <paramref name="seed"/> (xorshift64*, as in the children).</summary>
    public static void Fill(Span<byte> data, ulong seed)
    {
        ulong x = seed * 0x9E3779B97F4A7C15UL | 1;
        for (int i = 0; i < data.Length; i++)
        {
            x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
            data[i] = (byte)((x * 0x2545F4914F6CDD1DUL) >> 56);
        }
    }

    /// <summary>
    /// The "sum" handler: the response is the request followed by the request's FNV-1a 64
    /// (8 bytes, little-endian). The caller checks both, so a response that belongs to another
    /// request, or bytes the server did not see, fail.
    /// </summary>
    public static NpStatus Sum(uint route, ReadOnlySpan<byte> request, Span<byte> response, out int length)
    {
        if (request.Length + 8 > response.Length)
        {
            length = 0;
            return NpStatus.BufferTooSmall;
        }
        request.CopyTo(response);
        MemoryMarshal.Write(response[request.Length..], Fnv64(request));
        length = request.Length + 8;
        return NpStatus.Ok;
    }

    /// <summary>The echo handler: the response is the request.</summary>
    public static NpStatus Echo(uint route, ReadOnlySpan<byte> request, Span<byte> response, out int length)
    {
        request.CopyTo(response);
        length = request.Length;
        return NpStatus.Ok;
    }

    /// <summary>True when <paramref name="response"/> is the "sum" answer to <paramref name="request"/>.</summary>
    public static bool IsSumOf(ReadOnlySpan<byte> response, ReadOnlySpan<byte> request) =>
        response.Length == request.Length + 8 &&
        response[..request.Length].SequenceEqual(request) &&
        MemoryMarshal.Read<ulong>(response[request.Length..]) == Fnv64(request);

    /// <summary>Polls <paramref name="condition"/> every few ms until it holds or <paramref name="limit"/> passes; returns whether it held.</summary>
    public static bool Eventually(Func<bool> condition, TimeSpan? limit = null)
    {
        var clock = Stopwatch.StartNew();
        TimeSpan bound = limit ?? Liveness;
        while (true)
        {
            if (condition()) return true;
            if (clock.Elapsed > bound) return false;
            Thread.Sleep(5);
        }
    }

    /// <summary>Creates and starts a core server with the given routes (name, handler or null for pull).</summary>
    public static IpcServer StartCoreServer(string address, IpcServerOptions? options, params (string Name, IpcRequestHandler? Handler)[] routes)
    {
        options ??= new IpcServerOptions();
        options.Address = address;
        Assert.That(IpcServer.Create(options, out IpcServer? server), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
        foreach (var (name, handler) in routes)
            Assert.That(server!.AddRoute(name, 0, 0, handler, out _), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
        Assert.That(server!.Start(), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
        return server;
    }

    /// <summary>Connects a core client, failing the test with the detail when it cannot.</summary>
    public static IpcClient ConnectCore(string address)
    {
        NpStatus status = IpcClient.Connect(address, ConnectMs, out IpcClient? client);
        Assert.That(status, Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
        return client!;
    }

    /// <summary>Resolves a route by name on a core client.</summary>
    public static uint Route(IpcClient client, string name)
    {
        Assert.That(client.Resolve(name, out uint id), Is.EqualTo(NpStatus.Ok), Diagnostics.LastError.Message);
        return id;
    }

    /// <summary>Joins <paramref name="threads"/> within the liveness bound; the names of those still running fail the test.</summary>
    public static void JoinAll(Thread[] threads, string what)
    {
        var clock = Stopwatch.StartNew();
        var stuck = new System.Collections.Generic.List<string>();
        foreach (Thread t in threads)
        {
            TimeSpan left = Liveness - clock.Elapsed;
            if (!t.Join(left > TimeSpan.Zero ? left : TimeSpan.Zero)) stuck.Add(t.Name ?? "?");
        }
        Assert.That(stuck, Is.Empty, $"{what}: threads still blocked after {Liveness.TotalSeconds} s");
    }

    /// <summary>Starts a background thread running <paramref name="body"/>.</summary>
    public static Thread Start(string name, Action body)
    {
        var t = new Thread(() => body()) { IsBackground = true, Name = name };
        t.Start();
        return t;
    }
}
