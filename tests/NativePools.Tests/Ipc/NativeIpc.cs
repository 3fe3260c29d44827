using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using NativePools.Tests.Ipc;
using NUnit.Framework;
using static NativePools.Tests.Native.NativeApi;

namespace NativePools.Tests.Native;

/// <summary>
/// State a C# handler keeps in native memory, reached through user_data: the handler runs on a
/// worker thread of the library's own runtime and sees only this pointer.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct HandlerState
{
    public long Calls;
    public long BytesIn;
    public long WrongRoute;     // calls whose route_id was not ExpectedRoute
    public uint ExpectedRoute;
    public int StopStatus;      // what np_server_stop / np_server_destroy returned inside the handler
    public int DestroyStatus;
    public ulong Server;
}

/// <summary>
/// The C# handlers passed to np_server_add_route as function pointers ([UnmanagedCallersOnly]),
/// and helpers that drive the library's servers and clients through the raw C API, asserting
/// each step.
/// </summary>
public static unsafe class NativeIpc
{
    /// <summary>The handler type, as np_handler_fn declares it.</summary>
    public static delegate* unmanaged<void*, uint, byte*, uint, byte*, uint, uint*, int> Sum => &SumHandler;
    public static delegate* unmanaged<void*, uint, byte*, uint, byte*, uint, uint*, int> Fail => &FailHandler;
    public static delegate* unmanaged<void*, uint, byte*, uint, byte*, uint, uint*, int> StopsItsServer => &StopHandler;

    /// <summary>The status <see cref="Fail"/> returns.</summary>
    public const int FailStatus = -77;

    /// <summary>"sum": the request, then its FNV-1a 64 (as <see cref="IpcTest.Sum"/>).</summary>
    [UnmanagedCallersOnly]
    private static int SumHandler(void* user, uint route, byte* request, uint length, byte* response, uint capacity, uint* responseLength)
    {
        // An exception must not leave an [UnmanagedCallersOnly] method (it would abort the process).
        try
        {
            Count((HandlerState*)user, route, length);
            if ((ulong)length + 8 > capacity) { *responseLength = 0; return (int)NpStatus.BufferTooSmall; }
            Buffer.MemoryCopy(request, response, capacity, length);
            Unsafe.WriteUnaligned(response + length, IpcTest.Fnv64(new ReadOnlySpan<byte>(request, (int)length)));
            *responseLength = length + 8;
            return 0;
        }
        catch
        {
            return (int)NpStatus.Internal;
        }
    }

    [UnmanagedCallersOnly]
    private static int FailHandler(void* user, uint route, byte* request, uint length, byte* response, uint capacity, uint* responseLength)
    {
        Count((HandlerState*)user, route, length);
        *responseLength = 0;
        return FailStatus;
    }

    /// <summary>Calls np_server_stop and np_server_destroy on its own server (both must refuse), then answers empty.</summary>
    [UnmanagedCallersOnly]
    private static int StopHandler(void* user, uint route, byte* request, uint length, byte* response, uint capacity, uint* responseLength)
    {
        var state = (HandlerState*)user;
        Count(state, route, length);
        state->StopStatus = np_server_stop(state->Server, 0);
        state->DestroyStatus = np_server_destroy(state->Server);
        *responseLength = 0;
        return 0;
    }

    private static void Count(HandlerState* state, uint route, uint length)
    {
        if (state == null) return;
        Interlocked.Increment(ref state->Calls);
        Interlocked.Add(ref state->BytesIn, length);
        if (route != state->ExpectedRoute) Interlocked.Increment(ref state->WrongRoute);
    }

    /// <summary>A zeroed HandlerState in native memory (free with <see cref="NativeMemory.Free"/>).</summary>
    public static HandlerState* NewState() => (HandlerState*)NativeMemory.AllocZeroed((nuint)sizeof(HandlerState));

    /// <summary>NUL-terminated UTF-8.</summary>
    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text + "\0");

    /// <summary>np_server_options_init, then the address and the given sizes.</summary>
    public static NpServerOptions Options(uint maxMessage = 0, uint workers = 0, uint ringSize = 0, uint maxClients = 0)
    {
        NpServerOptions o;
        Assert.That(np_server_options_init(&o), Is.Zero);
        o.max_message_size = maxMessage;
        o.worker_threads = workers;
        o.ring_size = ringSize;
        o.max_clients = maxClients;
        return o;
    }

    /// <summary>Creates a server at <paramref name="address"/> (not started).</summary>
    public static ulong Create(string address, NpServerOptions options)
    {
        ulong server;
        fixed (byte* a = Utf8(address))
        {
            options.address = a;
            Assert.That(np_server_create(&options, &server), Is.Zero, LastErrorText());
        }
        Assert.That(server, Is.Not.Zero);
        return server;
    }

    /// <summary>Adds a route (handler null: pull route) and returns its id.</summary>
    public static uint AddRoute(ulong server, string name, delegate* unmanaged<void*, uint, byte*, uint, byte*, uint, uint*, int> handler, void* user)
    {
        uint id;
        fixed (byte* n = Utf8(name))
            Assert.That(np_server_add_route(server, n, handler, user, &id), Is.Zero, LastErrorText());
        return id;
    }

    public static void Start(ulong server) => Assert.That(np_server_start(server), Is.Zero, LastErrorText());

    /// <summary>Connects through np_client_connect.</summary>
    public static ulong Connect(string address)
    {
        ulong client;
        int status;
        fixed (byte* a = Utf8(address)) status = np_client_connect(a, IpcTest.ConnectMs, &client);
        Assert.That(status, Is.Zero, LastErrorText());
        return client;
    }

    /// <summary>Connect for worker threads: throws (ThreadRunner reports) instead of asserting.</summary>
    public static ulong ConnectOrThrow(string address)
    {
        ulong client;
        int status;
        fixed (byte* a = Utf8(address)) status = np_client_connect(a, IpcTest.ConnectMs, &client);
        Support.Check.Status((NpStatus)status, NpStatus.Ok, "np_client_connect: " + LastErrorText());
        return client;
    }

    public static uint Resolve(ulong client, string name)
    {
        uint id;
        int status;
        fixed (byte* n = Utf8(name)) status = np_client_resolve(client, n, &id);
        if (status != 0) throw new Support.CheckFailedException($"np_client_resolve({name}): {LastErrorText()}");
        return id;
    }

    public static NpServerStats Stats(ulong server)
    {
        var s = new NpServerStats { struct_size = (uint)sizeof(NpServerStats) };
        Assert.That(np_server_get_stats(server, &s), Is.Zero, LastErrorText());
        return s;
    }

    public static NpRouteStats RouteStats(ulong server, uint route)
    {
        var s = new NpRouteStats { struct_size = (uint)sizeof(NpRouteStats) };
        Assert.That(np_server_get_route_stats(server, route, &s), Is.Zero, LastErrorText());
        return s;
    }

    /// <summary>This thread's np_last_error_message.</summary>
    public static string LastErrorText()
    {
        byte* buffer = stackalloc byte[1024];
        nuint length = np_last_error_message(buffer, 1024);
        return Encoding.UTF8.GetString(buffer, (int)Math.Min(length, 1023));
    }
}
