using System;

namespace NativePools.Tests.Support;

/// <summary>
/// Picks the size of a stress scenario: the CI size by default, the full size when the
/// environment variable NP_STRESS is "full". Sizes change how much work a test does, never
/// what it asserts.
/// </summary>
public static class StressSize
{
    /// <summary>True when NP_STRESS=full asks for the full sizes.</summary>
    public static bool Full { get; } =
        string.Equals(Environment.GetEnvironmentVariable("NP_STRESS"), "full", StringComparison.OrdinalIgnoreCase);

    /// <summary><paramref name="ci"/> normally, <paramref name="full"/> under NP_STRESS=full.</summary>
    public static int Pick(int ci, int full) => Full ? full : ci;
}
