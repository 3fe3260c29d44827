using NativePools.Pools;
using NUnit.Framework;

namespace NativePools.Tests.Scenarios;

/// <summary>reset_stats and the reuse accounting the scenarios rely on.</summary>
public abstract class StatsScenarios : PoolScenarioFixture
{
    [Test]
    public void ResetStats_ZeroesEventCounters_PeakRestartsFromInUse()
    {
        var pool = CreatePool(new BlockPoolOptions { BlockSize = 40, MaxBlocks = 8 });
        var blocks = new nint[8];
        for (int i = 0; i < blocks.Length; i++) blocks[i] = MustAlloc(pool);
        Assert.That(pool.Alloc(out _), Is.EqualTo(NpStatus.PoolExhausted));
        Assert.That(pool.Free(blocks[0] + 1), Is.EqualTo(NpStatus.MisalignedPointer));
        for (int i = 0; i < 5; i++) MustFree(pool, blocks[i]);

        pool.ResetStats();

        BlockPoolStats reset = pool.GetStats();
        Assert.Multiple(() =>
        {
            Assert.That(reset.Allocations + reset.Frees + reset.Created + reset.Reused, Is.Zero, "event counters");
            Assert.That(reset.FailedAllocations + reset.InvalidFrees, Is.Zero, "failure counters");
            Assert.That(reset.ReuseRate, Is.Zero);
            Assert.That(reset.InUse, Is.EqualTo(3ul), "in_use is a state, not an event: it stays");
            Assert.That(reset.PeakInUse, Is.EqualTo(3ul), "the peak restarts from in_use");
            Assert.That(reset.Capacity, Is.EqualTo(8ul), "capacity stays");
        });

        for (int i = 0; i < 4; i++) blocks[i] = MustAlloc(pool);
        BlockPoolStats after = pool.GetStats();
        Assert.Multiple(() =>
        {
            Assert.That(after.Allocations, Is.EqualTo(4ul));
            Assert.That(after.Reused, Is.EqualTo(4ul), "the freed blocks came back");
            Assert.That(after.ReuseRate, Is.EqualTo(1.0));
            Assert.That(after.PeakInUse, Is.EqualTo(7ul));
        });
        for (int i = 0; i < 8; i++)
            if (i != 4) MustFree(pool, blocks[i]);
        BlockPoolStats end = pool.GetStats();
        Assert.That(end.InUse, Is.Zero);
        Assert.That(end.Frees, Is.EqualTo(7ul), "frees since the reset");
    }
}
