using System.Runtime.InteropServices;

namespace NativePools.Platform.Linux;

/// <summary>
/// The few libc calls the core makes. The NativeAOT build binds them directly at link time
/// (DirectPInvoke in NativePools.Native.csproj), so no dlopen happens at run time.
/// Constants are the Linux values; <see cref="Platform.VirtualMemory"/> picks macOS ones there.
/// </summary>
internal static unsafe partial class Libc
{
    private const string Lib = "libc";

    public const int PROT_NONE = 0;
    public const int PROT_READ = 1;
    public const int PROT_WRITE = 2;

    public const int MAP_PRIVATE = 0x02;
    public const int MAP_ANONYMOUS_LINUX = 0x20;
    public const int MAP_NORESERVE_LINUX = 0x4000;
    public const int MAP_ANONYMOUS_MACOS = 0x1000;

    public const int MADV_DONTNEED = 4;
    public const int MADV_POPULATE_WRITE_LINUX = 23;

    public static readonly nint MAP_FAILED = -1;

    [DllImport(Lib, EntryPoint = "mmap", SetLastError = true)]
    public static extern nint Mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);

    [DllImport(Lib, EntryPoint = "munmap", SetLastError = true)]
    public static extern int Munmap(nint addr, nuint length);

    [DllImport(Lib, EntryPoint = "mprotect", SetLastError = true)]
    public static extern int Mprotect(nint addr, nuint length, int prot);

    [DllImport(Lib, EntryPoint = "madvise", SetLastError = true)]
    public static extern int Madvise(nint addr, nuint length, int advice);

    [DllImport(Lib, EntryPoint = "getpagesize")]
    public static extern int GetPageSize();
}
