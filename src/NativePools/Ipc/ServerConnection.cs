using System;
using System.Threading;
using NativePools.Messages;
using NativePools.Platform.Linux;

namespace NativePools.Ipc;

/// <summary>
/// The server's side of one client connection: the shared mapping, the request ring (read by
/// the owning worker only), the response ring (written under <see cref="_sendLock"/> by the
/// worker or by any thread replying in pull mode), and an outbox for responses that found the
/// ring full. The connection is closed by its worker; senders check <see cref="_closed"/>
/// under the lock and ring the client under it too, so nobody writes to a mapping after it is
/// unmapped or to a doorbell number after it is closed.
/// </summary>
internal sealed unsafe class ServerConnection
{
    private struct OutboxEntry
    {
        public byte* Buffer;     // from the message pool; null for an error record
        public uint Length;
        public ushort Kind;
        public int Status;
        public ulong RequestId;
    }

    public readonly ulong Id;
    public readonly int Socket;       // our end of the control socket: liveness, and the client's doorbell for us
    public readonly int ClientBell;   // write end of the client's doorbell pipe (never leaves the server)
    private readonly int _clientBellReader; // its read end, kept open so a ring never meets a pipe without readers (SIGPIPE)
    public readonly byte* Mapping;
    public readonly long MappingSize;
    public RingReader Requests;       // worker only
    private RingWriter _responses;    // under _sendLock
    private readonly object _sendLock = new();
    private readonly MessagePool _messages;
    private OutboxEntry[] _outbox = new OutboxEntry[4];
    private int _outboxHead, _outboxCount;
    private bool _closed;
    private bool _broken;             // the peer corrupted the response ring's head

    public ServerWorker? Worker;
    public int Slot = -1;             // index in the worker's connection table
    public long LastActivity;         // Environment.TickCount64 of the last request (worker only)
    public int PendingPulls;          // pull requests received and not yet replied (under the server's pull lock)
    public long PendingBytes;         // their payload bytes (under the server's pull lock)
    public bool PullLimited;          // worker only: its last pull request waits because the client holds its share

    public ServerConnection(ulong id, int socket, int clientBell, int clientBellReader, byte* mapping, in IpcLayout layout, uint maxMessage, MessagePool messages)
    {
        Id = id;
        Socket = socket;
        ClientBell = clientBell;
        _clientBellReader = clientBellReader;
        Mapping = mapping;
        MappingSize = layout.TotalSize;
        _messages = messages;
        byte* control = mapping + layout.ControlOffset;
        Requests = new RingReader(control, mapping + layout.RequestDataOffset, layout.RingSize, maxMessage);
        _responses = new RingWriter(control + IpcLayout.RingControlSize, mapping + layout.ResponseDataOffset, layout.RingSize);
        LastActivity = Environment.TickCount64;
    }

    public bool IsClosed => Volatile.Read(ref _closed);

    /// <summary>Set by the server's control thread when the client's socket hung up (the client closed or died).</summary>
    public bool HungUp => Volatile.Read(ref _hungUp);

    private bool _hungUp;
    private int _slotState; // SlotOpen (counted as active), SlotHungUp, SlotReleased

    internal const int SlotOpen = 0, SlotHungUp = 1, SlotReleased = 2;

    /// <summary>
    /// Control thread: the client is gone; its worker serves what it left and closes. Returns
    /// true when the connection was still open: it stops counting as active now, not when its
    /// worker gets to close it.
    /// </summary>
    public bool MarkHungUp()
    {
        Volatile.Write(ref _hungUp, true);
        bool wasActive = Interlocked.CompareExchange(ref _slotState, SlotHungUp, SlotOpen) == SlotOpen;
        Worker?.Wake();
        return wasActive;
    }

    /// <summary>When the connection is closed: true when it was still counted as active (<see cref="MarkHungUp"/> had not run).</summary>
    public bool ReleaseSlot() => Interlocked.Exchange(ref _slotState, SlotReleased) == SlotOpen;

    public bool HasOutbox => Volatile.Read(ref _outboxCount) != 0;

    public bool IsBroken => Volatile.Read(ref _broken);

    /// <summary>Worker: tells the client whether spinning for its answers is worth a core (see <see cref="IpcServer.ClientsMaySpin"/>).</summary>
    public bool ClientsMaySpin
    {
        set => Volatile.Write(ref *(uint*)(Mapping + IpcLayout.HeaderClientsMaySpin), value ? 1u : 0u);
    }

    public uint ServerState
    {
        set => Volatile.Write(ref *(uint*)(Mapping + IpcLayout.HeaderServerState), value);
    }

    /// <summary>
    /// Sends a response (kind Response with payload, Error with a handler's or reply's status,
    /// ServerError with the server's own status). Straight into the
    /// ring when it has room and nothing is queued before it; otherwise a pooled copy goes to the
    /// outbox, which the worker flushes as the client frees room. Never blocks (the ring is a write
    /// to a pipe end only the server holds, with O_NONBLOCK).
    /// Returns PeerGone when the connection is closed, OutOfMemory when no buffer could be had.
    /// </summary>
    public NpStatus Send(ushort kind, ulong requestId, byte* payload, uint length, int status, out bool queued)
    {
        queued = false;
        lock (_sendLock)
        {
            if (_closed || _broken) return NpStatus.PeerGone;
            if (_outboxCount == 0 && TryWriteLocked(kind, requestId, payload, length, status))
            {
                if (_responses.ConsumerNeedsWake()) PipeDoorbell.Ring(ClientBell);
            }
            else
            {
                if (_broken) return NpStatus.PeerGone;
                byte* copy = null;
                if (kind == IpcLayout.KindResponse)
                {
                    NpStatus acquired = _messages.Acquire(length, out copy, out _);
                    if (acquired != NpStatus.Ok) return acquired;
                    new ReadOnlySpan<byte>(payload, (int)length).CopyTo(new Span<byte>(copy, (int)length));
                }
                if (_outboxCount == _outbox.Length) GrowOutboxLocked();
                _outbox[(_outboxHead + _outboxCount) % _outbox.Length] = new OutboxEntry { Buffer = copy, Length = length, Kind = kind, Status = status, RequestId = requestId };
                Volatile.Write(ref _outboxCount, _outboxCount + 1);
                _responses.SetWaiting(true); // the client rings our doorbell once it consumed
                queued = true;
            }
        }
        return NpStatus.Ok;
    }

    /// <summary>Moves queued responses into the ring while it has room. Returns true if any moved.</summary>
    public bool FlushOutbox()
    {
        bool moved = false;
        lock (_sendLock)
        {
            if (_closed || _broken) return false;
            _responses.SetWaiting(false);
            while (_outboxCount > 0)
            {
                ref OutboxEntry e = ref _outbox[_outboxHead];
                if (!TryWriteLocked(e.Kind, e.RequestId, e.Buffer, e.Length, e.Status)) break;
                if (e.Buffer != null) _messages.Release(e.Buffer);
                e = default;
                _outboxHead = (_outboxHead + 1) % _outbox.Length;
                Volatile.Write(ref _outboxCount, _outboxCount - 1);
                moved = true;
            }
            if (_outboxCount > 0)
            {
                // Dekker with the client's consume: announce, fence (in SetWaiting), then one more try.
                _responses.SetWaiting(true);
                while (_outboxCount > 0)
                {
                    ref OutboxEntry e = ref _outbox[_outboxHead];
                    if (!TryWriteLocked(e.Kind, e.RequestId, e.Buffer, e.Length, e.Status)) break;
                    if (e.Buffer != null) _messages.Release(e.Buffer);
                    e = default;
                    _outboxHead = (_outboxHead + 1) % _outbox.Length;
                    Volatile.Write(ref _outboxCount, _outboxCount - 1);
                    moved = true;
                }
            }
            if (moved && _responses.ConsumerNeedsWake()) PipeDoorbell.Ring(ClientBell);
        }
        return moved;
    }

    /// <summary>True when the outbox could move now (the response ring has room for its first entry).</summary>
    public bool OutboxCanMove()
    {
        lock (_sendLock)
        {
            if (_closed || _broken || _outboxCount == 0) return false;
            ref OutboxEntry e = ref _outbox[_outboxHead];
            uint length = IpcLayout.IsError(e.Kind) ? IpcLayout.ErrorPayloadSize : e.Length;
            bool room = _responses.HasRoomFor(length, out bool corrupt);
            if (corrupt) _broken = true;
            return room || corrupt;
        }
    }

    private bool TryWriteLocked(ushort kind, ulong requestId, byte* payload, uint length, int status)
    {
        uint size = IpcLayout.IsError(kind) ? IpcLayout.ErrorPayloadSize : length;
        byte* slot = _responses.TryReserve(size, out bool corrupt);
        if (corrupt) _broken = true;
        if (slot == null) return false;
        if (IpcLayout.IsError(kind)) *(int*)slot = status;
        else if (length > 0) Buffer.MemoryCopy(payload, slot, length, length);
        _responses.Commit(kind, 0, requestId, size);
        return true;
    }

    private void GrowOutboxLocked()
    {
        var grown = new OutboxEntry[_outbox.Length * 2];
        for (int i = 0; i < _outboxCount; i++) grown[i] = _outbox[(_outboxHead + i) % _outbox.Length];
        _outbox = grown;
        _outboxHead = 0;
    }

    /// <summary>Marks the connection closed (senders get PeerGone from now on) and frees the outbox. The worker then unmaps and closes.</summary>
    public void MarkClosed(uint serverState)
    {
        lock (_sendLock)
        {
            if (_closed) return;
            ServerState = serverState;
            _closed = true;
            for (int i = 0; i < _outboxCount; i++)
            {
                ref OutboxEntry e = ref _outbox[(_outboxHead + i) % _outbox.Length];
                if (e.Buffer != null) _messages.Release(e.Buffer);
                e = default;
            }
            _outboxCount = 0;
        }
        Libc.Close(Socket);
        Libc.Close(ClientBell);
        Libc.Close(_clientBellReader);
        Libc.Munmap((nint)Mapping, (nuint)MappingSize);
    }
}
