using System;
using NativePools.Diagnostics;

namespace NativePools.Ipc;

/// <summary>How a server is shaped. Defaults suit a few hundred clients with messages up to 1 MiB.</summary>
public sealed class IpcServerOptions
{
    /// <summary>A filesystem socket path (its directory must be private, 0700) or "@name" for the abstract namespace.</summary>
    public string? Address { get; set; }
    /// <summary>Bytes of each ring (one per direction per connection), a power of two; 0 picks one that holds two maximum messages.</summary>
    public uint RingSize { get; set; }
    /// <summary>Largest request or response payload, at least 4 bytes (an error answer's status); 0 picks 1 MiB.</summary>
    public uint MaxMessageSize { get; set; }
    /// <summary>Most connections at once; 0 picks 1024. Further clients are refused with <see cref="NpStatus.ServerFull"/>.</summary>
    public int MaxClients { get; set; }
    /// <summary>Threads that serve connections (each owns a share of them); 0 picks 1.</summary>
    public int WorkerThreads { get; set; }
    /// <summary>Connections without a request for this long are closed; 0 never.</summary>
    public uint IdleTimeoutMs { get; set; }
    /// <summary>How long a waiting side spins before it parks; 0 picks 200 µs. Told to clients at connect. It must exceed the time a parked thread takes to wake (tens of µs on small VMs), or both sides fall into park/wake convoys.</summary>
    public uint SpinMicroseconds { get; set; }
    /// <summary>Most pull-mode requests received and not yet replied to; 0 picks 4096. Beyond it requests wait in their rings.</summary>
    public int MaxPending { get; set; }
    /// <summary>Most pull-mode requests one client may have pending; 0 picks the smaller of 256 and MaxPending. Beyond it its requests wait in its ring.</summary>
    public int MaxClientPending { get; set; }
    /// <summary>Most payload bytes of pull-mode requests one client may have pending (one request always fits); 0 picks 16 MiB.</summary>
    public long MaxClientPendingBytes { get; set; }
    /// <summary>Peer uids allowed to connect besides the server's own; null or empty: only the server's own uid.</summary>
    public uint[]? AllowedUids { get; set; }
    /// <summary>A name for diagnostics.</summary>
    public string? Name { get; set; }

    /// <summary>Default largest message (1 MiB).</summary>
    public const uint DefaultMaxMessageSize = 1u << 20;
    /// <summary>Default most connections.</summary>
    public const int DefaultMaxClients = 1024;
    /// <summary>Default spin before parking, µs.</summary>
    public const uint DefaultSpinMicroseconds = 200;
    /// <summary>Default most pending pull requests.</summary>
    public const int DefaultMaxPending = 4096;
    /// <summary>Default most pending pull requests of one client (at most MaxPending).</summary>
    public const int DefaultMaxClientPending = 256;
    /// <summary>Default most pending pull-request bytes of one client.</summary>
    public const long DefaultMaxClientPendingBytes = 16L << 20;
    /// <summary>Largest max_message_size (16 MiB): every message fits one buffer of the server's message pool.</summary>
    public const uint MaxMessageSizeLimit = Messages.MessagePoolOptions.MaxClassSize;
    /// <summary>Most worker threads a server may ask for.</summary>
    public const int MaxWorkerThreads = 64;
    /// <summary>Most clients a server may allow.</summary>
    public const int MaxClientsLimit = 65536;

    /// <summary>A copy with every 0 replaced by its default, or a failure status naming the bad field.</summary>
    internal NpStatus Resolve(out IpcServerOptions resolved)
    {
        resolved = (IpcServerOptions)MemberwiseClone();
        uint maxMessage = MaxMessageSize == 0 ? DefaultMaxMessageSize : MaxMessageSize;
        if (maxMessage > MaxMessageSizeLimit)
            return LastError.Set(NpStatus.InvalidArgument, "max_message_size {0} is above the limit {1}", maxMessage, MaxMessageSizeLimit);
        // An error answer is a 4-byte status record: a smaller maximum could not carry it.
        if (maxMessage < IpcLayout.ErrorPayloadSize)
            return LastError.Set(NpStatus.InvalidArgument, "max_message_size {0} is below {1} bytes, the size of an error answer", maxMessage, IpcLayout.ErrorPayloadSize);
        uint ring = RingSize;
        if (ring == 0)
        {
            ring = IpcLayout.MinRingSize;
            while (ring < 2 * IpcLayout.RecordSize(maxMessage)) ring <<= 1;
        }
        if (ring < IpcLayout.MinRingSize || ring > IpcLayout.MaxRingSize || (ring & (ring - 1)) != 0)
            return LastError.Set(NpStatus.InvalidArgument, "ring_size {0} must be a power of two from 4096 to 2^30", ring);
        if (IpcLayout.RecordSize(maxMessage) > ring)
            return LastError.Set(NpStatus.InvalidArgument, "ring_size {0} cannot hold one message of max_message_size {1} (+16 bytes of header)", ring, maxMessage);
        int maxClients = MaxClients == 0 ? DefaultMaxClients : MaxClients;
        if (maxClients < 0 || maxClients > MaxClientsLimit)
            return LastError.Set(NpStatus.InvalidArgument, "max_clients {0} is out of range 1..{1}", maxClients, MaxClientsLimit);
        int workers = WorkerThreads == 0 ? 1 : WorkerThreads;
        if (workers < 0 || workers > MaxWorkerThreads)
            return LastError.Set(NpStatus.InvalidArgument, "worker_threads {0} is out of range 1..{1}", workers, MaxWorkerThreads);
        int maxPending = MaxPending == 0 ? DefaultMaxPending : MaxPending;
        if (maxPending < 0 || maxPending > (1 << 22))
            return LastError.Set(NpStatus.InvalidArgument, "max_pending {0} is out of range 1..{1}", maxPending, 1 << 22);
        int maxClientPending = MaxClientPending == 0 ? Math.Min(DefaultMaxClientPending, maxPending) : MaxClientPending;
        if (maxClientPending < 0)
            return LastError.Set(NpStatus.InvalidArgument, "max_client_pending {0} is negative", maxClientPending);
        long maxClientBytes = MaxClientPendingBytes == 0 ? DefaultMaxClientPendingBytes : MaxClientPendingBytes;
        if (maxClientBytes < 0)
            return LastError.Set(NpStatus.InvalidArgument, "max_client_pending_bytes {0} is negative", maxClientBytes);
        if (SpinMicroseconds > 1_000_000)
            return LastError.Set(NpStatus.InvalidArgument, "spin_us {0} is above one second", SpinMicroseconds);
        resolved.MaxMessageSize = maxMessage;
        resolved.RingSize = ring;
        resolved.MaxClients = maxClients;
        resolved.WorkerThreads = workers;
        resolved.MaxPending = maxPending;
        resolved.MaxClientPending = maxClientPending;
        resolved.MaxClientPendingBytes = maxClientBytes;
        resolved.SpinMicroseconds = SpinMicroseconds == 0 ? DefaultSpinMicroseconds : SpinMicroseconds;
        resolved.AllowedUids = AllowedUids is null ? Array.Empty<uint>() : (uint[])AllowedUids.Clone();
        return ControlSocket.ParseAddress(Address, out _, out _, out _);
    }
}

/// <summary>
/// A route's request handler for in-process (C#) servers: read the request, write up to
/// response.Length bytes, set the length. Return Ok to send the response, an error to send it as the call's failure.
/// </summary>
public delegate NpStatus IpcRequestHandler(uint routeId, ReadOnlySpan<byte> request, Span<byte> response, out int responseLength);
