using NativePools.Diagnostics;
using NativePools.Pools;
using NUnit.Framework;

namespace NativePools.Tests.Core;

/// <summary>S21 (core): disposing a pool with blocks still out; every later call is refused.</summary>
public sealed class CoreDestroyTests
{
    [Test]
    public void S21_DisposeWithBlocksOut_LaterCallsAreRefused()
    {
        Assert.That(BlockPool.Create(new BlockPoolOptions { BlockSize = 128, Name = "doomed" }, out BlockPool? created), Is.EqualTo(NpStatus.Ok));
        BlockPool pool = created!;
        var blocks = new nint[10];
        for (int i = 0; i < blocks.Length; i++) Assert.That(pool.Alloc(out blocks[i]), Is.EqualTo(NpStatus.Ok));
        Assert.That(pool.Free(blocks[0]), Is.EqualTo(NpStatus.Ok), "some free, some still out");

        pool.Dispose();

        Assert.Multiple(() =>
        {
            Assert.That(pool.Alloc(out nint none), Is.EqualTo(NpStatus.InvalidHandle), "alloc");
            Assert.That(none, Is.EqualTo((nint)0));
            Assert.That(LastError.Message, Does.Contain("doomed").And.Contain("destroyed"));
            Assert.That(pool.Validate(out _), Is.EqualTo(NpStatus.InvalidHandle), "validate");
            Assert.That(pool.Trim(out _), Is.EqualTo(NpStatus.InvalidHandle), "trim");
            Assert.That(pool.Reserve(1), Is.EqualTo(NpStatus.InvalidHandle), "reserve");
            // Every call on a destroyed pool says so, frees of blocks from before included.
            Assert.That(pool.Free(blocks[1]), Is.EqualTo(NpStatus.InvalidHandle), "free of a block from before");
            Assert.That(pool.Owns(blocks[1]), Is.EqualTo(0), "owns a block from before");
        });
        Assert.DoesNotThrow(pool.Dispose, "a second dispose is a no-op");
    }
}
