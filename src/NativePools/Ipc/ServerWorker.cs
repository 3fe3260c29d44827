using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading;
using NativePools.Platform;
using NativePools.Platform.Linux;

namespace NativePools.Ipc;

/// <summary>
/// One server thread and the connections it owns. It polls their request rings while there is
/// work, spins a little when there is none, then parks in epoll on its connections' sockets
/// (each client rings its own socket, and only when it sees the worker parked) and on a private
/// eventfd (new connections, pull replies, stop). Hang-ups come from the control thread. Each
/// request ring has exactly one reader: its worker.
/// </summary>
internal sealed unsafe class ServerWorker
{
    private const int RequestsPerTurn = 64; // fairness: one busy client cannot starve the others

    private readonly IpcServer _server;
    private readonly int _index;
    private readonly Epoll _epoll;
    private readonly ConcurrentQueue<ServerConnection> _arrivals = new();
    private ServerConnection?[] _connections = new ServerConnection?[16];
    private int _count;
    private readonly Thread _thread;
    private readonly byte* _responseBuffer;  // what handlers write into
    private readonly uint _bufferSize;
    public readonly WorkerCounters Counters;
    private bool _clientsMaySpin = true; // what this worker's connections were last told
    public readonly int Doorbell;            // private: never passed to a client

    public ServerWorker(IpcServer server, int index, Epoll epoll, int doorbell, byte* responseBuffer, uint bufferSize, int routeCount)
    {
        _server = server;
        _index = index;
        _epoll = epoll;
        Doorbell = doorbell;
        _responseBuffer = responseBuffer;
        _bufferSize = bufferSize;
        Counters = new WorkerCounters(routeCount);
        _thread = new Thread(Run) { IsBackground = true, Name = "nativepools-ipc-worker-" + index };
    }

    public Thread Thread => _thread;

    public void Start() => _thread.Start();

    public void Join() => _thread.Join();

    /// <summary>Hands a new connection to this worker (any thread).</summary>
    public void Adopt(ServerConnection connection)
    {
        connection.Worker = this;
        _arrivals.Enqueue(connection);
        Ipc.Doorbell.Ring(Doorbell);
    }

    public void Wake() => Ipc.Doorbell.Ring(Doorbell);

    /// <summary>
    /// After the thread ended and the control thread (which hands out connections) joined:
    /// answers and closes connections adopted too late to be served (their clients may have
    /// sent requests already: the welcome goes out before the hand-over), then closes the epoll
    /// and the doorbell. The worker's counters have no other writer now.
    /// </summary>
    public void Release()
    {
        while (_arrivals.TryDequeue(out ServerConnection? late))
        {
            AnswerRingWithShutdown(late);
            late.FlushOutbox();
            late.MarkClosed(IpcLayout.ServerClosed);
            _server.OnClosed(late);
        }
        ReleaseDescriptors();
    }

    /// <summary>Closes the epoll and the doorbell of a worker whose thread never ran or has ended.</summary>
    public void ReleaseDescriptors()
    {
        _epoll.Dispose();
        Libc.Close(Doorbell);
    }

    private void Run()
    {
        long spinTicks = (long)_server.Options.SpinMicroseconds * Stopwatch.Frequency / 1_000_000;
        long idleSince = Stopwatch.GetTimestamp();
        long lastIdleScan = Environment.TickCount64;
        while (true)
        {
            TakeArrivals();
            if (_server.IsStopping && FinishDrain()) break;
            if (_server.ClientsMaySpin != _clientsMaySpin) TellClientsWhetherToSpin(!_clientsMaySpin);

            bool progressed = false;
            for (int i = 0; i < _count; i++)
            {
                ServerConnection? c = _connections[i];
                if (c is not null) progressed |= Service(c);
            }
            if (progressed)
            {
                idleSince = Stopwatch.GetTimestamp();
                continue;
            }
            if (Stopwatch.GetTimestamp() - idleSince < spinTicks)
            {
                CpuPause.Once();
                continue;
            }
            Park();
            idleSince = Stopwatch.GetTimestamp();
            long now = Environment.TickCount64;
            if (_server.Options.IdleTimeoutMs != 0 && now - lastIdleScan >= 50)
            {
                lastIdleScan = now;
                CloseIdle(now);
            }
        }
    }

    /// <summary>Serves one connection for a turn. Returns true when anything moved.</summary>
    private bool Service(ServerConnection c)
    {
        if (c.HungUp)
        {
            // Serve what the client sent before it went away (nobody reads the answers), then let it go.
            ServiceRequests(c);
            if (!c.IsClosed) Drop(c, protocol: false);
            return true;
        }
        return ServiceRequests(c);
    }

    private bool ServiceRequests(ServerConnection c)
    {
        bool progressed = false;
        if (c.HasOutbox)
        {
            progressed = c.FlushOutbox();
            if (c.IsBroken) { Drop(c, protocol: true); return true; }
            if (c.HasOutbox) return progressed; // backpressure: take no new request until its responses fit
        }
        int consumed = 0;
        for (; consumed < RequestsPerTurn; consumed++)
        {
            PeekResult peek = c.Requests.TryPeek(out RecordView record);
            if (peek == PeekResult.Empty) break;
            if (peek == PeekResult.Corrupt || record.Kind != IpcLayout.KindRequest)
            {
                Drop(c, protocol: true);
                return true;
            }
            IpcServer.Route? route = _server.RouteById(record.Route);
            uint length = record.Length;
            ulong requestId = record.RequestId;
            ushort routeId = record.Route;
            if (route is not null && route.IsPull)
            {
                PullQueueResult queued = _server.TryQueuePull(c, route, in record);
                if (queued == PullQueueResult.ClientLimit)
                {
                    // Leave it in the ring (the client waits for room there); a reply frees the share and wakes us.
                    if (!c.PullLimited) Counters.ClientLimitHits++;
                    c.PullLimited = true;
                    break;
                }
                c.PullLimited = false;
                if (queued == PullQueueResult.TableFull) break; // leave it in the ring
                c.Requests.Consume();
                CountRequest(routeId, length);
                if (queued == PullQueueResult.Stopped)
                {
                    Respond(c, IpcLayout.KindServerError, requestId, null, 0, (int)NpStatus.Shutdown, routeId);
                    if (c.IsClosed || c.HasOutbox) { consumed++; break; }
                }
                continue;
            }
            if (route is null)
            {
                c.Requests.Consume();
                CountRequest(0, length);
                Counters.UnknownRoutes++;
                Respond(c, IpcLayout.KindServerError, requestId, null, 0, (int)NpStatus.UnknownRoute, 0);
            }
            else
            {
                // Copy first, into a buffer from the server's message pool: the handler must see
                // bytes the client can no longer change, and the ring slot frees at once.
                if (_server.Messages.Acquire(length, out byte* request, out _) != NpStatus.Ok)
                {
                    c.Requests.Consume();
                    CountRequest(routeId, length);
                    Respond(c, IpcLayout.KindServerError, requestId, null, 0, (int)NpStatus.OutOfMemory, routeId);
                    continue;
                }
                if (length > 0) Buffer.MemoryCopy(record.Payload, request, length, length);
                c.Requests.Consume();
                CountRequest(routeId, length);
                int status = route.Invoke(request, length, _responseBuffer, _bufferSize, out uint responseLength);
                _server.Messages.Release(request);
                if (status == 0 && responseLength <= _bufferSize)
                {
                    Respond(c, IpcLayout.KindResponse, requestId, _responseBuffer, responseLength, 0, routeId);
                }
                else
                {
                    Counters.HandlerErrors++;
                    Counters.Routes[routeId * WorkerCounters.RouteFields + WorkerCounters.RouteErrors]++;
                    if (status == 0) status = (int)NpStatus.BufferTooSmall; // the handler claimed more than its buffer
                    Respond(c, IpcLayout.KindError, requestId, null, 0, status, routeId);
                }
            }
            c.LastActivity = Environment.TickCount64;
            if (c.IsClosed || c.HasOutbox) { consumed++; break; }
        }
        if (consumed > 0)
        {
            progressed = true;
            if (!c.IsClosed && c.Requests.ProducerNeedsWake()) PipeDoorbell.Ring(c.ClientBell);
        }
        if (c.IsBroken) Drop(c, protocol: true);
        return progressed;
    }

    private void CountRequest(ushort routeId, uint length)
    {
        Counters.Requests++;
        Counters.BytesIn += length;
        int r = routeId <= _server.RouteCount ? routeId : 0;
        Counters.Routes[r * WorkerCounters.RouteFields + WorkerCounters.RouteRequests]++;
        Counters.Routes[r * WorkerCounters.RouteFields + WorkerCounters.RouteBytesIn] += length;
    }

    private void Respond(ServerConnection c, ushort kind, ulong requestId, byte* payload, uint length, int status, ushort routeId)
    {
        NpStatus sent = c.Send(kind, requestId, payload, length, status, out _);
        if (sent != NpStatus.Ok) return; // closed meanwhile, or no memory for the outbox copy: the client sees the hang-up
        Counters.Responses++;
        Counters.BytesOut += length;
        if (IpcLayout.IsError(kind)) Counters.ErrorResponses++;
        int r = routeId * WorkerCounters.RouteFields;
        Counters.Routes[r + WorkerCounters.RouteResponses]++;
        Counters.Routes[r + WorkerCounters.RouteBytesOut] += length;
    }

    /// <summary>
    /// Parks until a client rings, a socket hangs up, or a timeout: set every ring's sleeping
    /// flag, fence, recheck (a request published before the flag was visible is seen now), wait.
    /// </summary>
    private void Park()
    {
        for (int i = 0; i < _count; i++) _connections[i]?.Requests.SetSleeping(true);
        Interlocked.MemoryBarrier();
        bool work = !_arrivals.IsEmpty;
        for (int i = 0; i < _count && !work; i++)
        {
            ServerConnection? c = _connections[i];
            if (c is null) continue;
            work = c.HungUp || (c.HasOutbox ? c.OutboxCanMove() : c.Requests.LooksNonEmpty() && !_server.PullTableFull && !c.PullLimited);
        }
        if (!work)
        {
            // A full pull table frees without a doorbell: check back soon. Otherwise the timeout
            // only bounds how late the idle scan runs.
            int timeout = _server.PullTableFull || _server.IsStopping ? 2 : 100;
            HandleEvents(_epoll.Wait(timeout));
        }
        for (int i = 0; i < _count; i++) _connections[i]?.Requests.SetSleeping(false);
    }

    /// <summary>
    /// Takes the wake-ups epoll reported: the private eventfd (tag 0) or a connection's socket (tag
    /// slot + 1), one wake-up message each. A socket at end of file leaves the epoll (it would
    /// stay readable); its hang-up reaches the worker through the control thread.
    /// </summary>
    private void HandleEvents(int n)
    {
        for (int e = 0; e < n; e++)
        {
            ulong tag = _epoll.DataAt(e);
            if (tag == 0)
            {
                Ipc.Doorbell.Drain(Doorbell);
                continue;
            }
            ulong slot = tag - 1;
            ServerConnection? c = slot < (ulong)_count ? _connections[slot] : null;
            if (c is not null && !c.IsClosed && !SocketDoorbell.Take(c.Socket)) _epoll.Remove(c.Socket);
        }
    }

    private void TellClientsWhetherToSpin(bool maySpin)
    {
        _clientsMaySpin = maySpin;
        for (int i = 0; i < _count; i++)
        {
            ServerConnection? c = _connections[i];
            if (c is not null) c.ClientsMaySpin = maySpin;
        }
    }

    private void TakeArrivals()
    {
        while (_arrivals.TryDequeue(out ServerConnection? c))
        {
            int slot = -1;
            for (int i = 0; i < _count; i++) if (_connections[i] is null) { slot = i; break; }
            if (slot < 0)
            {
                if (_count == _connections.Length) Array.Resize(ref _connections, _count * 2);
                slot = _count++;
            }
            _connections[slot] = c;
            c.Slot = slot;
            // Its doorbell: the client rings its end of the socket. A failed add leaves the
            // connection served on other wake-ups and park timeouts only.
            _epoll.Add(c.Socket, Libc.EPOLLIN, (ulong)slot + 1);
            c.ClientsMaySpin = _clientsMaySpin;
            if (_server.IsStopping) c.ServerState = IpcLayout.ServerDraining;
        }
    }

    private void CloseIdle(long now)
    {
        long limit = _server.Options.IdleTimeoutMs;
        for (int i = 0; i < _count; i++)
        {
            ServerConnection? c = _connections[i];
            if (c is not null && now - c.LastActivity > limit && !c.HasOutbox && c.PendingPulls == 0 && !c.Requests.LooksNonEmpty())
            {
                Counters.IdleClosed++;
                Close(c, IpcLayout.ServerClosed);
            }
        }
    }

    private void Drop(ServerConnection c, bool protocol)
    {
        if (protocol) Counters.ProtocolErrors++;
        else Counters.PeerHangups++;
        Close(c, IpcLayout.ServerClosed);
    }

    private void Close(ServerConnection c, uint state)
    {
        if (c.Slot >= 0 && c.Slot < _count && _connections[c.Slot] == c) _connections[c.Slot] = null;
        c.MarkClosed(state);
        _server.OnClosed(c);
    }

    /// <summary>While stopping: true once this worker's rings, outboxes and pull requests were all empty at its last look.</summary>
    public bool Drained => Volatile.Read(ref _drained);

    private bool _drained;
    private long _closeDeadline; // after the answers: how long an outbox may take to reach a live client

    /// <summary>
    /// While stopping: serve until every ring and outbox is empty and every pull request was
    /// answered, or the drain deadline passed. Then answer whatever is left with Shutdown, let
    /// the outboxes reach their clients, and close all connections. Returns true when the worker is done.
    /// </summary>
    private bool FinishDrain()
    {
        bool deadline = _server.DrainDeadlinePassed;
        bool idle = true;
        for (int i = 0; i < _count && idle; i++)
        {
            ServerConnection? c = _connections[i];
            if (c is null) continue;
            c.ServerState = IpcLayout.ServerDraining;
            idle = !c.HasOutbox && !c.Requests.LooksNonEmpty() && Volatile.Read(ref c.PendingPulls) == 0;
        }
        Volatile.Write(ref _drained, idle);
        if (!idle && !deadline) return false;
        if (!_server.PullAnsweredForShutdown) return false; // IpcServer.Stop answers pending pulls first
        if (_closeDeadline == 0) _closeDeadline = Environment.TickCount64 + OutboxGraceMs;
        bool waiting = false;
        for (int i = 0; i < _count; i++)
        {
            ServerConnection? c = _connections[i];
            if (c is null) continue;
            c.FlushOutbox();
            AnswerRingWithShutdown(c);
            // Answers still in the outbox reach a client that reads them; closing now would lose them.
            if (c.HasOutbox && !c.HungUp && !c.IsBroken && Environment.TickCount64 < _closeDeadline)
            {
                waiting = true;
                continue;
            }
            Close(c, IpcLayout.ServerClosed);
        }
        return !waiting;
    }

    /// <summary>Requests nobody will serve get a clear Shutdown, each with its own id.</summary>
    private void AnswerRingWithShutdown(ServerConnection c)
    {
        while (!c.IsBroken && c.Requests.TryPeek(out RecordView r) == PeekResult.Record && r.Kind == IpcLayout.KindRequest)
        {
            ulong id = r.RequestId;
            ushort route = _server.RouteById(r.Route) is null ? (ushort)0 : r.Route;
            uint length = r.Length;
            c.Requests.Consume();
            CountRequest(route, length);
            Respond(c, IpcLayout.KindServerError, id, null, 0, (int)NpStatus.Shutdown, route);
        }
        if (c.Requests.ProducerNeedsWake()) PipeDoorbell.Ring(c.ClientBell);
    }

    /// <summary>How long, after the stop answered everything, queued answers may wait for a client that reads them.</summary>
    private const int OutboxGraceMs = 1000;
}
