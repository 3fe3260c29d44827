using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using NativePools.Messages;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Messages;

/// <summary>
/// The message pool scenarios M01-M08, written once against <see cref="ITestMessagePool"/> and run
/// in-process against the core (<see cref="CoreMessagePoolScenarios"/>) and through P/Invoke against
/// the built library (NativeMessagePoolScenarios). Every test ends with the totals equal to the sums
/// of the class stats (<see cref="AssertConsistent"/>).
/// </summary>
public abstract unsafe class MessagePoolScenarios
{
    private const ulong DefaultRetain = MessagePoolOptions.DefaultRetainPerClass;
    private const uint Largest = 1048576;
    private static readonly uint[] Defaults = MessagePoolOptions.DefaultClassSizes.ToArray();
    private readonly List<ITestMessagePool> _pools = new();

    /// <summary>Core (in-process) or native (P/Invoke into the built library).</summary>
    protected abstract IMessagePoolBackend Backend { get; }

    /// <summary>A message pool that is destroyed after the test.</summary>
    protected ITestMessagePool Create(ulong retain = DefaultRetain, uint[]? sizes = null, string name = "m-test")
    {
        var options = new MessagePoolOptions { RetainPerClass = retain, Name = name };
        if (sizes is not null) options.ClassSizes = sizes;
        NpStatus status = Backend.Create(options, out ITestMessagePool? pool);
        Assert.That(status, Is.EqualTo(NpStatus.Ok), () => $"create: {Backend.LastErrorMessage()}");
        _pools.Add(pool!);
        return pool!;
    }

    [TearDown]
    public void DestroyPools()
    {
        foreach (ITestMessagePool pool in _pools) pool.Dispose();
        _pools.Clear();
    }

    /// <summary>Each class is consistent in itself, and every total is the sum of the classes' fields.</summary>
    protected static (MessagePoolStats Totals, MessageClassStats[] Classes) AssertConsistent(ITestMessagePool pool)
    {
        MessagePoolStats t = pool.GetStats();
        MessageClassStats[] c = Enumerable.Range(0, (int)t.ClassCount).Select(pool.GetClassStats).ToArray();
        Assert.Multiple(() =>
        {
            foreach (MessageClassStats k in c)
            {
                Assert.That(k.Created + k.Reused, Is.EqualTo(k.Acquisitions), $"class {k.ClassSize}: created + reused");
                Assert.That(k.InFlight + k.FreeBlocks, Is.EqualTo(k.Capacity), $"class {k.ClassSize}: in flight + free");
                Assert.That(k.BytesCommitted, Is.EqualTo(k.Capacity * k.BlockStride), $"class {k.ClassSize}: bytes");
                Assert.That(k.Discarded, Is.LessThanOrEqualTo(k.Released), $"class {k.ClassSize}: discarded");
                Assert.That(k.PeakInFlight, Is.GreaterThanOrEqualTo(k.InFlight), $"class {k.ClassSize}: peak");
                Assert.That(k.ReuseRate, Is.EqualTo(k.Acquisitions == 0 ? 0 : (double)k.Reused / k.Acquisitions).Within(1e-9));
            }
            Assert.That(t.Capacity, Is.EqualTo(Sum(c, k => k.Capacity)), "capacity");
            Assert.That(t.BytesCommitted, Is.EqualTo(Sum(c, k => k.BytesCommitted)), "bytes_committed");
            Assert.That(t.InFlight, Is.EqualTo(Sum(c, k => k.InFlight)), "in_flight");
            Assert.That(t.PeakInFlight, Is.EqualTo(Sum(c, k => k.PeakInFlight)), "peak_in_flight");
            Assert.That(t.FreeBlocks, Is.EqualTo(Sum(c, k => k.FreeBlocks)), "free_blocks");
            Assert.That(t.Acquisitions, Is.EqualTo(Sum(c, k => k.Acquisitions)), "acquisitions");
            Assert.That(t.Created, Is.EqualTo(Sum(c, k => k.Created)), "created");
            Assert.That(t.Reused, Is.EqualTo(Sum(c, k => k.Reused)), "reused");
            Assert.That(t.Released, Is.EqualTo(Sum(c, k => k.Released)), "released");
            Assert.That(t.Discarded, Is.EqualTo(Sum(c, k => k.Discarded)), "discarded");
            Assert.That(t.FailedAcquisitions, Is.EqualTo(Sum(c, k => k.FailedAcquisitions)), "failed_acquisitions");
            Assert.That(t.DoubleReleases, Is.EqualTo(Sum(c, k => k.DoubleReleases)), "double_releases");
            Assert.That(t.ForeignReleases, Is.EqualTo(Sum(c, k => k.ForeignReleases)), "foreign_releases");
            Assert.That(t.InvalidReleases, Is.EqualTo(Sum(c, k => k.InvalidReleases)), "invalid_releases");
            Assert.That(t.ChunksReleased, Is.EqualTo(Sum(c, k => k.ChunksReleased)), "chunks_released");
            Assert.That(t.ReuseRate, Is.EqualTo(t.Acquisitions == 0 ? 0 : (double)t.Reused / t.Acquisitions).Within(1e-9));
        });
        return (t, c);
    }

    private static ulong Sum(MessageClassStats[] classes, Func<MessageClassStats, ulong> field) =>
        classes.Aggregate(0UL, (total, c) => total + field(c));

    private static int ClassOf(nuint size)
    {
        int k = 0;
        while (size > Defaults[k]) k++;
        return k;
    }

    private nint AcquireOk(ITestMessagePool pool, nuint size, out nuint capacity)
    {
        NpStatus status = pool.Acquire(size, out nint message, out capacity);
        Assert.That(status, Is.EqualTo(NpStatus.Ok), () => $"acquire({size}): {Backend.LastErrorMessage()}");
        return message;
    }

    private void ReleaseOk(ITestMessagePool pool, nint message) =>
        Assert.That(pool.Release(message), Is.EqualTo(NpStatus.Ok), () => $"release(0x{message:x}): {Backend.LastErrorMessage()}");

    // ------------------------------------------------------------------ M01

    private void ExpectClass(ITestMessagePool pool, nuint size, int expected, uint[] sizes)
    {
        ulong[] before = Enumerable.Range(0, sizes.Length).Select(k => pool.GetClassStats(k).Acquisitions).ToArray();
        nint message = AcquireOk(pool, size, out nuint capacity);
        Assert.That(capacity, Is.EqualTo((nuint)sizes[expected]), $"size {size}: capacity");
        new Span<byte>((void*)message, (int)capacity).Fill(0xA5);
        Assert.That(BlockPattern.AllBytesAre(message, (int)capacity, 0xA5), Is.True);
        ulong[] after = Enumerable.Range(0, sizes.Length).Select(k => pool.GetClassStats(k).Acquisitions).ToArray();
        Assert.That(after, Is.EqualTo(before.Select((b, k) => b + (k == expected ? 1UL : 0UL)).ToArray()), $"size {size}: the class counted");
        ReleaseOk(pool, message);
    }

    private void ExpectOversize(ITestMessagePool pool, nuint size, uint largest)
    {
        NpStatus status = pool.Acquire(size, out nint message, out nuint capacity);
        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(NpStatus.InvalidArgument), $"acquire({size})");
            Assert.That(Backend.LastErrorMessage(), Does.Contain(largest.ToString()), "the detail names the largest class");
            Assert.That(message, Is.EqualTo((nint)0));
            Assert.That(capacity, Is.EqualTo((nuint)0));
        });
    }

    [Test]
    public void M01_ClassSelection_AtEveryBoundary()
    {
        ITestMessagePool pool = Create();
        Assert.That(pool.ClassCount, Is.EqualTo(Defaults.Length));
        Assert.That(Enumerable.Range(0, Defaults.Length).Select(k => (uint)pool.GetClassStats(k).ClassSize), Is.EqualTo(Defaults));
        ExpectClass(pool, 0, 0, Defaults);
        for (int k = 0; k < Defaults.Length; k++)
        {
            ExpectClass(pool, Defaults[k] - 1, k, Defaults);
            ExpectClass(pool, Defaults[k], k, Defaults);
            if (k + 1 < Defaults.Length) ExpectClass(pool, Defaults[k] + 1, k + 1, Defaults);
        }
        ExpectOversize(pool, Largest + 1, Largest);
        ExpectOversize(pool, nuint.MaxValue, Largest);
        var (totals, _) = AssertConsistent(pool);
        Assert.That(totals.OversizeAcquisitions, Is.EqualTo(2));
        Assert.That(totals.FailedAcquisitions, Is.Zero);
    }

    [Test]
    public void M01_CustomClasses_DownToOneByte_AreChosenAndAligned()
    {
        uint[] sizes = [1, 8, 100, 4096];
        ITestMessagePool pool = Create(retain: 16, sizes: sizes);
        foreach (var (size, expected) in new (nuint, int)[] { (0, 0), (1, 0), (2, 1), (8, 1), (9, 2), (100, 2), (101, 3), (4096, 3) })
            ExpectClass(pool, size, expected, sizes);
        ExpectOversize(pool, 4097, 4096);
        foreach (nuint size in new nuint[] { 2, 8, 100, 4096 })
        {
            nint a = AcquireOk(pool, size, out _), b = AcquireOk(pool, size, out _);
            Assert.That(a % 8 == 0 && b % 8 == 0 && a != b, Is.True, $"size {size}: 0x{a:x}, 0x{b:x}");
            ReleaseOk(pool, a);
            ReleaseOk(pool, b);
        }
        AssertConsistent(pool);
    }

    // ------------------------------------------------------------------ M02

    [Test]
    public void M02_ManyThreads_MixedSizes_CrossThreadContents() =>
        RunMixedThreads(DefaultRetain, StressSize.Pick(8, 32), StressSize.Pick(400, 4000));

    /// <summary>The same with 2 free blocks kept per class: discards, chunk releases and regrowth all the time, concurrently.</summary>
    [Test]
    public void M02_TightRetention_DiscardsAndRegrows_UnderThreads() =>
        RunMixedThreads(2, StressSize.Pick(8, 32), StressSize.Pick(400, 4000));

    private void RunMixedThreads(ulong retain, int threads, int rounds)
    {
        ITestMessagePool pool = Create(retain);
        const int perRound = 8;
        int[] weights = [30, 25, 20, 12, 8, 4, 1];
        var inboxes = Enumerable.Range(0, threads).Select(_ => new BlockingCollection<(nint Message, int Size, ulong Tag)>()).ToArray();
        long[,] acquired = new long[threads, Defaults.Length], released = new long[threads, Defaults.Length];

        ThreadRunner.Run(threads, (index, cancelled) =>
        {
            var random = new Random(index);
            var outbox = inboxes[(index + 1) % threads];
            var mine = new (nint Message, int Size, ulong Tag)[perRound];
            int received = 0;
            void CheckAndRelease((nint Message, int Size, ulong Tag) item)
            {
                Check.Contents(item.Message, item.Size, item.Tag);
                Check.Status(pool.Release(item.Message), NpStatus.Ok, "release");
                released[index, ClassOf((nuint)item.Size)]++;
            }
            for (int round = 0; round < rounds; round++)
            {
                for (int j = 0; j < perRound; j++)
                {
                    int r = random.Next(100), k = 0;
                    while (k + 1 < weights.Length && r >= weights[k]) r -= weights[k++];
                    int low = k == 0 ? 0 : (int)Defaults[k - 1] + 1;
                    int size = random.Next(low, (int)Defaults[k] + 1);
                    Check.Status(pool.Acquire((nuint)size, out nint message, out nuint capacity), NpStatus.Ok, "acquire");
                    Check.That(capacity == Defaults[k], $"size {size}: capacity {capacity}");
                    ulong tag = BlockPattern.Tag(index, (long)round * perRound + j);
                    BlockPattern.Write(message, size, tag);
                    acquired[index, k]++;
                    mine[j] = (message, size, tag);
                }
                for (int j = 0; j < perRound / 2; j++) outbox.Add(mine[j]);
                while (inboxes[index].TryTake(out var item))
                {
                    CheckAndRelease(item);
                    received++;
                }
                for (int j = perRound / 2; j < perRound; j++) CheckAndRelease(mine[j]);
            }
            while (received < rounds * (perRound / 2))
            {
                CheckAndRelease(inboxes[index].Take(cancelled));
                received++;
            }
        });

        var (totals, classes) = AssertConsistent(pool);
        for (int k = 0; k < Defaults.Length; k++)
        {
            long a = 0, r = 0;
            for (int t = 0; t < threads; t++) { a += acquired[t, k]; r += released[t, k]; }
            Assert.That(classes[k].Acquisitions, Is.EqualTo((ulong)a), $"class {k} acquisitions");
            Assert.That(classes[k].Released, Is.EqualTo((ulong)r), $"class {k} releases");
        }
        Assert.That(totals.Acquisitions, Is.EqualTo((ulong)(threads * rounds * perRound)));
        Assert.That(totals.InFlight, Is.Zero);
        Assert.That(totals.DoubleReleases + totals.ForeignReleases + totals.InvalidReleases + totals.FailedAcquisitions, Is.Zero);
        if (retain < 8) Assert.That(totals.Discarded > 0 && totals.ChunksReleased > 0, Is.True, "a tight retention discarded nothing");
    }

    // ------------------------------------------------------------------ M03

    [Test]
    public void M03_Retention_LargeClass_DiscardsAndReturnsMemory()
    {
        const int blocks = 1000, klass = 5, size = 65536, retain = 16;
        ITestMessagePool pool = Create(retain: retain);
        var messages = new nint[blocks];
        for (int i = 0; i < blocks; i++)
        {
            messages[i] = AcquireOk(pool, size, out nuint capacity);
            Assert.That(capacity, Is.EqualTo((nuint)size));
            new Span<byte>((void*)messages[i], size).Fill((byte)i);
        }
        MessageClassStats full = pool.GetClassStats(klass);
        Assert.That((full.RetainLimit, full.BlocksPerChunk, full.Capacity), Is.EqualTo((16UL, 1UL, (ulong)blocks)));
        // No assertion inside the measured loop: NUnit's constraint objects would grow the GC heap meanwhile.
        int failures = 0;
        long residentFull = ProcessMemory.ResidentBytes();
        for (int i = 0; i < blocks; i++)
        {
            if (!BlockPattern.AllBytesAre(messages[i], size, (byte)i)) failures++;
            if (pool.Release(messages[i]) != NpStatus.Ok) failures++;
        }
        long residentReleased = ProcessMemory.ResidentBytes();
        Assert.That(failures, Is.Zero, "messages that lost their contents or failed to release");
        MessageClassStats s = pool.GetClassStats(klass);
        Assert.Multiple(() =>
        {
            Assert.That(s.Released, Is.EqualTo((ulong)blocks));
            Assert.That(s.InFlight, Is.Zero);
            Assert.That(s.FreeBlocks + s.Discarded, Is.EqualTo((ulong)blocks), "every discarded block left the class");
            Assert.That(s.ChunksReleased, Is.EqualTo(s.Discarded));
            Assert.That(s.FreeBlocks, Is.InRange((ulong)retain, retain + 2 * s.MagazineCapacity));
            Assert.That(residentFull - residentReleased, Is.GreaterThanOrEqualTo((long)(s.Discarded * size * 9 / 10)),
                $"resident memory went from {residentFull} to {residentReleased} bytes");
        });
        for (int i = 0; i < blocks; i++) messages[i] = AcquireOk(pool, size, out _);
        MessageClassStats again = pool.GetClassStats(klass);
        Assert.That(again.Reused, Is.EqualTo(s.Reused + s.FreeBlocks), "the kept blocks are reused first");
        Assert.That(again.Created, Is.EqualTo(s.Created + s.Discarded), "then exactly the discarded ones come back");
        foreach (nint message in messages) ReleaseOk(pool, message);
        AssertConsistent(pool);
    }

    [Test]
    public void M03_Retention_HoldsExactly_OnceReleasingThreadsExit()
    {
        const int klass = 5, retain = 16, threads = 4, perThread = 64;
        ITestMessagePool pool = Create(retain: retain);
        ThreadRunner.Run(threads, index =>
        {
            var mine = new nint[perThread];
            for (int j = 0; j < perThread; j++)
            {
                Check.Status(pool.Acquire(50_000, out mine[j], out _), NpStatus.Ok, "acquire");
                BlockPattern.Write(mine[j], 50_000, BlockPattern.Tag(index, j));
            }
            for (int j = 0; j < perThread; j++)
            {
                Check.Contents(mine[j], 50_000, BlockPattern.Tag(index, j));
                Check.Status(pool.Release(mine[j]), NpStatus.Ok, "release");
            }
        });
        // Reading stats takes back the caches of exited threads and applies the limit. A thread the
        // library saw may leave its runtime a moment after Join returns: poll briefly.
        MessageClassStats s = pool.GetClassStats(klass);
        for (var deadline = DateTime.UtcNow.AddSeconds(10); s.FreeBlocks != retain && DateTime.UtcNow < deadline; s = pool.GetClassStats(klass))
            Thread.Sleep(10);
        Assert.Multiple(() =>
        {
            Assert.That(s.Released, Is.EqualTo((ulong)(threads * perThread)));
            Assert.That((s.FreeBlocks, s.Capacity), Is.EqualTo(((ulong)retain, (ulong)retain)));
            Assert.That(s.Released, Is.EqualTo(s.Reused + s.Discarded + retain), "each release was reused, discarded or kept");
            Assert.That(s.Created, Is.EqualTo(s.Discarded + retain));
            Assert.That(s.BytesCommitted, Is.EqualTo((ulong)retain * 65536));
        });
        AssertConsistent(pool);
    }

    [Test]
    public void M03_Retention_SmallClass_ReturnsWholeChunks()
    {
        const int blocks = 20_000, klass = 2, size = 1024, retain = 64;
        ITestMessagePool pool = Create(retain: retain);
        var messages = new nint[blocks];
        for (int i = 0; i < blocks; i++)
        {
            messages[i] = AcquireOk(pool, size, out _);
            new Span<byte>((void*)messages[i], size).Fill(0x3C);
        }
        Assert.That(pool.GetClassStats(klass).BlocksPerChunk, Is.EqualTo(16));
        // No assertion inside the measured loop: NUnit's constraint objects would grow the GC heap meanwhile.
        int failures = 0;
        long residentFull = ProcessMemory.ResidentBytes();
        foreach (nint message in messages)
            if (pool.Release(message) != NpStatus.Ok) failures++;
        long residentReleased = ProcessMemory.ResidentBytes();
        Assert.That(failures, Is.Zero, "releases that failed");
        MessageClassStats s = pool.GetClassStats(klass);
        ulong bound = retain + 2 * s.MagazineCapacity + retain / 4 + 2 * s.BlocksPerChunk;
        Assert.Multiple(() =>
        {
            Assert.That((s.Released, s.InFlight), Is.EqualTo(((ulong)blocks, 0UL)));
            Assert.That(s.Discarded, Is.GreaterThanOrEqualTo(blocks - retain - 2 * s.MagazineCapacity));
            Assert.That(s.FreeBlocks, Is.LessThanOrEqualTo(bound));
            Assert.That(s.Capacity, Is.EqualTo(blocks - s.ChunksReleased * s.BlocksPerChunk));
            Assert.That(residentFull - residentReleased, Is.GreaterThanOrEqualTo((long)((blocks - bound) * size * 9 / 10)),
                $"resident memory went from {residentFull} to {residentReleased} bytes");
        });
        AssertConsistent(pool);
    }

    // ------------------------------------------------------------------ M04

    [Test]
    public void M04_Reserve_WarmsUpOneClass()
    {
        const int count = 500, klass = 2;
        ITestMessagePool pool = Create();
        long residentBefore = ProcessMemory.ResidentBytes();
        Assert.That(pool.Reserve(1000, count), Is.EqualTo(NpStatus.Ok));
        long residentReserved = ProcessMemory.ResidentBytes();
        MessageClassStats warm = pool.GetClassStats(klass);
        Assert.Multiple(() =>
        {
            Assert.That(warm.Capacity, Is.InRange((ulong)count, count + warm.BlocksPerChunk - 1));
            Assert.That((warm.Acquisitions, warm.FreeBlocks), Is.EqualTo((0UL, warm.Capacity)));
            Assert.That(residentReserved - residentBefore, Is.GreaterThanOrEqualTo(count * 1024L * 9 / 10), "reserve faults the pages in");
            Assert.That(Enumerable.Range(0, Defaults.Length).Where(k => k != klass).Select(k => pool.GetClassStats(k).Capacity), Is.All.Zero);
        });
        var messages = new nint[count];
        for (int i = 0; i < count; i++) messages[i] = AcquireOk(pool, (nuint)(600 + i % 400), out _);
        MessageClassStats used = pool.GetClassStats(klass);
        Assert.That((used.Capacity, used.Created), Is.EqualTo((warm.Capacity, (ulong)count)), "no growth");
        foreach (nint message in messages) ReleaseOk(pool, message);
        for (int i = 0; i < count; i++) messages[i] = AcquireOk(pool, 1024, out _);
        Assert.That(pool.GetClassStats(klass).Reused, Is.EqualTo((ulong)count));
        foreach (nint message in messages) ReleaseOk(pool, message);

        Assert.That(pool.Reserve(1024, 10), Is.EqualTo(NpStatus.Ok));
        Assert.That(pool.GetClassStats(klass).Capacity, Is.EqualTo(warm.Capacity), "reserving less changes nothing");
        Assert.That(pool.Reserve(0, 100), Is.EqualTo(NpStatus.Ok));
        Assert.That(pool.GetClassStats(0).Capacity, Is.GreaterThanOrEqualTo(100));
        Assert.That(pool.Reserve(65536, 37), Is.EqualTo(NpStatus.Ok));
        Assert.That(pool.GetClassStats(5).Capacity, Is.EqualTo(37), "one-block chunks: exactly the count");
        Assert.That(pool.Reserve(Largest + 1, 1), Is.EqualTo(NpStatus.InvalidArgument));
        Assert.That(pool.Reserve(Largest, MessagePool.ClassRangeBytes / Largest + 1), Is.EqualTo(NpStatus.PoolExhausted));
        AssertConsistent(pool);
    }

    // ------------------------------------------------------------------ M05

    [Test]
    public void M05_SteadyState_ReuseRateAbove99Percent()
    {
        ITestMessagePool pool = Create();
        var handoff = new ConcurrentQueue<(nint Message, nuint Size, long Stamp)>();

        void Release((nint Message, nuint Size, long Stamp) item)
        {
            if (item.Size >= 8) Check.That(*(long*)item.Message == item.Stamp, $"0x{item.Message:x} lost its stamp");
            Check.Status(pool.Release(item.Message), NpStatus.Ok, "release");
        }

        void Run(int operations) => ThreadRunner.Run(4, index =>
        {
            var random = new Random(1000 + index);
            var live = new List<(nint Message, nuint Size, long Stamp)>(32);
            for (long n = 0; n < operations; n++)
            {
                if (live.Count < 32 && (live.Count == 0 || random.Next(2) == 0))
                {
                    nuint size = (nuint)(random.Next(4) == 0 ? random.Next(65537) : random.Next(1025));
                    Check.Status(pool.Acquire(size, out nint message, out _), NpStatus.Ok, "acquire");
                    long stamp = ((long)index << 40) | n;
                    if (size >= 8) *(long*)message = stamp;
                    live.Add((message, size, stamp));
                }
                else
                {
                    int i = random.Next(live.Count);
                    var item = live[i];
                    live[i] = live[^1];
                    live.RemoveAt(live.Count - 1);
                    if (random.Next(8) == 0) handoff.Enqueue(item);
                    else Release(item);
                }
                while (random.Next(4) == 0 && handoff.TryDequeue(out var other)) Release(other);
            }
            foreach (var item in live) Release(item);
        });

        Run(20_000); // warm-up
        while (handoff.TryDequeue(out var item)) Release(item);
        pool.ResetStats();
        Run(StressSize.Pick(200_000, 2_000_000));
        while (handoff.TryDequeue(out var item)) Release(item);

        var (totals, classes) = AssertConsistent(pool);
        TestContext.Out.WriteLine($"M05 ({Backend.Name}): {totals.Acquisitions} acquisitions, reuse rate {totals.ReuseRate:F5}, {totals.Created} created");
        Assert.That(totals.ReuseRate, Is.GreaterThan(0.99));
        Assert.That(totals.InFlight, Is.Zero);
        // Every class of the mix was used; each busy one (5 % of the traffic or more) reuses too. A
        // quiet class can still create a few blocks late: free blocks may sit in other threads' caches.
        for (int k = 0; k < 6; k++)
        {
            Assert.That(classes[k].Acquisitions, Is.Positive, $"class {k} was used");
            if (classes[k].Acquisitions >= totals.Acquisitions / 20)
                Assert.That(classes[k].ReuseRate, Is.GreaterThan(0.99), $"class {k}");
        }
    }

    // ------------------------------------------------------------------ M06

    [Test]
    public void M06_Totals_AreTheSumsOfTheClasses_AndResetStartsOver()
    {
        ITestMessagePool pool = Create();
        nint[] kept = Defaults.Select(size => AcquireOk(pool, size, out _)).ToArray();
        nint[] burst = Enumerable.Range(0, 50).Select(i => AcquireOk(pool, 200, out _)).ToArray();
        foreach (nint message in burst) ReleaseOk(pool, message);
        Assert.That(pool.GetClassStats(1).PeakInFlight, Is.EqualTo(51));

        nint released = AcquireOk(pool, 1000, out _);
        ReleaseOk(pool, released);
        long onStack = 0;
        nint stackAddress = (nint)(&onStack);
        Assert.Multiple(() =>
        {
            Assert.That(pool.Release(released), Is.EqualTo(NpStatus.DoubleFree));                 // class 2
            Assert.That(pool.Release(kept[3] + 8), Is.EqualTo(NpStatus.InteriorPointer));        // class 3
            Assert.That(pool.Release(kept[4] + 3), Is.EqualTo(NpStatus.MisalignedPointer));      // class 4
            Assert.That(pool.Release(kept[7] + unchecked((nint)(1L << 33))), Is.EqualTo(NpStatus.ForeignPointer)); // class 7, beyond its blocks
            Assert.That(pool.Release(stackAddress), Is.EqualTo(NpStatus.ForeignPointer));    // no class
            Assert.That(pool.Acquire(Largest + 1, out _, out _), Is.EqualTo(NpStatus.InvalidArgument));
        });
        var (s, classes) = AssertConsistent(pool);
        Assert.Multiple(() =>
        {
            Assert.That(classes[2].DoubleReleases, Is.EqualTo(1));
            Assert.That((classes[3].InvalidReleases, classes[4].InvalidReleases), Is.EqualTo((1UL, 1UL)));
            Assert.That(classes[7].ForeignReleases, Is.EqualTo(1));
            Assert.That((s.DoubleReleases, s.InvalidReleases, s.ForeignReleases), Is.EqualTo((1UL, 2UL, 1UL)));
            Assert.That((s.UnownedReleases, s.OversizeAcquisitions), Is.EqualTo((1UL, 1UL)));
            Assert.That((s.InFlight, s.Acquisitions, s.Released), Is.EqualTo((8UL, 59UL, 51UL)));
        });

        pool.ResetStats();
        var (r, _) = AssertConsistent(pool);
        Assert.Multiple(() =>
        {
            Assert.That(r.Acquisitions + r.Created + r.Reused + r.Released + r.Discarded + r.FailedAcquisitions, Is.Zero);
            Assert.That(r.DoubleReleases + r.ForeignReleases + r.InvalidReleases + r.OversizeAcquisitions + r.UnownedReleases, Is.Zero);
            Assert.That((r.InFlight, r.PeakInFlight, r.Capacity), Is.EqualTo((8UL, 8UL, s.Capacity)));
            Assert.That(r.ReuseRate, Is.Zero);
        });
        foreach (nint message in kept) ReleaseOk(pool, message);
        MessagePoolStats after = pool.GetStats();
        Assert.That((after.Released, after.InFlight), Is.EqualTo((8UL, 0UL)));
    }

    // ------------------------------------------------------------------ M07

    [Test]
    public void M07_BadReleasesAndSizes_ReturnTheirStatus_AreCounted_PoolStaysIntact()
    {
        ITestMessagePool pool = Create(name: "victim");
        ITestMessagePool other = Create(name: "other");
        nint message = AcquireOk(pool, 200, out _);
        nint released = AcquireOk(pool, 200, out _);
        ReleaseOk(pool, released);
        nint otherMessage = AcquireOk(other, 200, out _);
        BlockPattern.Write(message, 200, 42);
        nint heap = (nint)System.Runtime.InteropServices.NativeMemory.Alloc(256);
        try
        {
            var rows = new (string What, Func<NpStatus> Call, NpStatus Expected, string? Counter)[]
            {
                ("release(NULL)", () => pool.Release(0), NpStatus.NullPointer, null),
                ("release twice", () => pool.Release(released), NpStatus.DoubleFree, "double"),
                ("release(never handed out)", () => pool.Release(message + 264 * 10), NpStatus.DoubleFree, "double"),
                ("release(interior)", () => pool.Release(message + 8), NpStatus.InteriorPointer, "invalid"),
                ("release(misaligned)", () => pool.Release(message + 1), NpStatus.MisalignedPointer, "invalid"),
                ("release(class range, beyond its blocks)", () => pool.Release(message + unchecked((nint)(1L << 32))), NpStatus.ForeignPointer, "foreign"),
                ("release(heap)", () => pool.Release(heap), NpStatus.ForeignPointer, "unowned"),
                ("release(other pool's message)", () => pool.Release(otherMessage), NpStatus.ForeignPointer, "unowned"),
                ("release(all ones)", () => pool.Release(-1), NpStatus.ForeignPointer, "unowned"),
                ("acquire(largest + 1)", () => pool.Acquire(Largest + 1, out _, out _), NpStatus.InvalidArgument, "oversize"),
                ("acquire(max)", () => pool.Acquire(nuint.MaxValue, out _, out _), NpStatus.InvalidArgument, "oversize"),
                ("reserve(largest + 1)", () => pool.Reserve(Largest + 1, 1), NpStatus.InvalidArgument, null),
                ("reserve(ulong.MaxValue blocks)", () => pool.Reserve(64, ulong.MaxValue), NpStatus.PoolExhausted, null),
            };
            var counters = new Dictionary<string, Func<MessagePoolStats, ulong>>
            {
                ["double"] = t => t.DoubleReleases,
                ["foreign"] = t => t.ForeignReleases,
                ["invalid"] = t => t.InvalidReleases,
                ["unowned"] = t => t.UnownedReleases,
                ["oversize"] = t => t.OversizeAcquisitions,
            };
            foreach (var row in rows)
            {
                MessagePoolStats before = pool.GetStats();
                NpStatus status = row.Call();
                string detail = Backend.LastErrorMessage();
                Assert.That(status, Is.EqualTo(row.Expected), $"{row.What}: {detail}");
                Assert.That(Backend.LastErrorStatus(), Is.EqualTo(row.Expected), row.What);
                Assert.That(detail, Does.Not.Contain(StatusText.NameString(row.Expected)).And.Length.GreaterThan(4), row.What);
                MessagePoolStats after = pool.GetStats();
                foreach (var (name, counter) in counters)
                    Assert.That(counter(after), Is.EqualTo(counter(before) + (name == row.Counter ? 1UL : 0UL)), $"{row.What}: {name}");
                Assert.That(after.InFlight, Is.EqualTo(1), row.What);
            }
            Assert.That(pool.Release(released), Is.EqualTo(NpStatus.DoubleFree));
            Assert.That(Backend.LastErrorMessage(), Does.Contain("victim/264"), "the detail names the class");
            Assert.That(BlockPattern.Matches(message, 200, 42), Is.True, "the message is untouched");
            ReleaseOk(pool, message);
            ReleaseOk(other, otherMessage);
            AssertConsistent(pool);
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.Free((void*)heap);
        }
    }

    // ------------------------------------------------------------------ M08

    [Test]
    public void M08_DestroyWithMessagesOut_LaterCallsReturnInvalidHandle()
    {
        var options = new MessagePoolOptions { Name = "doomed" };
        Assert.That(Backend.Create(options, out ITestMessagePool? created), Is.EqualTo(NpStatus.Ok));
        ITestMessagePool pool = created!;
        nint[] messages = Defaults.Select(size => AcquireOk(pool, size, out _)).ToArray();
        pool.Dispose();
        Assert.Multiple(() =>
        {
            Assert.That(pool.Acquire(10, out nint message, out _), Is.EqualTo(NpStatus.InvalidHandle));
            Assert.That(message, Is.EqualTo((nint)0));
            Assert.That(pool.Release(messages[0]), Is.EqualTo(NpStatus.InvalidHandle));
            Assert.That(pool.Release(messages[7]), Is.EqualTo(NpStatus.InvalidHandle));
            Assert.That(pool.Reserve(10, 1), Is.EqualTo(NpStatus.InvalidHandle));
            Assert.That(pool.Acquire(Largest + 1, out _, out _), Is.EqualTo(NpStatus.InvalidHandle));
        });
    }

    [Test]
    public void M08_CreateDestroyChurn_ReturnsMemoryAndAddressSpace()
    {
        static long VirtualBytes() =>
            long.Parse(File.ReadAllText("/proc/self/statm").Split(' ')[0]) * Environment.SystemPageSize;

        void Churn(int count)
        {
            for (int i = 0; i < count; i++)
            {
                Assert.That(Backend.Create(new MessagePoolOptions(), out ITestMessagePool? pool), Is.EqualTo(NpStatus.Ok));
                for (int k = 0; k < Defaults.Length; k++)
                {
                    nint message = AcquireOk(pool!, Defaults[k], out _);
                    new Span<byte>((void*)message, (int)Defaults[k]).Fill(0x77);
                    if (k % 2 == 0) ReleaseOk(pool!, message); // the rest stay out at destroy
                }
                pool!.Dispose();
            }
        }

        Churn(10);
        long resident = ProcessMemory.ResidentBytes(), address = VirtualBytes();
        int cycles = StressSize.Pick(200, 2000);
        Churn(cycles);
        Assert.Multiple(() =>
        {
            Assert.That(ProcessMemory.ResidentBytes() - resident, Is.LessThan(16L << 20), $"resident memory over {cycles} pools");
            Assert.That(VirtualBytes() - address, Is.LessThan(1L << 30), $"address space over {cycles} pools (16 GiB per class each)");
        });
    }
}

/// <summary>The message pool scenarios, in-process against the managed core.</summary>
[TestFixture]
public sealed class CoreMessagePoolScenarios : MessagePoolScenarios
{
    protected override IMessagePoolBackend Backend => CoreMessageBackend.Instance;
}
