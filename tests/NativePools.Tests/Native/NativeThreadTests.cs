using System.Collections.Concurrent;
using System.Threading;
using NativePools.Tests.Support;
using NUnit.Framework;
using static NativePools.Tests.Native.NativeApi;

namespace NativePools.Tests.Native;

/// <summary>
/// What foreign threads see: each OS thread has its own last error, and threads that come,
/// call the library and exit (so the library attaches and detaches them) leave nothing behind.
/// </summary>
public sealed unsafe class NativeThreadTests
{
    [Test]
    public void S16_LastError_IsPerOsThread_AndSurvivesSuccessfulCalls()
    {
        var seen = new ConcurrentDictionary<int, (int Status, string Message)>();
        ThreadRunner.Run(4, thread =>
        {
            // Each thread fails in its own way, then makes successful calls.
            void* block;
            if (thread == 0) np_pool_alloc(0xBAD, &block);
            if (thread == 1) np_pool_options_init(null);
            if (thread == 2) { NpPoolOptions o; np_pool_options_preset(&o, 99); }
            np_version();
            NpPoolOptions ok;
            Check.That(np_pool_options_init(&ok) == 0, "options_init");
            seen[thread] = (np_last_error_status(), NativeBackend.LastErrorText());
        });
        Assert.Multiple(() =>
        {
            Assert.That(seen[0].Status, Is.EqualTo((int)NpStatus.InvalidHandle));
            Assert.That(seen[0].Message, Does.StartWith("0xbad is not a live pool handle"));
            Assert.That(seen[1].Status, Is.EqualTo((int)NpStatus.NullPointer));
            Assert.That(seen[1].Message, Does.Contain("options"));
            Assert.That(seen[2].Status, Is.EqualTo((int)NpStatus.InvalidArgument));
            Assert.That(seen[2].Message, Does.Contain("99"));
            Assert.That(seen[3].Status, Is.EqualTo((int)NpStatus.Ok), "a thread that never failed");
            Assert.That(seen[3].Message, Is.Empty);
        });
    }

    [Test]
    public void S16_LastErrorMessage_TruncatesLikeSnprintf()
    {
        np_pool_free(0, null); // NP_E_INVALID_HANDLE with a detail message
        nuint full = np_last_error_message(null, 0);
        byte* small = stackalloc byte[8];
        for (int i = 0; i < 8; i++) small[i] = 0xFF;
        nuint reported = np_last_error_message(small, 8);
        Assert.Multiple(() =>
        {
            Assert.That(full, Is.GreaterThan((nuint)8));
            Assert.That(reported, Is.EqualTo(full), "returns the full length");
            Assert.That(Text(small), Is.EqualTo("0x0 is "), "7 bytes and the NUL");
            Assert.That(small[7], Is.EqualTo((byte)0));
        });
    }

    [Test]
    public void S16_StatusNamesAndMessages_ForEveryCode()
    {
        Assert.Multiple(() =>
        {
            for (int code = 0; code >= StatusText.MinStatus; code--)
            {
                Assert.That(Text(np_status_name(code)), Is.EqualTo(StatusText.NameString((NpStatus)code)), $"np_status_name({code})");
                Assert.That(Text(np_status_message(code)), Is.Not.Empty.And.Not.EqualTo("unknown status code"), $"np_status_message({code})");
            }
            Assert.That(Text(np_status_name(1)), Is.EqualTo("NP_E_UNKNOWN"));
            Assert.That(Text(np_status_name(-1000)), Is.EqualTo("NP_E_UNKNOWN"));
            Assert.That(Text(np_status_message(-1000)), Is.EqualTo("unknown status code"));
        });
    }

    /// <summary>
    /// Waves of short-lived threads each allocate, hand their block to the next wave and exit;
    /// every block must arrive intact and the pool must end balanced.
    /// </summary>
    [Test]
    public void S08_ThreadChurn_ShortLivedForeignThreads_LeaveTheLibraryBalanced()
    {
        ulong pool = NativePresetPools.Create(NpConstants.NP_POOL_PRESET_SMALL);
        int waves = StressSize.Pick(ci: 30, full: 300);
        const int perWave = 50;
        ulong handle = pool;
        var carried = new ConcurrentQueue<(nint Block, ulong Tag)>();
        try
        {
            for (int wave = 0; wave < waves; wave++)
            {
                int w = wave;
                ThreadRunner.Run(perWave, thread =>
                {
                    if (carried.TryDequeue(out var previous))
                    {
                        Check.Contents(previous.Block, 264, previous.Tag);
                        Check.That(np_pool_free(handle, (void*)previous.Block) == 0, "free of the previous wave's block");
                    }
                    void* b;
                    Check.That(np_pool_alloc(handle, &b) == 0, "alloc");
                    ulong tag = BlockPattern.Tag(w * perWave + thread, w);
                    BlockPattern.Write((nint)b, 264, tag);
                    carried.Enqueue(((nint)b, tag));
                });
            }
            while (carried.TryDequeue(out var last))
            {
                Assert.That(BlockPattern.Matches(last.Block, 264, last.Tag), Is.True);
                Assert.That(np_pool_free(pool, (void*)last.Block), Is.Zero);
            }
            var stats = new NpPoolStats { struct_size = (uint)sizeof(NpPoolStats) };
            var report = new NpPoolValidation { struct_size = (uint)sizeof(NpPoolValidation) };
            Assert.That(np_pool_get_stats(pool, &stats), Is.Zero);
            Assert.That((NpStatus)np_pool_validate(pool, &report), Is.EqualTo(NpStatus.Ok));
            ulong allocations = stats.allocations, frees = stats.frees, inUse = stats.in_use, allocated = report.allocated;
            Assert.Multiple(() =>
            {
                Assert.That(allocations, Is.EqualTo((ulong)(waves * perWave)));
                Assert.That(frees, Is.EqualTo(allocations));
                Assert.That(inUse, Is.Zero);
                Assert.That(allocated, Is.Zero);
            });
        }
        finally
        {
            np_pool_destroy(pool);
        }
    }

    /// <summary>
    /// Error messages are built on the library's own managed heap, so many threads asking for
    /// them make the library's GC run while other foreign threads are inside alloc and free.
    /// Every call must still return the right thing.
    /// </summary>
    [Test]
    public void S16_ErrorMessagesOnManyThreads_WhileOthersAllocate()
    {
        ulong pool = NativePresetPools.Create(NpConstants.NP_POOL_PRESET_SMALL);
        ulong handle = pool;
        int rounds = StressSize.Pick(ci: 40_000, full: 1_000_000);
        try
        {
            ThreadRunner.Run(4, thread =>
            {
                byte* buffer = stackalloc byte[256];
                for (int r = 0; r < rounds; r++)
                {
                    if (thread < 2)
                    {
                        // A failing call records a detail; reading it formats a string inside the library.
                        Check.That(np_pool_free(handle, (void*)0x10) == (int)NpStatus.ForeignPointer, "foreign free");
                        nuint length = np_last_error_message(buffer, 256);
                        Check.That(length > 20 && Text(buffer).StartsWith("pointer 0x10 does not belong", System.StringComparison.Ordinal), "message");
                    }
                    else
                    {
                        void* b;
                        Check.That(np_pool_alloc(handle, &b) == 0, "alloc");
                        BlockPattern.Write((nint)b, 264, BlockPattern.Tag(thread, r));
                        Check.Contents((nint)b, 264, BlockPattern.Tag(thread, r));
                        Check.That(np_pool_free(handle, b) == 0, "free");
                    }
                }
            });
            var stats = new NpPoolStats { struct_size = (uint)sizeof(NpPoolStats) };
            Assert.That(np_pool_get_stats(pool, &stats), Is.Zero);
            ulong foreign = stats.foreign_frees, allocations = stats.allocations, inUse = stats.in_use;
            Assert.Multiple(() =>
            {
                Assert.That(foreign, Is.EqualTo((ulong)(2 * rounds)));
                Assert.That(allocations, Is.EqualTo((ulong)(2 * rounds)));
                Assert.That(inUse, Is.Zero);
            });
        }
        finally
        {
            np_pool_destroy(pool);
        }
    }
}
