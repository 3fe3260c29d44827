using System.Collections.Generic;
using System.Threading;
using NativePools.Handles;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Core;

/// <summary>S21 (core): handles are validated on every lookup; 0, stale, garbage and wrong-kind handles resolve to nothing.</summary>
public sealed class HandleTableTests
{
    private sealed class Item : HandleObject;

    [Test]
    public void S21_Handles_StaleAfterRemove_NewGenerationOnSlotReuse()
    {
        var table = new HandleTable<Item>(kind: 1);
        var first = new Item();
        ulong handle = table.Add(first);
        Assert.Multiple(() =>
        {
            Assert.That(handle, Is.Not.Zero);
            Assert.That(first.Handle, Is.EqualTo(handle));
            Assert.That(table.Get(handle), Is.SameAs(first));
            Assert.That(table.Count, Is.EqualTo(1));
        });

        Assert.That(table.Remove(handle), Is.SameAs(first));
        Assert.Multiple(() =>
        {
            Assert.That(table.Get(handle), Is.Null, "stale after remove");
            Assert.That(table.Remove(handle), Is.Null, "a second remove finds nothing");
            Assert.That(first.Handle, Is.Zero);
            Assert.That(table.Count, Is.Zero);
        });

        var second = new Item();
        ulong reused = table.Add(second);
        Assert.Multiple(() =>
        {
            Assert.That((uint)reused, Is.EqualTo((uint)handle), "the slot is reused");
            Assert.That(reused, Is.Not.EqualTo(handle), "with a new generation");
            Assert.That(table.Get(handle), Is.Null, "the old handle stays stale while the slot is reused");
            Assert.That(table.Get(reused), Is.SameAs(second));
        });
    }

    [Test]
    public void S21_Handles_ZeroGarbageAndWrongKind_ResolveToNothing()
    {
        var pools = new HandleTable<Item>(kind: 1);
        var others = new HandleTable<Item>(kind: 2);
        ulong pool = pools.Add(new Item());
        ulong other = others.Add(new Item());
        Assert.Multiple(() =>
        {
            Assert.That(pools.Get(0), Is.Null, "0");
            Assert.That(pools.Get(ulong.MaxValue), Is.Null, "all ones");
            Assert.That(pools.Get(0xDEAD_BEEF_0000_0001), Is.Null, "garbage generation");
            Assert.That(pools.Get(pool + (1ul << 32)), Is.Null, "next generation");
            Assert.That(pools.Get(pool ^ (3ul << 24)), Is.Null, "wrong kind bits");
            Assert.That(pools.Get(other), Is.Null, "a handle of another table (kind)");
            Assert.That(pools.Get(pool), Is.Not.Null, "the real handle");
        });
    }

    [Test]
    public void S21_Handles_ManyThreadsAddLookUpAndRemove()
    {
        var table = new HandleTable<Item>(kind: 3);
        const int threads = 8;
        int rounds = StressSize.Pick(ci: 20_000, full: 500_000);
        ThreadRunner.Run(threads, thread =>
        {
            var mine = new List<(ulong Handle, Item Item)>();
            for (int r = 0; r < rounds; r++)
            {
                var item = new Item();
                ulong handle = table.Add(item);
                Check.That(handle != 0, "table full");
                mine.Add((handle, item));
                if (mine.Count > 40)
                {
                    var (old, oldItem) = mine[0];
                    mine.RemoveAt(0);
                    Check.That(table.Get(old) == oldItem, "a live handle resolves to its item");
                    Check.That(table.Remove(old) == oldItem, "remove returns the item");
                    Check.That(table.Get(old) is null, "a removed handle is stale");
                }
            }
            foreach (var (handle, item) in mine) Check.That(table.Remove(handle) == item, "final remove");
        });
        Assert.That(table.Count, Is.Zero);
    }
}
