using System.Collections.Generic;
using NativePools.Pools;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Scenarios;

/// <summary>
/// Base of every scenario fixture: a backend (core or native) to run against, pools that are
/// destroyed after each test, and the invariants every scenario ends with.
/// </summary>
public abstract class PoolScenarioFixture
{
    private readonly List<ITestPool> _pools = new();

    /// <summary>Core (in-process) or native (P/Invoke into the built library).</summary>
    protected abstract IPoolBackend Backend { get; }

    /// <summary>Creates a pool that is destroyed after the test.</summary>
    protected ITestPool CreatePool(BlockPoolOptions options)
    {
        NpStatus status = Backend.Create(options, out ITestPool? pool);
        Assert.That(status, Is.EqualTo(NpStatus.Ok), () => $"create: {Backend.LastErrorMessage()}");
        _pools.Add(pool!);
        return pool!;
    }

    /// <summary>Creates a pool of a preset size that is destroyed after the test.</summary>
    protected ITestPool CreatePreset(PoolPreset preset)
    {
        NpStatus status = Backend.CreatePreset(preset, out ITestPool? pool);
        Assert.That(status, Is.EqualTo(NpStatus.Ok), () => $"create preset {preset}: {Backend.LastErrorMessage()}");
        _pools.Add(pool!);
        return pool!;
    }

    [TearDown]
    public void DestroyPools()
    {
        foreach (ITestPool pool in _pools) pool.Dispose();
        _pools.Clear();
    }

    /// <summary>
    /// The invariants every scenario ends with, on a pool no other thread is using:
    /// validate() is OK with the counts compared, the block states agree with the stats,
    /// in_use = allocations - frees, created + reused = allocations. Returns the stats.
    /// </summary>
    protected BlockPoolStats AssertIntact(ITestPool pool, ulong expectedInUse)
    {
        NpStatus status = pool.Validate(out BlockPoolValidation report);
        BlockPoolStats stats = pool.GetStats();
        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(NpStatus.Ok), () => $"validate: {Backend.LastErrorMessage()}");
            Assert.That(report.Errors, Is.Zero, "validate errors");
            Assert.That(report.CountsChecked, Is.EqualTo(1u), "validate compared the counts (no other thread is active)");
            Assert.That(report.Allocated, Is.EqualTo(expectedInUse), "blocks marked allocated");
            Assert.That(report.FreeListed, Is.EqualTo(report.Free), "every free block is on the free list once");
            Assert.That(report.Allocated + report.Free, Is.EqualTo(stats.Capacity), "block states cover the capacity");
            Assert.That(stats.InUse, Is.EqualTo(expectedInUse), "in_use");
            Assert.That(stats.InUse, Is.EqualTo(stats.Allocations - stats.Frees), "in_use = allocations - frees");
            Assert.That(stats.Created + stats.Reused, Is.EqualTo(stats.Allocations), "created + reused = allocations");
            Assert.That(stats.BytesReserved, Is.EqualTo(stats.Capacity * stats.BlockStride), "bytes_reserved = capacity * stride");
            Assert.That(stats.PeakInUse, Is.GreaterThanOrEqualTo(stats.InUse), "peak_in_use >= in_use");
        });
        return stats;
    }

    // MustAlloc and MustFree run in loops of thousands: a plain branch keeps NUnit's constraint
    // machinery off the passing path.

    /// <summary>Allocates one block, asserting success.</summary>
    protected nint MustAlloc(ITestPool pool)
    {
        NpStatus status = pool.Alloc(out nint block);
        if (status != NpStatus.Ok || block == 0)
            Assert.Fail($"alloc returned {StatusText.NameString(status)} and 0x{block:x}: {Backend.LastErrorMessage()}");
        return block;
    }

    /// <summary>Frees one block, asserting success.</summary>
    protected void MustFree(ITestPool pool, nint block)
    {
        NpStatus status = pool.Free(block);
        if (status != NpStatus.Ok)
            Assert.Fail($"free 0x{block:x} returned {StatusText.NameString(status)}: {Backend.LastErrorMessage()}");
    }

    /// <summary>Fails the test when the block no longer holds the pattern of <paramref name="tag"/>.</summary>
    protected static void MustHold(ITestPool pool, nint block, ulong tag, string what)
    {
        if (!BlockPattern.Matches(block, pool.BlockSize, tag))
            Assert.Fail($"{what}: block 0x{block:x} lost the pattern of tag 0x{tag:x}");
    }
}
