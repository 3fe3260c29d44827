using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using NativePools.Tests.Support;

namespace NativePools.Tests.Scenarios;

/// <summary>
/// The multi-thread workload of S01-S03 and S05-S09. Each of N threads allocates blocks and
/// writes a pattern unique to (thread, sequence) into each. It keeps some in a local window,
/// verifying and freeing the oldest when the window is full, and hands the others to the next
/// thread, which verifies the pattern and frees the block on its own thread (cross-thread
/// free). After the threads end, the test thread drains what is still in flight, checking
/// every block. The counts are exact, so the caller can compare them with the stats.
/// </summary>
public sealed class HandoffWorkload(ITestPool pool, int threads, int allocationsPerThread, int localWindow)
{
    private readonly ConcurrentQueue<(nint Block, ulong Tag)>[] _inboxes = CreateInboxes(threads);
    private long _receivedAndFreed;

    /// <summary>Blocks allocated in total, once <see cref="Run"/> returned.</summary>
    public long Allocations => (long)threads * allocationsPerThread;

    /// <summary>Blocks freed by a thread other than the one that allocated them.</summary>
    public long CrossThreadFrees => Interlocked.Read(ref _receivedAndFreed);

    /// <summary>Runs the threads, then drains the inboxes; every block is freed afterwards.</summary>
    public void Run()
    {
        ThreadRunner.Run(threads, Worker);
        for (int t = 0; t < threads; t++) Drain(t);
    }

    private void Worker(int thread, CancellationToken cancelled)
    {
        int size = pool.BlockSize;
        var local = new Queue<(nint Block, ulong Tag)>(localWindow + 1);
        var inbox = _inboxes[thread];
        var next = _inboxes[(thread + 1) % threads];
        uint random = (uint)thread * 2654435761u + 1;
        for (int i = 0; i < allocationsPerThread; i++)
        {
            if ((i & 255) == 0) cancelled.ThrowIfCancellationRequested();
            Check.Status(pool.Alloc(out nint block), NpStatus.Ok, "alloc");
            ulong tag = BlockPattern.Tag(thread, i);
            BlockPattern.Write(block, size, tag);

            random ^= random << 13; random ^= random >> 17; random ^= random << 5;
            if (threads > 1 && (random & 1) == 0)
            {
                next.Enqueue((block, tag));
            }
            else
            {
                local.Enqueue((block, tag));
                if (local.Count > localWindow) VerifyAndFree(local.Dequeue());
            }
            // Free what other threads handed over, a few at a time so the queue stays short.
            for (int k = 0; k < 2 && inbox.TryDequeue(out var received); k++)
            {
                VerifyAndFree(received);
                Interlocked.Increment(ref _receivedAndFreed);
            }
        }
        while (local.Count > 0) VerifyAndFree(local.Dequeue());
    }

    private void Drain(int thread)
    {
        while (_inboxes[thread].TryDequeue(out var received))
        {
            VerifyAndFree(received);
            Interlocked.Increment(ref _receivedAndFreed);
        }
    }

    private void VerifyAndFree((nint Block, ulong Tag) entry)
    {
        Check.Contents(entry.Block, pool.BlockSize, entry.Tag);
        Check.Status(pool.Free(entry.Block), NpStatus.Ok, "free");
    }

    private static ConcurrentQueue<(nint, ulong)>[] CreateInboxes(int count)
    {
        var inboxes = new ConcurrentQueue<(nint, ulong)>[count];
        for (int i = 0; i < count; i++) inboxes[i] = new ConcurrentQueue<(nint, ulong)>();
        return inboxes;
    }
}
