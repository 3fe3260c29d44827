using System.Runtime.InteropServices;
using NativePools.Pools;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Scenarios;

/// <summary>S22: owns() on allocated, free, foreign and interior pointers; block geometry.</summary>
public abstract unsafe class OwnershipScenarios : PoolScenarioFixture
{
    [Test]
    public void S22_Owns_TellsAllocatedFreeForeignAndInterior()
    {
        ITestPool pool = CreatePreset(PoolPreset.Small);
        ITestPool other = CreatePreset(PoolPreset.Small);
        nint allocated = MustAlloc(pool);
        nint freed = MustAlloc(pool);
        nint neverHandedOut = allocated + (nint)(2 * pool.GetStats().BlockStride); // third block of the fresh chunk
        MustFree(pool, freed);
        nint otherBlock = MustAlloc(other);
        long onStack = 0;
        nint stack = (nint)(&onStack);
        nint heap = (nint)NativeMemory.Alloc(256);
        try
        {
            Assert.Multiple(() =>
            {
                Assert.That(pool.Owns(allocated), Is.EqualTo(BlockOwnership.Allocated), "allocated block");
                Assert.That(pool.Owns(freed), Is.EqualTo(BlockOwnership.Free), "freed block");
                Assert.That(pool.Owns(neverHandedOut), Is.EqualTo(BlockOwnership.Free), "fresh block of a committed chunk");
                Assert.That(pool.Owns(allocated + 1), Is.EqualTo(BlockOwnership.NotOwned), "interior pointer (misaligned)");
                Assert.That(pool.Owns(allocated + 8), Is.EqualTo(BlockOwnership.NotOwned), "interior pointer (aligned)");
                Assert.That(pool.Owns(otherBlock), Is.EqualTo(BlockOwnership.NotOwned), "another pool's block");
                Assert.That(other.Owns(otherBlock), Is.EqualTo(BlockOwnership.Allocated), "... which its own pool owns");
                Assert.That(pool.Owns(stack), Is.EqualTo(BlockOwnership.NotOwned), "stack memory");
                Assert.That(pool.Owns(heap), Is.EqualTo(BlockOwnership.NotOwned), "heap memory");
                Assert.That(pool.Owns(0), Is.EqualTo(BlockOwnership.NotOwned), "NULL");
                Assert.That(pool.Owns(-1), Is.EqualTo(BlockOwnership.NotOwned), "the top of the address space");
            });
        }
        finally
        {
            NativeMemory.Free((void*)heap);
        }
        MustFree(pool, allocated);
        MustFree(other, otherBlock);
        AssertIntact(pool, expectedInUse: 0);
        AssertIntact(other, expectedInUse: 0);
    }

    // (block size, alignment option, alignment expected): 0 picks 8, or the size rounded up to a power of two below 8.
    [TestCase(1, 0, 1)]
    [TestCase(3, 0, 4)]
    [TestCase(100, 0, 8)]
    [TestCase(100, 64, 64)]
    [TestCase(5000, 4096, 4096)]
    public void S22_Geometry_BlocksAreAlignedAndOwned(int size, int alignmentOption, int alignment)
    {
        ulong blockSize = (ulong)size, expectedAlignment = (ulong)alignment;
        ITestPool pool = CreatePool(new BlockPoolOptions { BlockSize = blockSize, Alignment = (ulong)alignmentOption });
        var blocks = new nint[200];
        for (int i = 0; i < blocks.Length; i++)
        {
            blocks[i] = MustAlloc(pool);
            BlockPattern.Write(blocks[i], pool.BlockSize, BlockPattern.Tag(0, i));
        }
        BlockPoolStats stats = pool.GetStats();
        ulong expectedStride = (blockSize + expectedAlignment - 1) / expectedAlignment * expectedAlignment;
        Assert.Multiple(() =>
        {
            Assert.That(stats.BlockSize, Is.EqualTo(blockSize), "block_size");
            Assert.That(stats.BlockStride, Is.EqualTo(expectedStride), "block_stride = size rounded up to the alignment");
            for (int i = 0; i < blocks.Length; i++)
            {
                Assert.That((ulong)blocks[i] % expectedAlignment, Is.Zero, $"block {i} aligned to {expectedAlignment}");
                Assert.That(pool.Owns(blocks[i]), Is.EqualTo(BlockOwnership.Allocated), $"block {i} owned");
                Assert.That(BlockPattern.Matches(blocks[i], pool.BlockSize, BlockPattern.Tag(0, i)), Is.True, $"block {i} contents");
            }
        });
        foreach (nint block in blocks) MustFree(pool, block);
        AssertIntact(pool, expectedInUse: 0);
    }
}
