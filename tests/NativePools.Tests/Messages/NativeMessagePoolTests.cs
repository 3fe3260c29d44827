using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using NUnit.Framework;
using static NativePools.Tests.Native.NativeApi;

namespace NativePools.Tests.Native;

/// <summary>
/// M07 (native): the argument and handle errors only the C ABI has (NULLs, struct_size, class
/// arrays, garbage, stale and wrong-kind handles), each with its status, last error and detail.
/// </summary>
public sealed unsafe class NativeMessagePoolTests
{
    private const ulong Garbage = 0xDEAD_BEEF_CAFE_F00D;
    private ulong _pool, _stale, _blockPool;
    private void* _message;

    [SetUp]
    public void CreatePools()
    {
        _pool = Create(null, 0);
        _stale = Create(null, 0);
        Assert.That(np_msgpool_destroy(_stale), Is.Zero);
        _blockPool = NativePresetPools.Create(NpConstants.NP_POOL_PRESET_SMALL, "block pool");
        void* m;
        Assert.That(np_msgpool_acquire(_pool, 100, &m, null), Is.Zero);
        _message = m;
    }

    [TearDown]
    public void DestroyPools()
    {
        Assert.That(np_msgpool_release(_pool, _message), Is.Zero);
        Assert.That(np_msgpool_destroy(_pool), Is.Zero);
        Assert.That(np_pool_destroy(_blockPool), Is.Zero);
    }

    private static ulong Create(uint[]? sizes, uint count)
    {
        NpMsgPoolOptions o;
        Assert.That(np_msgpool_options_init(&o), Is.Zero);
        ulong pool;
        fixed (uint* s = sizes)
        {
            o.class_sizes = s;
            o.class_count = count;
            Assert.That(np_msgpool_create(&o, &pool), Is.Zero, NativeBackend.LastErrorText);
        }
        Assert.That(pool, Is.Not.Zero);
        return pool;
    }

    /// <summary>np_msgpool_create with options changed by <paramref name="change"/>; a failure must leave the handle 0.</summary>
    private static int CreateWith(Func<NpMsgPoolOptions, NpMsgPoolOptions> change)
    {
        NpMsgPoolOptions o;
        np_msgpool_options_init(&o);
        o = change(o);
        ulong pool = 0x5A5A;
        int status = np_msgpool_create(&o, &pool);
        if (status == 0) np_msgpool_destroy(pool);
        else Assert.That(pool, Is.Zero, "a failed create leaves the handle 0");
        return status;
    }

    private static readonly uint[] TwoSizes = [64, 128];
    private static readonly uint[] Descending = [128, 64];
    private static readonly uint[] Seventeen = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17];
    private static readonly GCHandle Pin2 = GCHandle.Alloc(TwoSizes, GCHandleType.Pinned);
    private static readonly GCHandle PinDescending = GCHandle.Alloc(Descending, GCHandleType.Pinned);
    private static readonly GCHandle Pin17 = GCHandle.Alloc(Seventeen, GCHandleType.Pinned);

    private static int AcquireFrom(ulong pool, nuint size)
    {
        void* m = (void*)0x1234;
        nuint capacity = 99;
        int status = np_msgpool_acquire(pool, size, &m, &capacity);
        Assert.That((nint)m, Is.EqualTo((nint)0), "a failed acquire leaves NULL");
        Assert.That(capacity, Is.EqualTo((nuint)0), "and capacity 0");
        return status;
    }

    private static int ClassStats(ulong pool, uint index, uint size)
    {
        var s = new NpMsgPoolClassStats { struct_size = size };
        return np_msgpool_get_class_stats(pool, index, &s);
    }

    private static int Stats(ulong pool, uint size)
    {
        var s = new NpMsgPoolStats { struct_size = size };
        return np_msgpool_get_stats(pool, &s);
    }

    [Test]
    public void M07_ArgumentAndHandleErrors_ReturnTheirStatusAndDetail()
    {
        ulong pool = _pool, stale = _stale, blockPool = _blockPool;
        void* message = _message;
        uint classSize = (uint)sizeof(NpMsgPoolClassStats), statsSize = (uint)sizeof(NpMsgPoolStats);
        var rows = new List<(string What, NpStatus Expected, Func<int> Call)>
        {
            ("options_init(NULL)", NpStatus.NullPointer, () => np_msgpool_options_init(null)),
            ("create(NULL options)", NpStatus.NullPointer, () => { ulong p; return np_msgpool_create(null, &p); }),
            ("create(NULL out)", NpStatus.NullPointer, () => { NpMsgPoolOptions o; np_msgpool_options_init(&o); return np_msgpool_create(&o, null); }),
            ("create(struct_size 0)", NpStatus.UnsupportedStructSize, () => CreateWith(o => { o.struct_size = 0; return o; })),
            ("create(struct_size + 8)", NpStatus.UnsupportedStructSize, () => CreateWith(o => { o.struct_size += 8; return o; })),
            ("create(17 classes)", NpStatus.InvalidArgument, () => CreateWith(o => { o.class_sizes = (uint*)Pin17.AddrOfPinnedObject(); o.class_count = 17; return o; })),
            ("create(count without sizes)", NpStatus.NullPointer, () => CreateWith(o => { o.class_count = 2; return o; })),
            ("create(sizes without count)", NpStatus.InvalidArgument, () => CreateWith(o => { o.class_sizes = (uint*)Pin2.AddrOfPinnedObject(); return o; })),
            ("create(descending)", NpStatus.InvalidArgument, () => CreateWith(o => { o.class_sizes = (uint*)PinDescending.AddrOfPinnedObject(); o.class_count = 2; return o; })),
            ("acquire(NULL out)", NpStatus.NullPointer, () => np_msgpool_acquire(pool, 10, null, null)),
            ("acquire(handle 0)", NpStatus.InvalidHandle, () => AcquireFrom(0, 10)),
            ("acquire(garbage)", NpStatus.InvalidHandle, () => AcquireFrom(Garbage, 10)),
            ("acquire(wrong generation)", NpStatus.InvalidHandle, () => AcquireFrom(pool ^ (1UL << 40), 10)),
            ("acquire(destroyed)", NpStatus.InvalidHandle, () => AcquireFrom(stale, 10)),
            ("acquire(a block pool's handle)", NpStatus.InvalidHandle, () => AcquireFrom(blockPool, 10)),
            ("release(handle 0)", NpStatus.InvalidHandle, () => np_msgpool_release(0, message)),
            ("release(destroyed)", NpStatus.InvalidHandle, () => np_msgpool_release(stale, message)),
            ("release(a block pool's handle)", NpStatus.InvalidHandle, () => np_msgpool_release(blockPool, message)),
            ("get_stats(NULL)", NpStatus.NullPointer, () => np_msgpool_get_stats(pool, null)),
            ("get_stats(struct_size 0)", NpStatus.UnsupportedStructSize, () => Stats(pool, 0)),
            ("get_stats(class stats size)", NpStatus.UnsupportedStructSize, () => Stats(pool, classSize)),
            ("get_stats(destroyed)", NpStatus.InvalidHandle, () => Stats(stale, statsSize)),
            ("get_class_stats(NULL)", NpStatus.NullPointer, () => np_msgpool_get_class_stats(pool, 0, null)),
            ("get_class_stats(totals size)", NpStatus.UnsupportedStructSize, () => ClassStats(pool, 0, statsSize)),
            ("get_class_stats(index 8)", NpStatus.InvalidArgument, () => ClassStats(pool, 8, classSize)),
            ("get_class_stats(index max)", NpStatus.InvalidArgument, () => ClassStats(pool, uint.MaxValue, classSize)),
            ("get_class_stats(destroyed)", NpStatus.InvalidHandle, () => ClassStats(stale, 0, classSize)),
            ("reserve(destroyed)", NpStatus.InvalidHandle, () => np_msgpool_reserve(stale, 64, 1)),
            ("reset_stats(garbage)", NpStatus.InvalidHandle, () => np_msgpool_reset_stats(Garbage)),
            ("destroy(destroyed)", NpStatus.InvalidHandle, () => np_msgpool_destroy(stale)),
            ("destroy(a block pool's handle)", NpStatus.InvalidHandle, () => np_msgpool_destroy(blockPool)),
        };
        Assert.Multiple(() =>
        {
            foreach (var row in rows)
            {
                var status = (NpStatus)row.Call();
                string detail = NativeBackend.LastErrorText();
                Assert.That(status, Is.EqualTo(row.Expected), $"{row.What}: {detail}");
                Assert.That((NpStatus)np_last_error_status(), Is.EqualTo(row.Expected), row.What);
                Assert.That(detail, Does.Not.Contain(StatusText.NameString(row.Expected)).And.Length.GreaterThan(4), row.What);
            }
            Assert.That(np_msgpool_destroy(0), Is.Zero, "destroying 0 is a no-op");
            var s = new NpMsgPoolStats { struct_size = statsSize };
            Assert.That(np_msgpool_get_stats(pool, &s), Is.Zero);
            Assert.That(s.in_flight, Is.EqualTo(1), "the pool is intact");
            Assert.That(s.class_count, Is.EqualTo(NpMsgPoolConstants.NP_MSGPOOL_DEFAULT_CLASS_COUNT));
        });
    }

    [Test]
    public void M07_OptionsInit_FillsTheDocumentedDefaults()
    {
        NpMsgPoolOptions o;
        new Span<byte>(&o, sizeof(NpMsgPoolOptions)).Fill(0xEE);
        Assert.That(np_msgpool_options_init(&o), Is.Zero);
        NpMsgPoolOptions filled = o;
        Assert.Multiple(() =>
        {
            Assert.That(filled.struct_size, Is.EqualTo((uint)sizeof(NpMsgPoolOptions)));
            Assert.That(filled.class_count, Is.Zero);
            Assert.That((nint)filled.class_sizes, Is.EqualTo((nint)0));
            Assert.That(filled.retain_per_class, Is.EqualTo(NpMsgPoolConstants.NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS));
            Assert.That(filled.retain_bytes_per_class, Is.EqualTo(NpMsgPoolConstants.NP_MSGPOOL_DEFAULT_RETAIN_BYTES_PER_CLASS));
            Assert.That((nint)filled.name, Is.EqualTo((nint)0));
        });
        // The byte cap: 64 MiB of 1 MiB blocks is 64, of 256 KiB blocks 256; the others keep 1024.
        var c = new NpMsgPoolClassStats { struct_size = (uint)sizeof(NpMsgPoolClassStats) };
        ulong[] expected = [1024, 1024, 1024, 1024, 1024, 1024, 256, 64];
        for (uint k = 0; k < 8; k++)
        {
            Assert.That(np_msgpool_get_class_stats(_pool, k, &c), Is.Zero);
            Assert.That(c.retain_limit, Is.EqualTo(expected[k]), $"class {k}");
        }
        byte[] name = Encoding.UTF8.GetBytes("named\0");
        fixed (byte* n = name)
        {
            o.name = n;
            ulong named;
            Assert.That(np_msgpool_create(&o, &named), Is.Zero);
            Assert.That(np_msgpool_release(named, (void*)8), Is.EqualTo((int)NpStatus.ForeignPointer));
            Assert.That(NativeBackend.LastErrorText(), Does.Contain("'named'"));
            Assert.That(np_msgpool_destroy(named), Is.Zero);
        }
    }
}
