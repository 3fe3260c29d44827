using NUnit.Framework;
using static NativePools.Tests.Native.NativeApi;

namespace NativePools.Tests.Native;

/// <summary>Creating a preset pool through the raw C API, asserting each step, for tests that need one.</summary>
internal static unsafe class NativePresetPools
{
    /// <summary>A new pool of <paramref name="preset"/> (an NP_POOL_PRESET_* value), optionally named and flagged.</summary>
    public static ulong Create(int preset, string? name = null, uint flags = 0)
    {
        NpPoolOptions o;
        Assert.That(np_pool_options_preset(&o, preset), Is.Zero, "np_pool_options_preset");
        o.flags = flags;
        byte[]? utf8 = name is null ? null : System.Text.Encoding.UTF8.GetBytes(name + "\0");
        ulong pool;
        fixed (byte* n = utf8)
        {
            o.name = n;
            Assert.That(np_pool_create(&o, &pool), Is.Zero, "np_pool_create");
        }
        Assert.That(pool, Is.Not.Zero, "0 is never a valid handle");
        return pool;
    }
}
