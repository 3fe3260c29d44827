using NativePools.Platform.Linux;

namespace NativePools.Ipc;

/// <summary>
/// The server's doorbell of one client: a pipe the server writes and the client polls. The write
/// end never leaves the server, so nothing the client does can make a ring block: the server's
/// write end has O_NONBLOCK on its own open file description, a full pipe (EAGAIN) already holds
/// an unread wake-up, and the server keeps a read end open, so a ring after the client's death
/// finds a reader and never raises SIGPIPE. The client reads its end with RWF_NOWAIT, which does
/// not block whatever the server did to the read end they share (cleared O_NONBLOCK, drained it).
/// A pipe write costs about what an eventfd write does, and a drain takes every pending wake-up in
/// one read; a socket's send allocates a buffer per ring and costs several times more.
/// </summary>
internal static unsafe class PipeDoorbell
{
    /// <summary>
    /// A non-blocking, close-on-exec pipe: [0] the read end, [1] the write end, shrunk to one page
    /// (a client that never drains holds at most that much kernel memory). False with errno set
    /// when it fails.
    /// </summary>
    public static bool Create(int* ends)
    {
        if (Libc.Pipe2(ends, Libc.O_NONBLOCK | Libc.O_CLOEXEC) != 0) return false;
        Libc.Fcntl(ends[1], Libc.F_SETPIPE_SZ, 4096); // best effort: the default size works too
        return true;
    }

    /// <summary>Server: wakes the client. Never blocks.</summary>
    public static void Ring(int writeEnd)
    {
        byte one = 1;
        Libc.Write(writeEnd, &one, 1);
    }

    /// <summary>
    /// Client: takes the pending wake-ups (up to 64, one read; more keep the pipe readable and the
    /// next wait takes them). RWF_NOWAIT makes it non-blocking whatever the read end's flags; on a
    /// kernel whose pipes lack RWF_NOWAIT it falls back to read(), which can block only if the
    /// server itself both cleared O_NONBLOCK and drained the pipe.
    /// </summary>
    public static void Take(int readEnd)
    {
        byte* buffer = stackalloc byte[64];
        Libc.IoVec iov = new() { iov_base = buffer, iov_len = 64 };
        if (Libc.PReadV2(readEnd, &iov, 1, -1, Libc.RWF_NOWAIT) >= 0) return;
        int errno = Libc.Errno;
        if (errno is Libc.EOPNOTSUPP or Libc.ENOSYS) Libc.Read(readEnd, buffer, 64);
    }
}
