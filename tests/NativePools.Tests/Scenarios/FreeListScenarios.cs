using System.Collections.Generic;
using System.Threading;
using NativePools.Pools;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Scenarios;

/// <summary>S12 and S13: fragmentation, and free-list integrity over many cycles.</summary>
public abstract class FreeListScenarios : PoolScenarioFixture
{
    [Test]
    public void S12_Fragmentation_ReusesFreedSlots()
    {
        ITestPool pool = CreatePreset(PoolPreset.Small);
        var blocks = new nint[10_000];
        for (int i = 0; i < blocks.Length; i++)
        {
            blocks[i] = MustAlloc(pool);
            BlockPattern.Write(blocks[i], pool.BlockSize, BlockPattern.Tag(0, i));
        }
        var freedInOrder = new List<nint>();
        for (int i = 0; i < blocks.Length; i += 2)
        {
            MustFree(pool, blocks[i]);
            freedInOrder.Add(blocks[i]);
        }
        BlockPoolStats fragmented = pool.GetStats();

        var freedSet = new HashSet<nint>(freedInOrder);
        var again = new nint[5_000];
        for (int i = 0; i < again.Length; i++)
        {
            again[i] = MustAlloc(pool);
            if (!freedSet.Remove(again[i]))
                Assert.Fail($"allocation {i} (0x{again[i]:x}) is not one of the freed slots, or was handed out twice");
        }
        BlockPoolStats refilled = pool.GetStats();

        Assert.Multiple(() =>
        {
            Assert.That(freedSet, Is.Empty, "every freed slot was reused");
            Assert.That(again[0], Is.EqualTo(freedInOrder[^1]), "LIFO: the last block freed comes back first");
            Assert.That(again[^1], Is.EqualTo(freedInOrder[0]), "LIFO: the first block freed comes back last");
            Assert.That(refilled.Capacity, Is.EqualTo(fragmented.Capacity), "capacity unchanged");
            Assert.That(refilled.Chunks, Is.EqualTo(fragmented.Chunks), "chunks unchanged");
            Assert.That(refilled.Created, Is.EqualTo(10_000ul), "created unchanged");
            Assert.That(refilled.Reused, Is.EqualTo(5_000ul), "reused");
        });
        for (int i = 1; i < blocks.Length; i += 2) MustHold(pool, blocks[i], BlockPattern.Tag(0, i), $"kept block {i}");
        AssertIntact(pool, expectedInUse: 10_000);
        foreach (nint block in again) MustFree(pool, block);
        for (int i = 1; i < blocks.Length; i += 2) MustFree(pool, blocks[i]);
        AssertIntact(pool, expectedInUse: 0);
    }

    [TestCase(1_000)]
    [TestCase(10_000)]
    public void S13_FreeListIntegrity_AfterCycles(int cycles)
    {
        ITestPool pool = CreatePreset(PoolPreset.Small);
        var live = new List<(nint Block, ulong Tag)>();
        uint random = (uint)cycles;
        for (int c = 0; c < cycles; c++)
        {
            random ^= random << 13; random ^= random >> 17; random ^= random << 5;
            int allocate = 1 + (int)(random % 32);
            for (int i = 0; i < allocate; i++)
            {
                nint block = MustAlloc(pool);
                ulong tag = BlockPattern.Tag(c, i);
                BlockPattern.Write(block, pool.BlockSize, tag);
                live.Add((block, tag));
            }
            // Free a random share (up to all) of the live blocks, from random positions.
            int free = (int)((random >> 8) % (uint)(live.Count + 1));
            for (int i = 0; i < free; i++)
            {
                random ^= random << 13; random ^= random >> 17; random ^= random << 5;
                int at = (int)(random % (uint)live.Count);
                MustHold(pool, live[at].Block, live[at].Tag, "cycle contents");
                MustFree(pool, live[at].Block);
                live[at] = live[^1];
                live.RemoveAt(live.Count - 1);
            }
            if (c % 250 == 0) AssertIntact(pool, expectedInUse: (ulong)live.Count);
        }

        Assert.That(pool.Validate(out BlockPoolValidation mid), Is.EqualTo(NpStatus.Ok));
        BlockPoolStats stats = pool.GetStats();
        Assert.Multiple(() =>
        {
            Assert.That(mid.Allocated, Is.EqualTo((ulong)live.Count), "allocated");
            Assert.That(mid.Free, Is.EqualTo(stats.Capacity - (ulong)live.Count), "free");
            Assert.That(mid.FreeListed, Is.EqualTo(mid.Free), "free_listed");
        });
        foreach (var (block, _) in live) MustFree(pool, block);
        Assert.That(pool.Validate(out BlockPoolValidation end), Is.EqualTo(NpStatus.Ok));
        Assert.Multiple(() =>
        {
            Assert.That(end.Allocated, Is.Zero, "allocated after freeing all");
            Assert.That(end.FreeListed, Is.EqualTo(stats.Capacity), "every block is on the free list");
        });
        AssertIntact(pool, expectedInUse: 0);
    }

    /// <summary>
    /// validate() may run while other threads allocate and free; it then skips the count
    /// comparison (counts_checked 0) but must still find an intact pool intact.
    /// </summary>
    [Test]
    public void S13_ValidateDuringConcurrentAllocFree_ReportsIntact()
    {
        ITestPool pool = CreatePreset(PoolPreset.Small);
        int validations = StressSize.Pick(ci: 30_000, full: 200_000);
        int stop = 0;
        long workerOps = 0;
        long corrupted = 0;
        string? firstReport = null;
        // More workers than cores: some are always preempted somewhere inside alloc or free.
        ThreadRunner.Run(5, (thread, cancelled) =>
        {
            if (thread == 0)
            {
                // Start once both workers are busy, so every walk overlaps their operations.
                var wait = new SpinWait();
                while (Interlocked.Read(ref workerOps) < 10_000) { cancelled.ThrowIfCancellationRequested(); wait.SpinOnce(); }
                for (int i = 0; i < validations; i++)
                {
                    NpStatus status = pool.Validate(out BlockPoolValidation report);
                    if (status != NpStatus.Ok || report.Errors != 0)
                    {
                        if (Interlocked.Increment(ref corrupted) == 1)
                            firstReport = $"{StatusText.NameString(status)} errors={report.Errors} counts_checked={report.CountsChecked} " +
                                          $"allocated={report.Allocated} free={report.Free} free_listed={report.FreeListed}: {Backend.LastErrorMessage()}";
                    }
                }
                Volatile.Write(ref stop, 1);
                return;
            }
            var held = new Queue<(nint, ulong)>();
            for (long n = 0; Volatile.Read(ref stop) == 0; n++)
            {
                cancelled.ThrowIfCancellationRequested();
                Check.Status(pool.Alloc(out nint block), NpStatus.Ok, "alloc");
                ulong tag = BlockPattern.Tag(thread, n);
                BlockPattern.Write(block, pool.BlockSize, tag);
                held.Enqueue((block, tag));
                Interlocked.Increment(ref workerOps);
                if (held.Count > 16)
                {
                    var (b, t) = held.Dequeue();
                    Check.Contents(b, pool.BlockSize, t);
                    Check.Status(pool.Free(b), NpStatus.Ok, "free");
                }
            }
            while (held.Count > 0) Check.Status(pool.Free(held.Dequeue().Item1), NpStatus.Ok, "free");
        });
        Assert.That(corrupted, Is.Zero, () => $"{corrupted} of {validations} concurrent validations reported a fault; first: {firstReport}");
        AssertIntact(pool, expectedInUse: 0);
    }
}
