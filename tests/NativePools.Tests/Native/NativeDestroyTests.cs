using System;
using System.Collections.Generic;
using System.Threading;
using NativePools.Tests.Support;
using NUnit.Framework;
using static NativePools.Tests.Native.NativeApi;

namespace NativePools.Tests.Native;

/// <summary>S21 (native): np_pool_destroy with blocks still out; the handle is stale afterwards.</summary>
public sealed unsafe class NativeDestroyTests
{
    [Test]
    public void S21_DestroyWithBlocksOut_HandleIsStaleAfterwards()
    {
        ulong pool = NativePresetPools.Create(NpConstants.NP_POOL_PRESET_MEDIUM);
        var blocks = new nint[25];
        for (int i = 0; i < blocks.Length; i++)
        {
            void* b;
            Assert.That(np_pool_alloc(pool, &b), Is.Zero);
            blocks[i] = (nint)b;
            BlockPattern.Write(blocks[i], 1024, BlockPattern.Tag(0, i));
        }

        Assert.That((NpStatus)np_pool_destroy(pool), Is.EqualTo(NpStatus.Ok), "destroy with 25 blocks out");

        void* none = (void*)1;
        int owned = -1;
        var stats = new NpPoolStats { struct_size = (uint)sizeof(NpPoolStats) };
        var statuses = new (string What, int Status)[]
        {
            ("alloc", np_pool_alloc(pool, &none)),
            ("free", np_pool_free(pool, (void*)blocks[0])),
            ("owns", np_pool_owns(pool, (void*)blocks[0], &owned)),
            ("get_stats", np_pool_get_stats(pool, &stats)),
            ("validate", np_pool_validate(pool, null)),
            ("trim", np_pool_trim(pool, null)),
            ("reserve", np_pool_reserve(pool, 1)),
            ("reset_stats", np_pool_reset_stats(pool)),
            ("destroy again", np_pool_destroy(pool)),
        };
        nint noneValue = (nint)none;
        int ownedValue = owned;
        Assert.Multiple(() =>
        {
            foreach (var (what, status) in statuses)
                Assert.That((NpStatus)status, Is.EqualTo(NpStatus.InvalidHandle), what);
            Assert.That(noneValue, Is.EqualTo((nint)0), "alloc writes NULL on failure");
            Assert.That(ownedValue, Is.EqualTo(NpConstants.NP_BLOCK_NOT_OWNED), "owns writes NOT_OWNED on failure");
            Assert.That(np_pool_destroy(0), Is.Zero, "destroy(0) is a no-op");
        });

        // A new pool may reuse the slot, but never the handle: the old one stays stale.
        ulong next = NativePresetPools.Create(NpConstants.NP_POOL_PRESET_MEDIUM);
        try
        {
            void* b;
            Assert.That(next, Is.Not.EqualTo(pool));
            Assert.That((NpStatus)np_pool_alloc(pool, &b), Is.EqualTo(NpStatus.InvalidHandle), "the old handle with a new pool alive");
            Assert.That((NpStatus)np_pool_alloc(next, &b), Is.EqualTo(NpStatus.Ok));
            Assert.That((NpStatus)np_pool_free(next, b), Is.EqualTo(NpStatus.Ok));
        }
        finally
        {
            Assert.That(np_pool_destroy(next), Is.Zero);
        }
    }

    /// <summary>
    /// A thread remembers the pool handle it last called through and skips the handle table while
    /// it keeps using that handle. Switching pools, destroying the remembered pool (with or
    /// without switching first) and reusing its slot must all still give exact answers.
    /// </summary>
    [Test]
    public void S21_LastUsedHandleShortcut_SurvivesSwitchingAndDestroy()
    {
        ulong first = NativePresetPools.Create(NpConstants.NP_POOL_PRESET_SMALL);
        ulong second = NativePresetPools.Create(NpConstants.NP_POOL_PRESET_SMALL);
        var fromFirst = new List<nint>();
        for (int round = 0; round < 300; round++)
        {
            void* a;
            void* b;
            Assert.That(np_pool_alloc(first, &a), Is.Zero);
            Assert.That(np_pool_alloc(first, &a), Is.Zero, "twice in a row: the second call takes the shortcut");
            fromFirst.Add((nint)a);
            Assert.That(np_pool_alloc(second, &b), Is.Zero);
            int owned = -1;
            Assert.That(np_pool_owns(first, b, &owned), Is.Zero);
            Assert.That(owned, Is.EqualTo(NpConstants.NP_BLOCK_NOT_OWNED));
            Assert.That((NpStatus)np_pool_free(first, b), Is.EqualTo(NpStatus.ForeignPointer), "a block of the other pool, handle of the remembered one");
            Assert.That(np_pool_free(second, b), Is.Zero);
            Assert.That((NpStatus)np_pool_free(second, b), Is.EqualTo(NpStatus.DoubleFree), "second free through the remembered handle");
        }
        for (int i = 0; i < fromFirst.Count; i += 2)
            Assert.That(np_pool_free(first, (void*)fromFirst[i]), Is.Zero);
        Assert.That((NpStatus)np_pool_free(first, (void*)fromFirst[0]), Is.EqualTo(NpStatus.DoubleFree));

        // Destroy the pool this thread used last, then use its handle: the shortcut must notice.
        Assert.That(np_pool_destroy(first), Is.Zero);
        void* stale = (void*)1;
        Assert.That((NpStatus)np_pool_alloc(first, &stale), Is.EqualTo(NpStatus.InvalidHandle));
        Assert.That((nint)stale, Is.EqualTo((nint)0));
        Assert.That((NpStatus)np_pool_free(first, (void*)fromFirst[1]), Is.EqualTo(NpStatus.InvalidHandle));

        // Remember the second pool, destroy it, and let a new pool take a slot.
        void* c;
        Assert.That(np_pool_alloc(second, &c), Is.Zero);
        Assert.That(np_pool_free(second, c), Is.Zero);
        Assert.That(np_pool_destroy(second), Is.Zero);
        ulong third = NativePresetPools.Create(NpConstants.NP_POOL_PRESET_SMALL);
        try
        {
            Assert.That((NpStatus)np_pool_free(second, c), Is.EqualTo(NpStatus.InvalidHandle));
            Assert.That((NpStatus)np_pool_alloc(second, &c), Is.EqualTo(NpStatus.InvalidHandle));
            for (int i = 0; i < 3; i++)
            {
                Assert.That(np_pool_alloc(third, &c), Is.Zero);
                Assert.That(np_pool_free(third, c), Is.Zero);
            }
            var stats = new NpPoolStats { struct_size = (uint)sizeof(NpPoolStats) };
            Assert.That(np_pool_get_stats(third, &stats), Is.Zero);
            Assert.That(stats.in_use, Is.Zero);
            Assert.That(stats.allocations, Is.EqualTo(3UL));
            Assert.That(stats.frees, Is.EqualTo(3UL));
            Assert.That(np_pool_validate(third, null), Is.Zero);
        }
        finally
        {
            Assert.That(np_pool_destroy(third), Is.Zero);
        }
    }

    /// <summary>
    /// What the remembered-pool shortcut keeps per thread must not outlive its reasons: destroying
    /// any other pool (which frees that pool's thread states) and growth by another thread (which
    /// raises the high-water mark the thread copied) must leave calls through the remembered
    /// handle exact, with bad frees still rejected.
    /// </summary>
    [Test]
    public void S21_RememberedPool_SurvivesOtherDestroysAndGrowthByAnotherThread()
    {
        ulong kept = NativePresetPools.Create(NpConstants.NP_POOL_PRESET_SMALL);
        try
        {
            void* b;
            Assert.That(np_pool_alloc(kept, &b), Is.Zero);
            Assert.That(np_pool_free(kept, b), Is.Zero, "remembered, with the current high-water mark");
            var stats = new NpPoolStats { struct_size = (uint)sizeof(NpPoolStats) };
            Assert.That(np_pool_get_stats(kept, &stats), Is.Zero);
            ulong capacityBefore = stats.capacity;
            ulong stride = stats.block_stride;

            // Other pools come and go between calls on the remembered one.
            for (int round = 0; round < 20; round++)
            {
                ulong other = NativePresetPools.Create(NpConstants.NP_POOL_PRESET_SMALL);
                void* o;
                Assert.That(np_pool_alloc(other, &o), Is.Zero);
                Assert.That(np_pool_alloc(kept, &b), Is.Zero);
                Assert.That(np_pool_destroy(other), Is.Zero);
                Assert.That(np_pool_free(kept, b), Is.Zero, $"round {round}: free after another pool's destroy");
                Assert.That((NpStatus)np_pool_free(kept, b), Is.EqualTo(NpStatus.DoubleFree), $"round {round}");
                Assert.That((NpStatus)np_pool_free(other, o), Is.EqualTo(NpStatus.InvalidHandle), $"round {round}");
            }

            // Another thread grows the pool past what this thread has seen, and hands its blocks over.
            int count = checked((int)capacityBefore + 64);
            var grown = new nint[count];
            int failed = -1;
            var grower = new Thread(() =>
            {
                for (int i = 0; i < count; i++)
                {
                    void* g;
                    if (np_pool_alloc(kept, &g) != 0) { failed = i; return; }
                    grown[i] = (nint)g;
                }
            });
            grower.Start();
            grower.Join();
            Assert.That(failed, Is.EqualTo(-1), "the other thread's allocations");
            Assert.That(np_pool_get_stats(kept, &stats), Is.Zero);
            Assert.That(stats.capacity, Is.GreaterThan(capacityBefore), "the pool grew");

            nint highest = 0;
            foreach (nint g in grown) highest = Math.Max(highest, g);
            nint pastEnd = highest + (nint)(stats.capacity - stats.in_use + 1) * (nint)stride;
            Assert.That((NpStatus)np_pool_free(kept, (void*)pastEnd), Is.EqualTo(NpStatus.ForeignPointer), "a block start past every committed block");
            foreach (nint g in grown)
                Assert.That(np_pool_free(kept, (void*)g), Is.Zero, "a block above this thread's copy of the mark");
            Assert.That((NpStatus)np_pool_free(kept, (void*)highest), Is.EqualTo(NpStatus.DoubleFree));

            Assert.That(np_pool_get_stats(kept, &stats), Is.Zero);
            Assert.That(stats.in_use, Is.Zero);
            Assert.That(stats.allocations, Is.EqualTo(stats.frees));
            Assert.That(np_pool_validate(kept, null), Is.Zero);
        }
        finally
        {
            Assert.That(np_pool_destroy(kept), Is.Zero);
        }
    }

    /// <summary>
    /// Pools created and destroyed on some threads (the handle table grows and reuses slots)
    /// while other threads keep working in their own long-lived pools: those never see a
    /// wrong handle, and every short-lived handle is stale after its destroy.
    /// </summary>
    [Test]
    public void S21_CreateAndDestroyOnSomeThreads_WhileOthersUseTheirPools()
    {
        int rounds = StressSize.Pick(ci: 1_500, full: 30_000);
        ThreadRunner.Run(6, (thread, cancelled) =>
        {
            NpPoolOptions o;
            Check.That(np_pool_options_preset(&o, NpConstants.NP_POOL_PRESET_SMALL) == 0, "preset");
            if (thread % 2 == 0)
            {
                // Churn: several pools at a time, so the table grows past its first size.
                var handles = new ulong[24];
                for (int r = 0; r < rounds / 10; r++)
                {
                    cancelled.ThrowIfCancellationRequested();
                    for (int i = 0; i < handles.Length; i++)
                    {
                        ulong h;
                        Check.That(np_pool_create(&o, &h) == 0 && h != 0, "create");
                        handles[i] = h;
                    }
                    foreach (ulong h in handles)
                    {
                        void* b;
                        Check.That(np_pool_alloc(h, &b) == 0, "alloc in a fresh pool");
                        Check.That(np_pool_destroy(h) == 0, "destroy with a block out");
                        Check.That(np_pool_alloc(h, &b) == (int)NpStatus.InvalidHandle, "the destroyed handle is stale");
                    }
                }
                return;
            }
            ulong pool;
            Check.That(np_pool_create(&o, &pool) == 0, "create");
            try
            {
                for (int r = 0; r < rounds * 20; r++)
                {
                    void* b;
                    Check.That(np_pool_alloc(pool, &b) == 0, "alloc in a long-lived pool");
                    ulong tag = BlockPattern.Tag(thread, r);
                    BlockPattern.Write((nint)b, 264, tag);
                    Check.Contents((nint)b, 264, tag);
                    Check.That(np_pool_free(pool, b) == 0, "free in a long-lived pool");
                }
                var stats = new NpPoolStats { struct_size = (uint)sizeof(NpPoolStats) };
                Check.That(np_pool_get_stats(pool, &stats) == 0, "stats");
                Check.That(stats.allocations == (ulong)rounds * 20 && stats.in_use == 0, $"stats: {stats.allocations} allocations, {stats.in_use} in use");
            }
            finally
            {
                np_pool_destroy(pool);
            }
        });
    }
}
