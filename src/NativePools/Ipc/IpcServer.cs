using System;
using System.Collections.Generic;
using System.Text;
using System.Threading;
using NativePools.Diagnostics;
using NativePools.Handles;
using NativePools.Messages;
using NativePools.Platform.Linux;

namespace NativePools.Ipc;

/// <summary>
/// A request/response server over shared-memory rings. Lifecycle: Create, AddRoute (any
/// number), Start, then Stop (drains) and Dispose. Routes are either handler routes (called on
/// a worker thread) or pull routes (requests wait for <see cref="Receive"/> on any thread and
/// are answered later with <see cref="Reply"/>).
/// </summary>
public sealed unsafe partial class IpcServer : HandleObject, IDisposable
{
    internal sealed class Route
    {
        public readonly ushort Id;
        public readonly string Name;
        public readonly byte[] NameUtf8;
        private readonly delegate* unmanaged<void*, uint, byte*, uint, byte*, uint, uint*, int> _native;
        private readonly void* _user;
        private readonly IpcRequestHandler? _managed;

        public Route(ushort id, string name, byte[] nameUtf8, nint native, nint user, IpcRequestHandler? managed)
        {
            Id = id;
            Name = name;
            NameUtf8 = nameUtf8;
            _native = (delegate* unmanaged<void*, uint, byte*, uint, byte*, uint, uint*, int>)native;
            _user = (void*)user;
            _managed = managed;
        }

        public bool IsPull => _native == null && _managed is null;

        /// <summary>Calls the handler; its failure (or an exception of a managed one) becomes an error status.</summary>
        public int Invoke(byte* request, uint length, byte* response, uint capacity, out uint responseLength)
        {
            responseLength = 0;
            if (_native != null)
            {
                uint written = 0;
                int status = _native(_user, Id, request, length, response, capacity, &written);
                responseLength = written;
                return status;
            }
            try
            {
                NpStatus status = _managed!(Id, new ReadOnlySpan<byte>(request, (int)length), new Span<byte>(response, (int)capacity), out int written);
                responseLength = written < 0 ? uint.MaxValue : (uint)written;
                return (int)status;
            }
            catch (Exception)
            {
                return (int)NpStatus.Internal;
            }
        }
    }

    private enum State { Created, Running, Stopping, Stopped }

    internal readonly IpcServerOptions Options;
    private readonly object _lock = new();
    private readonly List<Route> _routes = new();
    private Route?[] _routeById = Array.Empty<Route?>();
    private State _state;
    private volatile bool _stopping;
    private long _drainDeadline;
    private volatile bool _pullAnswered;
    private readonly ManualResetEventSlim _stopped = new(false);
    private readonly MessagePool _messages;
    private ServerWorker[] _workers = Array.Empty<ServerWorker>();
    private Thread? _acceptor;
    private Epoll? _control;
    private volatile bool _controlStop;
    private readonly System.Collections.Concurrent.ConcurrentQueue<ulong> _closedIds = new();
    private int _listenFd = -1;
    private int _acceptorWake = -1;
    private int _reserveFd = -1;      // closed to accept and refuse a client when the process is out of descriptors
    private long _refusedNoDescriptor; // clients refused because the server had no descriptor left for them
    private long _acceptBackoffs;      // times the control thread paused accepting after a persistent accept failure
    private string? _socketPath;
    private int _nextWorker;
    private long _nextConnectionId;
    private long _connectionsNow, _connectionsPeak, _connectionsTotal, _connectionsRejected;
    // Connections neither hung up nor closed: what max_clients limits. One counter, so the control
    // thread's check cannot see a close half done (two counters read apart could count a closed
    // connection again).
    private long _connectionsActive;
    private readonly uint _ownUid;
    private readonly List<nint> _workerBuffers = new();

    private IpcServer(IpcServerOptions options, MessagePool messages)
    {
        Options = options;
        _messages = messages;
        _ownUid = Libc.GetEuid();
        _pull = new PullTable(options.MaxPending);
    }

    /// <summary>Creates a stopped server. Nothing listens until <see cref="Start"/>.</summary>
    public static NpStatus Create(IpcServerOptions options, out IpcServer? server)
    {
        server = null;
        if (!OperatingSystem.IsLinux())
            return LastError.Set(NpStatus.InvalidState, "the IPC core needs Linux (memfd, eventfd, epoll)");
        NpStatus status = options.Resolve(out IpcServerOptions resolved);
        if (status != NpStatus.Ok) return status;
        // Size classes up to the largest message, so any request or response fits one buffer.
        var classes = new List<uint>();
        foreach (uint size in MessagePoolOptions.DefaultClassSizes)
            if (size < resolved.MaxMessageSize) classes.Add(size);
        classes.Add(resolved.MaxMessageSize);
        status = MessagePool.Create(new MessagePoolOptions { ClassSizes = classes.ToArray(), Name = "ipc-server" }, out MessagePool? messages);
        if (status != NpStatus.Ok) return status;
        server = new IpcServer(resolved, messages!);
        return NpStatus.Ok;
    }

    /// <summary>Number of routes (ids run from 1 to RouteCount).</summary>
    public int RouteCount => _routeById.Length;

    internal bool IsStopping => _stopping;

    /// <summary>
    /// True while each client can have a core of its own besides the workers': then a client
    /// spins for its answer. With more clients than that, spinning clients would take the CPU
    /// the workers need to answer them, so clients park almost at once (as on a socket).
    /// </summary>
    internal bool ClientsMaySpin =>
        Interlocked.Read(ref _connectionsActive) <= Math.Max(1, Environment.ProcessorCount - Options.WorkerThreads);

    /// <summary>Where request copies, pull requests and queued responses take their buffers.</summary>
    internal MessagePool Messages => _messages;

    /// <summary>True on one of this server's worker threads (inside a handler).</summary>
    internal bool IsWorkerThread
    {
        get
        {
            foreach (ServerWorker w in _workers) if (w.Thread == Thread.CurrentThread) return true;
            return false;
        }
    }

    internal bool DrainDeadlinePassed => Environment.TickCount64 >= Volatile.Read(ref _drainDeadline);

    internal bool PullAnsweredForShutdown => _pullAnswered;

    internal Route? RouteById(ushort id)
    {
        Route?[] routes = _routeById;
        return (uint)(id - 1) < (uint)routes.Length ? routes[id - 1] : null;
    }

    /// <summary>
    /// Registers a route before <see cref="Start"/>. Give a native handler (function pointer and
    /// user data), a managed handler, or neither for a pull route.
    /// </summary>
    public NpStatus AddRoute(string? name, nint nativeHandler, nint userData, IpcRequestHandler? managedHandler, out uint routeId)
    {
        routeId = 0;
        if (string.IsNullOrEmpty(name)) return LastError.Set(NpStatus.InvalidArgument, "a route name must not be empty");
        byte[] utf8 = Encoding.UTF8.GetBytes(name);
        if (utf8.Length > IpcLayout.RouteNameMax)
            return LastError.Set(NpStatus.InvalidArgument, "route name '{s}' is longer than {0} bytes", IpcLayout.RouteNameMax, subject: name);
        lock (_lock)
        {
            if (_state != State.Created) return LastError.Set(NpStatus.InvalidState, "routes must be added before np_server_start");
            if (_routes.Count >= IpcLayout.MaxRoutes)
                return LastError.Set(NpStatus.InvalidArgument, "a server has at most {0} routes", IpcLayout.MaxRoutes);
            foreach (Route r in _routes)
                if (r.Name == name) return LastError.Set(NpStatus.InvalidArgument, "route '{s}' is already registered", subject: name);
            var route = new Route((ushort)(_routes.Count + 1), name, utf8, nativeHandler, userData, managedHandler);
            _routes.Add(route);
            routeId = route.Id;
            return NpStatus.Ok;
        }
    }

    /// <summary>
    /// Binds the socket and starts the control and worker threads. Every descriptor and buffer
    /// is acquired before any thread starts, so a failure (IoError: out of descriptors) gives
    /// everything back and leaves the server as created.
    /// </summary>
    public NpStatus Start()
    {
        lock (_lock)
        {
            if (_state != State.Created) return LastError.Set(NpStatus.InvalidState, "the server was already started");
            RaiseDescriptorLimit(Options.MaxClients);
            int fd = ControlSocket.Listen(Options.Address!, out _socketPath, out NpStatus status);
            if (fd < 0) return status;
            _listenFd = fd;
            _acceptorWake = Doorbell.Create();
            _reserveFd = _acceptorWake < 0 ? -1 : Doorbell.Create();
            _control = _reserveFd < 0 ? null : Epoll.Create(1024);
            if (_control is null) return AbortStart(null, 0, "the control thread's doorbell, reserve descriptor or epoll", Libc.Errno);
            _routeById = _routes.ToArray();
            var workers = new ServerWorker[Options.WorkerThreads];
            for (int i = 0; i < workers.Length; i++)
            {
                Epoll? epoll = Epoll.Create(256);
                int doorbell = epoll is null ? -1 : Doorbell.Create();
                byte* response = null;
                if (doorbell < 0 || _messages.Acquire(Options.MaxMessageSize, out response, out _) != NpStatus.Ok)
                {
                    int errno = Libc.Errno;
                    epoll?.Dispose();
                    if (doorbell >= 0) Libc.Close(doorbell);
                    return AbortStart(workers, i, "worker " + i, errno);
                }
                _workerBuffers.Add((nint)response);
                epoll!.Add(doorbell, Libc.EPOLLIN, 0);
                workers[i] = new ServerWorker(this, i, epoll, doorbell, response, Options.MaxMessageSize, _routeById.Length);
            }
            _control.Add(_acceptorWake, Libc.EPOLLIN, WakeTag); // the control thread adds the listening socket
            _workers = workers;
            foreach (ServerWorker w in workers) w.Start();
            _acceptor = new Thread(ControlLoop) { IsBackground = true, Name = "nativepools-ipc-control" };
            _acceptor.Start();
            _state = State.Running;
            return NpStatus.Ok;
        }
    }

    /// <summary>Undoes a failed Start: closes what it opened (the first <paramref name="built"/> workers' too).</summary>
    private NpStatus AbortStart(ServerWorker[]? workers, int built, string what, int errno)
    {
        for (int k = 0; k < built; k++) workers![k].ReleaseDescriptors();
        foreach (nint buffer in _workerBuffers) _messages.Release((byte*)buffer);
        _workerBuffers.Clear();
        _control?.Dispose();
        _control = null;
        if (_acceptorWake >= 0) Libc.Close(_acceptorWake);
        _acceptorWake = -1;
        if (_reserveFd >= 0) Libc.Close(_reserveFd);
        _reserveFd = -1;
        Libc.Close(_listenFd);
        _listenFd = -1;
        UnlinkSocketPath();
        _routeById = Array.Empty<Route?>();
        return LastError.Set(NpStatus.IoError, "cannot create {s} (errno {0}: out of descriptors or memory?)", errno, subject: what);
    }

    private void UnlinkSocketPath()
    {
        if (_socketPath is null) return;
        byte[] p = Encoding.UTF8.GetBytes(_socketPath + "\0");
        fixed (byte* pp = p) Libc.Unlink(pp);
        _socketPath = null;
    }

    /// <summary>
    /// Stops accepting, serves what is in flight for up to <paramref name="drainTimeoutMs"/>,
    /// answers whatever is left with <see cref="NpStatus.Shutdown"/>, closes every connection and
    /// joins the threads. Must not be called from a handler of this server.
    /// </summary>
    public NpStatus Stop(uint drainTimeoutMs)
    {
        lock (_lock)
        {
            if (_state == State.Created) { _state = State.Stopped; _stopped.Set(); return NpStatus.Ok; }
            if (_state != State.Running)
            {
                // Another thread is stopping: return when it is done, so Dispose never frees under running workers.
                Monitor.Exit(_lock);
                try { _stopped.Wait(); }
                finally { Monitor.Enter(_lock); }
                return NpStatus.Ok;
            }
            foreach (ServerWorker w in _workers)
                if (w.Thread == Thread.CurrentThread)
                    return LastError.Set(NpStatus.InvalidState, "np_server_stop was called from a handler of the same server");
            _state = State.Stopping;
        }
        Volatile.Write(ref _drainDeadline, Environment.TickCount64 + drainTimeoutMs);
        _stopping = true;
        Doorbell.Ring(_acceptorWake); // stops accepting; keeps watching for hang-ups during the drain
        foreach (ServerWorker w in _workers) w.Wake();
        // Pull requests are answered by the application: give it the drain time (while any wait in
        // the table or in a ring), then answer the table; the workers answer what is left in the rings.
        while ((_pull.Count > 0 || !WorkersDrained()) && !DrainDeadlinePassed) Thread.Sleep(1);
        AnswerAllPending(NpStatus.Shutdown);
        lock (_pull) Monitor.PulseAll(_pull);
        foreach (ServerWorker w in _workers) { w.Wake(); w.Join(); }
        _controlStop = true;
        Doorbell.Ring(_acceptorWake);
        _acceptor!.Join();
        // A reply that passed its table lookup before the stop may still ring a worker's doorbell.
        while (Volatile.Read(ref _repliesInProgress) > 0) Thread.Yield();
        foreach (ServerWorker w in _workers) w.Release();
        _control!.Dispose();
        Libc.Close(_listenFd);
        Libc.Close(_acceptorWake);
        if (_reserveFd >= 0) Libc.Close(_reserveFd);
        _reserveFd = -1;
        UnlinkSocketPath();
        lock (_lock) _state = State.Stopped;
        _stopped.Set();
        return NpStatus.Ok;
    }

    private bool WorkersDrained()
    {
        foreach (ServerWorker w in _workers) if (!w.Drained) return false;
        return true;
    }

    /// <summary>Stops (without draining) if running, and frees everything.</summary>
    public void Dispose()
    {
        Stop(0);
        lock (_lock)
        {
            foreach (nint buffer in _workerBuffers) _messages.Release((byte*)buffer);
            _workerBuffers.Clear();
        }
        _messages.Dispose();
    }

    /// <summary>Called by a worker after it closed a connection.</summary>
    internal void OnClosed(ServerConnection connection)
    {
        // Its pending pull requests stay: Receive skips them and Reply reports PeerGone.
        _closedIds.Enqueue(connection.Id);
        if (connection.ReleaseSlot()) ReleaseActive(); // closed before its hang-up was seen
    }

    /// <summary>
    /// A connection stops counting once, at its hang-up or its close, whichever comes first: a
    /// dead client whose handler still runs is not connected, so connections_now (and its peak)
    /// stay within max_clients, which admission checks against the same count.
    /// </summary>
    private void ReleaseActive()
    {
        Interlocked.Decrement(ref _connectionsActive);
        Interlocked.Decrement(ref _connectionsNow);
    }

    private static void RaiseDescriptorLimit(int maxClients)
    {
        // Each connection holds three descriptors in the server (its socket and both ends of the
        // client's doorbell pipe), and a memfd while it is set up.
        Libc.RLimit limit;
        if (Libc.GetRlimit(Libc.RLIMIT_NOFILE, &limit) != 0) return;
        ulong wanted = (ulong)maxClients * 3 + 256;
        if (limit.rlim_cur >= wanted) return;
        limit.rlim_cur = Math.Min(wanted, limit.rlim_max);
        Libc.SetRlimit(Libc.RLIMIT_NOFILE, &limit);
    }

    private const ulong ListenTag = ulong.MaxValue, WakeTag = ulong.MaxValue - 1;

    /// <summary>
    /// The control thread: accepts clients and watches every connection's socket for hang-up.
    /// Workers never make a syscall for liveness: a hang-up raises the connection's flag and
    /// rings its worker's doorbell. While the server stops it accepts no one but keeps watching
    /// until the workers are done. Sockets are watched for hang-up only (EPOLLRDHUP), so the
    /// doorbell bytes clients send on them never wake this thread.
    /// </summary>
    private void ControlLoop()
    {
        Epoll epoll = _control!;
        var sockets = new Dictionary<ulong, ServerConnection>();
        bool listening = false;
        long resumeAt = 0; // after a persistent accept failure: when to listen again
        while (!_controlStop)
        {
            long now = Environment.TickCount64;
            bool listen = !_stopping && now >= resumeAt;
            if (listen != listening)
            {
                if (listen) epoll.Add(_listenFd, Libc.EPOLLIN, ListenTag);
                else epoll.Remove(_listenFd);
                listening = listen;
            }
            while (_closedIds.TryDequeue(out ulong closed)) sockets.Remove(closed);
            if (_reserveFd < 0) _reserveFd = Doorbell.Create(); // spent while out of descriptors: take it back once one is free
            int n = epoll.Wait(listening || _stopping ? 1000 : (int)Math.Clamp(resumeAt - now, 1, 1000));
            // Hang-ups first: a client that closed and reconnects must not be refused for its own old slot.
            bool accept = false;
            for (int e = 0; e < n; e++)
            {
                ulong tag = epoll.DataAt(e);
                if (tag == WakeTag) Doorbell.Drain(_acceptorWake);
                else if (tag == ListenTag) accept = true;
                else if (sockets.TryGetValue(tag, out ServerConnection? c))
                {
                    sockets.Remove(tag);
                    if (!c.IsClosed) epoll.Remove(c.Socket);
                    if (c.MarkHungUp()) ReleaseActive();
                }
            }
            // One accept per wait: a client served while we accepted may have closed and come back
            // (or been followed by the next one), and its hang-up must be counted before the next
            // admission checks max_clients. The listening socket stays readable while more wait.
            if (accept && !_stopping)
            {
                int socket = Libc.Accept4(_listenFd, null, null, Libc.SOCK_CLOEXEC | Libc.SOCK_NONBLOCK);
                if (socket < 0)
                {
                    if (!AcceptFailed(Libc.Errno)) resumeAt = Environment.TickCount64 + AcceptBackoffMs;
                    continue;
                }
                ServerConnection? admitted = null;
                try { admitted = Admit(socket); }
                catch (Exception) { Libc.Close(socket); Interlocked.Increment(ref _connectionsRejected); }
                if (admitted is null) continue;
                sockets[admitted.Id] = admitted;
                // Hang-up only: doorbell bytes on this socket are the worker's (its own epoll), not ours.
                epoll.Add(admitted.Socket, Libc.EPOLLRDHUP, admitted.Id);
                admitted.Worker!.Adopt(admitted);
            }
        }
    }

    /// <summary>How long the control thread stops accepting after an accept failure it cannot answer.</summary>
    private const int AcceptBackoffMs = 100;

    /// <summary>
    /// After accept4 failed: true when the control thread may go on accepting at once. A client
    /// that gave up (ECONNABORTED) or a spurious wake-up (EAGAIN, EINTR) costs nothing. Out of
    /// descriptors (EMFILE, ENFILE), the reserve descriptor is closed to take the next client
    /// and refuse it with IoError, so it learns why and the backlog empties instead of keeping
    /// the listening socket readable (a busy loop). Anything else, or no reserve to give, pauses
    /// accepting for <see cref="AcceptBackoffMs"/> while hang-ups and stop are still watched.
    /// </summary>
    private bool AcceptFailed(int errno)
    {
        if (errno is Libc.EAGAIN or Libc.EINTR or Libc.ECONNABORTED or Libc.EPROTO) return true;
        bool answered = false;
        if ((errno is Libc.EMFILE or Libc.ENFILE) && _reserveFd >= 0)
        {
            Libc.Close(_reserveFd);
            int socket = Libc.Accept4(_listenFd, null, null, Libc.SOCK_CLOEXEC | Libc.SOCK_NONBLOCK);
            if (socket >= 0)
            {
                RefuseNoDescriptor(socket);
                answered = true;
            }
            _reserveFd = Doorbell.Create(); // -1 while the process stays out of descriptors: the next failure backs off
        }
        if (!answered) Interlocked.Increment(ref _acceptBackoffs);
        return answered && _reserveFd >= 0;
    }

    /// <summary>Checks the peer, builds its shared mapping, sends the welcome and hands the connection to a worker.</summary>
    private ServerConnection? Admit(int socket)
    {
        Welcome welcome = new() { Magic = IpcLayout.Magic, Version = IpcLayout.Version };
        if (!ControlSocket.PeerUid(socket, out uint uid) || !UidAllowed(uid))
        {
            Refuse(socket, NpStatus.PermissionDenied);
            return null;
        }
        if (Interlocked.Read(ref _connectionsActive) >= Options.MaxClients)
        {
            Refuse(socket, NpStatus.ServerFull);
            return null;
        }
        IpcLayout.Of(Options.RingSize, (uint)_routeById.Length, out IpcLayout layout);
        int memfd = -1;
        int* bell = stackalloc int[2] { -1, -1 }; // the client's doorbell pipe: [0] read end, [1] write end
        byte* mapping = null;
        try
        {
            byte* name = stackalloc byte[] { (byte)'n', (byte)'p', (byte)'-', (byte)'i', (byte)'p', (byte)'c', 0 };
            memfd = Libc.MemfdCreate(name, Libc.MFD_CLOEXEC | Libc.MFD_ALLOW_SEALING);
            if (memfd < 0 && Libc.Errno is Libc.EMFILE or Libc.ENFILE)
            {
                RefuseNoDescriptor(socket);
                return null;
            }
            if (memfd >= 0 && !PipeDoorbell.Create(bell))
            {
                if (Libc.Errno is Libc.EMFILE or Libc.ENFILE) RefuseNoDescriptor(socket);
                else Refuse(socket, NpStatus.OutOfMemory);
                return null;
            }
            if (memfd < 0 || Libc.Ftruncate(memfd, layout.TotalSize) != 0 ||
                Libc.Fcntl(memfd, Libc.F_ADD_SEALS, Libc.F_SEAL_SHRINK | Libc.F_SEAL_GROW | Libc.F_SEAL_SEAL) != 0)
            {
                Refuse(socket, NpStatus.OutOfMemory);
                return null;
            }
            nint m = Libc.Mmap(0, (nuint)layout.TotalSize, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, memfd, 0);
            if (m == Libc.MAP_FAILED)
            {
                Refuse(socket, NpStatus.OutOfMemory);
                return null;
            }
            mapping = (byte*)m;
            WriteHeader(mapping, layout);
            ServerWorker worker = _workers[_nextWorker++ % _workers.Length];
            ulong id = (ulong)Interlocked.Increment(ref _nextConnectionId);
            welcome.Status = (int)NpStatus.Ok;
            welcome.RingSize = layout.RingSize;
            welcome.MaxMessage = Options.MaxMessageSize;
            welcome.RouteCount = (uint)layout.RouteCount;
            welcome.ConnectionId = id;
            welcome.SpinMicroseconds = Options.SpinMicroseconds;
            // The memfd and the read end of the client's doorbell: nothing the server writes or
            // reads through. The client rings the server on its own end of the socket.
            int* fds = stackalloc int[2] { memfd, bell[0] };
            if (!ControlSocket.SendWelcome(socket, welcome, fds, 2))
            {
                Interlocked.Increment(ref _connectionsRejected);
                Libc.Close(socket);
                return null;
            }
            Libc.Close(memfd);
            memfd = -1;
            var connection = new ServerConnection(id, socket, bell[1], bell[0], mapping, layout, Options.MaxMessageSize, _messages) { Worker = worker };
            mapping = null;
            bell[0] = bell[1] = -1;
            Interlocked.Increment(ref _connectionsActive);
            long now = Interlocked.Increment(ref _connectionsNow);
            Interlocked.Increment(ref _connectionsTotal);
            long peak;
            while (now > (peak = Interlocked.Read(ref _connectionsPeak)) && Interlocked.CompareExchange(ref _connectionsPeak, now, peak) != peak) { }
            return connection;
        }
        finally
        {
            if (memfd >= 0) Libc.Close(memfd);
            if (bell[0] >= 0) Libc.Close(bell[0]);
            if (bell[1] >= 0) Libc.Close(bell[1]);
            if (mapping != null) Libc.Munmap((nint)mapping, (nuint)layout.TotalSize);
        }
    }

    private void Refuse(int socket, NpStatus status)
    {
        Interlocked.Increment(ref _connectionsRejected);
        Welcome refusal = new() { Magic = IpcLayout.Magic, Version = IpcLayout.Version, Status = (int)status };
        ControlSocket.SendWelcome(socket, refusal, null, 0);
        Libc.Close(socket);
    }

    /// <summary>Refuses a client for want of a descriptor (IoError: the client's message names the descriptor limit).</summary>
    private void RefuseNoDescriptor(int socket)
    {
        Interlocked.Increment(ref _refusedNoDescriptor);
        Refuse(socket, NpStatus.IoError);
    }

    private bool UidAllowed(uint uid)
    {
        if (uid == _ownUid) return true;
        foreach (uint allowed in Options.AllowedUids!) if (allowed == uid) return true;
        return false;
    }

    private void WriteHeader(byte* mapping, in IpcLayout layout)
    {
        *(uint*)(mapping + IpcLayout.HeaderMagic) = IpcLayout.Magic;
        *(uint*)(mapping + IpcLayout.HeaderVersion) = IpcLayout.Version;
        *(uint*)(mapping + IpcLayout.HeaderRingSize) = layout.RingSize;
        *(uint*)(mapping + IpcLayout.HeaderMaxMessage) = Options.MaxMessageSize;
        *(uint*)(mapping + IpcLayout.HeaderRouteCount) = (uint)layout.RouteCount;
        *(uint*)(mapping + IpcLayout.HeaderServerState) = _stopping ? IpcLayout.ServerDraining : IpcLayout.ServerServing;
        *(uint*)(mapping + IpcLayout.HeaderClientsMaySpin) = 1; // its worker corrects it when it adopts the connection
        byte* table = mapping + layout.RouteTableOffset;
        foreach (Route? route in _routeById)
        {
            byte* entry = table + (route!.Id - 1) * IpcLayout.RouteEntrySize;
            *(uint*)(entry + IpcLayout.RouteId) = route.Id;
            *(uint*)(entry + IpcLayout.RouteNameLength) = (uint)route.NameUtf8.Length;
            route.NameUtf8.CopyTo(new Span<byte>(entry + IpcLayout.RouteName, IpcLayout.RouteNameMax));
        }
    }

    /// <summary>The counters summed over workers.</summary>
    public IpcServerStats GetStats()
    {
        var s = new IpcServerStats
        {
            ConnectionsNow = (ulong)Math.Max(0, Interlocked.Read(ref _connectionsNow)),
            ConnectionsPeak = (ulong)Interlocked.Read(ref _connectionsPeak),
            ConnectionsTotal = (ulong)Interlocked.Read(ref _connectionsTotal),
            ConnectionsRejected = (ulong)Interlocked.Read(ref _connectionsRejected),
            PendingRequests = (ulong)_pull.Count,
            Responses = (ulong)Interlocked.Read(ref _pullResponses),
            ErrorResponses = (ulong)Interlocked.Read(ref _pullErrorResponses),
            BytesOut = (ulong)Interlocked.Read(ref _pullBytesOut),
            RefusedNoDescriptor = (ulong)Interlocked.Read(ref _refusedNoDescriptor),
            AcceptBackoffs = (ulong)Interlocked.Read(ref _acceptBackoffs),
        };
        foreach (ServerWorker w in _workers)
        {
            WorkerCounters c = w.Counters;
            s.Requests += (ulong)Volatile.Read(ref c.Requests);
            s.Responses += (ulong)Volatile.Read(ref c.Responses);
            s.ErrorResponses += (ulong)Volatile.Read(ref c.ErrorResponses);
            s.BytesIn += (ulong)Volatile.Read(ref c.BytesIn);
            s.BytesOut += (ulong)Volatile.Read(ref c.BytesOut);
            s.ProtocolErrors += (ulong)Volatile.Read(ref c.ProtocolErrors);
            s.HandlerErrors += (ulong)Volatile.Read(ref c.HandlerErrors);
            s.UnknownRoutes += (ulong)Volatile.Read(ref c.UnknownRoutes);
            s.PeerHangups += (ulong)Volatile.Read(ref c.PeerHangups);
            s.IdleClosed += (ulong)Volatile.Read(ref c.IdleClosed);
            s.ClientLimitHits += (ulong)Volatile.Read(ref c.ClientLimitHits);
        }
        MessagePoolStats m = _messages.GetStats();
        s.BuffersCreated = m.Created;
        s.BuffersReused = m.Reused;
        return s;
    }

    /// <summary>One route's counters; false for an unknown id.</summary>
    public bool GetRouteStats(uint routeId, out IpcRouteStats stats)
    {
        stats = default;
        Route?[] routes = _routeById;
        if (routeId == 0 || routeId > (uint)Math.Max(routes.Length, _routes.Count)) return false;
        int r = (int)routeId * WorkerCounters.RouteFields;
        foreach (ServerWorker w in _workers)
        {
            long[] c = w.Counters.Routes;
            stats.Requests += (ulong)Volatile.Read(ref c[r + WorkerCounters.RouteRequests]);
            stats.Responses += (ulong)Volatile.Read(ref c[r + WorkerCounters.RouteResponses]);
            stats.Errors += (ulong)Volatile.Read(ref c[r + WorkerCounters.RouteErrors]);
            stats.BytesIn += (ulong)Volatile.Read(ref c[r + WorkerCounters.RouteBytesIn]);
            stats.BytesOut += (ulong)Volatile.Read(ref c[r + WorkerCounters.RouteBytesOut]);
        }
        if (routeId < (uint)_pullRouteCounters.Length / WorkerCounters.RouteFields)
        {
            stats.Responses += (ulong)Interlocked.Read(ref _pullRouteCounters[r + WorkerCounters.RouteResponses]);
            stats.Errors += (ulong)Interlocked.Read(ref _pullRouteCounters[r + WorkerCounters.RouteErrors]);
            stats.BytesOut += (ulong)Interlocked.Read(ref _pullRouteCounters[r + WorkerCounters.RouteBytesOut]);
        }
        return true;
    }
}
