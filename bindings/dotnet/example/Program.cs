// A .NET console program that uses NativePools through its NuGet package: a pool of 264-byte
// blocks in native memory, shared by four threads, with a refused double free.
using System;
using System.Threading;
using NativePools;
using NativePools.Diagnostics;
using NativePools.Pools;

NpStatus status = BlockPool.Create(BlockPoolOptions.ForSize(264), out BlockPool? created);
if (status != NpStatus.Ok)
{
    Console.WriteLine($"cannot create the pool: {status}: {LastError.Message}");
    return 1;
}
using BlockPool pool = created!;

var threads = new Thread[4];
for (int t = 0; t < threads.Length; t++)
{
    threads[t] = new Thread(() =>
    {
        for (int i = 0; i < 10_000; i++)
        {
            if (pool.Alloc(out nint block) != NpStatus.Ok) throw new InvalidOperationException(LastError.Message);
            unsafe { *(long*)block = i; }
            if (pool.Free(block) != NpStatus.Ok) throw new InvalidOperationException(LastError.Message);
        }
    });
    threads[t].Start();
}
foreach (Thread thread in threads) thread.Join();

pool.Alloc(out nint last);
pool.Free(last);
NpStatus again = pool.Free(last); // a double free is refused and counted, the pool stays intact
Console.WriteLine($"second free: {again} ({LastError.Message})");

BlockPoolStats stats = pool.GetStats();
Console.WriteLine($"allocations {stats.Allocations}, in use {stats.InUse}, capacity {stats.Capacity}");
return again == NpStatus.DoubleFree && stats.InUse == 0 ? 0 : 1;
