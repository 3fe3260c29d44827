using System.Collections.Generic;
using NativePools.Pools;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Scenarios;

/// <summary>S20: zero-on-alloc and poison-on-free.</summary>
public abstract unsafe class FlagScenarios : PoolScenarioFixture
{
    private const byte Poison = 0xDE;

    [Test]
    public void S20_ZeroOnAlloc_ReusedBlocksReadZero()
    {
        ITestPool pool = CreatePool(new BlockPoolOptions { BlockSize = 300, Flags = BlockPoolFlags.ZeroOnAlloc });
        var blocks = new nint[100];
        for (int i = 0; i < blocks.Length; i++)
        {
            blocks[i] = MustAlloc(pool);
            Assert.That(BlockPattern.AllBytesAre(blocks[i], pool.BlockSize, 0), Is.True, $"fresh block {i} reads zero");
            BlockPattern.Write(blocks[i], pool.BlockSize, BlockPattern.Tag(0, i));
        }
        foreach (nint block in blocks) MustFree(pool, block);
        for (int i = 0; i < blocks.Length; i++)
        {
            blocks[i] = MustAlloc(pool);
            Assert.That(BlockPattern.AllBytesAre(blocks[i], pool.BlockSize, 0), Is.True, $"reused block {i} reads zero");
        }
        BlockPoolStats stats = pool.GetStats();
        Assert.That(stats.Reused, Is.EqualTo(100ul), "the second round reused the freed blocks");
        foreach (nint block in blocks) MustFree(pool, block);
        AssertIntact(pool, expectedInUse: 0);
    }

    [Test]
    public void S20_ZeroOnAlloc_BlocksOfTrimmedChunksReadZeroWhenTheyComeBack()
    {
        // 264-byte blocks in chunks of 7 (1,848 bytes): released chunks share pages with live neighbours.
        ITestPool pool = CreatePool(new BlockPoolOptions { BlockSize = 264, GrowthBlocks = 7, Flags = BlockPoolFlags.ZeroOnAlloc });
        var blocks = new nint[7 * 12];
        for (int i = 0; i < blocks.Length; i++)
        {
            blocks[i] = MustAlloc(pool);
            new System.Span<byte>((void*)blocks[i], pool.BlockSize).Fill(0xFF);
        }
        // Free every other chunk entirely, then trim them away.
        for (int i = 0; i < blocks.Length; i++)
            if (i / 7 % 2 == 1) MustFree(pool, blocks[i]);
        Assert.That(pool.Trim(out _), Is.EqualTo(NpStatus.Ok));
        Assert.That(pool.GetStats().ChunksReleased, Is.EqualTo(6ul), "six empty chunks released");

        var again = new List<nint>();
        for (int i = 0; i < 6 * 7; i++)
        {
            nint block = MustAlloc(pool);
            Assert.That(BlockPattern.AllBytesAre(block, pool.BlockSize, 0), Is.True, $"block {i} of a recommitted chunk reads zero");
            again.Add(block);
        }
        for (int i = 0; i < blocks.Length; i++)
            if (i / 7 % 2 == 0)
                Assert.That(BlockPattern.AllBytesAre(blocks[i], pool.BlockSize, 0xFF), Is.True, $"live block {i} next to released chunks is untouched");
        foreach (nint block in again) MustFree(pool, block);
        for (int i = 0; i < blocks.Length; i++)
            if (i / 7 % 2 == 0) MustFree(pool, blocks[i]);
        AssertIntact(pool, expectedInUse: 0);
    }

    [Test]
    public void S20_PoisonOnFree_FreedBlocksHoldPoison_WriteAfterFreeIsReported()
    {
        ITestPool pool = CreatePool(new BlockPoolOptions { BlockSize = 128, Flags = BlockPoolFlags.PoisonOnFree });
        nint victim = MustAlloc(pool);
        nint other = MustAlloc(pool);
        BlockPattern.Write(victim, pool.BlockSize, 1);
        MustFree(pool, other);
        MustFree(pool, victim);
        Assert.That(BlockPattern.AllBytesAre(victim, pool.BlockSize, Poison), Is.True, "a freed block holds the poison byte");
        AssertIntact(pool, expectedInUse: 0);

        ((byte*)victim)[77] = 0x42; // use after free

        Assert.That(pool.Validate(out BlockPoolValidation report), Is.EqualTo(NpStatus.Corrupted), "validate reports the write after free");
        Assert.Multiple(() =>
        {
            Assert.That(report.PoisonViolations, Is.EqualTo(1ul), "validate's poison_violations");
            Assert.That(Backend.LastErrorStatus(), Is.EqualTo(NpStatus.Corrupted));
            Assert.That(Backend.LastErrorMessage(), Does.Contain("were written after their free"));
        });

        // LIFO hands the damaged block out first; alloc counts the violation.
        nint again = MustAlloc(pool);
        Assert.That(again, Is.EqualTo(victim));
        Assert.That(pool.GetStats().PoisonViolations, Is.EqualTo(1ul), "stats poison_violations counted by alloc");
        nint clean = MustAlloc(pool);
        Assert.That(clean, Is.EqualTo(other));
        Assert.That(pool.GetStats().PoisonViolations, Is.EqualTo(1ul), "an intact poisoned block is no violation");
        MustFree(pool, again);
        MustFree(pool, clean);
        AssertIntact(pool, expectedInUse: 0);
    }

    [Test]
    public void S20_ZeroAndPoison_Together_ReusedBlockReadsZero()
    {
        ITestPool pool = CreatePool(new BlockPoolOptions { BlockSize = 64, Flags = BlockPoolFlags.ZeroOnAlloc | BlockPoolFlags.PoisonOnFree });
        nint block = MustAlloc(pool);
        BlockPattern.Write(block, pool.BlockSize, 7);
        MustFree(pool, block);
        Assert.That(BlockPattern.AllBytesAre(block, pool.BlockSize, Poison), Is.True, "poisoned on free");
        nint again = MustAlloc(pool);
        Assert.Multiple(() =>
        {
            Assert.That(again, Is.EqualTo(block));
            Assert.That(BlockPattern.AllBytesAre(again, pool.BlockSize, 0), Is.True, "zeroed on alloc");
            Assert.That(pool.GetStats().PoisonViolations, Is.Zero);
        });
        MustFree(pool, again);
        AssertIntact(pool, expectedInUse: 0);
    }
}
