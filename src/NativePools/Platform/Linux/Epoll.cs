using System;
using System.Runtime.InteropServices;

namespace NativePools.Platform.Linux;

/// <summary>
/// One epoll instance with a preallocated event buffer, so waiting allocates nothing.
/// struct epoll_event is packed (12 bytes) on x86-64 and 16 bytes elsewhere.
/// </summary>
internal sealed unsafe class Epoll : IDisposable
{
    private static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int DataOffset = EventSize == 12 ? 4 : 8;

    private readonly int _fd;
    private readonly byte* _events;
    private readonly int _capacity;

    private Epoll(int fd, int capacity)
    {
        _fd = fd;
        _capacity = capacity;
        _events = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * EventSize));
    }

    /// <summary>Creates an epoll instance; null when the kernel refuses (errno in LastError by the caller).</summary>
    public static Epoll? Create(int capacity)
    {
        int fd = Libc.EpollCreate1(Libc.EPOLL_CLOEXEC);
        return fd < 0 ? null : new Epoll(fd, capacity);
    }

    /// <summary>Watches <paramref name="fd"/> for <paramref name="events"/>; <paramref name="data"/> comes back with each event.</summary>
    public bool Add(int fd, uint events, ulong data)
    {
        byte* e = stackalloc byte[16];
        *(uint*)e = events;
        *(ulong*)(e + DataOffset) = data;
        return Libc.EpollCtl(_fd, Libc.EPOLL_CTL_ADD, fd, e) == 0;
    }

    /// <summary>Stops watching <paramref name="fd"/> (closing it would too, but only once every duplicate is closed).</summary>
    public void Remove(int fd)
    {
        byte* e = stackalloc byte[16];
        Libc.EpollCtl(_fd, Libc.EPOLL_CTL_DEL, fd, e);
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/>; returns the number of ready events (0 on timeout or EINTR).</summary>
    public int Wait(int timeoutMs)
    {
        int n = Libc.EpollWait(_fd, _events, _capacity, timeoutMs);
        return n < 0 ? 0 : n;
    }

    public uint EventsAt(int index) => *(uint*)(_events + index * EventSize);

    public ulong DataAt(int index) => *(ulong*)(_events + index * EventSize + DataOffset);

    public void Dispose()
    {
        Libc.Close(_fd);
        NativeMemory.Free(_events);
    }
}
