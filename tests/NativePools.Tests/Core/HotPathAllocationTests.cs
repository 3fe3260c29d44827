using System;
using NativePools.Pools;
using NUnit.Framework;

namespace NativePools.Tests.Core;

/// <summary>
/// The hot path allocates nothing on the managed heap once warm: a GC would stall every
/// caller. Exact byte counts of this thread, not timings.
/// </summary>
public sealed class HotPathAllocationTests
{
    private const int Pairs = 100_000;

    [Test]
    public void HotPath_AllocFreePairs_AllocateNothingOnTheManagedHeap()
    {
        Assert.That(BlockPool.Create(BlockPoolOptions.ForSize(264), out BlockPool? created), Is.EqualTo(NpStatus.Ok));
        using BlockPool pool = created!;
        RunPairs(pool, Pairs); // warm-up: tiering, first-use statics, the first chunk

        long before = GC.GetAllocatedBytesForCurrentThread();
        int failures = RunPairs(pool, Pairs);
        long after = GC.GetAllocatedBytesForCurrentThread();

        Assert.That(failures, Is.Zero);
        Assert.That(after - before, Is.Zero, $"managed bytes allocated by {Pairs} alloc/free pairs");
        Assert.That(pool.GetStats().Allocations, Is.EqualTo(2ul * Pairs));
    }

    [Test]
    public void HotPath_BatchCalls_AllocateNothingOnTheManagedHeap()
    {
        Assert.That(BlockPool.Create(BlockPoolOptions.ForSize(1024), out BlockPool? created), Is.EqualTo(NpStatus.Ok));
        using BlockPool pool = created!;
        Span<nint> blocks = stackalloc nint[64];
        int failures = RunBatches(pool, blocks, 1_000);

        long before = GC.GetAllocatedBytesForCurrentThread();
        failures += RunBatches(pool, blocks, Pairs / blocks.Length);
        long after = GC.GetAllocatedBytesForCurrentThread();

        Assert.That(failures, Is.Zero);
        Assert.That(after - before, Is.Zero, "managed bytes allocated by batch alloc/free");
    }

    private static int RunPairs(BlockPool pool, int pairs)
    {
        int failures = 0;
        for (int i = 0; i < pairs; i++)
        {
            if (pool.Alloc(out nint block) != NpStatus.Ok) failures++;
            else if (pool.Free(block) != NpStatus.Ok) failures++;
        }
        return failures;
    }

    private static int RunBatches(BlockPool pool, Span<nint> blocks, int rounds)
    {
        int failures = 0;
        for (int i = 0; i < rounds; i++)
        {
            if (pool.AllocBatch(blocks, out _) != NpStatus.Ok) failures++;
            if (pool.FreeBatch(blocks, out _) != NpStatus.Ok) failures++;
        }
        return failures;
    }
}
