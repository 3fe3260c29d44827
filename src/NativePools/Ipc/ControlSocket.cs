using System;
using System.Text;
using System.Threading;
using NativePools.Diagnostics;
using NativePools.Platform.Linux;

namespace NativePools.Ipc;

/// <summary>
/// The Unix-domain control socket (SOCK_SEQPACKET: message boundaries, and a hang-up the other
/// side sees at once when this side dies). It carries one message from the server, the welcome
/// with the memfd and the client's doorbell pipe attached, then stays open for the connection's
/// life: its hang-up is the liveness signal, and one-byte messages from the client on it are the
/// server's doorbell (each side uses only its own end, see <see cref="SocketDoorbell"/>).
/// </summary>
internal static unsafe class ControlSocket
{
    /// <summary>
    /// Parses an address: "@name" is the abstract namespace (no file, vanishes with the socket);
    /// anything else is a filesystem path whose directory must be private to its owner (0700).
    /// </summary>
    public static NpStatus ParseAddress(string? address, out Libc.SockaddrUn sockaddr, out uint length, out string? path)
    {
        sockaddr = default;
        length = 0;
        path = null;
        if (string.IsNullOrEmpty(address) || address == "@")
            return LastError.Set(NpStatus.InvalidArgument, "the address is empty: give a socket path or an abstract name starting with '@'");
        byte[] bytes = Encoding.UTF8.GetBytes(address);
        if (bytes.Length > 107 || Array.IndexOf(bytes, (byte)0) >= 0)
            return LastError.Set(NpStatus.InvalidArgument, "the address '{s}' is longer than 107 bytes or contains NUL", subject: address);
        sockaddr.sun_family = Libc.AF_UNIX;
        fixed (byte* p = sockaddr.sun_path)
        {
            if (bytes[0] == (byte)'@')
            {
                p[0] = 0; // abstract namespace: leading NUL, no terminator, length counts the name exactly
                for (int i = 1; i < bytes.Length; i++) p[i] = bytes[i];
                length = (uint)(2 + bytes.Length);
            }
            else
            {
                for (int i = 0; i < bytes.Length; i++) p[i] = bytes[i];
                p[bytes.Length] = 0;
                length = (uint)(2 + bytes.Length + 1);
                path = address;
            }
        }
        return NpStatus.Ok;
    }

    /// <summary>
    /// Makes sure the socket's directory exists, is a directory owned by us and is closed to
    /// group and others (created 0700 when missing): the only way in is then our own uid.
    /// </summary>
    public static NpStatus EnsurePrivateDirectory(string path)
    {
        int slash = path.LastIndexOf('/');
        string directory = slash < 0 ? "." : slash == 0 ? "/" : path[..slash];
        byte[] dir = Encoding.UTF8.GetBytes(directory + "\0");
        fixed (byte* d = dir)
        {
            if (!FileStat.OfPath(d, out FileStat stat))
            {
                if (Libc.Errno != Libc.ENOENT)
                    return LastError.Set(NpStatus.IoError, "cannot stat the socket directory '{s}' (errno {0})", Libc.Errno, subject: directory);
                if (Libc.Mkdir(d, Convert.ToUInt32("700", 8)) != 0 && Libc.Errno != Libc.EEXIST)
                    return LastError.Set(NpStatus.IoError, "cannot create the socket directory '{s}' (errno {0})", Libc.Errno, subject: directory);
                if (!FileStat.OfPath(d, out stat))
                    return LastError.Set(NpStatus.IoError, "cannot stat the socket directory '{s}' (errno {0})", Libc.Errno, subject: directory);
            }
            if (!stat.IsDirectory)
                return LastError.Set(NpStatus.InvalidArgument, "'{s}' is not a directory", subject: directory);
            if (stat.Uid != Libc.GetEuid() || (stat.Permissions & 0x3F) != 0)
                return LastError.Set(NpStatus.PermissionDenied,
                    "the socket directory '{s}' must be owned by this user with mode 0700 (others could reach the socket); use a private directory or an '@abstract' name", subject: directory);
        }
        return NpStatus.Ok;
    }

    /// <summary>A listening socket bound to the address, or -1 with the failure recorded.</summary>
    public static int Listen(string address, out string? path, out NpStatus status)
    {
        status = ParseAddress(address, out Libc.SockaddrUn sockaddr, out uint length, out path);
        if (status != NpStatus.Ok) return -1;
        if (path is not null && (status = EnsurePrivateDirectory(path)) != NpStatus.Ok) return -1;
        int fd = Libc.Socket(Libc.AF_UNIX, Libc.SOCK_SEQPACKET | Libc.SOCK_CLOEXEC | Libc.SOCK_NONBLOCK, 0);
        if (fd < 0)
        {
            status = LastError.Set(NpStatus.IoError, "socket() failed (errno {0})", Libc.Errno);
            return -1;
        }
        if (path is not null)
        {
            // A stale socket file from a dead server would make bind fail; the directory is ours.
            byte[] p = Encoding.UTF8.GetBytes(path + "\0");
            fixed (byte* pp = p) Libc.Unlink(pp);
        }
        if (Libc.Bind(fd, &sockaddr, length) != 0 || Libc.Listen(fd, 4096) != 0)
        {
            int errno = Libc.Errno;
            Libc.Close(fd);
            status = LastError.Set(errno == 98 ? NpStatus.AddressInUse : NpStatus.IoError,
                "cannot listen on '{s}' (errno {0})", errno, subject: address);
            return -1;
        }
        return fd;
    }

    /// <summary>The uid of the process at the other end.</summary>
    public static bool PeerUid(int fd, out uint uid)
    {
        Libc.UCred cred;
        uint size = (uint)sizeof(Libc.UCred);
        bool ok = Libc.GetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_PEERCRED, &cred, &size) == 0;
        uid = cred.uid;
        return ok;
    }

    /// <summary>Sends the welcome with <paramref name="fdCount"/> descriptors attached. Never blocks (a fresh socket has room).</summary>
    public static bool SendWelcome(int socket, in Welcome welcome, int* fds, int fdCount)
    {
        Welcome copy = welcome;
        Libc.IoVec iov = new() { iov_base = &copy, iov_len = (nuint)sizeof(Welcome) };
        byte* control = stackalloc byte[64];
        new Span<byte>(control, 64).Clear();
        Libc.MsgHdr message = new() { msg_iov = &iov, msg_iovlen = 1 };
        if (fdCount > 0)
        {
            var header = (Libc.CmsgHdr*)control;
            header->cmsg_len = (nuint)(16 + 4 * fdCount);
            header->cmsg_level = Libc.SOL_SOCKET;
            header->cmsg_type = Libc.SCM_RIGHTS;
            for (int i = 0; i < fdCount; i++) ((int*)(control + 16))[i] = fds[i];
            message.msg_control = control;
            message.msg_controllen = (nuint)((16 + 4 * fdCount + 7) & ~7);
        }
        return Libc.SendMsg(socket, &message, Libc.MSG_NOSIGNAL | Libc.MSG_DONTWAIT) == sizeof(Welcome);
    }

    /// <summary>
    /// Receives the welcome and up to <paramref name="maxFds"/> descriptors (any extra ones, or
    /// any the kernel truncated, are closed). Returns false on a short or malformed message;
    /// <paramref name="rightsTruncated"/> then says whether the kernel dropped descriptors
    /// (MSG_CTRUNC: this process has no descriptor left to receive them in).
    /// </summary>
    public static bool ReceiveWelcome(int socket, out Welcome welcome, int* fds, int maxFds, out int fdCount, out bool rightsTruncated)
    {
        Welcome w = default;
        fdCount = 0;
        rightsTruncated = false;
        Libc.IoVec iov = new() { iov_base = &w, iov_len = (nuint)sizeof(Welcome) };
        byte* control = stackalloc byte[128];
        new Span<byte>(control, 128).Clear();
        Libc.MsgHdr message = new() { msg_iov = &iov, msg_iovlen = 1, msg_control = control, msg_controllen = 128 };
        nint received = Libc.RecvMsg(socket, &message, Libc.MSG_CMSG_CLOEXEC | Libc.MSG_DONTWAIT);
        welcome = w;
        if (received < 0) return false;
        rightsTruncated = (message.msg_flags & Libc.MSG_CTRUNC) != 0;
        // Walk the control messages; keep SCM_RIGHTS descriptors, close any beyond maxFds.
        byte* cursor = control;
        byte* end = control + message.msg_controllen;
        while (cursor + 16 <= end)
        {
            var header = (Libc.CmsgHdr*)cursor;
            nuint length = header->cmsg_len;
            if (length < 16 || cursor + length > end) break;
            if (header->cmsg_level == Libc.SOL_SOCKET && header->cmsg_type == Libc.SCM_RIGHTS)
            {
                int count = (int)((length - 16) / 4);
                for (int i = 0; i < count; i++)
                {
                    int fd = ((int*)(cursor + 16))[i];
                    if (fdCount < maxFds) fds[fdCount++] = fd;
                    else Libc.Close(fd);
                }
            }
            cursor += (length + 7) & ~(nuint)7;
        }
        return received == sizeof(Welcome) && (message.msg_flags & (Libc.MSG_TRUNC | Libc.MSG_CTRUNC)) == 0;
    }

    /// <summary>
    /// Connects to a listening server, retrying while it is not there yet (no socket, refused,
    /// backlog full) until <paramref name="deadline"/> (Environment.TickCount64 ms).
    /// </summary>
    public static int Connect(string address, long deadline, out NpStatus status)
    {
        status = ParseAddress(address, out Libc.SockaddrUn sockaddr, out uint length, out _);
        if (status != NpStatus.Ok) return -1;
        int delay = 1;
        while (true)
        {
            int fd = Libc.Socket(Libc.AF_UNIX, Libc.SOCK_SEQPACKET | Libc.SOCK_CLOEXEC | Libc.SOCK_NONBLOCK, 0);
            if (fd < 0)
            {
                int failed = Libc.Errno;
                status = failed is Libc.EMFILE or Libc.ENFILE
                    ? LastError.Set(NpStatus.IoError, "no file descriptor left for the connection's socket (errno {0}: this process's RLIMIT_NOFILE or the system's file table is full)", failed)
                    : LastError.Set(NpStatus.IoError, "socket() failed (errno {0})", failed);
                return -1;
            }
            if (Libc.Connect(fd, &sockaddr, length) == 0) return fd;
            int errno = Libc.Errno;
            Libc.Close(fd);
            bool retry = errno is Libc.ENOENT or Libc.ECONNREFUSED or Libc.EAGAIN or Libc.EINTR;
            if (!retry)
            {
                status = LastError.Set(errno == 13 ? NpStatus.PermissionDenied : NpStatus.IoError,
                    "cannot connect to '{s}' (errno {0})", errno, subject: address);
                return -1;
            }
            if (Environment.TickCount64 >= deadline)
            {
                status = LastError.Set(NpStatus.Timeout, "no server accepted on '{s}' in time (last errno {0})", errno, subject: address);
                return -1;
            }
            Thread.Sleep(delay);
            delay = Math.Min(delay * 2, 20);
        }
    }

    /// <summary>Waits until the socket is readable or hung up, up to <paramref name="timeoutMs"/>; returns the revents (0 on timeout).</summary>
    public static short WaitReadable(int fd, int timeoutMs)
    {
        Libc.PollFd poll = new() { fd = fd, events = Libc.POLLIN | Libc.POLLRDHUP };
        int n = Libc.Poll(&poll, 1, timeoutMs);
        return n > 0 ? poll.revents : (short)0;
    }
}
