using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Text;
using System.Threading;
using NativePools.Diagnostics;
using NativePools.Handles;
using NativePools.Platform;
using NativePools.Platform.Linux;

namespace NativePools.Ipc;

/// <summary>
/// A connection to an <see cref="IpcServer"/>. Thread-safe: every operation takes the client's
/// lock, so calls on one client run one at a time (use one client per thread for parallel
/// calls, or pipeline with Send/Receive). Between Claim and Commit the claiming thread holds
/// the ring: other senders get InvalidState.
/// </summary>
public sealed unsafe class IpcClient : HandleObject, IDisposable
{
    /// <summary>A timeout that never expires (a dead server still ends the wait).</summary>
    public const uint WaitForever = uint.MaxValue;

    private readonly object _lock = new();
    private readonly int _socket;      // our end of the control socket: the server's hang-up, and our doorbell for the server
    private readonly int _bell;        // read end of our doorbell pipe: the server writes it to wake us
    private readonly byte* _mapping;
    private readonly long _mappingSize;
    private RingWriter _requests;
    private RingReader _responses;
    private readonly Dictionary<string, ushort> _routes;
    private readonly uint _routeCount;
    private readonly long _spinTicks;
    private readonly long _shortSpinTicks = Stopwatch.Frequency / 500_000; // 2 µs: catches answers already on their way
    private long _waitEstimate;        // recent time to a response, in Stopwatch ticks
    private ulong _nextId;
    private int _outstanding;          // sent with Send/Commit, response not yet received
    private bool _claimed;
    private ushort _claimRoute;
    private uint _claimLength;
    // Ids of calls that timed out: their late responses are dropped. Only timeouts add to it
    // (never the hot path), and each id leaves when its response arrives.
    private readonly HashSet<ulong> _abandoned = new();
    private bool _broken;
    private bool _closed;

    /// <summary>Largest request or response payload on this connection.</summary>
    public uint MaxMessageSize { get; }
    /// <summary>The server's id for this connection.</summary>
    public ulong ConnectionId { get; }
    /// <summary>Responses of timed-out calls that arrived later and were dropped.</summary>
    public long LateResponses { get; private set; }

    private IpcClient(int socket, int bell, byte* mapping, in IpcLayout layout, in Welcome welcome, Dictionary<string, ushort> routes)
    {
        _socket = socket;
        _bell = bell;
        _mapping = mapping;
        _mappingSize = layout.TotalSize;
        MaxMessageSize = welcome.MaxMessage;
        ConnectionId = welcome.ConnectionId;
        _routes = routes;
        _routeCount = (uint)layout.RouteCount;
        byte* control = mapping + layout.ControlOffset;
        _requests = new RingWriter(control, mapping + layout.RequestDataOffset, layout.RingSize);
        _responses = new RingReader(control + IpcLayout.RingControlSize, mapping + layout.ResponseDataOffset, layout.RingSize, welcome.MaxMessage);
        _spinTicks = (long)Math.Min(welcome.SpinMicroseconds, 1_000_000u) * Stopwatch.Frequency / 1_000_000;
    }

    /// <summary>
    /// Connects to the server at <paramref name="address"/>, retrying until <paramref name="timeoutMs"/>
    /// while no server listens there yet. Checks everything the server sent before using it.
    /// </summary>
    public static NpStatus Connect(string? address, uint timeoutMs, out IpcClient? client) =>
        Connect(address, timeoutMs, null, out client);

    /// <summary>
    /// As <see cref="Connect(string?, uint, out IpcClient?)"/>, trusting servers that run under
    /// this process's uid or one of <paramref name="allowedServerUids"/>; any other server is
    /// refused with <see cref="NpStatus.UntrustedPeer"/> before anything it sent is read.
    /// </summary>
    public static NpStatus Connect(string? address, uint timeoutMs, uint[]? allowedServerUids, out IpcClient? client)
    {
        client = null;
        if (!OperatingSystem.IsLinux())
            return LastError.Set(NpStatus.InvalidState, "the IPC core needs Linux (memfd, eventfd, epoll)");
        long deadline = timeoutMs == WaitForever ? long.MaxValue : Environment.TickCount64 + timeoutMs;
        int socket = ControlSocket.Connect(address!, deadline, out NpStatus status);
        if (socket < 0) return status;
        status = CheckServerUid(socket, allowedServerUids);
        if (status != NpStatus.Ok)
        {
            Libc.Close(socket);
            return status;
        }
        int* fds = stackalloc int[2];
        int fdCount = 0;
        byte* mapping = null;
        long mappingSize = 0;
        try
        {
            long remaining = deadline - Environment.TickCount64;
            short ready = ControlSocket.WaitReadable(socket, (int)Math.Clamp(remaining, 0, int.MaxValue));
            if (ready == 0) return LastError.Set(NpStatus.Timeout, "the server accepted but sent no welcome within {0} ms", timeoutMs);
            if (!ControlSocket.ReceiveWelcome(socket, out Welcome welcome, fds, 2, out fdCount, out bool truncated))
                return truncated
                    ? LastError.Set(NpStatus.IoError, "no file descriptor left to receive the server's shared memory (this process's RLIMIT_NOFILE or the system's file table is full)")
                    : LastError.Set((ready & (Libc.POLLHUP | Libc.POLLRDHUP)) != 0 ? NpStatus.PeerGone : NpStatus.ProtocolError,
                    "the server closed or sent a malformed welcome (errno {0})", Libc.Errno);
            if (welcome.Magic != IpcLayout.Magic)
                return LastError.Set(NpStatus.ProtocolError, "the peer's welcome starts with {x0}, not the NativePools magic: it is not a NativePools server", welcome.Magic);
            if (welcome.Version != IpcLayout.Version)
                return LastError.Set(NpStatus.ProtocolError, "the server speaks protocol {0}, not {1}", welcome.Version, IpcLayout.Version);
            if (welcome.Status != 0)
            {
                NpStatus refused = welcome.Status is (int)NpStatus.PermissionDenied or (int)NpStatus.ServerFull or (int)NpStatus.OutOfMemory or (int)NpStatus.IoError or (int)NpStatus.Shutdown
                    ? (NpStatus)welcome.Status : NpStatus.ProtocolError;
                return refused == NpStatus.IoError
                    ? LastError.Set(refused, "the server refused the connection: it has no file descriptor left for it (its RLIMIT_NOFILE or the system's file table is full)")
                    : LastError.Set(refused, "the server refused the connection ({0})", welcome.Status);
            }
            if (fdCount != 2)
                return LastError.Set(NpStatus.ProtocolError, "the server's welcome carries {0} descriptors, not 2 (shared memory and a doorbell)", fdCount);
            if (!IpcLayout.Of(welcome.RingSize, welcome.RouteCount, out IpcLayout layout) ||
                welcome.MaxMessage < IpcLayout.ErrorPayloadSize || IpcLayout.RecordSize(welcome.MaxMessage) > welcome.RingSize)
                return LastError.Set(NpStatus.ProtocolError, "the server's welcome has impossible sizes (ring {0}, max message {1})", welcome.RingSize, welcome.MaxMessage);
            // The doorbell must be a pipe: waits poll it and drains read it with RWF_NOWAIT.
            if (!FileStat.OfFd(fds[1], out FileStat bellStat) || !bellStat.IsFifo)
                return LastError.Set(NpStatus.ProtocolError, "the server's doorbell is not a pipe");
            // The mapping must be sealed against shrinking, or the server could make our reads fault.
            int seals = Libc.Fcntl(fds[0], Libc.F_GET_SEALS, 0);
            if (seals < 0 || (seals & (Libc.F_SEAL_SHRINK | Libc.F_SEAL_GROW)) != (Libc.F_SEAL_SHRINK | Libc.F_SEAL_GROW) ||
                !FileStat.OfFd(fds[0], out FileStat stat) || stat.Size != layout.TotalSize)
                return LastError.Set(NpStatus.ProtocolError, "the shared memory is not sealed or has the wrong size");
            nint m = Libc.Mmap(0, (nuint)layout.TotalSize, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fds[0], 0);
            if (m == Libc.MAP_FAILED) return LastError.Set(NpStatus.OutOfMemory, "cannot map the connection's shared memory (errno {0})", Libc.Errno);
            mapping = (byte*)m;
            mappingSize = layout.TotalSize;
            if (*(uint*)(mapping + IpcLayout.HeaderMagic) != IpcLayout.Magic ||
                *(uint*)(mapping + IpcLayout.HeaderRingSize) != welcome.RingSize ||
                *(uint*)(mapping + IpcLayout.HeaderRouteCount) != welcome.RouteCount)
                return LastError.Set(NpStatus.ProtocolError, "the shared memory header does not match the welcome");
            var routes = ReadRoutes(mapping + layout.RouteTableOffset, layout.RouteCount);
            Libc.Close(fds[0]);
            fds[0] = -1;
            client = new IpcClient(socket, fds[1], mapping, layout, welcome, routes);
            fds[1] = -1;
            mapping = null;
            socket = -1;
            fdCount = 0;
            return NpStatus.Ok;
        }
        finally
        {
            for (int i = 0; i < fdCount; i++) if (fds[i] >= 0) Libc.Close(fds[i]);
            if (mapping != null) Libc.Munmap((nint)mapping, (nuint)mappingSize);
            if (socket >= 0) Libc.Close(socket);
        }
    }

    /// <summary>
    /// The server's uid (SO_PEERCRED of the connected socket) must be ours or an allowed one:
    /// anyone can plant a socket in a shared directory, and its owner would see every request.
    /// </summary>
    private static NpStatus CheckServerUid(int socket, uint[]? allowedServerUids)
    {
        if (!ControlSocket.PeerUid(socket, out uint uid))
            return LastError.Set(NpStatus.IoError, "cannot read the server's credentials (SO_PEERCRED, errno {0})", Libc.Errno);
        if (uid == Libc.GetEuid()) return NpStatus.Ok;
        if (allowedServerUids is not null)
            foreach (uint allowed in allowedServerUids)
                if (allowed == uid) return NpStatus.Ok;
        return LastError.Set(NpStatus.UntrustedPeer, "the server at this address runs as uid {0}, neither this process's uid {1} nor an allowed one",
            uid, Libc.GetEuid());
    }

    private static Dictionary<string, ushort> ReadRoutes(byte* table, int count)
    {
        var routes = new Dictionary<string, ushort>(count, StringComparer.Ordinal);
        Span<byte> name = stackalloc byte[IpcLayout.RouteNameMax];
        for (int i = 0; i < count; i++)
        {
            byte* entry = table + i * IpcLayout.RouteEntrySize;
            uint id = *(uint*)(entry + IpcLayout.RouteId);
            uint length = *(uint*)(entry + IpcLayout.RouteNameLength);
            if (id == 0 || id > (uint)count || length == 0 || length > IpcLayout.RouteNameMax) continue; // ignore garbage entries
            new ReadOnlySpan<byte>(entry + IpcLayout.RouteName, (int)length).CopyTo(name);
            routes.TryAdd(Encoding.UTF8.GetString(name[..(int)length]), (ushort)id);
        }
        return routes;
    }

    /// <summary>The id of a route by name, to pass to Call/Send. Resolve once, call many times.</summary>
    public NpStatus Resolve(string? name, out uint routeId)
    {
        routeId = 0;
        if (_closed) return Closed();
        if (name is not null && _routes.TryGetValue(name, out ushort id))
        {
            routeId = id;
            return NpStatus.Ok;
        }
        return LastError.Set(NpStatus.UnknownRoute, "the server has no route named '{s}'", subject: name ?? "");
    }

    private uint ServerState => Volatile.Read(ref *(uint*)(_mapping + IpcLayout.HeaderServerState));

    /// <summary>The server says whether this client may spin: not while clients outnumber the spare cores.</summary>
    private bool MaySpin => Volatile.Read(ref *(uint*)(_mapping + IpcLayout.HeaderClientsMaySpin)) != 0;

    /// <summary>Sends a request and waits for its response, copied into <paramref name="response"/>.</summary>
    public NpStatus Call(uint routeId, byte* request, uint requestLength, byte* response, uint responseCapacity, out uint responseLength, uint timeoutMs)
    {
        responseLength = 0;
        long deadline = Deadline(timeoutMs);
        lock (_lock)
        {
            if (_closed) return Closed();
            if (_broken) return LastError.Set(NpStatus.ProtocolError, "this connection was dropped after the server broke the protocol");
            if (_outstanding > 0 || _claimed)
                return LastError.Set(NpStatus.InvalidState, "{0} pipelined responses are outstanding (or a claim is open): receive them before a call", _outstanding);
            // Checked before sending: a refused call must leave nothing queued behind it.
            if (response == null && responseCapacity > 0) return LastError.Set(NpStatus.NullPointer, "argument 'response' is NULL");
            NpStatus status = SendLocked(routeId, request, requestLength, deadline, out ulong id);
            if (status != NpStatus.Ok) return status;
            while (true)
            {
                status = WaitForResponseLocked(deadline);
                if (status != NpStatus.Ok)
                {
                    Abandon(id);
                    return status;
                }
                PeekResult peek = _responses.TryPeek(out RecordView record);
                if (peek != PeekResult.Record) return Broken("the response ring");
                if (record.RequestId != id)
                {
                    // Nothing is outstanding during a call, so an older id can only be a late answer to a timed-out call.
                    if (record.RequestId < id && record.RequestId != 0)
                    {
                        _abandoned.Remove(record.RequestId);
                        DropLate();
                        continue;
                    }
                    return Broken("a response to a request never sent");
                }
                return TakeResponseLocked(record, response, responseCapacity, out responseLength, countOutstanding: false);
            }
        }
    }

    /// <summary>Sends a request without waiting for its response (pipelining). Waits up to the timeout only for ring room.</summary>
    public NpStatus Send(uint routeId, byte* request, uint requestLength, out ulong requestId, uint timeoutMs)
    {
        requestId = 0;
        lock (_lock)
        {
            if (_closed) return Closed();
            if (_claimed) return LastError.Set(NpStatus.InvalidState, "a claim is open on this client: commit it first");
            NpStatus status = SendLocked(routeId, request, requestLength, Deadline(timeoutMs), out requestId);
            if (status == NpStatus.Ok) _outstanding++;
            return status;
        }
    }

    /// <summary>
    /// Receives the next response of a pipelined request (in the order the server answered).
    /// An error response returns its status with <paramref name="requestId"/> set. A buffer too
    /// small returns BufferTooSmall with the size needed and leaves the response queued.
    /// </summary>
    public NpStatus Receive(out ulong requestId, byte* response, uint responseCapacity, out uint responseLength, uint timeoutMs)
    {
        requestId = 0;
        responseLength = 0;
        long deadline = Deadline(timeoutMs);
        lock (_lock)
        {
            if (_closed) return Closed();
            if (response == null && responseCapacity > 0) return LastError.Set(NpStatus.NullPointer, "argument 'response' is NULL");
            if (_outstanding == 0) return LastError.Set(NpStatus.InvalidState, "no request is waiting for its response");
            while (true)
            {
                NpStatus status = WaitForResponseLocked(deadline);
                if (status != NpStatus.Ok) return status;
                if (_responses.TryPeek(out RecordView record) != PeekResult.Record) return Broken("the response ring");
                if (_abandoned.Count > 0 && _abandoned.Remove(record.RequestId))
                {
                    DropLate();
                    continue;
                }
                requestId = record.RequestId;
                return TakeResponseLocked(record, response, responseCapacity, out responseLength, countOutstanding: true);
            }
        }
    }

    /// <summary>
    /// Reserves room for a request of up to <paramref name="length"/> bytes in the ring and
    /// returns where to write it: no copy. Finish with Commit (or Abort). Waits for room up to the timeout.
    /// </summary>
    public NpStatus Claim(uint routeId, uint length, out byte* buffer, uint timeoutMs)
    {
        buffer = null;
        long deadline = Deadline(timeoutMs);
        Monitor.Enter(_lock);
        try
        {
            if (_closed) return Closed();
            if (_claimed) return LastError.Set(NpStatus.InvalidState, "a claim is already open on this client");
            NpStatus status = CheckSendable(routeId, length);
            if (status != NpStatus.Ok) return status;
            status = ReserveLocked(length, deadline, out buffer);
            if (status != NpStatus.Ok) return status;
            _claimed = true;
            _claimRoute = (ushort)routeId;
            _claimLength = length;
            return NpStatus.Ok;
        }
        finally { Monitor.Exit(_lock); }
    }

    /// <summary>Publishes the claimed request with its final length (at most the claimed length).</summary>
    public NpStatus Commit(uint length, out ulong requestId)
    {
        requestId = 0;
        lock (_lock)
        {
            if (_closed) return Closed();
            if (!_claimed) return LastError.Set(NpStatus.InvalidState, "no claim is open on this client");
            if (length > _claimLength)
                return LastError.Set(NpStatus.InvalidArgument, "commit length {0} exceeds the claimed {1} bytes", length, _claimLength);
            _claimed = false;
            requestId = ++_nextId;
            Publish(_claimRoute, requestId, length);
            _outstanding++;
            return NpStatus.Ok;
        }
    }

    /// <summary>Gives up an open claim; nothing is sent.</summary>
    public NpStatus Abort()
    {
        lock (_lock)
        {
            if (_closed) return Closed();
            if (!_claimed) return LastError.Set(NpStatus.InvalidState, "no claim is open on this client");
            _claimed = false; // the reserved room is simply reused by the next send
            return NpStatus.Ok;
        }
    }

    private static long Deadline(uint timeoutMs) =>
        timeoutMs == WaitForever ? long.MaxValue : Environment.TickCount64 + timeoutMs;

    private NpStatus CheckSendable(uint routeId, uint length)
    {
        if (_broken) return LastError.Set(NpStatus.ProtocolError, "this connection was dropped after the server broke the protocol");
        if (routeId == 0 || routeId > _routeCount) return LastError.Set(NpStatus.UnknownRoute, "route id {0} is not one of the server's 1..{1}", routeId, _routeCount);
        if (length > MaxMessageSize)
            return LastError.Set(NpStatus.MessageTooLarge, "the request has {0} bytes; this connection's maximum message size is {1}", length, MaxMessageSize);
        if (ServerState != IpcLayout.ServerServing) return LastError.Set(NpStatus.Shutdown, "the server is stopping");
        return NpStatus.Ok;
    }

    private NpStatus SendLocked(uint routeId, byte* request, uint length, long deadline, out ulong id)
    {
        id = 0;
        if (request == null && length > 0) return LastError.Set(NpStatus.NullPointer, "argument 'request' is NULL");
        NpStatus status = CheckSendable(routeId, length);
        if (status != NpStatus.Ok) return status;
        status = ReserveLocked(length, deadline, out byte* slot);
        if (status != NpStatus.Ok) return status;
        if (length > 0) Buffer.MemoryCopy(request, slot, length, length);
        id = ++_nextId;
        Publish((ushort)routeId, id, length);
        return NpStatus.Ok;
    }

    private void Publish(ushort routeId, ulong id, uint length)
    {
        _requests.Commit(IpcLayout.KindRequest, routeId, id, length);
        if (_requests.ConsumerNeedsWake()) SocketDoorbell.Ring(_socket);
    }

    /// <summary>Reserves ring room, spinning then parking until the server frees some.</summary>
    private NpStatus ReserveLocked(uint length, long deadline, out byte* slot)
    {
        slot = _requests.TryReserve(length, out bool corrupt);
        if (slot != null) return NpStatus.Ok;
        long spinUntil = Stopwatch.GetTimestamp() + (MaySpin ? _spinTicks : _shortSpinTicks);
        while (true)
        {
            if (corrupt) return Broken("the request ring");
            if (Stopwatch.GetTimestamp() < spinUntil)
            {
                CpuPause.Once();
            }
            else
            {
                _requests.SetWaiting(true);
                slot = _requests.TryReserve(length, out corrupt);
                if (slot == null && !corrupt)
                {
                    NpStatus parked = ParkLocked(deadline, "room in the request ring");
                    if (parked != NpStatus.Ok)
                    {
                        _requests.SetWaiting(false);
                        return parked;
                    }
                }
                _requests.SetWaiting(false);
                if (slot != null) return NpStatus.Ok;
            }
            slot = _requests.TryReserve(length, out corrupt);
            if (slot != null) return NpStatus.Ok;
        }
    }

    /// <summary>Waits until the response ring has a record: spin, then sleeping flag + recheck + poll on the doorbell and the socket.</summary>
    private NpStatus WaitForResponseLocked(long deadline)
    {
        if (_responses.LooksNonEmpty()) return NpStatus.Ok;
        if (_broken) return LastError.Set(NpStatus.ProtocolError, "this connection was dropped after the server broke the protocol");
        long start = Stopwatch.GetTimestamp();
        // Spin only when the server says there is a core for it, and answers usually come within
        // the spin window: otherwise spinning clients take the CPU the server needs to answer.
        long spinUntil = start + (_waitEstimate <= _spinTicks / 2 && MaySpin ? _spinTicks : _shortSpinTicks);
        while (Stopwatch.GetTimestamp() < spinUntil && Environment.TickCount64 < deadline)
        {
            CpuPause.Once();
            if (_responses.LooksNonEmpty()) return Waited(start);
        }
        while (true)
        {
            _responses.SetSleeping(true);
            if (_responses.LooksNonEmpty())
            {
                _responses.SetSleeping(false);
                return Waited(start);
            }
            NpStatus parked = ParkLocked(deadline, "response");
            _responses.SetSleeping(false);
            if (_responses.LooksNonEmpty()) return Waited(start);
            if (parked != NpStatus.Ok) return parked;
        }
    }

    /// <summary>Folds one wait into the running estimate (1/8 weight) that decides whether to spin.</summary>
    private NpStatus Waited(long start)
    {
        long waited = Stopwatch.GetTimestamp() - start;
        _waitEstimate += (waited - _waitEstimate) / 8;
        return NpStatus.Ok;
    }

    /// <summary>
    /// One bounded sleep on the doorbell pipe and the socket: a wake-up from the server, or its
    /// hang-up. Ok after a ring (or a spurious wake), else Timeout / PeerGone / Shutdown. The
    /// deadline is checked before every sleep and the drain never blocks, so a server that keeps
    /// the doorbell readable (or empties it under us) only makes the caller recheck its ring until
    /// the deadline, never wait past it.
    /// </summary>
    private NpStatus ParkLocked(long deadline, string waitingFor)
    {
        long remaining = deadline - Environment.TickCount64;
        if (remaining <= 0) return LastError.Set(NpStatus.Timeout, "no {s} in time", subject: waitingFor);
        Libc.PollFd* fds = stackalloc Libc.PollFd[2];
        fds[0] = new Libc.PollFd { fd = _bell, events = Libc.POLLIN };
        fds[1] = new Libc.PollFd { fd = _socket, events = Libc.POLLRDHUP }; // the server sends nothing on it after the welcome
        int n = Libc.Poll(fds, 2, (int)Math.Min(remaining, 1000));
        if (n <= 0) return NpStatus.Ok; // timeout slice or EINTR: the caller rechecks
        if ((fds[0].revents & Libc.POLLIN) != 0) PipeDoorbell.Take(_bell);
        // The server closes both together; either one hung up (or a doorbell whose write end the
        // server closed) ends the wait, so no closed descriptor keeps poll returning at once.
        const short gone = Libc.POLLHUP | Libc.POLLRDHUP | Libc.POLLERR | Libc.POLLNVAL;
        if (((fds[0].revents | fds[1].revents) & gone) != 0 && !_responses.LooksNonEmpty())
        {
            return ServerState != IpcLayout.ServerServing
                ? LastError.Set(NpStatus.Shutdown, "the server stopped before answering")
                : LastError.Set(NpStatus.PeerGone, "the server process is gone");
        }
        return NpStatus.Ok;
    }

    private NpStatus TakeResponseLocked(in RecordView record, byte* response, uint capacity, out uint responseLength, bool countOutstanding)
    {
        responseLength = record.Length;
        if (record.Kind == IpcLayout.KindError)
        {
            // Whatever a handler or a reply chose, even a code the transport uses itself, is a handler failure.
            int code = *(int*)record.Payload;
            ConsumeLocked();
            if (countOutstanding) _outstanding--;
            responseLength = 0;
            return LastError.Set(NpStatus.HandlerFailed, "the server's handler (or its reply) failed the request with {s} ({0})", code,
                subject: StatusText.NameString((NpStatus)code));
        }
        if (record.Kind == IpcLayout.KindServerError)
        {
            int code = *(int*)record.Payload;
            NpStatus own = code switch
            {
                (int)NpStatus.Shutdown => NpStatus.Shutdown,
                (int)NpStatus.UnknownRoute => NpStatus.UnknownRoute,
                (int)NpStatus.OutOfMemory => NpStatus.OutOfMemory,
                _ => NpStatus.Ok,
            };
            if (own == NpStatus.Ok) return Broken("a server error with an unknown status");
            ConsumeLocked();
            if (countOutstanding) _outstanding--;
            responseLength = 0;
            return own switch
            {
                NpStatus.Shutdown => LastError.Set(NpStatus.Shutdown, "the server stopped before serving the request"),
                NpStatus.UnknownRoute => LastError.Set(NpStatus.UnknownRoute, "the server has no such route"),
                _ => LastError.Set(NpStatus.OutOfMemory, "the server had no memory for the request"),
            };
        }
        if (record.Kind != IpcLayout.KindResponse) return Broken("a request in the response ring");
        if (record.Length > capacity)
        {
            if (!countOutstanding) _outstanding++; // a call's response stays queued: receive it with a larger buffer
            return LastError.Set(NpStatus.BufferTooSmall, "the response has {0} bytes; the buffer holds {1}: receive it with a larger buffer", record.Length, capacity);
        }
        if (record.Length > 0)
        {
            if (response == null) return LastError.Set(NpStatus.NullPointer, "argument 'response' is NULL");
            Buffer.MemoryCopy(record.Payload, response, capacity, record.Length);
        }
        ConsumeLocked();
        if (countOutstanding) _outstanding--;
        return NpStatus.Ok;
    }

    private void ConsumeLocked()
    {
        _responses.Consume();
        if (_responses.ProducerNeedsWake()) SocketDoorbell.Ring(_socket);
    }

    private void Abandon(ulong id) => _abandoned.Add(id);

    private void DropLate()
    {
        ConsumeLocked();
        LateResponses++;
    }

    private static NpStatus Closed() => LastError.Set(NpStatus.InvalidState, "this client is closed");

    private NpStatus Broken(string where)
    {
        _broken = true;
        return LastError.Set(NpStatus.ProtocolError, "the server broke the protocol in {s}; this connection is unusable", subject: where);
    }

    /// <summary>Closes the connection: the server sees the hang-up at once. Must not race with other calls on this client.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_closed) return;
            _closed = true;
            Libc.Close(_socket);
            Libc.Close(_bell);
            Libc.Munmap((nint)_mapping, (nuint)_mappingSize);
        }
    }
}
