using System.Collections.Concurrent;
using System.Threading;
using NativePools.Pools;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Scenarios;

/// <summary>S14: producer threads allocate and write, consumer threads verify and free.</summary>
public abstract class ProducerConsumerScenario : PoolScenarioFixture
{
    [TestCase(4, 4)]
    [TestCase(1, 7)]
    [TestCase(7, 1)]
    public void S14_ProducersAllocate_ConsumersFree_EveryBlockChecked(int producers, int consumers)
    {
        ITestPool pool = CreatePreset(PoolPreset.Medium);
        int perProducer = StressSize.Pick(ci: 300_000, full: 3_000_000) / producers;
        long total = (long)perProducer * producers;
        const int maxInFlight = 4_096; // keeps producers from running far ahead of consumers
        var queue = new ConcurrentQueue<(nint Block, ulong Tag)>();
        long inFlight = 0, consumed = 0;

        ThreadRunner.Run(producers + consumers, (thread, cancelled) =>
        {
            var wait = new SpinWait();
            if (thread < producers)
            {
                for (int i = 0; i < perProducer; i++)
                {
                    while (Interlocked.Read(ref inFlight) >= maxInFlight)
                    {
                        cancelled.ThrowIfCancellationRequested();
                        wait.SpinOnce();
                    }
                    Check.Status(pool.Alloc(out nint block), NpStatus.Ok, "alloc");
                    ulong tag = BlockPattern.Tag(thread, i);
                    BlockPattern.Write(block, pool.BlockSize, tag);
                    Interlocked.Increment(ref inFlight);
                    queue.Enqueue((block, tag));
                }
                return;
            }
            while (Interlocked.Read(ref consumed) < total)
            {
                if (!queue.TryDequeue(out var item))
                {
                    cancelled.ThrowIfCancellationRequested();
                    wait.SpinOnce();
                    continue;
                }
                Check.Contents(item.Block, pool.BlockSize, item.Tag);
                Check.Status(pool.Free(item.Block), NpStatus.Ok, "free");
                Interlocked.Decrement(ref inFlight);
                Interlocked.Increment(ref consumed);
            }
        });

        BlockPoolStats stats = AssertIntact(pool, expectedInUse: 0);
        Assert.Multiple(() =>
        {
            Assert.That(consumed, Is.EqualTo(total), "blocks consumed");
            Assert.That(stats.Allocations, Is.EqualTo((ulong)total), "allocations");
            Assert.That(stats.Frees, Is.EqualTo((ulong)total), "frees, all on consumer threads");
            Assert.That(stats.PeakInUse, Is.LessThanOrEqualTo((ulong)(maxInFlight + producers)), "peak_in_use stays within the in-flight bound");
        });
    }
}
