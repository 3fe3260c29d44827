using NativePools.Pools;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Scenarios;

/// <summary>S01-S03: four threads on each preset pool.</summary>
public abstract class PresetThreadScenarios : PoolScenarioFixture
{
    [Test]
    public void S01_SmallPreset_FourThreads_ContentsAndCountsHold() => RunFourThreads(PoolPreset.Small, 264);

    [Test]
    public void S02_MediumPreset_FourThreads_ContentsAndCountsHold() => RunFourThreads(PoolPreset.Medium, 1024);

    [Test]
    public void S03_LargePreset_FourThreads_ContentsAndCountsHold() => RunFourThreads(PoolPreset.Large, 10 * 1024);

    private void RunFourThreads(PoolPreset preset, int expectedBlockSize)
    {
        ITestPool pool = CreatePreset(preset);
        int perThread = StressSize.Pick(ci: preset == PoolPreset.Large ? 15_000 : 60_000, full: 1_000_000);
        var workload = new HandoffWorkload(pool, threads: 4, perThread, localWindow: 32);

        workload.Run();

        BlockPoolStats stats = AssertIntact(pool, expectedInUse: 0);
        Assert.Multiple(() =>
        {
            Assert.That(stats.BlockSize, Is.EqualTo((ulong)expectedBlockSize), "preset block size");
            Assert.That(stats.Allocations, Is.EqualTo((ulong)workload.Allocations), "allocations");
            Assert.That(stats.Frees, Is.EqualTo((ulong)workload.Allocations), "frees");
            Assert.That(workload.CrossThreadFrees, Is.GreaterThan(0), "some blocks were freed by another thread");
            Assert.That(stats.Reused, Is.GreaterThan(0), "freed blocks were handed out again");
        });
    }
}
