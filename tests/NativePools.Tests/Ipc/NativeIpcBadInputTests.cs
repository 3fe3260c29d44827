using System;
using System.Collections.Generic;
using NativePools.Tests.Ipc;
using NUnit.Framework;
using static NativePools.Tests.Native.NativeApi;

namespace NativePools.Tests.Native;

/// <summary>
/// The IPC bad-input table through the C ABI: NULLs, struct sizes, out-of-range options, route
/// names, tokens, lifecycle misuse, and 0 / garbage / closed / wrong-kind handles on every
/// np_server_* and np_client_* function. Each returns its status, leaves it in
/// np_last_error_status() with a detail message, and the server keeps serving.
/// </summary>
[TestFixture]
public sealed unsafe class NativeIpcBadInputTests
{
    private const ulong Garbage = 0xDEAD_BEEF_CAFE_F00D;
    private string _address = "";
    private ulong _server, _unstarted, _destroyed, _client, _closed, _pool;
    private uint _sum, _pull;

    [SetUp]
    public void CreateObjects()
    {
        _address = IpcTest.NewAddress("native-bad");
        _server = NativeIpc.Create(_address, NativeIpc.Options(maxMessage: 4096));
        _sum = NativeIpc.AddRoute(_server, "sum", NativeIpc.Sum, null);
        _pull = NativeIpc.AddRoute(_server, "pull", null, null);
        NativeIpc.Start(_server);
        _unstarted = NativeIpc.Create(IpcTest.NewAddress("native-unstarted"), NativeIpc.Options());
        _destroyed = NativeIpc.Create(IpcTest.NewAddress("native-destroyed"), NativeIpc.Options());
        Assert.That(np_server_destroy(_destroyed), Is.Zero);
        _client = NativeIpc.Connect(_address);
        _closed = NativeIpc.Connect(_address);
        Assert.That(np_client_close(_closed), Is.Zero);
        _pool = NativePresetPools.Create(NpConstants.NP_POOL_PRESET_SMALL, "not an ipc object");
    }

    [TearDown]
    public void DestroyObjects()
    {
        // The server must still serve after all the bad calls.
        byte* b = stackalloc byte[16];
        uint length;
        Assert.That(np_client_call(_client, _sum, b, 4, b, 16, &length, IpcTest.CallMs), Is.Zero, "the server still serves: " + NativeIpc.LastErrorText());
        Assert.That(length, Is.EqualTo(12u));
        Assert.That(np_client_close(_client), Is.Zero);
        Assert.That(np_server_destroy(_server), Is.Zero);
        Assert.That(np_server_destroy(_unstarted), Is.Zero);
        Assert.That(np_pool_destroy(_pool), Is.Zero);
    }

    private readonly record struct Row(string What, NpStatus Expected, Func<int> Call);

    private static NpServerOptions Good() => NativeIpc.Options();

    /// <summary>np_server_create with <paramref name="options"/> and the address; a failed create must leave the handle 0.</summary>
    private static int Create(NpServerOptions options, string? address = "@np-test-never-started")
    {
        ulong server = 12345;
        int status;
        byte[]? a = address is null ? null : NativeIpc.Utf8(address);
        fixed (byte* ap = a)
        {
            options.address = ap;
            status = np_server_create(&options, &server);
        }
        if (server != 0) { np_server_destroy(server); return int.MaxValue; }
        return status;
    }

    private static int AddRoute(ulong server, string? name, bool handler = false)
    {
        uint id = 99;
        byte[]? n = name is null ? null : NativeIpc.Utf8(name);
        int status;
        fixed (byte* np = n) status = np_server_add_route(server, np, handler ? NativeIpc.Sum : null, null, &id);
        return status != 0 && id != 0 ? int.MaxValue : status; // a failed add must leave the id 0
    }

    private List<Row> ServerRows()
    {
        var rows = new List<Row>();
        ulong server = _server, unstarted = _unstarted;
        uint sum = _sum;
        rows.Add(new("options_init(NULL)", NpStatus.NullPointer, () => np_server_options_init(null)));
        rows.Add(new("create(NULL options)", NpStatus.NullPointer, () => { ulong s; return np_server_create(null, &s); }));
        rows.Add(new("create(NULL out)", NpStatus.NullPointer, () => { NpServerOptions o = Good(); return np_server_create(&o, null); }));
        rows.Add(new("create(struct_size 0)", NpStatus.UnsupportedStructSize, () => { var o = Good(); o.struct_size = 0; return Create(o); }));
        rows.Add(new("create(struct_size + 8)", NpStatus.UnsupportedStructSize, () => { var o = Good(); o.struct_size += 8; return Create(o); }));
        rows.Add(new("create(NULL address)", NpStatus.InvalidArgument, () => Create(Good(), null)));
        rows.Add(new("create(empty address)", NpStatus.InvalidArgument, () => Create(Good(), "")));
        rows.Add(new("create(address of 108 bytes)", NpStatus.InvalidArgument, () => Create(Good(), "@" + new string('a', 107))));
        rows.Add(new("create(address of 300 bytes)", NpStatus.InvalidArgument, () => Create(Good(), "/" + new string('a', 299))));
        rows.Add(new("create(ring 12288)", NpStatus.InvalidArgument, () => { var o = Good(); o.ring_size = 12288; return Create(o); }));
        rows.Add(new("create(ring 2^31)", NpStatus.InvalidArgument, () => { var o = Good(); o.ring_size = 1u << 31; return Create(o); }));
        rows.Add(new("create(ring smaller than a message)", NpStatus.InvalidArgument, () => { var o = Good(); o.ring_size = 4096; o.max_message_size = 4096; return Create(o); }));
        rows.Add(new("create(max message 2^32-1)", NpStatus.InvalidArgument, () => { var o = Good(); o.max_message_size = uint.MaxValue; return Create(o); }));
        rows.Add(new("create(max_clients 2^32-1)", NpStatus.InvalidArgument, () => { var o = Good(); o.max_clients = uint.MaxValue; return Create(o); }));
        rows.Add(new("create(65 workers)", NpStatus.InvalidArgument, () => { var o = Good(); o.worker_threads = 65; return Create(o); }));
        rows.Add(new("create(2^32-1 workers)", NpStatus.InvalidArgument, () => { var o = Good(); o.worker_threads = uint.MaxValue; return Create(o); }));
        rows.Add(new("create(spin 2 s)", NpStatus.InvalidArgument, () => { var o = Good(); o.spin_us = 2_000_000; return Create(o); }));
        rows.Add(new("create(max_pending 2^32-1)", NpStatus.InvalidArgument, () => { var o = Good(); o.max_pending = uint.MaxValue; return Create(o); }));
        rows.Add(new("create(2 uids, NULL array)", NpStatus.NullPointer, () => { var o = Good(); o.allowed_uid_count = 2; return Create(o); }));
        rows.Add(new("create(2000 uids)", NpStatus.InvalidArgument, () => { var o = Good(); uint u = 0; o.allowed_uids = &u; o.allowed_uid_count = 2000; return Create(o); }));

        rows.Add(new("add_route(NULL name)", NpStatus.NullPointer, () => AddRoute(unstarted, null)));
        rows.Add(new("add_route(NULL route_id)", NpStatus.NullPointer, () => { fixed (byte* n = NativeIpc.Utf8("x")) return np_server_add_route(unstarted, n, null, null, null); }));
        rows.Add(new("add_route(empty name)", NpStatus.InvalidArgument, () => AddRoute(unstarted, "")));
        rows.Add(new("add_route(57-byte name)", NpStatus.InvalidArgument, () => AddRoute(unstarted, new string('n', 57))));
        rows.Add(new("add_route(300-byte name)", NpStatus.InvalidArgument, () => AddRoute(unstarted, new string('n', 300))));
        rows.Add(new("add_route(duplicate)", NpStatus.InvalidArgument, () => { AddRoute(unstarted, "twice"); return AddRoute(unstarted, "twice", handler: true); }));
        rows.Add(new("add_route(after start)", NpStatus.InvalidState, () => AddRoute(server, "late")));
        rows.Add(new("start(twice)", NpStatus.InvalidState, () => np_server_start(server)));
        rows.Add(new("start(address in use)", NpStatus.AddressInUse, () =>
        {
            ulong second = NativeIpc.Create(_address, NativeIpc.Options());
            try { return np_server_start(second); } finally { np_server_destroy(second); }
        }));

        rows.Add(new("get_stats(NULL)", NpStatus.NullPointer, () => np_server_get_stats(server, null)));
        rows.Add(new("get_stats(struct_size 0)", NpStatus.UnsupportedStructSize, () => { var s = new NpServerStats(); return np_server_get_stats(server, &s); }));
        rows.Add(new("get_stats(struct_size - 4)", NpStatus.UnsupportedStructSize, () => { var s = new NpServerStats { struct_size = (uint)sizeof(NpServerStats) - 4 }; return np_server_get_stats(server, &s); }));
        rows.Add(new("get_route_stats(NULL)", NpStatus.NullPointer, () => np_server_get_route_stats(server, sum, null)));
        rows.Add(new("get_route_stats(struct_size 1)", NpStatus.UnsupportedStructSize, () => { var s = new NpRouteStats { struct_size = 1 }; return np_server_get_route_stats(server, sum, &s); }));
        rows.Add(new("get_route_stats(route 0)", NpStatus.UnknownRoute, () => { var s = new NpRouteStats { struct_size = (uint)sizeof(NpRouteStats) }; return np_server_get_route_stats(server, 0, &s); }));
        rows.Add(new("get_route_stats(route 3 of 2)", NpStatus.UnknownRoute, () => { var s = new NpRouteStats { struct_size = (uint)sizeof(NpRouteStats) }; return np_server_get_route_stats(server, 3, &s); }));

        rows.Add(new("receive(NULL)", NpStatus.NullPointer, () => np_server_receive(server, 0, null)));
        rows.Add(new("receive(struct_size 0)", NpStatus.UnsupportedStructSize, () => { var r = new NpRequest(); return np_server_receive(server, 0, &r); }));
        rows.Add(new("receive(before start)", NpStatus.InvalidState, () => { var r = new NpRequest { struct_size = (uint)sizeof(NpRequest) }; return np_server_receive(unstarted, 0, &r); }));
        rows.Add(new("receive(nothing, timeout 0)", NpStatus.Timeout, () => { var r = new NpRequest { struct_size = (uint)sizeof(NpRequest) }; return np_server_receive(server, 0, &r); }));
        rows.Add(new("reply(token 0)", NpStatus.InvalidArgument, () => { byte b = 0; return np_server_reply(server, 0, &b, 1); }));
        rows.Add(new("reply(garbage token)", NpStatus.InvalidArgument, () => { byte b = 0; return np_server_reply(server, Garbage, &b, 1); }));
        rows.Add(new("reply_error(garbage token)", NpStatus.InvalidArgument, () => np_server_reply_error(server, Garbage, -5)));
        rows.Add(new("reply_error(status 0)", NpStatus.InvalidArgument, () => np_server_reply_error(server, 1, 0)));
        rows.Add(new("reply_error(status 3)", NpStatus.InvalidArgument, () => np_server_reply_error(server, 1, 3)));
        return rows;
    }

    /// <summary>Pull tokens misused on a live request: the refusals leave it answerable.</summary>
    [Test]
    public void PullReplies_BadArgumentsOnALiveToken_GetTheirStatus_AndTheTokenSurvives()
    {
        byte q = 5;
        ulong id;
        Assert.That(np_client_send(_client, _pull, &q, 1, &id, IpcTest.CallMs), Is.Zero);
        var request = new NpRequest { struct_size = (uint)sizeof(NpRequest), reserved = 0xFFFF };
        Assert.That(np_server_receive(_server, IpcTest.CallMs, &request), Is.Zero);
        Assert.That(request.reserved, Is.Zero, "np_request.reserved is written as 0");
        ulong token = request.token;
        byte* big = stackalloc byte[4097];
        RunRows(new List<Row>
        {
            new("reply(NULL data, length 3)", NpStatus.NullPointer, () => np_server_reply(_server, token, null, 3)),
            new("reply(4097 bytes over a 4096 maximum)", NpStatus.MessageTooLarge, () => np_server_reply(_server, token, big, 4097)),
            new("reply(a token of another generation)", NpStatus.InvalidArgument, () => np_server_reply(_server, token ^ (1UL << 40), big, 1)),
        });
        Assert.That(np_server_reply(_server, token, request.data, request.length), Is.Zero, "the token is still good");
        Assert.That((NpStatus)np_server_reply(_server, token, request.data, request.length), Is.EqualTo(NpStatus.InvalidArgument), "but only once");
        byte r = 0;
        uint length;
        ulong got;
        Assert.That(np_client_receive(_client, &got, &r, 1, &length, IpcTest.CallMs), Is.Zero);
        Assert.That((got, r, length), Is.EqualTo((id, q, 1u)));
    }

    private List<Row> ClientArgumentRows()
    {
        var rows = new List<Row>();
        ulong client = _client;
        uint sum = _sum;
        string address = _address;
        rows.Add(new("connect(NULL address)", NpStatus.NullPointer, () => { ulong c; return np_client_connect(null, 100, &c); }));
        rows.Add(new("connect(NULL out)", NpStatus.NullPointer, () => { fixed (byte* a = NativeIpc.Utf8(address)) return np_client_connect(a, 100, null); }));
        rows.Add(new("connect(empty address)", NpStatus.InvalidArgument, () => { ulong c; fixed (byte* a = NativeIpc.Utf8("")) return np_client_connect(a, 100, &c); }));
        rows.Add(new("connect(nobody listens)", NpStatus.Timeout, () => { ulong c = 7; int s; fixed (byte* a = NativeIpc.Utf8(IpcTest.NewAddress("nobody"))) s = np_client_connect(a, 30, &c); return c == 0 ? s : int.MaxValue; }));
        rows.Add(new("resolve(NULL name)", NpStatus.NullPointer, () => { uint id; return np_client_resolve(client, null, &id); }));
        rows.Add(new("resolve(NULL out)", NpStatus.NullPointer, () => { fixed (byte* n = NativeIpc.Utf8("sum")) return np_client_resolve(client, n, null); }));
        rows.Add(new("resolve(unknown)", NpStatus.UnknownRoute, () => { uint id; fixed (byte* n = NativeIpc.Utf8("nope")) return np_client_resolve(client, n, &id); }));
        rows.Add(new("call(NULL response_length)", NpStatus.NullPointer, () => { byte b = 0; return np_client_call(client, sum, &b, 1, &b, 1, null, 100); }));
        rows.Add(new("call(NULL request, length 1)", NpStatus.NullPointer, () => { byte b = 0; uint n; return np_client_call(client, sum, null, 1, &b, 1, &n, 100); }));
        rows.Add(new("call(NULL response, capacity 16)", NpStatus.NullPointer, () => { byte b = 0; uint n; return np_client_call(client, sum, &b, 1, null, 16, &n, 100); }));
        rows.Add(new("call(route 0)", NpStatus.UnknownRoute, () => { byte b = 0; uint n; return np_client_call(client, 0, &b, 1, &b, 1, &n, 100); }));
        rows.Add(new("call(route 3 of 2)", NpStatus.UnknownRoute, () => { byte b = 0; uint n; return np_client_call(client, 3, &b, 1, &b, 1, &n, 100); }));
        rows.Add(new("call(4097 bytes)", NpStatus.MessageTooLarge, () => { byte* b = stackalloc byte[4097]; uint n; return np_client_call(client, sum, b, 4097, b, 1, &n, 100); }));
        rows.Add(new("call(response buffer too small)", NpStatus.BufferTooSmall, () =>
        {
            byte* b = stackalloc byte[64];
            uint n;
            int status = np_client_call(client, sum, b, 10, b, 4, &n, IpcTest.CallMs);
            ulong id;
            // The response stays queued: take it so the next rows start clean.
            if (status == (int)NpStatus.BufferTooSmall && (n != 18 || np_client_receive(client, &id, b, 64, &n, IpcTest.CallMs) != 0)) return int.MaxValue;
            return status;
        }));
        rows.Add(new("send(NULL request_id)", NpStatus.NullPointer, () => { byte b = 0; return np_client_send(client, sum, &b, 1, null, 100); }));
        rows.Add(new("send(NULL request, length 2)", NpStatus.NullPointer, () => { ulong id; return np_client_send(client, sum, null, 2, &id, 100); }));
        rows.Add(new("receive(NULL request_id)", NpStatus.NullPointer, () => { byte b = 0; uint n; return np_client_receive(client, null, &b, 1, &n, 100); }));
        rows.Add(new("receive(NULL response_length)", NpStatus.NullPointer, () => { byte b = 0; ulong id; return np_client_receive(client, &id, &b, 1, null, 100); }));
        rows.Add(new("receive(NULL response, capacity 8)", NpStatus.NullPointer, () => { ulong id; uint n; return np_client_receive(client, &id, null, 8, &n, 100); }));
        rows.Add(new("receive(nothing outstanding)", NpStatus.InvalidState, () => { byte b = 0; ulong id; uint n; return np_client_receive(client, &id, &b, 1, &n, 100); }));
        rows.Add(new("claim(NULL buffer)", NpStatus.NullPointer, () => np_client_claim(client, sum, 1, null, 100)));
        rows.Add(new("claim(4097 bytes)", NpStatus.MessageTooLarge, () => { void* p; return np_client_claim(client, sum, 4097, &p, 100); }));
        rows.Add(new("claim(route 9)", NpStatus.UnknownRoute, () => { void* p; return np_client_claim(client, 9, 1, &p, 100); }));
        rows.Add(new("commit(NULL request_id)", NpStatus.NullPointer, () => np_client_commit(client, 0, null)));
        rows.Add(new("commit(no claim)", NpStatus.InvalidState, () => { ulong id; return np_client_commit(client, 0, &id); }));
        rows.Add(new("abort(no claim)", NpStatus.InvalidState, () => np_client_abort(client)));
        rows.Add(new("commit(beyond the claim)", NpStatus.InvalidArgument, () =>
        {
            void* p;
            if (np_client_claim(client, sum, 10, &p, IpcTest.CallMs) != 0) return int.MaxValue;
            ulong id;
            int status = np_client_commit(client, 11, &id);
            return np_client_abort(client) == 0 ? status : int.MaxValue; // the claim stayed open
        }));
        rows.Add(new("max_message_size(NULL)", NpStatus.NullPointer, () => np_client_max_message_size(client, null)));
        return rows;
    }

    private List<Row> HandleRows()
    {
        var rows = new List<Row>();
        uint sum = _sum;
        foreach (var (label, handle) in new[] { ("0", 0ul), ("garbage", Garbage), ("destroyed", _destroyed), ("a pool", _pool), ("a client", _client) })
        {
            ulong h = handle;
            rows.Add(new($"server add_route({label})", NpStatus.InvalidHandle, () => AddRoute(h, "r")));
            rows.Add(new($"server start({label})", NpStatus.InvalidHandle, () => np_server_start(h)));
            rows.Add(new($"server stop({label})", NpStatus.InvalidHandle, () => np_server_stop(h, 0)));
            rows.Add(new($"server get_stats({label})", NpStatus.InvalidHandle, () => { var s = new NpServerStats { struct_size = (uint)sizeof(NpServerStats) }; return np_server_get_stats(h, &s); }));
            rows.Add(new($"server get_route_stats({label})", NpStatus.InvalidHandle, () => { var s = new NpRouteStats { struct_size = (uint)sizeof(NpRouteStats) }; return np_server_get_route_stats(h, 1, &s); }));
            rows.Add(new($"server receive({label})", NpStatus.InvalidHandle, () => { var r = new NpRequest { struct_size = (uint)sizeof(NpRequest) }; return np_server_receive(h, 0, &r); }));
            rows.Add(new($"server reply({label})", NpStatus.InvalidHandle, () => { byte b = 0; return np_server_reply(h, 1, &b, 1); }));
            rows.Add(new($"server reply_error({label})", NpStatus.InvalidHandle, () => np_server_reply_error(h, 1, -5)));
            if (h != 0) rows.Add(new($"server destroy({label})", NpStatus.InvalidHandle, () => np_server_destroy(h)));
        }
        foreach (var (label, handle) in new[] { ("0", 0ul), ("garbage", Garbage), ("closed", _closed), ("a pool", _pool), ("a server", _server) })
        {
            ulong h = handle;
            rows.Add(new($"client resolve({label})", NpStatus.InvalidHandle, () => { uint id; fixed (byte* n = NativeIpc.Utf8("sum")) return np_client_resolve(h, n, &id); }));
            rows.Add(new($"client call({label})", NpStatus.InvalidHandle, () => { byte b = 0; uint n; return np_client_call(h, sum, &b, 1, &b, 1, &n, 100); }));
            rows.Add(new($"client send({label})", NpStatus.InvalidHandle, () => { byte b = 0; ulong id; return np_client_send(h, sum, &b, 1, &id, 100); }));
            rows.Add(new($"client receive({label})", NpStatus.InvalidHandle, () => { byte b = 0; ulong id; uint n; return np_client_receive(h, &id, &b, 1, &n, 100); }));
            rows.Add(new($"client claim({label})", NpStatus.InvalidHandle, () => { void* p; return np_client_claim(h, sum, 1, &p, 100); }));
            rows.Add(new($"client commit({label})", NpStatus.InvalidHandle, () => { ulong id; return np_client_commit(h, 1, &id); }));
            rows.Add(new($"client abort({label})", NpStatus.InvalidHandle, () => np_client_abort(h)));
            rows.Add(new($"client max_message_size({label})", NpStatus.InvalidHandle, () => { uint m; return np_client_max_message_size(h, &m); }));
            if (h != 0) rows.Add(new($"client close({label})", NpStatus.InvalidHandle, () => np_client_close(h)));
        }
        return rows;
    }

    [Test]
    public void ServerArguments_EachReturnItsStatusAndMessage() => RunRows(ServerRows());

    [Test]
    public void ClientArguments_EachReturnItsStatusAndMessage() => RunRows(ClientArgumentRows());

    [Test]
    public void Handles_ZeroGarbageClosedWrongKind_ReturnInvalidHandle() => RunRows(HandleRows());

    [Test]
    public void CloseAndDestroyZero_AreNoOps()
    {
        Assert.That(np_client_close(0), Is.Zero);
        Assert.That(np_server_destroy(0), Is.Zero);
    }

    [Test]
    public void StructSizes_AreTheOnesTheLibraryWritesAndAccepts()
    {
        NpServerOptions o;
        new Span<byte>(&o, sizeof(NpServerOptions)).Fill(0xCC);
        Assert.That(np_server_options_init(&o), Is.Zero);
        Assert.That(o.struct_size, Is.EqualTo((uint)sizeof(NpServerOptions)), "np_server_options_init writes sizeof(np_server_options)");
        Assert.That((o.ring_size, o.max_message_size, o.max_clients, o.worker_threads, o.spin_us, o.max_pending, o.allowed_uid_count, o.reserved),
            Is.EqualTo((0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u)), "every size 0 = its default");
        Assert.That((o.max_client_pending, o.max_client_pending_bytes), Is.EqualTo((0u, 0u)), "the appended sizes too");
        Assert.That(o.address == null && o.name == null && o.allowed_uids == null, Is.True, "pointers cleared");
        NpServerStats s = NativeIpc.Stats(_server);
        Assert.That(s.struct_size, Is.EqualTo((uint)sizeof(NpServerStats)));
        NpRouteStats r = NativeIpc.RouteStats(_server, _sum);
        Assert.That((r.struct_size, r.route_id), Is.EqualTo(((uint)sizeof(NpRouteStats), _sum)));
    }

    private static void RunRows(IEnumerable<Row> rows)
    {
        int count = 0;
        Assert.Multiple(() =>
        {
            foreach (Row row in rows)
            {
                count++;
                int status = row.Call();
                Assert.That((NpStatus)status, Is.EqualTo(row.Expected), row.What);
                if (status != (int)row.Expected) continue;
                Assert.That((NpStatus)np_last_error_status(), Is.EqualTo(row.Expected), $"{row.What}: np_last_error_status");
                string message = NativeIpc.LastErrorText();
                Assert.That(message, Does.Not.Contain(Text(np_status_name(status))), $"{row.What}: np_last_error_message does not repeat the status name");
                Assert.That(message.Length, Is.GreaterThan(4), $"{row.What}: the message has detail");
            }
        });
        Assert.That(count, Is.GreaterThan(0));
    }
}
