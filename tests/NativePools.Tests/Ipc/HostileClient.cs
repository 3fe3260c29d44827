using System;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using NativePools.Tests.Ipc;
using NUnit.Framework;

namespace NativePools.Tests.Native;

/// <summary>
/// A client that does the IPC handshake by hand (libc socket/connect/recvmsg with SCM_RIGHTS,
/// mmap of the memfd) and then writes whatever it likes into its shared memory. The layout is
/// re-derived here from the protocol description (src/NativePools/Ipc/IpcLayout.cs), not taken
/// from the library: a valid request made by hand must be answered before garbage means anything.
/// </summary>
public sealed unsafe class HostileClient : IDisposable
{
    // Layout constants of protocol version 2 (the welcome passes the memfd and the read end of the
    // client's doorbell pipe; one-byte messages on the control socket wake the server).
    public const uint Magic = 0x5049504E;
    private const int PageSize = 4096;
    private const int RouteEntrySize = 64;
    public const int HeaderServerState = 128;
    public const int RingTail = 0, RingHead = 128, RingProducerWaiting = 384, RingControlSize = 512;
    public const int RecordHeaderSize = 16;
    public const ushort KindRequest = 1, KindResponse = 2, KindError = 3, KindPadding = 4, KindServerError = 5;

    private readonly int _socket;
    private readonly byte* _map;
    private readonly long _mapSize;
    private readonly long _control, _requestData, _responseData;
    private ulong _tail;          // our request ring tail (published only by PublishTail)
    private ulong _responseHead;  // our response ring head
    public uint RingSize { get; }
    public uint MaxMessage { get; }
    public uint RouteCount { get; }

    private HostileClient(int socket, int memfd, uint ringSize, uint maxMessage, uint routeCount)
    {
        _socket = socket;
        RingSize = ringSize;
        MaxMessage = maxMessage;
        RouteCount = routeCount;
        long routeBytes = ((long)routeCount * RouteEntrySize + PageSize - 1) / PageSize * PageSize;
        _control = PageSize + routeBytes;
        _requestData = _control + PageSize;
        _responseData = _requestData + ringSize;
        _mapSize = _responseData + ringSize;
        nint m = mmap(0, (nuint)_mapSize, 3 /* PROT_READ|PROT_WRITE */, 1 /* MAP_SHARED */, memfd, 0);
        close(memfd);
        if (m == -1) throw new InvalidOperationException($"mmap failed: errno {Marshal.GetLastPInvokeError()}");
        _map = (byte*)m;
    }

    /// <summary>Connects to "@name", receives the welcome, its memfd and doorbell, maps the memory.</summary>
    public static HostileClient Connect(string address)
    {
        int fd = socket(1 /* AF_UNIX */, 5 /* SOCK_SEQPACKET */ | 0x80000 /* SOCK_CLOEXEC */, 0);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "socket");
        byte* sockaddr = stackalloc byte[110];
        new Span<byte>(sockaddr, 110).Clear();
        *(ushort*)sockaddr = 1;
        byte[] name = Encoding.UTF8.GetBytes(address);
        Assert.That(name[0], Is.EqualTo((byte)'@'), "abstract addresses only");
        for (int i = 1; i < name.Length; i++) sockaddr[2 + i] = name[i]; // sun_path[0] = 0: abstract
        Assert.That(connect(fd, sockaddr, (uint)(2 + name.Length)), Is.Zero, $"connect: errno {Marshal.GetLastPInvokeError()}");

        var poll = new PollFd { fd = fd, events = 1 /* POLLIN */ };
        Assert.That(PollOnce(&poll, (int)IpcTest.Liveness.TotalMilliseconds), Is.EqualTo(1), "the welcome arrives");
        byte* welcome = stackalloc byte[64];
        byte* control = stackalloc byte[128];
        new Span<byte>(control, 128).Clear();
        var iov = new IoVec { iov_base = welcome, iov_len = 64 };
        var msg = new MsgHdr { msg_iov = &iov, msg_iovlen = 1, msg_control = control, msg_controllen = 128 };
        nint received = recvmsg(fd, &msg, 0x40000000 /* MSG_CMSG_CLOEXEC */);
        Assert.That(received, Is.EqualTo((nint)64), "a 64-byte welcome");
        Assert.That(*(uint*)welcome, Is.EqualTo(Magic), "welcome magic");
        Assert.That(*(uint*)(welcome + 4), Is.EqualTo(2u), "protocol version");
        Assert.That(*(int*)(welcome + 8), Is.Zero, "welcome status");
        uint ringSize = *(uint*)(welcome + 12), maxMessage = *(uint*)(welcome + 16), routeCount = *(uint*)(welcome + 20);
        // One SCM_RIGHTS control message: cmsg_len, level SOL_SOCKET (1), type SCM_RIGHTS (1), then the fds.
        Assert.That(*(nuint*)control, Is.EqualTo((nuint)(16 + 8)), "two descriptors, the memfd and the doorbell");
        Assert.That((*(int*)(control + 8), *(int*)(control + 12)), Is.EqualTo((1, 1)), "SOL_SOCKET / SCM_RIGHTS");
        close(((int*)(control + 16))[1]); // the server's doorbell for us: this client polls its rings instead
        var client = new HostileClient(fd, ((int*)(control + 16))[0], ringSize, maxMessage, routeCount);
        Assert.That(*(uint*)client._map, Is.EqualTo(Magic), "the shared header");
        return client;
    }

    private byte* RequestControl => _map + _control;
    private byte* ResponseControl => _map + _control + RingControlSize;
    private byte* RequestData => _map + _requestData;
    private byte* ResponseData => _map + _responseData;

    /// <summary>The server's state word: 0 serving, 1 draining, 2 closed.</summary>
    public uint ServerState => Volatile.Read(ref *(uint*)(_map + HeaderServerState));

    /// <summary>Our unpublished request tail.</summary>
    public ulong Tail => _tail;

    /// <summary>The server's request-ring head as it published it.</summary>
    public ulong ServerHead => Volatile.Read(ref *(ulong*)(RequestControl + RingHead));

    public static ulong RecordSize(uint payload) => ((ulong)payload + RecordHeaderSize + 15) & ~15UL;

    /// <summary>Writes a record header (and payload) at ring position <paramref name="position"/>, publishing nothing.</summary>
    public void WriteRecord(ulong position, uint length, ushort kind, ushort route, ulong id, ReadOnlySpan<byte> payload = default)
    {
        byte* header = RequestData + (position & (RingSize - 1));
        *(uint*)header = length;
        *(ushort*)(header + 4) = kind;
        *(ushort*)(header + 6) = route;
        *(ulong*)(header + 8) = id;
        payload.CopyTo(new Span<byte>(header + RecordHeaderSize, payload.Length));
    }

    /// <summary>Publishes <paramref name="tail"/> as the request ring's tail and rings the server's doorbell.</summary>
    public void PublishTail(ulong tail)
    {
        Volatile.Write(ref *(ulong*)(RequestControl + RingTail), tail);
        Interlocked.MemoryBarrier();
        RingServer();
    }

    /// <summary>One wake-up byte on the control socket (MSG_DONTWAIT: a full socket already holds one).</summary>
    private void RingServer()
    {
        byte one = 1;
        send(_socket, &one, 1, 0x40 /* MSG_DONTWAIT */ | 0x4000 /* MSG_NOSIGNAL */);
    }

    /// <summary>Overwrites the response ring's head (the server reads it when it looks for room).</summary>
    public void WriteResponseHead(ulong head) => Volatile.Write(ref *(ulong*)(ResponseControl + RingHead), head);

    /// <summary>A well-formed request, as a correct client writes it (padding at the ring's end, waiting for room).</summary>
    public void SendRequest(ushort route, ulong id, ReadOnlySpan<byte> payload)
    {
        var clock = Stopwatch.StartNew();
        while (!TrySendRequest(route, id, payload))
        {
            if (clock.Elapsed > IpcTest.Liveness) Assert.Fail("the server never freed room in the request ring");
            Thread.Sleep(1);
        }
    }

    /// <summary>A well-formed request if the ring has room now; false (nothing written) when it is full.</summary>
    public bool TrySendRequest(ushort route, ulong id, ReadOnlySpan<byte> payload)
    {
        ulong need = RecordSize((uint)payload.Length);
        ulong index = _tail & (RingSize - 1);
        ulong toEnd = RingSize - index;
        ulong total = need > toEnd ? toEnd + need : need;
        if (_tail + total - ServerHead > RingSize) return false;
        if (need > toEnd)
        {
            WriteRecord(_tail, (uint)(toEnd - RecordHeaderSize), KindPadding, 0, 0);
            _tail += toEnd;
        }
        WriteRecord(_tail, (uint)payload.Length, KindRequest, route, id, payload);
        _tail += need;
        PublishTail(_tail);
        return true;
    }

    /// <summary>Advances our tail without writing (the next publish exposes whatever the slot holds).</summary>
    public void Skip(ulong bytes) => _tail += bytes;

    /// <summary>Waits for the next response record (kind, id, payload), following padding; fails after the liveness bound.</summary>
    public (ushort Kind, ulong Id, byte[] Payload) ReceiveResponse()
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            ulong tail = Volatile.Read(ref *(ulong*)(ResponseControl + RingTail));
            if (tail != _responseHead)
            {
                byte* header = ResponseData + (_responseHead & (RingSize - 1));
                uint length = *(uint*)header;
                ushort kind = *(ushort*)(header + 4);
                ulong id = *(ulong*)(header + 8);
                if (kind == KindPadding)
                {
                    _responseHead += length + (ulong)RecordHeaderSize;
                }
                else
                {
                    byte[] payload = new ReadOnlySpan<byte>(header + RecordHeaderSize, (int)length).ToArray();
                    _responseHead += RecordSize(length);
                    Volatile.Write(ref *(ulong*)(ResponseControl + RingHead), _responseHead);
                    // As a real client: wake the server when it waits for room in this ring.
                    Interlocked.MemoryBarrier();
                    if (Volatile.Read(ref *(uint*)(ResponseControl + RingProducerWaiting)) != 0) RingServer();
                    return (kind, id, payload);
                }
                Volatile.Write(ref *(ulong*)(ResponseControl + RingHead), _responseHead);
                continue;
            }
            if (clock.Elapsed > IpcTest.Liveness) Assert.Fail("no response from the server");
            Thread.Sleep(1);
        }
    }

    /// <summary>True when the server closed our control socket (its way of dropping the connection) within the liveness bound.</summary>
    public bool WaitForHangUp()
    {
        var poll = new PollFd { fd = _socket, events = 0x2000 /* POLLRDHUP */ };
        int n = PollOnce(&poll, (int)IpcTest.Liveness.TotalMilliseconds);
        return n == 1 && (poll.revents & (0x10 /* POLLHUP */ | 0x2000)) != 0;
    }

    private static int PollOnce(PollFd* fd, int timeoutMs)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            int n = poll(fd, 1, Math.Max(0, timeoutMs - (int)clock.ElapsedMilliseconds));
            if (n >= 0 || Marshal.GetLastPInvokeError() != 4 /* EINTR */) return n;
        }
    }

    public void Dispose()
    {
        munmap((nint)_map, (nuint)_mapSize);
        close(_socket);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd { public int fd; public short events; public short revents; }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec { public void* iov_base; public nuint iov_len; }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* msg_name;
        public uint msg_namelen;
        public IoVec* msg_iov;
        public nuint msg_iovlen;
        public void* msg_control;
        public nuint msg_controllen;
        public int msg_flags;
    }

    [DllImport("libc", SetLastError = true)] private static extern int socket(int domain, int type, int protocol);
    [DllImport("libc", SetLastError = true)] private static extern int connect(int fd, byte* address, uint length);
    [DllImport("libc", SetLastError = true)] private static extern nint recvmsg(int fd, MsgHdr* message, int flags);
    [DllImport("libc", SetLastError = true)] private static extern int poll(PollFd* fds, nuint count, int timeout);
    [DllImport("libc", SetLastError = true)] private static extern nint mmap(nint address, nuint length, int protection, int flags, int fd, long offset);
    [DllImport("libc", SetLastError = true)] private static extern int munmap(nint address, nuint length);
    [DllImport("libc", SetLastError = true)] private static extern nint send(int fd, void* buffer, nuint length, int flags);
    [DllImport("libc", SetLastError = true)] private static extern int close(int fd);
}
