using System.Runtime.InteropServices;

namespace NativePools.Pools;

/// <summary>
/// A fixed-capacity stack of free block indices in native memory (Bonwick's magazine).
/// Threads exchange whole magazines with the pool's depot, so the depot lock is taken once
/// per magazine of operations instead of once per block.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Magazine
{
    /// <summary>Rounds (block indices) held, 0 to the pool's magazine capacity.</summary>
    public int Count;
    private int _padding;
    /// <summary>Link in a depot list (full or empty magazines).</summary>
    public Magazine* Next;
    /// <summary>Link in the pool's list of every magazine it allocated (freed at dispose).</summary>
    public Magazine* NextAllocated;
    // Rounds follow: int[capacity].

    /// <summary>The rounds array that follows the header.</summary>
    public static int* Rounds(Magazine* magazine) => (int*)(magazine + 1);

    /// <summary>Bytes of one magazine holding <paramref name="capacity"/> rounds.</summary>
    public static nuint BytesFor(int capacity) => (nuint)(sizeof(Magazine) + capacity * sizeof(int));
}
