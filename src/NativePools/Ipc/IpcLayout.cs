namespace NativePools.Ipc;

/// <summary>
/// The shared mapping of one connection, in one place (Agrona's RingBufferDescriptor style).
/// Both sides compute every offset from (ring size, route count) with <see cref="Of"/>; neither
/// trusts an offset stored in shared memory.
/// <code>
/// page 0            connection header (magic, version, sizes, server state)
/// page 1..          route table: route_count entries of 64 bytes { u32 id; u32 name_length; u8 name[56] }
/// next page         ring controls: requests at +0, responses at +512 (see Ring* offsets)
/// next              request ring data (ring_size bytes, client writes, server reads)
/// next              response ring data (ring_size bytes, server writes, client reads)
/// </code>
/// </summary>
internal readonly struct IpcLayout
{
    public const uint Magic = 0x5049504E; // "NPIP" little-endian
    public const uint Version = 2; // 2: the welcome passes the memfd and the client's doorbell pipe; the client rings on the socket
    public const int PageSize = 4096;

    // Connection header fields (page 0). Written by the server before the client maps it,
    // except ServerState, which the server raises when it stops, and ClientsMaySpin, which
    // the connection's worker lowers while there are more clients than spare cores.
    public const int HeaderMagic = 0;        // u32
    public const int HeaderVersion = 4;      // u32
    public const int HeaderRingSize = 8;     // u32
    public const int HeaderMaxMessage = 12;  // u32
    public const int HeaderRouteCount = 16;  // u32
    public const int HeaderServerState = 128; // u32, own cache line: 0 serving, 1 draining, 2 closed
    public const int HeaderClientsMaySpin = 132; // u32, same line: 1 while every client can have a core to spin on

    public const uint ServerServing = 0;
    public const uint ServerDraining = 1;
    public const uint ServerClosed = 2;

    // Route table entries.
    public const int RouteEntrySize = 64;
    public const int RouteId = 0;            // u32
    public const int RouteNameLength = 4;    // u32
    public const int RouteName = 8;          // UTF-8, not NUL-terminated
    public const int RouteNameMax = RouteEntrySize - RouteName;

    // One ring's control block: each word on its own 128-byte line (adjacent-line prefetch
    // pairs 64-byte lines), so producer and consumer never write the same line.
    public const int RingTail = 0;             // u64 byte position, written by the producer only
    public const int RingHead = 128;           // u64 byte position, written by the consumer only
    public const int RingConsumerSleeping = 256; // u32, consumer sets 1 before parking; the producer signals when it sees 1
    public const int RingProducerWaiting = 384;  // u32, producer sets 1 when the ring is full; the consumer signals when it sees 1
    public const int RingControlSize = 512;

    // Records: a 16-byte header, then the payload; every record starts 16-byte aligned, so a
    // wrap always leaves room for a padding record's header.
    public const int RecordHeaderSize = 16;
    public const int RecordLength = 0;       // u32 payload bytes
    public const int RecordKind = 4;         // u16, one of Kind*
    public const int RecordRoute = 6;        // u16 route id (requests)
    public const int RecordRequestId = 8;    // u64

    public const ushort KindRequest = 1;
    public const ushort KindResponse = 2;
    public const ushort KindError = 3;       // payload: i32 status a handler or a pull reply chose
    public const ushort KindPadding = 4;     // skip to the ring's end
    public const ushort KindServerError = 5; // payload: i32 status of the server's own refusal (unknown route, shutdown, no memory)

    /// <summary>Bytes of an error record's payload (its i32 status).</summary>
    public const uint ErrorPayloadSize = 4;

    /// <summary>True for both error kinds: a 4-byte status instead of a payload.</summary>
    public static bool IsError(ushort kind) => kind is KindError or KindServerError;

    public const uint MinRingSize = 4096;
    public const uint MaxRingSize = 1u << 30;
    public const int MaxRoutes = 4096;

    public readonly uint RingSize;
    public readonly int RouteCount;
    public readonly long RouteTableOffset;
    public readonly long ControlOffset;
    public readonly long RequestDataOffset;
    public readonly long ResponseDataOffset;
    public readonly long TotalSize;

    private IpcLayout(uint ringSize, int routeCount)
    {
        RingSize = ringSize;
        RouteCount = routeCount;
        RouteTableOffset = PageSize;
        long routeBytes = ((long)routeCount * RouteEntrySize + PageSize - 1) / PageSize * PageSize;
        ControlOffset = RouteTableOffset + routeBytes;
        RequestDataOffset = ControlOffset + PageSize;
        ResponseDataOffset = RequestDataOffset + ringSize;
        TotalSize = ResponseDataOffset + ringSize;
    }

    /// <summary>The layout for these sizes; false when they are out of range (a hostile or broken peer).</summary>
    public static bool Of(uint ringSize, uint routeCount, out IpcLayout layout)
    {
        layout = default;
        if (ringSize < MinRingSize || ringSize > MaxRingSize || (ringSize & (ringSize - 1)) != 0) return false;
        if (routeCount > MaxRoutes) return false;
        layout = new IpcLayout(ringSize, (int)routeCount);
        return true;
    }

    /// <summary>Bytes a record with <paramref name="payload"/> bytes occupies in a ring.</summary>
    public static ulong RecordSize(uint payload) => ((ulong)payload + RecordHeaderSize + 15) & ~15UL;

    /// <summary>The largest payload a ring of this size can carry in one record.</summary>
    public static uint MaxPayloadFor(uint ringSize) => ringSize - RecordHeaderSize;
}

/// <summary>
/// The message the server sends on the control socket right after accepting, with the memfd and
/// the read end of the client's doorbell pipe attached (SCM_RIGHTS, in that order), or alone with
/// a refusal status. After it, the socket carries only the client's one-byte wake-ups for the
/// server (<see cref="SocketDoorbell"/>); the server wakes the client through the pipe
/// (<see cref="PipeDoorbell"/>).
/// </summary>
internal struct Welcome
{
    public uint Magic;
    public uint Version;
    public int Status;
    public uint RingSize;
    public uint MaxMessage;
    public uint RouteCount;
    public ulong ConnectionId;
    public uint SpinMicroseconds;
    public uint Reserved0;
    public ulong Reserved1;
    public ulong Reserved2;
    public ulong Reserved3;
}
