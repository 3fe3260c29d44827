using NativePools.Platform.Linux;

namespace NativePools.Ipc;

/// <summary>
/// An eventfd used to wake a parked peer. Ringing costs a syscall, so senders ring only when
/// the peer's sleeping flag says it parked (see <see cref="RingWriter"/> and <see cref="RingReader"/>).
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
