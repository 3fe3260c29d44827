using System;
using System.Runtime.InteropServices;
using NativePools.Platform.Linux;

namespace NativePools.Platform;

/// <summary>
/// Address-space reservation with page-granular commit and decommit. A reservation is
/// PROT_NONE (no commit charge, faults on touch); committing makes pages read/write;
/// decommitting gives the physical pages back and makes the range fault again.
/// </summary>
internal static class VirtualMemory
{
    /// <summary>The OS page size in bytes.</summary>
    public static readonly nuint PageSize = (nuint)Libc.GetPageSize();

    private static readonly bool IsMac = OperatingSystem.IsMacOS();

    /// <summary>Rounds <paramref name="value"/> up to a multiple of the power of two <paramref name="align"/>.</summary>
    public static nuint AlignUp(nuint value, nuint align) => (value + align - 1) & ~(align - 1);

    /// <summary>Rounds <paramref name="value"/> down to a multiple of the power of two <paramref name="align"/>.</summary>
    public static nuint AlignDown(nuint value, nuint align) => value & ~(align - 1);

    /// <summary>
    /// Reserves <paramref name="bytes"/> of address space aligned to <paramref name="alignment"/>
    /// (a power of two, at most a few MiB). Returns 0 when the OS refuses.
    /// </summary>
    public static nint Reserve(nuint bytes, nuint alignment)
    {
        bytes = AlignUp(bytes, PageSize);
        nuint extra = alignment > PageSize ? alignment : 0;
        int flags = Libc.MAP_PRIVATE | (IsMac ? Libc.MAP_ANONYMOUS_MACOS : Libc.MAP_ANONYMOUS_LINUX | Libc.MAP_NORESERVE_LINUX);
        nint raw = Libc.Mmap(0, bytes + extra, Libc.PROT_NONE, flags, -1, 0);
        if (raw == Libc.MAP_FAILED) return 0;
        if (extra == 0) return raw;
        // Over-reserve, then unmap the unaligned head and the tail so the range starts aligned.
        nint aligned = (nint)AlignUp((nuint)raw, alignment);
        nuint head = (nuint)(aligned - raw);
        if (head != 0) Libc.Munmap(raw, head);
        nuint tail = extra - head;
        if (tail != 0) Libc.Munmap(aligned + (nint)bytes, tail);
        return aligned;
    }

    /// <summary>Makes [address, address+bytes) readable and writable. Both must be page aligned.</summary>
    public static bool Commit(nint address, nuint bytes) =>
        Libc.Mprotect(address, bytes, Libc.PROT_READ | Libc.PROT_WRITE) == 0;

    /// <summary>Asks the kernel to fault the committed range in now (Linux 5.14+); false when unsupported.</summary>
    public static bool Prefault(nint address, nuint bytes) =>
        !IsMac && Libc.Madvise(address, bytes, Libc.MADV_POPULATE_WRITE_LINUX) == 0;

    /// <summary>Gives the physical pages back and makes the range inaccessible again.</summary>
    public static bool Decommit(nint address, nuint bytes)
    {
        bool released = Libc.Madvise(address, bytes, Libc.MADV_DONTNEED) == 0;
        return Libc.Mprotect(address, bytes, Libc.PROT_NONE) == 0 && released;
    }

    /// <summary>
    /// Gives the physical pages back (MADV_DONTNEED) but keeps the range mapped read/write: it reads
    /// as zeros afterwards and faults fresh pages in on touch. Unlike <see cref="Decommit"/> it never
    /// splits the mapping, so it can run on thousands of scattered ranges.
    /// </summary>
    public static bool Discard(nint address, nuint bytes) => Libc.Madvise(address, bytes, Libc.MADV_DONTNEED) == 0;

    /// <summary>Returns the whole reservation to the OS.</summary>
    public static void Release(nint address, nuint bytes)
    {
        if (address != 0) Libc.Munmap(address, AlignUp(bytes, PageSize));
    }

    /// <summary>The last OS error number of this thread, for detail messages.</summary>
    public static int LastErrno => Marshal.GetLastPInvokeError();
}
