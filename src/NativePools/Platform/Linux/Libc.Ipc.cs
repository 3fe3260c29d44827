using System.Runtime.InteropServices;

namespace NativePools.Platform.Linux;

// The libc calls of the IPC core: Unix-domain sockets with SCM_RIGHTS, memfd with seals,
// pipes and eventfds (wake-ups), epoll and poll. Linux only (x86-64 and arm64 layouts where they differ).
internal static unsafe partial class Libc
{
    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int ENOENT = 2;
    public const int EEXIST = 17;
    public const int ECONNREFUSED = 111;
    public const int EINPROGRESS = 115;
    public const int ENFILE = 23;
    public const int EMFILE = 24;
    public const int EPROTO = 71;
    public const int ECONNABORTED = 103;

    public const int AF_UNIX = 1;
    public const int SOCK_SEQPACKET = 5;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int SOL_SOCKET = 1;
    public const int SO_PEERCRED = 17;
    public const int SCM_RIGHTS = 1;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int MSG_CMSG_CLOEXEC = 0x40000000;
    public const int MSG_CTRUNC = 0x8;
    public const int MSG_TRUNC = 0x20;

    public const int MAP_SHARED = 0x01;
    public const uint MFD_CLOEXEC = 1;
    public const uint MFD_ALLOW_SEALING = 2;
    public const int F_ADD_SEALS = 1033;
    public const int F_GET_SEALS = 1034;
    public const int F_SETPIPE_SZ = 1031;
    public const int F_SEAL_SEAL = 1;
    public const int F_SEAL_SHRINK = 2;
    public const int F_SEAL_GROW = 4;

    public const int O_NONBLOCK = 0x800;
    public const int O_CLOEXEC = 0x80000;
    public const int RWF_NOWAIT = 0x8;
    public const int EOPNOTSUPP = 95;
    public const int ENOSYS = 38;

    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;

    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const uint EPOLLIN = 0x1;
    public const uint EPOLLERR = 0x8;
    public const uint EPOLLHUP = 0x10;
    public const uint EPOLLRDHUP = 0x2000;

    public const short POLLIN = 0x1;
    public const short POLLERR = 0x8;
    public const short POLLHUP = 0x10;
    public const short POLLNVAL = 0x20;
    public const short POLLRDHUP = 0x2000;

    public const int RLIMIT_NOFILE = 7;

    [StructLayout(LayoutKind.Sequential)]
    public struct SockaddrUn
    {
        public ushort sun_family;
        public fixed byte sun_path[108];
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* iov_base;
        public nuint iov_len;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* msg_name;
        public uint msg_namelen;
        public IoVec* msg_iov;
        public nuint msg_iovlen;
        public void* msg_control;
        public nuint msg_controllen;
        public int msg_flags;
    }

    /// <summary>struct cmsghdr; the data follows at offset 16 on 64-bit Linux.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct CmsgHdr
    {
        public nuint cmsg_len;
        public int cmsg_level;
        public int cmsg_type;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct UCred
    {
        public int pid;
        public uint uid;
        public uint gid;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int fd;
        public short events;
        public short revents;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct RLimit
    {
        public ulong rlim_cur;
        public ulong rlim_max;
    }

    [DllImport(Lib, EntryPoint = "socket", SetLastError = true)]
    public static extern int Socket(int domain, int type, int protocol);

    [DllImport(Lib, EntryPoint = "bind", SetLastError = true)]
    public static extern int Bind(int fd, SockaddrUn* address, uint length);

    [DllImport(Lib, EntryPoint = "listen", SetLastError = true)]
    public static extern int Listen(int fd, int backlog);

    [DllImport(Lib, EntryPoint = "accept4", SetLastError = true)]
    public static extern int Accept4(int fd, void* address, uint* length, int flags);

    [DllImport(Lib, EntryPoint = "connect", SetLastError = true)]
    public static extern int Connect(int fd, SockaddrUn* address, uint length);

    [DllImport(Lib, EntryPoint = "sendmsg", SetLastError = true)]
    public static extern nint SendMsg(int fd, MsgHdr* message, int flags);

    [DllImport(Lib, EntryPoint = "recvmsg", SetLastError = true)]
    public static extern nint RecvMsg(int fd, MsgHdr* message, int flags);

    [DllImport(Lib, EntryPoint = "send", SetLastError = true)]
    public static extern nint Send(int fd, void* buffer, nuint length, int flags);

    [DllImport(Lib, EntryPoint = "recv", SetLastError = true)]
    public static extern nint Recv(int fd, void* buffer, nuint length, int flags);

    [DllImport(Lib, EntryPoint = "getsockopt", SetLastError = true)]
    public static extern int GetSockOpt(int fd, int level, int name, void* value, uint* length);

    [DllImport(Lib, EntryPoint = "close", SetLastError = true)]
    public static extern int Close(int fd);

    [DllImport(Lib, EntryPoint = "read", SetLastError = true)]
    public static extern nint Read(int fd, void* buffer, nuint count);

    [DllImport(Lib, EntryPoint = "write", SetLastError = true)]
    public static extern nint Write(int fd, void* buffer, nuint count);

    [DllImport(Lib, EntryPoint = "pipe2", SetLastError = true)]
    public static extern int Pipe2(int* fds, int flags);

    [DllImport(Lib, EntryPoint = "preadv2", SetLastError = true)]
    public static extern nint PReadV2(int fd, IoVec* iov, int count, long offset, int flags);

    [DllImport(Lib, EntryPoint = "memfd_create", SetLastError = true)]
    public static extern int MemfdCreate(byte* name, uint flags);

    [DllImport(Lib, EntryPoint = "ftruncate", SetLastError = true)]
    public static extern int Ftruncate(int fd, long length);

    [DllImport(Lib, EntryPoint = "fcntl", SetLastError = true)]
    public static extern int Fcntl(int fd, int command, int argument);

    [DllImport(Lib, EntryPoint = "fstat", SetLastError = true)]
    public static extern int Fstat(int fd, byte* statBuffer);

    [DllImport(Lib, EntryPoint = "stat", SetLastError = true)]
    public static extern int Stat(byte* path, byte* statBuffer);

    [DllImport(Lib, EntryPoint = "mkdir", SetLastError = true)]
    public static extern int Mkdir(byte* path, uint mode);

    [DllImport(Lib, EntryPoint = "unlink", SetLastError = true)]
    public static extern int Unlink(byte* path);

    [DllImport(Lib, EntryPoint = "geteuid")]
    public static extern uint GetEuid();

    [DllImport(Lib, EntryPoint = "eventfd", SetLastError = true)]
    public static extern int EventFd(uint initial, int flags);

    [DllImport(Lib, EntryPoint = "epoll_create1", SetLastError = true)]
    public static extern int EpollCreate1(int flags);

    [DllImport(Lib, EntryPoint = "epoll_ctl", SetLastError = true)]
    public static extern int EpollCtl(int epfd, int op, int fd, byte* eventBuffer);

    [DllImport(Lib, EntryPoint = "epoll_wait", SetLastError = true)]
    public static extern int EpollWait(int epfd, byte* events, int maxEvents, int timeoutMs);

    [DllImport(Lib, EntryPoint = "poll", SetLastError = true)]
    public static extern int Poll(PollFd* fds, nuint count, int timeoutMs);

    [DllImport(Lib, EntryPoint = "getrlimit", SetLastError = true)]
    public static extern int GetRlimit(int resource, RLimit* limit);

    [DllImport(Lib, EntryPoint = "setrlimit", SetLastError = true)]
    public static extern int SetRlimit(int resource, RLimit* limit);

    /// <summary>errno of the last failed call above.</summary>
    public static int Errno => Marshal.GetLastPInvokeError();
}
