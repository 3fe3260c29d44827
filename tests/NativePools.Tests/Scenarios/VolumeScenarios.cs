using System;
using NativePools.Pools;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Scenarios;

/// <summary>S10, S11, S17, S18: volume, rapid cycles, leaks and scaling on one thread.</summary>
public abstract class VolumeScenarios : PoolScenarioFixture
{
    [Test]
    public void S10_MillionSequentialAllocations_ThenFrees()
    {
        const int count = 1_000_000; // the scenario's own size: about a second, so CI runs it whole
        ITestPool pool = CreatePreset(PoolPreset.Small);
        var blocks = new nint[count];
        for (int i = 0; i < count; i++)
        {
            blocks[i] = MustAllocFast(pool);
            BlockPattern.Write(blocks[i], pool.BlockSize, BlockPattern.Tag(0, i));
        }
        BlockPoolStats full = pool.GetStats();
        for (int i = 0; i < count; i++)
        {
            if (!BlockPattern.Matches(blocks[i], pool.BlockSize, BlockPattern.Tag(0, i)))
                Assert.Fail($"block {i} (0x{blocks[i]:x}) lost its contents while {count} blocks were live");
        }
        var sorted = (nint[])blocks.Clone();
        Array.Sort(sorted);
        for (int i = 1; i < count; i++)
        {
            if (sorted[i] - sorted[i - 1] < (nint)full.BlockStride)
                Assert.Fail($"blocks 0x{sorted[i - 1]:x} and 0x{sorted[i]:x} overlap (stride {full.BlockStride})");
        }
        for (int i = 0; i < count; i++)
        {
            NpStatus status = pool.Free(blocks[i]);
            if (status != NpStatus.Ok) Assert.Fail($"free of block {i} returned {StatusText.NameString(status)}");
        }

        BlockPoolStats stats = AssertIntact(pool, expectedInUse: 0);
        Assert.Multiple(() =>
        {
            Assert.That(full.InUse, Is.EqualTo((ulong)count), "in_use with every block live");
            Assert.That(full.Capacity, Is.GreaterThanOrEqualTo((ulong)count), "capacity grew to hold every block");
            Assert.That(stats.Created, Is.EqualTo((ulong)count), "every allocation came from fresh memory");
            Assert.That(stats.Reused, Is.Zero, "nothing was reused");
            Assert.That(stats.PeakInUse, Is.EqualTo((ulong)count), "peak_in_use");
            Assert.That(stats.Frees, Is.EqualTo((ulong)count), "frees");
        });
    }

    [Test]
    public void S11_RapidAllocFreeCycles_OneThread_ReuseTheSameBlock()
    {
        int cycles = StressSize.Pick(ci: 5_000_000, full: 50_000_000);
        ITestPool pool = CreatePreset(PoolPreset.Small);
        nint first = MustAlloc(pool);
        MustFree(pool, first);
        for (int i = 1; i < cycles; i++)
        {
            if (pool.Alloc(out nint block) != NpStatus.Ok || block != first)
                Assert.Fail($"cycle {i}: alloc gave 0x{block:x}, expected the block just freed (0x{first:x}, LIFO)");
            ulong tag = BlockPattern.Tag(1, i);
            BlockPattern.Write(block, pool.BlockSize, tag);
            if (!BlockPattern.Matches(block, pool.BlockSize, tag)) Assert.Fail($"cycle {i}: contents changed");
            if (pool.Free(block) != NpStatus.Ok) Assert.Fail($"cycle {i}: free failed");
        }

        BlockPoolStats stats = AssertIntact(pool, expectedInUse: 0);
        Assert.Multiple(() =>
        {
            Assert.That(stats.Allocations, Is.EqualTo((ulong)cycles));
            Assert.That(stats.Created, Is.EqualTo(1ul), "only the first cycle used fresh memory");
            Assert.That(stats.Reused, Is.EqualTo((ulong)cycles - 1));
            Assert.That(stats.Chunks, Is.EqualTo(1ul), "one chunk serves a single live block");
            Assert.That(stats.ReuseRate, Is.EqualTo((double)(cycles - 1) / cycles).Within(1e-12));
        });
    }

    [Test]
    public void S17_LeakCheck_CapacityAndResidentMemoryStayFlat()
    {
        int cycles = StressSize.Pick(ci: 100_000, full: 1_000_000);
        const int maxLive = 32;
        ITestPool pool = CreatePreset(PoolPreset.Small);
        var live = new nint[maxLive];
        uint random = 12345;
        // Warm-up: reach the working set, and let the JIT and both runtimes settle.
        RunCycles(pool, live, ref random, 5_000);
        BlockPoolStats warm = pool.GetStats();
        long rssBefore = ProcessMemory.ResidentBytes();

        RunCycles(pool, live, ref random, cycles);

        long rssAfter = ProcessMemory.ResidentBytes();
        TestContext.Out.WriteLine($"{Backend.Name}: resident {rssBefore} -> {rssAfter} bytes over {cycles} cycles");
        BlockPoolStats stats = AssertIntact(pool, expectedInUse: 0);
        const long toleranceBytes = 4 << 20;
        Assert.Multiple(() =>
        {
            Assert.That(stats.Capacity, Is.EqualTo(warm.Capacity), "capacity after warm-up");
            Assert.That(stats.Chunks, Is.EqualTo(warm.Chunks), "chunks after warm-up");
            Assert.That(stats.BytesReserved, Is.EqualTo(warm.BytesReserved), "bytes_reserved after warm-up");
            Assert.That(stats.Created, Is.EqualTo(warm.Created), "no fresh block after warm-up: every block was reused");
            Assert.That(rssAfter - rssBefore, Is.LessThan(toleranceBytes),
                $"resident memory grew from {rssBefore} to {rssAfter} bytes over {cycles} cycles");
        });
    }

    // Each cycle: allocate 1..live.Length blocks, write them, verify and free them in a shuffled order.
    private static void RunCycles(ITestPool pool, nint[] live, ref uint random, int cycles)
    {
        for (int c = 0; c < cycles; c++)
        {
            random ^= random << 13; random ^= random >> 17; random ^= random << 5;
            int count = 1 + (int)(random % (uint)live.Length);
            for (int i = 0; i < count; i++)
            {
                if (pool.Alloc(out live[i]) != NpStatus.Ok) Assert.Fail($"cycle {c}: alloc failed");
                BlockPattern.Write(live[i], pool.BlockSize, BlockPattern.Tag(c, i));
            }
            int step = (int)(random >> 8) | 1; // odd step visits every index of a power-of-two count once
            int span = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)count);
            for (int k = 0, i = 0; k < span; k++, i = (i + step) & (span - 1))
            {
                if (i >= count) continue;
                if (!BlockPattern.Matches(live[i], pool.BlockSize, BlockPattern.Tag(c, i))) Assert.Fail($"cycle {c}: block {i} changed");
                if (pool.Free(live[i]) != NpStatus.Ok) Assert.Fail($"cycle {c}: free failed");
            }
        }
    }

    [Test]
    public void S18_Scaling_1kTo10kLiveBlocks_GrowsLinearly()
    {
        ITestPool pool = CreatePreset(PoolPreset.Small);
        var live = new nint[10_000];
        for (int i = 0; i < 1_000; i++) live[i] = MustAlloc(pool);
        BlockPoolStats at1k = pool.GetStats();
        for (int i = 1_000; i < 10_000; i++) live[i] = MustAlloc(pool);
        BlockPoolStats at10k = pool.GetStats();

        Assert.Multiple(() =>
        {
            AssertCapacityFits(at1k, 1_000);
            AssertCapacityFits(at10k, 10_000);
            // Live blocks cost one state byte each (committed a page at a time, doubling);
            // magazine storage is only needed for free blocks. What 9,000 more live blocks add
            // is linear in them: about a byte each, page rounding aside.
            double addedPerBlock = (double)(at10k.BytesMetadata - at1k.BytesMetadata) / 9_000;
            Assert.That(at10k.BytesMetadata, Is.GreaterThan(at1k.BytesMetadata), "bytes_metadata grows with the blocks");
            Assert.That(addedPerBlock, Is.InRange(0.5, 16.0),
                $"bytes_metadata added per block from 1,000 ({at1k.BytesMetadata} B) to 10,000 ({at10k.BytesMetadata} B)");
        });
        foreach (nint block in live) MustFree(pool, block);
        AssertIntact(pool, expectedInUse: 0);
    }

    // Capacity covers the live blocks with less than one chunk of slack, and memory follows capacity.
    private static void AssertCapacityFits(BlockPoolStats stats, ulong live)
    {
        ulong blocksPerChunk = stats.Capacity / stats.Chunks;
        Assert.That(stats.Capacity, Is.GreaterThanOrEqualTo(live), $"capacity with {live} live blocks");
        // Default growth adds a quarter of the capacity per step, in whole chunks.
        ulong needed = (live + blocksPerChunk - 1) / blocksPerChunk;
        Assert.That(stats.Chunks, Is.LessThanOrEqualTo(needed + needed / 4 + 1), $"chunks with {live} live blocks (chunk of {blocksPerChunk})");
        Assert.That(stats.BytesReserved, Is.EqualTo(stats.Capacity * stats.BlockStride), $"bytes_reserved with {live} live blocks");
    }

    private static nint MustAllocFast(ITestPool pool)
    {
        NpStatus status = pool.Alloc(out nint block);
        if (status != NpStatus.Ok || block == 0) Assert.Fail($"alloc returned {StatusText.NameString(status)}");
        return block;
    }
}
