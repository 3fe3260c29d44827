using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using NativePools.Tests.Support;
using NUnit.Framework;
using static NativePools.Tests.Native.NativeApi;

namespace NativePools.Tests.Native;

/// <summary>
/// S16 (native): the bad-input table through the C ABI. Each call returns its own status,
/// leaves it in np_last_error_status() with a message from np_last_error_message(), is
/// counted where the stats count it, and the pool validates afterwards.
/// </summary>
public sealed unsafe class NativeBadInputTests
{
    private const ulong Garbage = 0xDEAD_BEEF_CAFE_F00D;
    private ulong _pool;
    private ulong _other;
    private ulong _stale;
    private void* _live;
    private void* _freed;
    private void* _otherBlock;
    private void* _heap;

    [SetUp]
    public void CreatePools()
    {
        _pool = CreatePool("s16-native", flags: 0);
        _other = CreatePool("other", flags: 0);
        _stale = CreatePool("stale", flags: 0);
        Assert.That(np_pool_destroy(_stale), Is.Zero);
        void* b;
        Assert.That(np_pool_alloc(_pool, &b), Is.Zero); _live = b;
        Assert.That(np_pool_alloc(_pool, &b), Is.Zero); _freed = b;
        Assert.That(np_pool_free(_pool, _freed), Is.Zero);
        Assert.That(np_pool_alloc(_other, &b), Is.Zero); _otherBlock = b;
        _heap = NativeMemory.Alloc(512);
    }

    [TearDown]
    public void DestroyPools()
    {
        NativeMemory.Free(_heap);
        np_pool_destroy(_pool);
        np_pool_destroy(_other);
    }

    private static ulong CreatePool(string name, uint flags) =>
        NativePresetPools.Create(NpConstants.NP_POOL_PRESET_SMALL, name, flags);

    private readonly record struct Row(string What, NpStatus Expected, Func<int> Call);

    private List<Row> ArgumentRows()
    {
        var rows = new List<Row>();
        NpPoolOptions good = SmallPreset();
        NpPoolOptions With(Func<NpPoolOptions, NpPoolOptions> change) => change(good);

        ulong pool = _pool;
        rows.Add(new("options_init(NULL)", NpStatus.NullPointer, () => np_pool_options_init(null)));
        rows.Add(new("options_preset(NULL)", NpStatus.NullPointer, () => np_pool_options_preset(null, 1)));
        rows.Add(new("options_preset(unknown 0)", NpStatus.InvalidArgument, () => { NpPoolOptions o; return np_pool_options_preset(&o, 0); }));
        rows.Add(new("options_preset(unknown 4)", NpStatus.InvalidArgument, () => { NpPoolOptions o; return np_pool_options_preset(&o, 4); }));
        rows.Add(new("create(NULL options)", NpStatus.NullPointer, () => { ulong p; return np_pool_create(null, &p); }));
        rows.Add(new("create(NULL out)", NpStatus.NullPointer, () => { NpPoolOptions o = good; return np_pool_create(&o, null); }));
        rows.Add(new("create(struct_size 0)", NpStatus.UnsupportedStructSize, () => Create(With(o => { o.struct_size = 0; return o; }))));
        rows.Add(new("create(struct_size + 8)", NpStatus.UnsupportedStructSize, () => Create(With(o => { o.struct_size += 8; return o; }))));
        rows.Add(new("create(block_size 0)", NpStatus.InvalidArgument, () => Create(With(o => { o.block_size = 0; return o; }))));
        rows.Add(new("create(block_size 16 MiB + 1)", NpStatus.InvalidArgument, () => Create(With(o => { o.block_size = (16 << 20) + 1; return o; }))));
        rows.Add(new("create(alignment 3)", NpStatus.InvalidArgument, () => Create(With(o => { o.alignment = 3; return o; }))));
        rows.Add(new("create(alignment 8192)", NpStatus.InvalidArgument, () => Create(With(o => { o.alignment = 8192; return o; }))));
        rows.Add(new("create(initial > max)", NpStatus.InvalidArgument, () => Create(With(o => { o.initial_blocks = 20; o.max_blocks = 10; return o; }))));
        rows.Add(new("create(unknown flags)", NpStatus.InvalidArgument, () => Create(With(o => { o.flags = 0x80; return o; }))));
        rows.Add(new("create(32 PiB of address space)", NpStatus.OutOfMemory, () => Create(With(o => { o.block_size = 16 << 20; o.max_blocks = int.MaxValue - 1; return o; }))));
        rows.Add(new("alloc(NULL out)", NpStatus.NullPointer, () => np_pool_alloc(pool, null)));
        rows.Add(new("alloc_batch(NULL allocated)", NpStatus.NullPointer, () => { void* b; return np_pool_alloc_batch(pool, &b, 1, null); }));
        rows.Add(new("alloc_batch(NULL blocks, count 3)", NpStatus.NullPointer, () => { nuint n; return np_pool_alloc_batch(pool, null, 3, &n); }));
        rows.Add(new("alloc_batch(count > INT32_MAX)", NpStatus.InvalidArgument, () => { void* b; nuint n; return np_pool_alloc_batch(pool, &b, (nuint)int.MaxValue + 1, &n); }));
        rows.Add(new("free_batch(NULL blocks, count 2)", NpStatus.NullPointer, () => np_pool_free_batch(pool, null, 2, null)));
        rows.Add(new("owns(NULL result)", NpStatus.NullPointer, () => np_pool_owns(pool, _live, null)));
        rows.Add(new("get_stats(NULL)", NpStatus.NullPointer, () => np_pool_get_stats(pool, null)));
        rows.Add(new("get_stats(struct_size 0)", NpStatus.UnsupportedStructSize, () => { var s = new NpPoolStats(); return np_pool_get_stats(pool, &s); }));
        rows.Add(new("get_stats(struct_size - 8)", NpStatus.UnsupportedStructSize, () => { var s = new NpPoolStats { struct_size = (uint)sizeof(NpPoolStats) - 8 }; return np_pool_get_stats(pool, &s); }));
        rows.Add(new("validate(struct_size 1)", NpStatus.UnsupportedStructSize, () => { var v = new NpPoolValidation { struct_size = 1 }; return np_pool_validate(pool, &v); }));
        rows.Add(new("reserve(beyond max_blocks)", NpStatus.PoolExhausted, () =>
        {
            NpPoolOptions o = With(x => { x.max_blocks = 10; return x; });
            ulong small;
            np_pool_create(&o, &small);
            try { return np_pool_reserve(small, 11); } finally { np_pool_destroy(small); }
        }));
        return rows;
    }

    private static NpPoolOptions SmallPreset()
    {
        NpPoolOptions o;
        Assert.That(np_pool_options_preset(&o, NpConstants.NP_POOL_PRESET_SMALL), Is.Zero);
        return o;
    }

    private static int Create(NpPoolOptions options)
    {
        ulong pool = 12345;
        int status = np_pool_create(&options, &pool);
        if (pool != 0) { np_pool_destroy(pool); return int.MaxValue; } // a failed create must leave 0
        return status;
    }

    private List<Row> HandleRows()
    {
        var rows = new List<Row>();
        foreach (var (label, handle) in new[] { ("0", 0ul), ("garbage", Garbage), ("stale", _stale) })
        {
            ulong h = handle;
            void* live = _live;
            rows.Add(new($"alloc({label})", NpStatus.InvalidHandle, () => { void* b; return np_pool_alloc(h, &b); }));
            rows.Add(new($"free({label})", NpStatus.InvalidHandle, () => np_pool_free(h, live)));
            rows.Add(new($"alloc_batch({label})", NpStatus.InvalidHandle, () => { void* b; nuint n; return np_pool_alloc_batch(h, &b, 1, &n); }));
            rows.Add(new($"free_batch({label})", NpStatus.InvalidHandle, () => { void* b = live; return np_pool_free_batch(h, &b, 1, null); }));
            rows.Add(new($"reserve({label})", NpStatus.InvalidHandle, () => np_pool_reserve(h, 1)));
            rows.Add(new($"trim({label})", NpStatus.InvalidHandle, () => np_pool_trim(h, null)));
            rows.Add(new($"owns({label})", NpStatus.InvalidHandle, () => { int r; return np_pool_owns(h, live, &r); }));
            rows.Add(new($"validate({label})", NpStatus.InvalidHandle, () => np_pool_validate(h, null)));
            rows.Add(new($"get_stats({label})", NpStatus.InvalidHandle, () => { var s = new NpPoolStats { struct_size = (uint)sizeof(NpPoolStats) }; return np_pool_get_stats(h, &s); }));
            rows.Add(new($"reset_stats({label})", NpStatus.InvalidHandle, () => np_pool_reset_stats(h)));
            if (h != 0) rows.Add(new($"destroy({label})", NpStatus.InvalidHandle, () => np_pool_destroy(h)));
        }
        return rows;
    }

    private List<Row> PointerRows()
    {
        var rows = new List<Row>();
        ulong pool = _pool;
        void* live = _live, freed = _freed, other = _otherBlock, heap = _heap;
        rows.Add(new("free(NULL)", NpStatus.NullPointer, () => np_pool_free(pool, null)));
        rows.Add(new("double free", NpStatus.DoubleFree, () => np_pool_free(pool, freed)));
        rows.Add(new("interior pointer", NpStatus.InteriorPointer, () => np_pool_free(pool, (byte*)live + 16)));
        rows.Add(new("misaligned pointer", NpStatus.MisalignedPointer, () => np_pool_free(pool, (byte*)live + 1)));
        rows.Add(new("stack memory", NpStatus.ForeignPointer, () => { long onStack = 0; return np_pool_free(pool, &onStack); }));
        rows.Add(new("heap memory", NpStatus.ForeignPointer, () => np_pool_free(pool, heap)));
        rows.Add(new("another pool's block", NpStatus.ForeignPointer, () => np_pool_free(pool, other)));
        return rows;
    }

    [Test]
    public void S16_ArgumentErrors_EachReturnItsStatusAndMessage() => RunRows(ArgumentRows());

    [Test]
    public void S16_HandleErrors_ZeroGarbageStale_ReturnInvalidHandle() => RunRows(HandleRows());

    [Test]
    public void S16_PointerErrors_ReturnTheirStatus_AreCounted_PoolValidates()
    {
        RunRows(PointerRows());
        var stats = new NpPoolStats { struct_size = (uint)sizeof(NpPoolStats) };
        Assert.That(np_pool_get_stats(_pool, &stats), Is.Zero);
        var report = new NpPoolValidation { struct_size = (uint)sizeof(NpPoolValidation) };
        var validateStatus = (NpStatus)np_pool_validate(_pool, &report);
        NpPoolStats s = stats;
        NpPoolValidation v = report;
        Assert.Multiple(() =>
        {
            Assert.That(s.double_frees, Is.EqualTo(1ul), "double_frees");
            Assert.That(s.invalid_frees, Is.EqualTo(2ul), "invalid_frees");
            Assert.That(s.foreign_frees, Is.EqualTo(3ul), "foreign_frees");
            Assert.That(s.frees, Is.EqualTo(1ul), "only the real free counts");
            Assert.That(s.in_use, Is.EqualTo(1ul));
            Assert.That(validateStatus, Is.EqualTo(NpStatus.Ok), "validate after the bad frees");
            Assert.That(v.allocated, Is.EqualTo(1ul));
            Assert.That(v.counts_checked, Is.EqualTo(1u));
        });
    }

    [Test]
    public void S23_EmptyBatches_WithNullArrays_AreAllowed()
    {
        nuint allocated = 99, freed = 99;
        var allocStatus = (NpStatus)np_pool_alloc_batch(_pool, null, 0, &allocated);
        var freeStatus = (NpStatus)np_pool_free_batch(_pool, null, 0, &freed);
        var freeNoCountStatus = (NpStatus)np_pool_free_batch(_pool, null, 0, null);
        nuint allocatedValue = allocated, freedValue = freed;
        Assert.Multiple(() =>
        {
            Assert.That(allocStatus, Is.EqualTo(NpStatus.Ok));
            Assert.That(allocatedValue, Is.EqualTo((nuint)0));
            Assert.That(freeStatus, Is.EqualTo(NpStatus.Ok));
            Assert.That(freedValue, Is.EqualTo((nuint)0));
            Assert.That(freeNoCountStatus, Is.EqualTo(NpStatus.Ok), "freed may be NULL");
        });
    }

    [Test]
    public void S16_DestroyZero_IsANoOp()
    {
        Assert.That(np_pool_destroy(0), Is.Zero);
    }

    private static void RunRows(IEnumerable<Row> rows)
    {
        int count = 0;
        Assert.Multiple(() =>
        {
            foreach (Row row in rows)
            {
                count++;
                int status = row.Call();
                Assert.That((NpStatus)status, Is.EqualTo(row.Expected), row.What);
                if (status != (int)row.Expected) continue;
                Assert.That((NpStatus)np_last_error_status(), Is.EqualTo(row.Expected), $"{row.What}: np_last_error_status");
                string message = NativeBackend.LastErrorText();
                Assert.That(message, Does.Not.Contain(Text(np_status_name(status))), $"{row.What}: np_last_error_message does not repeat the status name");
                Assert.That(message.Length, Is.GreaterThan(4), $"{row.What}: the message has detail");
            }
        });
        Assert.That(count, Is.GreaterThan(0));
    }
}
