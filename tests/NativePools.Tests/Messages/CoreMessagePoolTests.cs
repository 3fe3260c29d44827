using System;
using NativePools.Diagnostics;
using NativePools.Messages;
using NUnit.Framework;

namespace NativePools.Tests.Messages;

/// <summary>
/// What only the managed API of message pools has: option validation with its detail messages,
/// class lookups, argument exceptions, and the hot path allocating nothing on the managed heap.
/// </summary>
public sealed unsafe class CoreMessagePoolTests
{
    private static MessagePool CreatePool(MessagePoolOptions options)
    {
        Assert.That(MessagePool.Create(options, out MessagePool? pool), Is.EqualTo(NpStatus.Ok), () => LastError.Message);
        return pool!;
    }

    [Test]
    public void M07_CreateWithBadOptions_IsRefusedWithItsStatusAndDetail()
    {
        var rows = new (string What, MessagePoolOptions? Options, NpStatus Expected, string Detail)[]
        {
            ("null options", null, NpStatus.NullPointer, "null"),
            ("null class sizes", new MessagePoolOptions { ClassSizes = null! }, NpStatus.InvalidArgument, "at least one"),
            ("no class sizes", new MessagePoolOptions { ClassSizes = [] }, NpStatus.InvalidArgument, "at least one"),
            ("17 classes", new MessagePoolOptions { ClassSizes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17] }, NpStatus.InvalidArgument, "17"),
            ("size 0", new MessagePoolOptions { ClassSizes = [0, 64] }, NpStatus.InvalidArgument, "outside"),
            ("size 16 MiB + 1", new MessagePoolOptions { ClassSizes = [64, MessagePoolOptions.MaxClassSize + 1] }, NpStatus.InvalidArgument, "16777217"),
            ("descending", new MessagePoolOptions { ClassSizes = [128, 64] }, NpStatus.InvalidArgument, "ascending"),
            ("repeated", new MessagePoolOptions { ClassSizes = [64, 64] }, NpStatus.InvalidArgument, "ascending"),
        };
        Assert.Multiple(() =>
        {
            foreach (var row in rows)
            {
                LastError.Clear();
                NpStatus status = MessagePool.Create(row.Options!, out MessagePool? pool);
                Assert.That(status, Is.EqualTo(row.Expected), row.What);
                Assert.That(pool, Is.Null, row.What);
                Assert.That(LastError.Status, Is.EqualTo(row.Expected), row.What);
                Assert.That(LastError.Message, Does.Contain(row.Detail), row.What);
            }
        });
    }

    [Test]
    public void M07_BoundaryOptions_AreAccepted()
    {
        using MessagePool one = CreatePool(new MessagePoolOptions { ClassSizes = [MessagePoolOptions.MaxClassSize], RetainPerClass = 0 });
        Assert.That(one.Acquire(1, out byte* message, out nuint capacity), Is.EqualTo(NpStatus.Ok));
        Assert.That(capacity, Is.EqualTo((nuint)MessagePoolOptions.MaxClassSize));
        Assert.That(one.Release(message), Is.EqualTo(NpStatus.Ok));
        Assert.That(one.GetClassStats(0).RetainLimit, Is.Zero);

        uint[] sixteen = new uint[MessagePoolOptions.MaxClasses];
        for (int k = 0; k < sixteen.Length; k++) sixteen[k] = (uint)(k + 1);
        using MessagePool many = CreatePool(new MessagePoolOptions { ClassSizes = sixteen, RetainPerClass = ulong.MaxValue });
        Assert.That(many.ClassCount, Is.EqualTo(16));
        sixteen[0] = 999; // the pool copied the array
        Assert.That(many.GetClassSize(0), Is.EqualTo(1));
    }

    [Test]
    public void M07_GetClassStats_OfNoClass_Throws()
    {
        using MessagePool pool = CreatePool(new MessagePoolOptions());
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.GetClassStats(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.GetClassStats(8));
    }

    [Test]
    public void M01_ClassLookups_BySizeAndByAddress()
    {
        using MessagePool pool = CreatePool(new MessagePoolOptions());
        Assert.Multiple(() =>
        {
            Assert.That(pool.ClassIndexFor(0), Is.EqualTo(0));
            Assert.That(pool.ClassIndexFor(64), Is.EqualTo(0));
            Assert.That(pool.ClassIndexFor(65), Is.EqualTo(1));
            Assert.That(pool.ClassIndexFor(1048576), Is.EqualTo(7));
            Assert.That(pool.ClassIndexFor(1048577), Is.EqualTo(-1));
            Assert.That(pool.LargestClassSize, Is.EqualTo(1048576));
        });
        for (int k = 0; k < pool.ClassCount; k++)
        {
            Assert.That(pool.Acquire(pool.GetClassSize(k), out byte* message, out _), Is.EqualTo(NpStatus.Ok));
            Assert.That(pool.ClassIndexOf(message), Is.EqualTo(k));
            Assert.That(pool.ClassIndexOf(message + MessagePool.ClassRangeBytes - 1 - (ulong)(message - (byte*)0) % MessagePool.ClassRangeBytes), Is.AnyOf(k, -1));
            Assert.That(pool.Release(message), Is.EqualTo(NpStatus.Ok));
        }
        long local = 0;
        Assert.That(pool.ClassIndexOf((byte*)&local), Is.EqualTo(-1));
        Assert.That(pool.ClassIndexOf(null), Is.EqualTo(-1));
    }

    /// <summary>
    /// Acquire and release allocate nothing on the managed heap once warm (a GC would stall every
    /// caller). Exact byte counts of this thread, not timings; every class, including the one-block
    /// chunks of the large classes, and a pair that goes to the depot each time (retention 0).
    /// </summary>
    [Test]
    public void HotPath_AcquireReleasePairs_AllocateNothingOnTheManagedHeap()
    {
        using MessagePool pool = CreatePool(new MessagePoolOptions { Name = "hot" });
        using MessagePool strict = CreatePool(new MessagePoolOptions { Name = "strict", RetainPerClass = 0 });
        const int pairs = 20_000;
        Run(pool, pairs);   // warm-up: tiering, first-use statics, the first chunks, thread caches
        Run(strict, 2_000);

        long before = GC.GetAllocatedBytesForCurrentThread();
        int failures = Run(pool, pairs);
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.That(failures, Is.Zero);
        Assert.That(after - before, Is.Zero, $"managed bytes allocated by {pairs} bursts of 4 acquire/release pairs over every class");

        before = GC.GetAllocatedBytesForCurrentThread();
        failures = Run(strict, 2_000);
        after = GC.GetAllocatedBytesForCurrentThread();
        Assert.That(failures, Is.Zero);
        Assert.That(after - before, Is.Zero, "managed bytes allocated while every release is discarded and every acquire regrows");
        Assert.That(strict.GetStats().Discarded, Is.Positive);
    }

    private static int Run(MessagePool pool, int rounds)
    {
        int failures = 0;
        uint largest = pool.LargestClassSize;
        byte** burst = stackalloc byte*[4];
        for (int i = 0; i < rounds; i++)
        {
            // Sizes walk over every class; bursts of 4 of one class overflow magazines of one or
            // two blocks, so the thread also exchanges with the depot (and, with retention 0, discards).
            nuint size = (nuint)((ulong)i * 2654435761UL % (largest + 1UL));
            for (int j = 0; j < 4; j++)
                if (pool.Acquire(size, out burst[j], out _) != NpStatus.Ok) failures++;
            for (int j = 3; j >= 0; j--)
                if (pool.Release(burst[j]) != NpStatus.Ok) failures++;
        }
        return failures;
    }
}
