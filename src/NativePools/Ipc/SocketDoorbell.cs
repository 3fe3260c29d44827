using NativePools.Platform.Linux;

namespace NativePools.Ipc;

/// <summary>
/// Wakes the server's worker of a connection through the connection's control socket: each side
/// holds its own end (its own open file description), so nothing the peer does to its end can make
/// a ring block or take another connection's wake-ups. The socket (not a pipe) because a send has
/// MSG_NOSIGNAL: a ring after the server's death fails instead of killing the client with SIGPIPE. Ringing sends one byte with MSG_DONTWAIT; a full socket
/// (EAGAIN) already holds an unread wake-up, and a closed one has nobody left to wake. Ringing
/// costs a syscall, so senders ring only when the peer's sleeping flag says it parked (see
/// <see cref="RingWriter"/> and <see cref="RingReader"/>).
/// </summary>
internal static unsafe class SocketDoorbell
{
    public static void Ring(int socket)
    {
        byte one = 1;
        Libc.Send(socket, &one, 1, Libc.MSG_DONTWAIT | Libc.MSG_NOSIGNAL);
    }

    /// <summary>
    /// Takes one wake-up message without blocking (SOCK_SEQPACKET: one message per call; a longer
    /// one is truncated and discarded). Usually one is pending: a producer rings once per park of
    /// its consumer. Any more keep the socket readable, so the next wait returns at once and takes
    /// the next: a peer flooding its socket costs one recv per wait. Returns false at end of file
    /// (the peer hung up; a zero-length message reads the same, and only a hostile peer sends one)
    /// or on an error other than EAGAIN or EINTR: the socket then stays readable for good.
    /// </summary>
    public static bool Take(int socket)
    {
        byte* buffer = stackalloc byte[8];
        nint n = Libc.Recv(socket, buffer, 8, Libc.MSG_DONTWAIT);
        if (n > 0) return true;
        if (n == 0) return false;
        int errno = Libc.Errno;
        return errno == Libc.EAGAIN || errno == Libc.EINTR;
    }
}
