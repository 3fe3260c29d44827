using System.Runtime.CompilerServices;
using System.Threading;

namespace NativePools.Ipc;

/// <summary>
/// The producer side of one single-producer single-consumer ring in shared memory. The tail is
/// private (the shared copy is only ever written); the consumer's head is read from shared
/// memory only when the ring looks full, and checked before use: the peer is untrusted.
/// Not thread-safe: exactly one thread at a time produces (callers hold their own lock).
/// </summary>
internal unsafe struct RingWriter
{
    private readonly byte* _control;
    private readonly byte* _data;
    private readonly ulong _size;
    private ulong _tail;
    private ulong _headSeen;
    private ulong _reserved; // start of the record between TryReserve and Commit

    public RingWriter(byte* control, byte* data, uint size)
    {
        _control = control;
        _data = data;
        _size = size;
    }

    public readonly bool IsValid => _data != null;

    /// <summary>
    /// Reserves room for a record with up to <paramref name="length"/> payload bytes and returns
    /// where the payload goes, or null when the ring lacks room now. <paramref name="corrupt"/>
    /// is set when the consumer's head is impossible (the peer broke the protocol).
    /// </summary>
    public byte* TryReserve(uint length, out bool corrupt)
    {
        corrupt = false;
        ulong need = IpcLayout.RecordSize(length);
        ulong index = _tail & (_size - 1);
        ulong toEnd = _size - index;
        ulong total = need > toEnd ? toEnd + need : need;
        if (_tail + total - _headSeen > _size)
        {
            ulong head = Volatile.Read(ref *(ulong*)(_control + IpcLayout.RingHead));
            if (head > _tail || _tail - head > _size || (head & 15) != 0)
            {
                corrupt = true;
                return null;
            }
            _headSeen = head;
            if (_tail + total - head > _size) return null;
        }
        if (need > toEnd)
        {
            // The record does not fit before the end: a padding record fills the rest.
            byte* padding = _data + index;
            *(uint*)(padding + IpcLayout.RecordLength) = (uint)(toEnd - IpcLayout.RecordHeaderSize);
            *(ushort*)(padding + IpcLayout.RecordKind) = IpcLayout.KindPadding;
            *(ushort*)(padding + IpcLayout.RecordRoute) = 0;
            *(ulong*)(padding + IpcLayout.RecordRequestId) = 0;
            _tail += toEnd;
        }
        _reserved = _tail;
        return _data + (_tail & (_size - 1)) + IpcLayout.RecordHeaderSize;
    }

    /// <summary>Whether a record of <paramref name="length"/> payload bytes would fit now, without reserving.</summary>
    public bool HasRoomFor(uint length, out bool corrupt)
    {
        corrupt = false;
        ulong need = IpcLayout.RecordSize(length);
        ulong toEnd = _size - (_tail & (_size - 1));
        ulong total = need > toEnd ? toEnd + need : need;
        if (_tail + total - _headSeen <= _size) return true;
        ulong head = Volatile.Read(ref *(ulong*)(_control + IpcLayout.RingHead));
        if (head > _tail || _tail - head > _size || (head & 15) != 0)
        {
            corrupt = true;
            return false;
        }
        _headSeen = head;
        return _tail + total - head <= _size;
    }

    /// <summary>Publishes the reserved record with its final <paramref name="length"/> (at most the reserved length).</summary>
    public void Commit(ushort kind, ushort route, ulong requestId, uint length)
    {
        byte* header = _data + (_reserved & (_size - 1));
        *(uint*)(header + IpcLayout.RecordLength) = length;
        *(ushort*)(header + IpcLayout.RecordKind) = kind;
        *(ushort*)(header + IpcLayout.RecordRoute) = route;
        *(ulong*)(header + IpcLayout.RecordRequestId) = requestId;
        _tail = _reserved + IpcLayout.RecordSize(length);
        Volatile.Write(ref *(ulong*)(_control + IpcLayout.RingTail), _tail);
    }

    /// <summary>
    /// After a commit: true when the consumer parked and must be woken. The full fence orders
    /// our tail store before the flag load, pairing with the consumer's flag store, fence, tail
    /// load (Dekker): one of the two sides always sees the other.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool ConsumerNeedsWake()
    {
        Interlocked.MemoryBarrier();
        // Read first (the common answer, no write to the shared line), then take the flag: of
        // several records published while the consumer sleeps, only the first rings.
        ref uint flag = ref *(uint*)(_control + IpcLayout.RingConsumerSleeping);
        return Volatile.Read(ref flag) != 0 && Interlocked.Exchange(ref flag, 0) != 0;
    }

    /// <summary>Announces that the producer waits for room (before its final recheck and park).</summary>
    public readonly void SetWaiting(bool waiting)
    {
        Volatile.Write(ref *(uint*)(_control + IpcLayout.RingProducerWaiting), waiting ? 1u : 0u);
        if (waiting) Interlocked.MemoryBarrier();
    }
}

/// <summary>What <see cref="RingReader.TryPeek"/> found.</summary>
internal enum PeekResult
{
    Empty,
    Record,
    Corrupt,
}

/// <summary>One record as the reader validated it: every field was read once into this copy.</summary>
internal unsafe struct RecordView
{
    public byte* Payload;
    public uint Length;
    public ushort Kind;
    public ushort Route;
    public ulong RequestId;
}

/// <summary>
/// The consumer side of one ring. Every header field is read from shared memory once into a
/// local, checked against the ring's bounds and the negotiated maximum, and only then used.
/// Any impossible value yields <see cref="PeekResult.Corrupt"/>: the caller drops the connection.
/// </summary>
internal unsafe struct RingReader
{
    private readonly byte* _control;
    private readonly byte* _data;
    private readonly ulong _size;
    private readonly uint _maxPayload;
    private ulong _head;
    private ulong _tailSeen;
    private ulong _peekedSize;

    public RingReader(byte* control, byte* data, uint size, uint maxPayload)
    {
        _control = control;
        _data = data;
        _size = size;
        _maxPayload = maxPayload;
    }

    /// <summary>True when a record may be waiting (reads the shared tail; no validation).</summary>
    public readonly bool LooksNonEmpty() => Volatile.Read(ref *(ulong*)(_control + IpcLayout.RingTail)) != _head;

    /// <summary>Looks at the next record without consuming it.</summary>
    public PeekResult TryPeek(out RecordView record)
    {
        record = default;
        while (true)
        {
            if (_head == _tailSeen)
            {
                ulong tail = Volatile.Read(ref *(ulong*)(_control + IpcLayout.RingTail));
                if (tail < _head || tail - _head > _size || (tail & 15) != 0) return PeekResult.Corrupt;
                _tailSeen = tail;
                if (tail == _head) return PeekResult.Empty;
            }
            ulong index = _head & (_size - 1);
            byte* header = _data + index;
            uint length = *(uint*)(header + IpcLayout.RecordLength);
            ushort kind = *(ushort*)(header + IpcLayout.RecordKind);
            ulong available = _tailSeen - _head;
            ulong toEnd = _size - index;
            if (kind == IpcLayout.KindPadding)
            {
                if ((ulong)length + IpcLayout.RecordHeaderSize != toEnd || toEnd > available) return PeekResult.Corrupt;
                _head += toEnd;
                Volatile.Write(ref *(ulong*)(_control + IpcLayout.RingHead), _head);
                continue;
            }
            if (kind is not (IpcLayout.KindRequest or IpcLayout.KindResponse or IpcLayout.KindError or IpcLayout.KindServerError)) return PeekResult.Corrupt;
            if (length > _maxPayload) return PeekResult.Corrupt;
            ulong size = IpcLayout.RecordSize(length);
            if (size > toEnd || size > available) return PeekResult.Corrupt;
            if (IpcLayout.IsError(kind) && length != IpcLayout.ErrorPayloadSize) return PeekResult.Corrupt;
            record.Payload = header + IpcLayout.RecordHeaderSize;
            record.Length = length;
            record.Kind = kind;
            record.Route = *(ushort*)(header + IpcLayout.RecordRoute);
            record.RequestId = *(ulong*)(header + IpcLayout.RecordRequestId);
            _peekedSize = size;
            return PeekResult.Record;
        }
    }

    /// <summary>Frees the record returned by the last successful <see cref="TryPeek"/>.</summary>
    public void Consume()
    {
        _head += _peekedSize;
        _peekedSize = 0;
        Volatile.Write(ref *(ulong*)(_control + IpcLayout.RingHead), _head);
    }

    /// <summary>After a consume: true when the producer waits for room and must be woken (fence as in <see cref="RingWriter.ConsumerNeedsWake"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool ProducerNeedsWake()
    {
        Interlocked.MemoryBarrier();
        ref uint flag = ref *(uint*)(_control + IpcLayout.RingProducerWaiting);
        return Volatile.Read(ref flag) != 0 && Interlocked.Exchange(ref flag, 0) != 0;
    }

    /// <summary>Announces that the consumer is about to park (set) or is awake (clear). Setting is followed by a full fence.</summary>
    public readonly void SetSleeping(bool sleeping)
    {
        Volatile.Write(ref *(uint*)(_control + IpcLayout.RingConsumerSleeping), sleeping ? 1u : 0u);
        if (sleeping) Interlocked.MemoryBarrier();
    }
}
