namespace NativePools.Diagnostics;

/// <summary>
/// A copy of the calling thread's <see cref="LastError"/> (see <see cref="LastError.Save"/>), so a call
/// that meets several failures can report the one its status names. References and numbers only.
/// </summary>
internal readonly struct LastErrorRecord(NpStatus status, string? template, DetailArg arg0, DetailArg arg1, string? subject)
{
    internal NpStatus Status { get; } = status;
    internal string? Template { get; } = template;
    internal DetailArg Arg0 { get; } = arg0;
    internal DetailArg Arg1 { get; } = arg1;
    internal string? Subject { get; } = subject;
}
