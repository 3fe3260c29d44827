using NativePools.Platform.Linux;

namespace NativePools.Ipc;

/// <summary>
/// A private eventfd that wakes a thread of this process (a worker taking a new connection or a
/// pull reply, the control thread when the server stops). It never leaves the process: a peer
/// holding it could clear O_NONBLOCK, fill its counter or drain it. Peers are woken through their
/// connection's socket instead (see <see cref="SocketDoorbell"/>).
/// </summary>
internal static unsafe class Doorbell
{
    /// <summary>A non-blocking, close-on-exec eventfd, or -1.</summary>
    public static int Create() => Libc.EventFd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);

    public static void Ring(int fd)
    {
        ulong one = 1;
        Libc.Write(fd, &one, 8);
    }

    /// <summary>Resets the counter so the next poll waits again.</summary>
    public static void Drain(int fd)
    {
        ulong value;
        Libc.Read(fd, &value, 8);
    }
}
