using System.Collections.Generic;
using NativePools.Diagnostics;
using NativePools.Pools;
using NUnit.Framework;

namespace NativePools.Tests.Core;

/// <summary>S16 (core): bad options, each refused with its own status and a detail message.</summary>
public sealed class CoreBadInputTests
{
    public static IEnumerable<TestCaseData> BadOptions()
    {
        yield return Case("block_size 0", new BlockPoolOptions { BlockSize = 0 }, NpStatus.InvalidArgument, "block_size 0");
        yield return Case("block_size 16 MiB + 1", new BlockPoolOptions { BlockSize = (16 << 20) + 1 }, NpStatus.InvalidArgument, "block_size 16777217");
        yield return Case("alignment 3", new BlockPoolOptions { BlockSize = 64, Alignment = 3 }, NpStatus.InvalidArgument, "alignment 3");
        yield return Case("alignment 8192", new BlockPoolOptions { BlockSize = 64, Alignment = 8192 }, NpStatus.InvalidArgument, "alignment 8192");
        yield return Case("initial > max", new BlockPoolOptions { BlockSize = 64, InitialBlocks = 11, MaxBlocks = 10 }, NpStatus.InvalidArgument, "initial_blocks 11");
        yield return Case("unknown flags", new BlockPoolOptions { BlockSize = 64, Flags = (BlockPoolFlags)8 }, NpStatus.InvalidArgument, "flag");
        yield return Case("max_blocks too large", new BlockPoolOptions { BlockSize = 64, MaxBlocks = BlockPoolOptions.MaxBlockCount + 1 }, NpStatus.InvalidArgument, "max_blocks");
        yield return Case("growth_blocks too large", new BlockPoolOptions { BlockSize = 64, GrowthBlocks = BlockPoolOptions.MaxBlockCount + 1 }, NpStatus.InvalidArgument, "growth_blocks");
        // 2^31 blocks of 16 MiB is 32 PiB of address space: more than the process has.
        yield return Case("address space refused", new BlockPoolOptions { BlockSize = 16 << 20, MaxBlocks = BlockPoolOptions.MaxBlockCount }, NpStatus.OutOfMemory, "reserving");
    }

    private static TestCaseData Case(string name, BlockPoolOptions options, NpStatus expected, string detail) =>
        new TestCaseData(options, expected, detail).SetArgDisplayNames(name);

    [TestCaseSource(nameof(BadOptions))]
    public void S16_CreateWithBadOptions_IsRefusedWithItsStatus(BlockPoolOptions options, NpStatus expected, string detail)
    {
        LastError.Clear();
        NpStatus status = BlockPool.Create(options, out BlockPool? pool);
        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(expected));
            Assert.That(pool, Is.Null, "no pool on failure");
            Assert.That(LastError.Status, Is.EqualTo(expected), "LastError.Status");
            Assert.That(LastError.Message, Does.Not.Contain(StatusText.NameString(expected)), "the message does not repeat the status name");
            Assert.That(LastError.Message, Does.Contain(detail), "the message says what was wrong");
        });
    }

    [Test]
    public void S16_UnknownPreset_IsNotAPreset()
    {
        Assert.Multiple(() =>
        {
            Assert.That(PoolPresets.TryGet((PoolPreset)0, out _), Is.False);
            Assert.That(PoolPresets.TryGet((PoolPreset)4, out _), Is.False);
            Assert.That(PoolPresets.TryGet(PoolPreset.Small, out BlockPoolOptions small), Is.True);
            Assert.That(small.BlockSize, Is.EqualTo(264ul));
            Assert.That(PoolPresets.TryGet(PoolPreset.Medium, out BlockPoolOptions medium), Is.True);
            Assert.That(medium.BlockSize, Is.EqualTo(1024ul));
            Assert.That(PoolPresets.TryGet(PoolPreset.Large, out BlockPoolOptions large), Is.True);
            Assert.That(large.BlockSize, Is.EqualTo(10240ul));
        });
    }

    [Test]
    public void S16_BoundaryOptions_AreAccepted()
    {
        foreach (var options in new[]
        {
            new BlockPoolOptions { BlockSize = 1 },
            new BlockPoolOptions { BlockSize = 16 << 20, MaxBlocks = 2 },
            new BlockPoolOptions { BlockSize = 64, Alignment = 4096 },
            new BlockPoolOptions { BlockSize = 64, InitialBlocks = 10, MaxBlocks = 10 },
            new BlockPoolOptions { BlockSize = 64, Flags = BlockPoolFlags.ZeroOnAlloc | BlockPoolFlags.PoisonOnFree },
        })
        {
            NpStatus status = BlockPool.Create(options, out BlockPool? pool);
            Assert.That(status, Is.EqualTo(NpStatus.Ok), () => $"block_size {options.BlockSize} alignment {options.Alignment}: {LastError.Message}");
            Assert.That(pool!.Alloc(out nint block), Is.EqualTo(NpStatus.Ok));
            Assert.That(pool.Free(block), Is.EqualTo(NpStatus.Ok));
            Assert.That(pool.Validate(out _), Is.EqualTo(NpStatus.Ok));
            pool.Dispose();
        }
    }
}
