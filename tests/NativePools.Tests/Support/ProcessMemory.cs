using System;
using System.IO;

namespace NativePools.Tests.Support;

/// <summary>Reads this process's resident set size from /proc/self/statm.</summary>
public static class ProcessMemory
{
    /// <summary>Resident bytes right now.</summary>
    public static long ResidentBytes()
    {
        // statm: size resident shared text lib data dt, in pages.
        string[] fields = File.ReadAllText("/proc/self/statm").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return long.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) * Environment.SystemPageSize;
    }
}
