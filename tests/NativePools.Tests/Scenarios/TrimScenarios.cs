using System.Collections.Generic;
using System.Threading;
using NativePools.Pools;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Scenarios;

/// <summary>S19: trim gives back only chunks with no block in use.</summary>
public abstract class TrimScenarios : PoolScenarioFixture
{
    // 264-byte blocks in chunks of 40 (10,560 bytes): chunks share pages with their neighbours,
    // so trim must release whole pages inside a chunk and leave the shared ones to the neighbours.
    private const int BlocksPerChunk = 40, Chunks = 8;

    [Test]
    public void S19_Trim_ReleasesOnlyEmptyChunks_LiveBlocksKeepContents()
    {
        ITestPool pool = CreatePool(new BlockPoolOptions { BlockSize = 264, GrowthBlocks = BlocksPerChunk });
        var blocks = new nint[BlocksPerChunk * Chunks];
        for (int i = 0; i < blocks.Length; i++)
        {
            blocks[i] = MustAlloc(pool);
            BlockPattern.Write(blocks[i], pool.BlockSize, BlockPattern.Tag(0, i));
        }
        // Chunks 0, 1 stay full; chunk 4 keeps one block (its last); chunks 2, 3, 5, 6, 7 become empty.
        var kept = new List<int>();
        for (int i = 0; i < blocks.Length; i++)
        {
            int chunk = i / BlocksPerChunk;
            if (chunk < 2 || i == 5 * BlocksPerChunk - 1) kept.Add(i);
            else MustFree(pool, blocks[i]);
        }
        BlockPoolStats before = pool.GetStats();
        Assert.That(before.Chunks, Is.EqualTo((ulong)Chunks), "the blocks were allocated front to back in 8 chunks");

        Assert.That(pool.Trim(out ulong released), Is.EqualTo(NpStatus.Ok), () => $"trim: {Backend.LastErrorMessage()}");

        BlockPoolStats after = pool.GetStats();
        ulong chunkBytes = (ulong)BlocksPerChunk * after.BlockStride;
        Assert.Multiple(() =>
        {
            Assert.That(after.Chunks, Is.EqualTo(3ul), "chunks 0, 1 and 4 remain");
            Assert.That(after.ChunksReleased, Is.EqualTo(5ul), "chunks_released");
            Assert.That(after.Capacity, Is.EqualTo(3ul * BlocksPerChunk), "capacity drops by the released chunks");
            Assert.That(after.BytesReserved, Is.EqualTo(after.Capacity * after.BlockStride));
            Assert.That(released, Is.GreaterThan(0ul).And.LessThanOrEqualTo(5 * chunkBytes), "bytes released: whole pages of the five chunks");
            foreach (int i in kept)
            {
                Assert.That(BlockPattern.Matches(blocks[i], pool.BlockSize, BlockPattern.Tag(0, i)), Is.True, $"live block {i} keeps its contents");
                Assert.That(pool.Owns(blocks[i]), Is.EqualTo(BlockOwnership.Allocated), $"live block {i} is still allocated");
            }
            Assert.That(pool.Owns(blocks[2 * BlocksPerChunk]), Is.EqualTo(BlockOwnership.NotOwned), "a block of a released chunk is not a block any more");
            Assert.That(pool.Owns(blocks[4 * BlocksPerChunk]), Is.EqualTo(BlockOwnership.Free), "a free block of the partly used chunk stays");
        });
        AssertIntact(pool, expectedInUse: (ulong)kept.Count);

        // A second trim finds nothing more to release.
        Assert.That(pool.Trim(out ulong second), Is.EqualTo(NpStatus.Ok));
        Assert.That(second, Is.Zero, "nothing left to release");

        // Growth comes back: allocate until the pool holds 8 chunks' worth of live blocks again.
        var regrown = new List<nint>();
        while (regrown.Count + kept.Count < blocks.Length)
        {
            nint block = MustAlloc(pool);
            BlockPattern.Write(block, pool.BlockSize, BlockPattern.Tag(1, regrown.Count));
            regrown.Add(block);
        }
        BlockPoolStats grown = pool.GetStats();
        Assert.Multiple(() =>
        {
            Assert.That(grown.Chunks, Is.EqualTo((ulong)Chunks), "chunks grow back");
            Assert.That(grown.Capacity, Is.EqualTo((ulong)blocks.Length), "capacity grows back");
            for (int i = 0; i < regrown.Count; i++)
                Assert.That(BlockPattern.Matches(regrown[i], pool.BlockSize, BlockPattern.Tag(1, i)), Is.True, $"regrown block {i}");
            foreach (int i in kept)
                Assert.That(BlockPattern.Matches(blocks[i], pool.BlockSize, BlockPattern.Tag(0, i)), Is.True, $"live block {i} after regrowth");
        });
        foreach (nint block in regrown) MustFree(pool, block);
        foreach (int i in kept) MustFree(pool, blocks[i]);
        AssertIntact(pool, expectedInUse: 0);
    }

    [Test]
    public void S19_Trim_BoundedPoolWithPartialLastChunk_ReleasesEverythingAndGrowsBack()
    {
        // max 100 in chunks of 16: six full chunks and a last one of 4 blocks.
        ITestPool pool = CreatePool(new BlockPoolOptions { BlockSize = 100, GrowthBlocks = 16, MaxBlocks = 100 });
        var blocks = new nint[100];
        for (int i = 0; i < blocks.Length; i++) blocks[i] = MustAlloc(pool);
        foreach (nint block in blocks) MustFree(pool, block);

        Assert.That(pool.Trim(out ulong released), Is.EqualTo(NpStatus.Ok));
        BlockPoolStats empty = AssertIntact(pool, expectedInUse: 0);
        Assert.Multiple(() =>
        {
            Assert.That(empty.Capacity, Is.Zero, "every chunk was empty");
            Assert.That(empty.Chunks, Is.Zero);
            Assert.That(empty.ChunksReleased, Is.EqualTo(7ul));
            // Chunks of 1,664 bytes hold no whole page each, so the pages stay (zeroed) with them.
            Assert.That(released, Is.LessThanOrEqualTo(100ul * empty.BlockStride), "bytes_released");
        });

        for (int i = 0; i < blocks.Length; i++)
        {
            blocks[i] = MustAlloc(pool);
            BlockPattern.Write(blocks[i], pool.BlockSize, BlockPattern.Tag(2, i));
        }
        Assert.That(pool.Alloc(out _), Is.EqualTo(NpStatus.PoolExhausted), "max_blocks still holds after regrowth");
        BlockPoolStats full = AssertIntact(pool, expectedInUse: 100);
        Assert.That(full.Capacity, Is.EqualTo(100ul));
        for (int i = 0; i < blocks.Length; i++)
        {
            MustHold(pool, blocks[i], BlockPattern.Tag(2, i), $"block {i}");
            MustFree(pool, blocks[i]);
        }
        AssertIntact(pool, expectedInUse: 0);
    }

    [Test]
    public void S19_TrimWhileOtherThreadsAllocateAndFree_KeepsEveryLiveBlock()
    {
        ITestPool pool = CreatePool(new BlockPoolOptions { BlockSize = 264, GrowthBlocks = BlocksPerChunk });
        int minTrims = StressSize.Pick(ci: 400, full: 20_000);
        const int maxTrims = 200_000;
        int stop = 0;
        ThreadRunner.Run(3, (thread, cancelled) =>
        {
            if (thread == 0)
            {
                // Trim until at least minTrims ran and some of them released chunks under the workers' feet.
                for (int i = 0; ; i++)
                {
                    cancelled.ThrowIfCancellationRequested();
                    Check.Status(pool.Trim(out _), NpStatus.Ok, "trim");
                    if (i >= minTrims && pool.GetStats().ChunksReleased > 0) break;
                    Check.That(i < maxTrims, $"{maxTrims} trims released no chunk while two threads freed whole bursts");
                    Thread.Yield();
                }
                Volatile.Write(ref stop, 1);
                return;
            }
            // Bursts: grow to a few hundred live blocks, then free them all, so whole chunks empty out.
            var held = new List<(nint, ulong)>();
            for (long n = 0; Volatile.Read(ref stop) == 0; n++)
            {
                cancelled.ThrowIfCancellationRequested();
                int burst = 50 + (int)(n % 300);
                for (int i = 0; i < burst; i++)
                {
                    Check.Status(pool.Alloc(out nint block), NpStatus.Ok, "alloc");
                    ulong tag = BlockPattern.Tag(thread, n * 1_000 + i);
                    BlockPattern.Write(block, pool.BlockSize, tag);
                    held.Add((block, tag));
                }
                foreach (var (block, tag) in held)
                {
                    Check.Contents(block, pool.BlockSize, tag);
                    Check.Status(pool.Free(block), NpStatus.Ok, "free");
                }
                held.Clear();
                Thread.Yield(); // a window in which this thread holds nothing
            }
        });
        AssertIntact(pool, expectedInUse: 0);
    }
}
