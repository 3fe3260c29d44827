using System;
using System.Runtime.CompilerServices;
using System.Threading;

namespace NativePools.Handles;

/// <summary>An object that C callers reach through an opaque 64-bit handle.</summary>
public abstract class HandleObject
{
    /// <summary>The handle this object is registered under (0 while unregistered).</summary>
    public ulong Handle { get; internal set; }
}

/// <summary>
/// Maps opaque 64-bit handles to objects. A handle packs
/// <c>generation (32 bits) | kind (8 bits) | slot+1 (24 bits)</c>; a lookup checks all three
/// against the object stored in the slot, so 0, stale (destroyed), garbage and
/// wrong-kind handles all resolve to null instead of a crash.
/// Lookups take no lock: they read one immutable-length array published with a volatile write.
/// </summary>
internal sealed class HandleTable<T> where T : HandleObject
{
    private const int SlotBits = 24;
    private const uint SlotMask = (1u << SlotBits) - 1;
    /// <summary>The most objects one table holds at once.</summary>
    public const int MaxSlots = (int)SlotMask;

    private readonly byte _kind;
    private readonly object _lock = new();
    private T?[] _slots = new T?[16];
    private uint[] _generations = new uint[16];
    private int[] _freeSlots = new int[16];
    private int _freeCount;
    private int _used;
    private int _live;

    /// <param name="kind">Distinguishes the tables from each other (pool, server, ...), 1 to 255.</param>
    public HandleTable(byte kind)
    {
        if (kind == 0) throw new ArgumentOutOfRangeException(nameof(kind));
        _kind = kind;
    }

    /// <summary>Objects currently registered.</summary>
    public int Count => Volatile.Read(ref _live);

    /// <summary>Registers <paramref name="item"/> and returns its new handle, or 0 when the table is full.</summary>
    public ulong Add(T item)
    {
        lock (_lock)
        {
            int slot;
            if (_freeCount > 0)
            {
                slot = _freeSlots[--_freeCount];
            }
            else
            {
                if (_used == MaxSlots) return 0;
                if (_used == _slots.Length) GrowLocked();
                slot = _used++;
            }
            uint generation = _generations[slot] + 1;
            if (generation == 0) generation = 1;
            _generations[slot] = generation;
            ulong handle = ((ulong)generation << 32) | ((ulong)_kind << SlotBits) | (uint)(slot + 1);
            item.Handle = handle;
            Volatile.Write(ref _slots[slot], item);
            _live++;
            return handle;
        }
    }

    /// <summary>The object behind <paramref name="handle"/>, or null when the handle is not live.</summary>
    /// <remarks>Inlined: it is on every call's path, and shared generic code is not inlined by default.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T? Get(ulong handle)
    {
        uint slot = (uint)handle & SlotMask;
        T?[] slots = Volatile.Read(ref _slots);
        if (slot - 1 >= (uint)slots.Length) return null; // also rejects slot 0 (wraps around)
        T? item = Volatile.Read(ref slots[slot - 1]);
        return item is not null && item.Handle == handle ? item : null;
    }

    /// <summary>Unregisters the object behind <paramref name="handle"/> and returns it, or null when not live.</summary>
    public T? Remove(ulong handle)
    {
        lock (_lock)
        {
            T? item = Get(handle);
            if (item is null) return null;
            int slot = (int)((uint)handle & SlotMask) - 1;
            Volatile.Write(ref _slots[slot], null);
            item.Handle = 0;
            if (_freeCount == _freeSlots.Length) Array.Resize(ref _freeSlots, _freeSlots.Length * 2);
            _freeSlots[_freeCount++] = slot;
            _live--;
            return item;
        }
    }

    private void GrowLocked()
    {
        int size = Math.Min(_slots.Length * 2, MaxSlots);
        var slots = new T?[size];
        Array.Copy(_slots, slots, _slots.Length);
        Array.Resize(ref _generations, size);
        // Readers may still hold the old array: entries there stay valid because we only
        // ever replace the array under the lock and copy before publishing.
        Volatile.Write(ref _slots, slots);
    }
}
