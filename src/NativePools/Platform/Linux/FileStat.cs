using System.Runtime.InteropServices;

namespace NativePools.Platform.Linux;

/// <summary>The three fields of struct stat the IPC core reads (offsets differ between x86-64 and the generic arm64 layout).</summary>
internal readonly unsafe struct FileStat
{
    private static readonly bool X64 = RuntimeInformation.ProcessArchitecture == Architecture.X64;

    public readonly uint Mode;
    public readonly uint Uid;
    public readonly long Size;

    private FileStat(byte* buffer)
    {
        Mode = *(uint*)(buffer + (X64 ? 24 : 16));
        Uid = *(uint*)(buffer + (X64 ? 28 : 24));
        Size = *(long*)(buffer + 48);
    }

    /// <summary>fstat; false with errno set when it fails.</summary>
    public static bool OfFd(int fd, out FileStat stat)
    {
        byte* buffer = stackalloc byte[256];
        bool ok = Libc.Fstat(fd, buffer) == 0;
        stat = ok ? new FileStat(buffer) : default;
        return ok;
    }

    /// <summary>stat of a NUL-terminated path; false with errno set when it fails.</summary>
    public static bool OfPath(byte* path, out FileStat stat)
    {
        byte* buffer = stackalloc byte[256];
        bool ok = Libc.Stat(path, buffer) == 0;
        stat = ok ? new FileStat(buffer) : default;
        return ok;
    }

    public bool IsDirectory => (Mode & 0xF000) == 0x4000;

    public bool IsFifo => (Mode & 0xF000) == 0x1000;

    /// <summary>Permission bits (0777 part).</summary>
    public uint Permissions => Mode & 0x1FF;
}
