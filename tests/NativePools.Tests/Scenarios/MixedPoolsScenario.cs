using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using NativePools.Pools;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Scenarios;

/// <summary>S04: eight threads mixing every operation across the three preset pools.</summary>
public abstract class MixedPoolsScenario : PoolScenarioFixture
{
    private readonly record struct Held(int Pool, nint Block, ulong Tag);

    [Test]
    public void S04_MixedOperations_ThreePresetPools_EightThreads()
    {
        ITestPool[] pools = [CreatePreset(PoolPreset.Small), CreatePreset(PoolPreset.Medium), CreatePreset(PoolPreset.Large)];
        const int threads = 8;
        int opsPerThread = StressSize.Pick(ci: 40_000, full: 1_000_000);
        var inboxes = new ConcurrentQueue<Held>[threads];
        for (int i = 0; i < threads; i++) inboxes[i] = new ConcurrentQueue<Held>();
        var allocations = new long[pools.Length];
        long batchAllocations = 0;

        ThreadRunner.Run(threads, (thread, cancelled) =>
        {
            var held = new List<Held>();
            Span<nint> batch = stackalloc nint[8];
            uint random = (uint)thread * 747796405u + 2891336453u;
            for (int op = 0; op < opsPerThread; op++)
            {
                if ((op & 255) == 0) cancelled.ThrowIfCancellationRequested();
                random ^= random << 13; random ^= random >> 17; random ^= random << 5;
                int p = (int)(random % 3);
                ITestPool pool = pools[p];
                switch ((random >> 8) % 6)
                {
                    case 0 or 1: // alloc, owned by exactly this pool
                        Check.Status(pool.Alloc(out nint block), NpStatus.Ok, "alloc");
                        ulong tag = BlockPattern.Tag(thread, op);
                        BlockPattern.Write(block, pool.BlockSize, tag);
                        Check.That(pool.Owns(block) == BlockOwnership.Allocated, "owns(own block) is not NP_BLOCK_ALLOCATED");
                        Check.That(pools[(p + 1) % 3].Owns(block) == BlockOwnership.NotOwned, "another pool claims the block");
                        held.Add(new Held(p, block, tag));
                        Interlocked.Increment(ref allocations[p]);
                        break;
                    case 2 when held.Count > 0: // free one of ours
                        FreeAt(held, (int)(random >> 16) % held.Count, pools);
                        break;
                    case 3 when held.Count > 0: // hand one to another thread
                        int at = (int)(random >> 16) % held.Count;
                        inboxes[(thread + 1 + (int)(random >> 24) % (threads - 1)) % threads].Enqueue(held[at]);
                        held[at] = held[^1];
                        held.RemoveAt(held.Count - 1);
                        break;
                    case 4: // batch alloc then batch free
                        Check.Status(pool.AllocBatch(batch, out int taken), NpStatus.Ok, "alloc_batch");
                        Check.That(taken == batch.Length, $"alloc_batch took {taken} of {batch.Length}");
                        for (int i = 0; i < taken; i++) BlockPattern.Write(batch[i], pool.BlockSize, BlockPattern.Tag(thread, op) + (ulong)i);
                        for (int i = 0; i < taken; i++) Check.Contents(batch[i], pool.BlockSize, BlockPattern.Tag(thread, op) + (ulong)i);
                        Check.Status(pool.FreeBatch(batch, out int freed), NpStatus.Ok, "free_batch");
                        Check.That(freed == taken, $"free_batch freed {freed} of {taken}");
                        Interlocked.Add(ref allocations[p], taken);
                        Interlocked.Add(ref batchAllocations, taken);
                        break;
                    default: // receive from others
                        while (inboxes[thread].TryDequeue(out Held received)) FreeHeld(received, pools);
                        break;
                }
            }
            foreach (Held h in held) FreeHeld(h, pools);
        });
        foreach (var inbox in inboxes)
            while (inbox.TryDequeue(out Held received)) FreeHeld(received, pools);

        for (int p = 0; p < pools.Length; p++)
        {
            BlockPoolStats stats = AssertIntact(pools[p], expectedInUse: 0);
            Assert.That(stats.Allocations, Is.EqualTo((ulong)allocations[p]), $"allocations of pool {p}");
        }
        Assert.That(batchAllocations, Is.GreaterThan(0), "the batch path ran");
    }

    private static void FreeAt(List<Held> held, int at, ITestPool[] pools)
    {
        Held h = held[at];
        held[at] = held[^1];
        held.RemoveAt(held.Count - 1);
        FreeHeld(h, pools);
    }

    private static void FreeHeld(Held h, ITestPool[] pools)
    {
        Check.Contents(h.Block, pools[h.Pool].BlockSize, h.Tag);
        Check.Status(pools[h.Pool].Free(h.Block), NpStatus.Ok, "free");
    }
}
