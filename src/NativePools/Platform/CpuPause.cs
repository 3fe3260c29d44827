using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using System.Threading;

namespace NativePools.Platform;

/// <summary>
/// One step of a spin-wait: the CPU's pause (x86) or yield (Arm) instruction. Not
/// Thread.SpinWait: the runtime re-measures how long its spin lasts every few seconds, and it
/// asks for that measurement from the spinning thread by waking the finalizer thread, a futex
/// call in the middle of a wait that promises none (found by the C no-syscall probe, H02).
/// </summary>
internal static class CpuPause
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Once()
    {
        if (X86Base.IsSupported) X86Base.Pause();
        else if (ArmBase.IsSupported) ArmBase.Yield();
        else Thread.SpinWait(1);
    }
}
