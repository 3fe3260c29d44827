using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using NativePools.Pools;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Scenarios;

/// <summary>S23: alloc_batch and free_batch.</summary>
public abstract unsafe class BatchScenarios : PoolScenarioFixture
{
    [Test]
    public void S23_Batch_AllocAndFreeMany_InOneCall()
    {
        ITestPool pool = CreatePreset(PoolPreset.Medium);
        var blocks = new nint[500];
        Assert.That(pool.AllocBatch(blocks, out int taken), Is.EqualTo(NpStatus.Ok));
        Assert.That(taken, Is.EqualTo(blocks.Length));
        var distinct = new HashSet<nint>(blocks);
        Assert.That(distinct, Has.Count.EqualTo(blocks.Length), "every block is distinct");
        for (int i = 0; i < blocks.Length; i++) BlockPattern.Write(blocks[i], pool.BlockSize, BlockPattern.Tag(0, i));
        for (int i = 0; i < blocks.Length; i++)
        {
            Assert.That(BlockPattern.Matches(blocks[i], pool.BlockSize, BlockPattern.Tag(0, i)), Is.True, $"block {i}");
            Assert.That(pool.Owns(blocks[i]), Is.EqualTo(BlockOwnership.Allocated));
        }
        AssertIntact(pool, expectedInUse: 500);

        Assert.That(pool.FreeBatch(blocks, out int freed), Is.EqualTo(NpStatus.Ok));
        Assert.That(freed, Is.EqualTo(blocks.Length));
        Assert.That(pool.AllocBatch(Span<nint>.Empty, out int none), Is.EqualTo(NpStatus.Ok), "an empty batch is allowed");
        Assert.That(none, Is.Zero);
        Assert.That(pool.FreeBatch(ReadOnlySpan<nint>.Empty, out int noneFreed), Is.EqualTo(NpStatus.Ok));
        Assert.That(noneFreed, Is.Zero);
        BlockPoolStats stats = AssertIntact(pool, expectedInUse: 0);
        Assert.That(stats.Allocations, Is.EqualTo(500ul));
    }

    [Test]
    public void S23_Batch_PartialAtMaxBlocks_ReturnsWhatItTook()
    {
        ITestPool pool = CreatePool(new BlockPoolOptions { BlockSize = 32, MaxBlocks = 50, GrowthBlocks = 20 });
        var blocks = new nint[80];
        blocks.AsSpan().Fill(unchecked((nint)0x5A5A5A5A5A5A5A5A));

        NpStatus status = pool.AllocBatch(blocks, out int taken);

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(NpStatus.PoolExhausted), "what stopped the batch");
            Assert.That(taken, Is.EqualTo(50), "the leading entries that hold blocks");
            for (int i = 0; i < 50; i++) Assert.That(pool.Owns(blocks[i]), Is.EqualTo(BlockOwnership.Allocated), $"entry {i} is a block");
            // The C ABI promises NULL in the entries it did not fill; the core API leaves them to the caller.
            if (Backend.Name == "native")
                for (int i = 50; i < 80; i++) Assert.That(blocks[i], Is.EqualTo((nint)0), $"entry {i} is NULL");
            Assert.That(pool.GetStats().FailedAllocations, Is.EqualTo(1ul), "one refused allocation stopped the batch");
        });
        Assert.That(pool.FreeBatch(blocks.AsSpan(0, 25), out int freed), Is.EqualTo(NpStatus.Ok));
        Assert.That(freed, Is.EqualTo(25));
        Assert.That(pool.AllocBatch(blocks.AsSpan(50, 25), out int refill), Is.EqualTo(NpStatus.Ok), "room again after the free");
        Assert.That(refill, Is.EqualTo(25));
        Assert.That(pool.FreeBatch(blocks.AsSpan(25, 50), out freed), Is.EqualTo(NpStatus.Ok));
        Assert.That(freed, Is.EqualTo(50));
        AssertIntact(pool, expectedInUse: 0);
    }

    [Test]
    public void S23_Batch_FreeWithInvalidEntries_FreesTheValidOnes()
    {
        ITestPool pool = CreatePreset(PoolPreset.Small);
        ITestPool other = CreatePreset(PoolPreset.Small);
        nint a = MustAlloc(pool), b = MustAlloc(pool), c = MustAlloc(pool);
        nint foreign = MustAlloc(other);
        nint heap = (nint)NativeMemory.Alloc(64);
        try
        {
            nint[] batch = [a, 0, foreign, b, b + 16, heap, c, a, b + 1];
            NpStatus status = pool.FreeBatch(batch, out int freed);
            BlockPoolStats stats = pool.GetStats();
            Assert.Multiple(() =>
            {
                Assert.That(status, Is.EqualTo(NpStatus.NullPointer), "the status of the first invalid entry");
                Assert.That(freed, Is.EqualTo(3), "a, b and c were freed");
                Assert.That(pool.Owns(a), Is.EqualTo(BlockOwnership.Free));
                Assert.That(pool.Owns(b), Is.EqualTo(BlockOwnership.Free));
                Assert.That(pool.Owns(c), Is.EqualTo(BlockOwnership.Free));
                Assert.That(other.Owns(foreign), Is.EqualTo(BlockOwnership.Allocated), "the other pool's block is untouched");
                Assert.That(stats.Frees, Is.EqualTo(3ul));
                Assert.That(stats.ForeignFrees, Is.EqualTo(2ul), "foreign entries counted (other pool, heap)");
                Assert.That(stats.InvalidFrees, Is.EqualTo(2ul), "interior and misaligned entries counted");
                Assert.That(stats.DoubleFrees, Is.EqualTo(1ul), "the repeated entry counted as a double free");
            });
        }
        finally
        {
            NativeMemory.Free((void*)heap);
        }
        nint[] second = [MustAlloc(pool), MustAlloc(pool)];
        Assert.That(pool.FreeBatch([second[0], second[1], second[0]], out int again), Is.EqualTo(NpStatus.DoubleFree), "first invalid entry is a double free");
        Assert.That(again, Is.EqualTo(2));
        MustFree(other, foreign);
        AssertIntact(pool, expectedInUse: 0);
        AssertIntact(other, expectedInUse: 0);
    }

    [Test]
    public void S23_Batch_FromManyThreads_HandOverAndFree()
    {
        ITestPool pool = CreatePreset(PoolPreset.Small);
        const int threads = 6, batchSize = 64;
        int rounds = StressSize.Pick(ci: 1_500, full: 30_000);
        var mailboxes = new nint[threads][];
        var tags = new ulong[threads];
        var ready = new int[threads];
        ThreadRunner.Run(threads, (thread, cancelled) =>
        {
            var mine = new nint[batchSize];
            for (int r = 0; r < rounds; r++)
            {
                Check.Status(pool.AllocBatch(mine, out int taken), NpStatus.Ok, "alloc_batch");
                Check.That(taken == batchSize, $"alloc_batch took {taken}");
                ulong tag = BlockPattern.Tag(thread, r);
                for (int i = 0; i < batchSize; i++) BlockPattern.Write(mine[i], pool.BlockSize, tag + (ulong)i);
                // Swap batches with the next thread through a one-slot mailbox.
                int next = (thread + 1) % threads;
                var wait = new System.Threading.SpinWait();
                while (System.Threading.Volatile.Read(ref ready[next]) != 0) { cancelled.ThrowIfCancellationRequested(); wait.SpinOnce(); }
                mailboxes[next] = mine;
                tags[next] = tag;
                System.Threading.Volatile.Write(ref ready[next], 1);
                mine = new nint[batchSize];
                wait = new System.Threading.SpinWait();
                while (System.Threading.Volatile.Read(ref ready[thread]) == 0) { cancelled.ThrowIfCancellationRequested(); wait.SpinOnce(); }
                nint[] received = mailboxes[thread];
                ulong receivedTag = tags[thread];
                System.Threading.Volatile.Write(ref ready[thread], 0);
                for (int i = 0; i < batchSize; i++) Check.Contents(received[i], pool.BlockSize, receivedTag + (ulong)i);
                Check.Status(pool.FreeBatch(received, out int freed), NpStatus.Ok, "free_batch");
                Check.That(freed == batchSize, $"free_batch freed {freed}");
            }
        });
        BlockPoolStats stats = AssertIntact(pool, expectedInUse: 0);
        Assert.That(stats.Allocations, Is.EqualTo((ulong)(threads * rounds * batchSize)));
    }
}
