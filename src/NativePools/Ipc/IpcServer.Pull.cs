using System;
using System.Threading;
using NativePools.Diagnostics;

namespace NativePools.Ipc;

// Pull mode: workers copy requests of pull routes into pooled buffers and queue them; any
// thread takes them with Receive and answers with Reply, in any order, later.
public sealed unsafe partial class IpcServer
{
    /// <summary>Fixed table of pending pull requests with a free stack and a FIFO of ready slots; guarded by its own monitor.</summary>
    private sealed class PullTable
    {
        public const byte Free = 0, Ready = 1, Received = 2;
        public readonly ServerConnection?[] Connection;
        public readonly ulong[] RequestId;
        public readonly nint[] Buffer;
        public readonly uint[] Length;
        public readonly ushort[] Route;
        public readonly ulong[] Generation;
        public readonly byte[] SlotState;
        private readonly int[] _free;
        private int _freeCount;
        private readonly int[] _ready;
        private int _readyHead, _readyCount;
        private int _count;

        public PullTable(int capacity)
        {
            Connection = new ServerConnection?[capacity];
            RequestId = new ulong[capacity];
            Buffer = new nint[capacity];
            Length = new uint[capacity];
            Route = new ushort[capacity];
            Generation = new ulong[capacity];
            SlotState = new byte[capacity];
            _free = new int[capacity];
            _ready = new int[capacity];
            for (int i = 0; i < capacity; i++) _free[i] = capacity - 1 - i;
            _freeCount = capacity;
        }

        public int Count => Volatile.Read(ref _count);
        public int Capacity => _free.Length;
        public bool IsFull => Volatile.Read(ref _freeCount) == 0;
        public int ReadyCount => _readyCount;

        public int TakeFreeLocked()
        {
            if (_freeCount == 0) return -1;
            int slot = _free[--_freeCount];
            _count++;
            return slot;
        }

        public void PushReadyLocked(int slot)
        {
            SlotState[slot] = Ready;
            _ready[(_readyHead + _readyCount) % _ready.Length] = slot;
            _readyCount++;
        }

        public int PopReadyLocked()
        {
            int slot = _ready[_readyHead];
            _readyHead = (_readyHead + 1) % _ready.Length;
            _readyCount--;
            return slot;
        }

        public void ReleaseLocked(int slot)
        {
            SlotState[slot] = Free;
            Connection[slot] = null;
            Buffer[slot] = 0;
            Generation[slot]++;
            _free[_freeCount++] = slot;
            _count--;
        }

        public ulong Token(int slot) => (Generation[slot] << 24) | (uint)(slot + 1);

        /// <summary>The slot a token names while it is received and unanswered, or -1.</summary>
        public int SlotOf(ulong token)
        {
            long slot = (long)(token & 0xFFFFFF) - 1;
            if (slot < 0 || slot >= Capacity) return -1;
            return SlotState[slot] == Received && Generation[slot] == token >> 24 ? (int)slot : -1;
        }
    }

    private readonly PullTable _pull;
    private volatile bool _pullClosed; // set by the stop under the table's lock: nothing more is queued
    private long _pullResponses, _pullErrorResponses, _pullBytesOut;
    private int _repliesInProgress; // Stop waits for them before closing the doorbells a reply rings
    private long[] _pullRouteCounters = Array.Empty<long>();

    internal bool PullTableFull => _pull.IsFull;

    /// <summary>
    /// Worker side: copies a pull request out of the ring and queues it. Anything but Queued
    /// leaves it in the ring; after the stop answered the table (Stopped) the worker answers it.
    /// </summary>
    internal PullQueueResult TryQueuePull(ServerConnection connection, Route route, in RecordView record)
    {
        if (_pullClosed) return PullQueueResult.Stopped;
        // Only this worker adds to a connection's share, so a stale read can only overstate it.
        int held = Volatile.Read(ref connection.PendingPulls);
        if (held >= Options.MaxClientPending ||
            (held > 0 && Volatile.Read(ref connection.PendingBytes) + record.Length > Options.MaxClientPendingBytes))
            return PullQueueResult.ClientLimit;
        if (_pull.IsFull) return PullQueueResult.TableFull;
        if (_messages.Acquire(record.Length, out byte* buffer, out _) != NpStatus.Ok) return PullQueueResult.TableFull;
        if (record.Length > 0) Buffer.MemoryCopy(record.Payload, buffer, record.Length, record.Length);
        lock (_pull)
        {
            // Checked under the lock AnswerAllPending holds: a request queued after it ran would never be answered.
            PullQueueResult refused = _pullClosed ? PullQueueResult.Stopped : PullQueueResult.Queued;
            int slot = refused == PullQueueResult.Queued ? _pull.TakeFreeLocked() : -1;
            if (slot < 0)
            {
                _messages.Release(buffer);
                return refused == PullQueueResult.Queued ? PullQueueResult.TableFull : refused;
            }
            _pull.Connection[slot] = connection;
            _pull.RequestId[slot] = record.RequestId;
            _pull.Buffer[slot] = (nint)buffer;
            _pull.Length[slot] = record.Length;
            _pull.Route[slot] = route.Id;
            _pull.PushReadyLocked(slot);
            connection.PendingPulls++;
            connection.PendingBytes += record.Length;
            Monitor.Pulse(_pull);
        }
        return PullQueueResult.Queued;
    }

    /// <summary>
    /// Takes the next pull request, waiting up to <paramref name="timeoutMs"/> (0: do not wait).
    /// The data stays valid until <see cref="Reply"/> with the token.
    /// </summary>
    public NpStatus Receive(uint timeoutMs, out ulong token, out uint routeId, out byte* data, out uint length)
    {
        token = 0; routeId = 0; data = null; length = 0;
        long deadline = Environment.TickCount64 + timeoutMs;
        lock (_pull)
        {
            while (true)
            {
                if (_state is State.Created)
                    return LastError.Set(NpStatus.InvalidState, "the server is not started");
                while (_pull.ReadyCount > 0)
                {
                    int slot = _pull.PopReadyLocked();
                    ServerConnection c = _pull.Connection[slot]!;
                    if (c.IsClosed)
                    {
                        // The client left before anyone took its request: nobody waits for the answer.
                        c.PendingPulls--;
                        c.PendingBytes -= _pull.Length[slot];
                        _messages.Release((byte*)_pull.Buffer[slot]);
                        _pull.ReleaseLocked(slot);
                        continue;
                    }
                    _pull.SlotState[slot] = PullTable.Received;
                    token = _pull.Token(slot);
                    routeId = _pull.Route[slot];
                    data = (byte*)_pull.Buffer[slot];
                    length = _pull.Length[slot];
                    return NpStatus.Ok;
                }
                if (_pullAnswered || _state == State.Stopped)
                    return LastError.Set(NpStatus.Shutdown, "the server stopped; no more requests will arrive");
                long remaining = deadline - Environment.TickCount64;
                if (timeoutMs != uint.MaxValue && remaining <= 0)
                    return LastError.Set(NpStatus.Timeout, "no request arrived within {0} ms", timeoutMs);
                Monitor.Wait(_pull, timeoutMs == uint.MaxValue ? 1000 : (int)Math.Min(remaining, 1000));
            }
        }
    }

    /// <summary>
    /// Answers a received pull request with a payload (status Ok) or with an error status the
    /// client's call reports as <see cref="NpStatus.HandlerFailed"/>. Never blocks: a full ring
    /// queues the answer. Any thread; each token once.
    /// </summary>
    public NpStatus Reply(ulong token, byte* data, uint length, int status)
    {
        Interlocked.Increment(ref _repliesInProgress);
        try { return ReplyCore(token, data, length, status); }
        finally { Interlocked.Decrement(ref _repliesInProgress); }
    }

    private NpStatus ReplyCore(ulong token, byte* data, uint length, int status)
    {
        if (status == 0 && data == null && length > 0) return LastError.Set(NpStatus.NullPointer, "argument 'data' is NULL");
        if (status > 0) return LastError.Set(NpStatus.InvalidArgument, "an error reply needs a negative status, not {0}", status);
        if (status == 0 && length > Options.MaxMessageSize)
            return LastError.Set(NpStatus.MessageTooLarge, "the reply has {0} bytes; the maximum message size is {1}", length, Options.MaxMessageSize);
        ServerConnection? connection;
        ulong requestId;
        ushort route;
        nint buffer;
        lock (_pull)
        {
            int slot = _pull.SlotOf(token);
            if (slot < 0)
                return _pullAnswered
                    ? LastError.Set(NpStatus.Shutdown, "the server stopped and answered request token {x0} itself", (long)token)
                    : LastError.Set(NpStatus.InvalidArgument, "{x0} is not the token of a received, unanswered request", (long)token);
            connection = _pull.Connection[slot];
            requestId = _pull.RequestId[slot];
            route = _pull.Route[slot];
            buffer = _pull.Buffer[slot];
            _pull.SlotState[slot] = PullTable.Free + 3; // answering: not receivable, not repliable
            connection!.PendingPulls--;
            connection.PendingBytes -= _pull.Length[slot];
        }
        // Send before releasing the request buffer: the reply may be the request itself (echo in place).
        NpStatus sent = status == 0
            ? connection.Send(IpcLayout.KindResponse, requestId, data, length, 0, out _)
            : connection.Send(IpcLayout.KindError, requestId, null, 0, status, out _);
        lock (_pull)
        {
            int slot = (int)(token & 0xFFFFFF) - 1;
            _messages.Release((byte*)buffer);
            _pull.ReleaseLocked(slot);
        }
        if (sent != NpStatus.Ok)
            return sent == NpStatus.PeerGone ? LastError.Set(NpStatus.PeerGone, "the client of this request is gone") : sent;
        CountPullReply(route, status == 0 ? length : 0, status != 0);
        connection.Worker?.Wake(); // the worker flushes an outbox the reply may have joined
        return NpStatus.Ok;
    }

    private void CountPullReply(ushort route, uint length, bool error)
    {
        Interlocked.Increment(ref _pullResponses);
        Interlocked.Add(ref _pullBytesOut, length);
        if (error) Interlocked.Increment(ref _pullErrorResponses);
        long[] counters = _pullRouteCounters;
        if (counters.Length == 0)
        {
            Interlocked.CompareExchange(ref _pullRouteCounters, new long[(RouteCount + 1) * WorkerCounters.RouteFields], counters);
            counters = _pullRouteCounters;
        }
        int r = route * WorkerCounters.RouteFields;
        if (r + WorkerCounters.RouteFields > counters.Length) return;
        Interlocked.Increment(ref counters[r + WorkerCounters.RouteResponses]);
        Interlocked.Add(ref counters[r + WorkerCounters.RouteBytesOut], length);
        if (error) Interlocked.Increment(ref counters[r + WorkerCounters.RouteErrors]);
    }

    /// <summary>At stop: every pending pull request (taken or not) gets <paramref name="status"/>, and the table closes.</summary>
    private void AnswerAllPending(NpStatus status)
    {
        lock (_pull)
        {
            // From now on workers queue nothing: they answer the pull requests left in the rings themselves.
            _pullClosed = true;
            for (int slot = 0; slot < _pull.Capacity; slot++)
            {
                byte state = _pull.SlotState[slot];
                if (state != PullTable.Ready && state != PullTable.Received) continue;
                ServerConnection c = _pull.Connection[slot]!;
                if (c.Send(IpcLayout.KindServerError, _pull.RequestId[slot], null, 0, (int)status, out _) == NpStatus.Ok)
                    CountPullReply(_pull.Route[slot], 0, error: true);
                c.PendingPulls--;
                c.PendingBytes -= _pull.Length[slot];
                _messages.Release((byte*)_pull.Buffer[slot]);
                _pull.ReleaseLocked(slot);
            }
            while (_pull.ReadyCount > 0) _pull.PopReadyLocked();
            // Only now may workers close connections: every answer above is in its ring or outbox.
            _pullAnswered = true;
        }
    }
}
