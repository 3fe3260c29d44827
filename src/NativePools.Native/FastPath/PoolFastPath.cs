using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NativePools.Diagnostics;
using NativePools.Pools;

namespace NativePools.Native.FastPath;

/// <summary>
/// Hands the C part of np_pool_alloc and np_pool_free (pool_fast_path.c) what it needs before
/// its first common case: where the count of destroyed pools lives, and the layout of a thread's
/// cache state as this build has it. The C side takes the common case only when that layout is
/// the one it was written for.
/// </summary>
internal static unsafe class PoolFastPath
{
    [DllImport("np_fast_path", EntryPoint = "np_internal_fast_path_init", ExactSpelling = true)]
    private static extern int Init(long* destroyedPools, long* layout, int layoutCount);

    /// <summary>
    /// False when the C fast path found a layout other than its own. Nothing would break (every
    /// call would take the managed path), but it is a build defect, so np_pool_create says so.
    /// </summary>
    public static bool LayoutAgrees { get; private set; } = true;

    /// <summary>
    /// Runs when the runtime starts, before any export's managed code. Until then the C part
    /// takes no common case: every call goes to the managed path, whose first call starts the
    /// runtime.
    /// </summary>
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "The C fast path needs its managed functions before the first call, whichever export that is.")]
    internal static void Register()
    {
        // Only the NativeAOT library has the C part; the bindings generator loads this assembly
        // under CoreCLR to read its declarations.
        if (RuntimeFeature.IsDynamicCodeSupported) return;
        long[] layout = BlockPool.CallingThreadStateLayout();
        fixed (long* values = layout)
        {
            LayoutAgrees = Init(BlockPool.DestroyedPoolsCounter, values, layout.Length) == 1;
        }
    }

    public static NpStatus LayoutDisagrees() =>
        LastError.Set(NpStatus.Internal, "this build of the library is broken: the C fast path of np_pool_alloc/np_pool_free was written for another layout of the thread cache");
}
