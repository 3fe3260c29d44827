using System;
using System.Collections.Generic;
using System.Threading;
using NativePools.Pools;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Scenarios;

/// <summary>S15: exhaustion at max_blocks, and growth without a maximum.</summary>
public abstract class LimitScenarios : PoolScenarioFixture
{
    [Test]
    public void S15_Exhaustion_AtMaxBlocks_ThenRecoversAfterFree()
    {
        ITestPool pool = CreatePool(new BlockPoolOptions { BlockSize = 100, GrowthBlocks = 16, MaxBlocks = 100 });
        var blocks = new List<nint>();
        for (int i = 0; i < 100; i++) blocks.Add(MustAlloc(pool));

        for (int attempt = 0; attempt < 3; attempt++)
        {
            Assert.That(pool.Alloc(out nint none), Is.EqualTo(NpStatus.PoolExhausted), "alloc beyond max_blocks");
            Assert.That(none, Is.EqualTo((nint)0), "no block is handed out on failure");
        }
        Assert.That(Backend.LastErrorStatus(), Is.EqualTo(NpStatus.PoolExhausted), "last error status");
        Assert.That(Backend.LastErrorMessage(), Does.Contain("holds its maximum of 100 blocks"), "last error message");
        BlockPoolStats exhausted = pool.GetStats();
        Assert.Multiple(() =>
        {
            Assert.That(exhausted.FailedAllocations, Is.EqualTo(3ul), "failed_allocations counts each refusal");
            Assert.That(exhausted.Capacity, Is.EqualTo(100ul), "capacity stops at max_blocks (the last chunk is partial)");
            Assert.That(exhausted.Chunks, Is.EqualTo(7ul), "ceil(100 / 16) chunks");
            Assert.That(exhausted.Allocations, Is.EqualTo(100ul), "failures are not allocations");
        });
        AssertIntact(pool, expectedInUse: 100);

        nint freed = blocks[42];
        MustFree(pool, freed);
        blocks.RemoveAt(42);
        nint again = MustAlloc(pool);
        Assert.That(again, Is.EqualTo(freed), "the freed block is handed out again");
        blocks.Add(again);
        Assert.That(pool.Alloc(out _), Is.EqualTo(NpStatus.PoolExhausted), "full again");
        Assert.That(pool.Reserve(1), Is.EqualTo(NpStatus.PoolExhausted), "reserve cannot add blocks beyond max_blocks");

        foreach (nint block in blocks) MustFree(pool, block);
        BlockPoolStats end = AssertIntact(pool, expectedInUse: 0);
        Assert.That(end.FailedAllocations, Is.EqualTo(4ul));
    }

    [Test]
    public void S15_Exhaustion_IdleThreadsCachedBlocksStillReachOtherThreads()
    {
        // A live thread allocates and frees many blocks (they stay in its cache), then waits on an
        // event without exiting; this thread must still get every one of max_blocks blocks.
        const int max = 256, churn = 200;
        ITestPool pool = CreatePool(new BlockPoolOptions { BlockSize = 64, MaxBlocks = max });
        using var cached = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        int holderFailures = 0;
        var holder = new Thread(() =>
        {
            var mine = new List<nint>();
            for (int i = 0; i < churn && pool.Alloc(out nint block) == NpStatus.Ok; i++) mine.Add(block);
            foreach (nint block in mine) holderFailures += pool.Free(block) == NpStatus.Ok ? 0 : 1;
            holderFailures += churn - mine.Count;
            cached.Set();
            release.Wait(TimeSpan.FromMinutes(2));
        });
        holder.Start();
        try
        {
            Assert.That(cached.Wait(TimeSpan.FromMinutes(1)), Is.True, "the holder freed its blocks");
            Assert.That(holderFailures, Is.Zero, "the holder's allocations and frees succeeded");
            var blocks = new List<nint>();
            while (pool.Alloc(out nint block) == NpStatus.Ok)
            {
                BlockPattern.Write(block, pool.BlockSize, BlockPattern.Tag(0, blocks.Count));
                blocks.Add(block);
                Assert.That(blocks.Count, Is.LessThanOrEqualTo(max));
            }
            Assert.That(Backend.LastErrorStatus(), Is.EqualTo(NpStatus.PoolExhausted));
            Assert.That(blocks.Count, Is.EqualTo(max), "every block, whatever the idle thread cached");
            for (int i = 0; i < blocks.Count; i++) Assert.That(BlockPattern.Matches(blocks[i], pool.BlockSize, BlockPattern.Tag(0, i)), Is.True, "no block was handed out twice");
            AssertIntact(pool, expectedInUse: max);
            foreach (nint block in blocks) MustFree(pool, block);
        }
        finally
        {
            release.Set();
            holder.Join();
        }
        AssertIntact(pool, expectedInUse: 0);
    }

    [Test]
    public void S15_Exhaustion_ManyThreadsRaceForTheLastBlocks_ExactlyMaxSucceed()
    {
        // Each thread allocates until it is refused, as the C and Python S15 do.
        const int max = 5_000, threads = 8;
        ITestPool pool = CreatePool(new BlockPoolOptions { BlockSize = 64, GrowthBlocks = 100, MaxBlocks = max });
        long succeeded = 0, refused = 0;
        var taken = new List<nint>[threads];
        ThreadRunner.Run(threads, thread =>
        {
            taken[thread] = new List<nint>();
            for (int i = 0; i <= max; i++)
            {
                NpStatus status = pool.Alloc(out nint block);
                if (status == NpStatus.Ok)
                {
                    BlockPattern.Write(block, pool.BlockSize, BlockPattern.Tag(thread, i));
                    taken[thread].Add(block);
                    Interlocked.Increment(ref succeeded);
                }
                else
                {
                    Check.Status(status, NpStatus.PoolExhausted, "alloc at max_blocks");
                    Interlocked.Increment(ref refused);
                    break;
                }
            }
        });

        BlockPoolStats stats = pool.GetStats();
        Assert.Multiple(() =>
        {
            Assert.That(succeeded, Is.EqualTo(max), "exactly max_blocks allocations succeed");
            Assert.That(refused, Is.EqualTo(threads), "each thread is refused once, when nothing is left");
            Assert.That(stats.FailedAllocations, Is.EqualTo((ulong)refused), "failed_allocations");
            Assert.That(stats.Capacity, Is.EqualTo((ulong)max), "capacity");
        });
        for (int t = 0; t < threads; t++)
            for (int i = 0; i < taken[t].Count; i++)
                MustFree(pool, taken[t][i]);
        AssertIntact(pool, expectedInUse: 0);
    }

    [Test]
    public void S15_Growth_WithoutMaximum_AddsChunks()
    {
        ITestPool pool = CreatePool(new BlockPoolOptions { BlockSize = 48, GrowthBlocks = 10 });
        BlockPoolStats empty = pool.GetStats();
        Assert.That(empty.Capacity, Is.Zero, "a pool without initial_blocks starts empty");
        var blocks = new List<nint>();
        for (int i = 1; i <= 95; i++)
        {
            blocks.Add(MustAlloc(pool));
            BlockPoolStats s = pool.GetStats();
            ulong expectedChunks = (ulong)(i + 9) / 10;
            if (s.Chunks != expectedChunks || s.Capacity != expectedChunks * 10)
                Assert.Fail($"after {i} allocations: chunks {s.Chunks}, capacity {s.Capacity}; expected {expectedChunks} chunks of 10");
        }
        Assert.That(pool.Reserve(1_000), Is.EqualTo(NpStatus.Ok), "reserve grows an unbounded pool");
        BlockPoolStats reserved = pool.GetStats();
        Assert.Multiple(() =>
        {
            Assert.That(reserved.Capacity - reserved.InUse, Is.GreaterThanOrEqualTo(1_000ul), "reserve leaves at least that many free");
            Assert.That(reserved.Capacity % 10, Is.Zero, "whole chunks");
            Assert.That(reserved.FailedAllocations, Is.Zero);
        });
        foreach (nint block in blocks) MustFree(pool, block);
        AssertIntact(pool, expectedInUse: 0);
    }

    [Test]
    public void S15_InitialBlocks_AreCommittedAtCreation()
    {
        ITestPool pool = CreatePool(new BlockPoolOptions { BlockSize = 200, InitialBlocks = 1_000, GrowthBlocks = 128 });
        BlockPoolStats stats = pool.GetStats();
        Assert.That(stats.Capacity, Is.InRange(1_000ul, 1_127ul), "initial_blocks, rounded up to whole chunks");
        var blocks = new nint[1_000];
        for (int i = 0; i < blocks.Length; i++) blocks[i] = MustAlloc(pool);
        Assert.That(pool.GetStats().Capacity, Is.EqualTo(stats.Capacity), "the initial blocks served 1,000 allocations without growth");
        foreach (nint block in blocks) MustFree(pool, block);
        AssertIntact(pool, expectedInUse: 0);
    }
}
