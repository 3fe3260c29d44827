using NativePools.Pools;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Scenarios;

/// <summary>S05-S09: many threads allocating, handing over and freeing on one pool.</summary>
public abstract class ThreadStressScenarios : PoolScenarioFixture
{
    [Test]
    public void S05_Stress_10Threads() => RunStress(threads: 10, StressSize.Pick(ci: 120_000, full: 1_000_000), localWindow: 64);

    [Test]
    public void S06_Stress_20Threads() => RunStress(threads: 20, StressSize.Pick(ci: 60_000, full: 500_000), localWindow: 64);

    [Test]
    public void S07_Stress_50Threads() => RunStress(threads: 50, StressSize.Pick(ci: 24_000, full: 200_000), localWindow: 64);

    /// <summary>2000 threads alive at once; each is new to the library (attach on first call, detach on exit).</summary>
    [Test]
    public void S08_Stress_2000Threads() => RunStress(threads: 2000, StressSize.Pick(ci: 100, full: 5_000), localWindow: 8);

    [Test]
    public void S09_TenThreads_MillionAllocationsEach() =>
        RunStress(threads: 10, StressSize.Pick(ci: 300_000, full: 1_000_000), localWindow: 1_000);

    private void RunStress(int threads, int allocationsPerThread, int localWindow)
    {
        ITestPool pool = CreatePreset(PoolPreset.Small);
        var workload = new HandoffWorkload(pool, threads, allocationsPerThread, localWindow);

        workload.Run();

        BlockPoolStats stats = AssertIntact(pool, expectedInUse: 0);
        Assert.Multiple(() =>
        {
            Assert.That(stats.Allocations, Is.EqualTo((ulong)workload.Allocations), "allocations");
            Assert.That(stats.Frees, Is.EqualTo((ulong)workload.Allocations), "frees");
            Assert.That(stats.FailedAllocations + stats.DoubleFrees + stats.ForeignFrees + stats.InvalidFrees, Is.Zero, "no failed or rejected operation");
            Assert.That(workload.CrossThreadFrees, Is.GreaterThan(0), "blocks were freed on other threads");
            // Without trim each fresh block is handed out as "created" at most once.
            Assert.That(stats.Created, Is.LessThanOrEqualTo(stats.Capacity), "created <= capacity");
        });
    }
}
