using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Threading;
using NUnit.Framework;

namespace NativePools.Tests.Support;

/// <summary>
/// Runs a body on N new OS threads that all start together, joins them, and fails the
/// calling test with every worker's failure. Workers report problems by throwing (see
/// <see cref="Check"/>); NUnit assertions stay on the test thread. The first failure
/// cancels the token so workers waiting on each other stop instead of hanging.
/// </summary>
public static class ThreadRunner
{
    /// <summary>Stack of each worker: the bodies are shallow, and S08 starts 2000 of them.</summary>
    public const int WorkerStackBytes = 256 * 1024;

    /// <summary>Runs <paramref name="body"/>(index) on <paramref name="threads"/> threads.</summary>
    public static void Run(int threads, Action<int> body) => Run(threads, (index, _) => body(index));

    /// <summary>Runs <paramref name="body"/>(index, cancelled-on-first-failure) on <paramref name="threads"/> threads.</summary>
    public static void Run(int threads, Action<int, CancellationToken> body)
    {
        var failures = new ConcurrentQueue<string>();
        using var firstFailure = new CancellationTokenSource();
        using var ready = new CountdownEvent(threads);
        using var go = new ManualResetEventSlim(false);
        var workers = new Thread[threads];
        for (int i = 0; i < threads; i++)
        {
            int index = i;
            workers[i] = new Thread(() =>
            {
                ready.Signal();
                go.Wait();
                try
                {
                    body(index, firstFailure.Token);
                }
                catch (OperationCanceledException) when (firstFailure.IsCancellationRequested)
                {
                    // Another worker failed first; its message is the one that matters.
                }
                catch (Exception e)
                {
                    failures.Enqueue($"worker {index}: {e.GetType().Name}: {e.Message}");
                    try { firstFailure.Cancel(); } catch (ObjectDisposedException) { }
                }
            }, WorkerStackBytes)
            { IsBackground = true, Name = $"np-worker-{index}" };
        }
        foreach (Thread worker in workers) worker.Start();
        // Release them together so they really contend.
        ready.Wait();
        go.Set();
        foreach (Thread worker in workers) worker.Join();
        if (!failures.IsEmpty)
            Assert.Fail($"{failures.Count} worker(s) failed:\n" + string.Join("\n", failures.Take(10)));
    }
}

/// <summary>Failure raised inside a worker thread; <see cref="ThreadRunner"/> reports it.</summary>
public sealed class CheckFailedException(string message) : Exception(message);

/// <summary>Assertions for worker threads: they throw <see cref="CheckFailedException"/>.</summary>
public static class Check
{
    /// <summary>Throws when <paramref name="actual"/> is not <paramref name="expected"/>.</summary>
    public static void Status(NpStatus actual, NpStatus expected, string operation)
    {
        if (actual != expected)
            throw new CheckFailedException($"{operation} returned {StatusText.NameString(actual)}, expected {StatusText.NameString(expected)}");
    }

    /// <summary>Throws when the block does not hold the pattern its writer wrote.</summary>
    public static void Contents(nint block, int size, ulong tag)
    {
        if (!BlockPattern.Matches(block, size, tag))
            throw new CheckFailedException($"block 0x{block:x} does not hold the pattern of tag 0x{tag:x} written by its owner");
    }

    /// <summary>Throws with <paramref name="message"/> when <paramref name="condition"/> is false.</summary>
    public static void That(bool condition, string message)
    {
        if (!condition) throw new CheckFailedException(message);
    }
}
