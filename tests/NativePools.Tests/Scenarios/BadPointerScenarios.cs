using System.Runtime.InteropServices;
using NativePools.Pools;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Scenarios;

/// <summary>
/// S16 (the pointer part, shared by both backends): every bad free returns its own status,
/// is counted where the stats count it, leaves a detail message, and leaves the pool intact.
/// The argument and handle part of S16 is backend specific (Core/ and Native/).
/// </summary>
public abstract unsafe class BadPointerScenarios : PoolScenarioFixture
{
    [Test]
    public void S16_BadFrees_EachReturnsItsStatus_IsCounted_PoolStaysIntact()
    {
        ITestPool pool = CreatePool(new BlockPoolOptions { BlockSize = 264, Name = "s16-pool" });
        ITestPool other = CreatePreset(PoolPreset.Small);
        nint live = MustAlloc(pool);
        nint freed = MustAlloc(pool);
        MustFree(pool, freed);
        nint otherBlock = MustAlloc(other);
        long onStack = 0;
        nint heap = (nint)NativeMemory.Alloc(64);
        try
        {
            ExpectRejected(pool, freed, NpStatus.DoubleFree, "double free");
            ExpectRejected(pool, live + 8, NpStatus.InteriorPointer, "interior pointer");
            ExpectRejected(pool, live + 3, NpStatus.MisalignedPointer, "misaligned pointer");
            ExpectRejected(pool, (nint)(&onStack), NpStatus.ForeignPointer, "stack memory");
            ExpectRejected(pool, heap, NpStatus.ForeignPointer, "heap memory");
            ExpectRejected(pool, otherBlock, NpStatus.ForeignPointer, "another pool's block");
            ExpectRejected(pool, 0, NpStatus.NullPointer, "free(NULL)");
        }
        finally
        {
            NativeMemory.Free((void*)heap);
        }

        BlockPoolStats stats = pool.GetStats();
        Assert.Multiple(() =>
        {
            Assert.That(stats.DoubleFrees, Is.EqualTo(1ul), "double_frees");
            Assert.That(stats.InvalidFrees, Is.EqualTo(2ul), "invalid_frees (interior + misaligned)");
            Assert.That(stats.ForeignFrees, Is.EqualTo(3ul), "foreign_frees (stack, heap, other pool)");
            Assert.That(stats.Frees, Is.EqualTo(1ul), "rejected frees are not frees");
            Assert.That(other.Owns(otherBlock), Is.EqualTo(BlockOwnership.Allocated), "the other pool's block was not touched");
            Assert.That(pool.Owns(live), Is.EqualTo(BlockOwnership.Allocated), "the live block is still allocated");
        });
        AssertIntact(pool, expectedInUse: 1);
        MustFree(pool, live);
        MustFree(other, otherBlock);
        AssertIntact(pool, expectedInUse: 0);
        AssertIntact(other, expectedInUse: 0);
    }

    private void ExpectRejected(ITestPool pool, nint pointer, NpStatus expected, string what)
    {
        NpStatus status = pool.Free(pointer);
        string message = Backend.LastErrorMessage();
        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(expected), what);
            Assert.That(Backend.LastErrorStatus(), Is.EqualTo(expected), $"{what}: last error status");
            Assert.That(message, Does.Not.Contain(StatusText.NameString(expected)), $"{what}: the last error message does not repeat the status name");
            Assert.That(message, Does.Contain("s16-pool"), $"{what}: the message names the pool");
        });
    }
}
