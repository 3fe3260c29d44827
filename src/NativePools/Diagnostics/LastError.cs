using System;
using System.Text;

namespace NativePools.Diagnostics;

/// <summary>
/// The calling thread's detail for its most recent failure (like errno, but with text).
/// Recording a failure stores a static template and two numbers and allocates nothing:
/// failure paths such as pool exhaustion may run in hot loops. The text is only formatted
/// when somebody asks for it. The text does not repeat the status name: every caller has the
/// status already (returned, and from <see cref="Status"/>) and prints its name beside the detail.
/// </summary>
public static class LastError
{
    [ThreadStatic] private static NpStatus t_status;
    [ThreadStatic] private static string? t_template;
    [ThreadStatic] private static DetailArg t_arg0;
    [ThreadStatic] private static DetailArg t_arg1;
    [ThreadStatic] private static string? t_subject;

    /// <summary>Status of the last recorded failure on this thread (Ok if none).</summary>
    public static NpStatus Status => t_status;

    /// <summary>
    /// Records a failure and returns its status, so callers can write <c>return LastError.Set(...)</c>.
    /// <paramref name="template"/> is a constant string with optional {0}, {1} (numbers, in decimal,
    /// unsigned when their type is), {x0} (the first number in hexadecimal) and {s} (subject).
    /// </summary>
    internal static NpStatus Set(NpStatus status, string template, DetailArg arg0 = default, DetailArg arg1 = default, string? subject = null)
    {
        t_status = status;
        t_template = template;
        t_arg0 = arg0;
        t_arg1 = arg1;
        t_subject = subject;
        return status;
    }

    /// <summary>A copy of this thread's last failure, for <see cref="Restore"/>.</summary>
    internal static LastErrorRecord Save() => new(t_status, t_template, t_arg0, t_arg1, t_subject);

    /// <summary>Makes a failure saved earlier this thread's last failure again.</summary>
    internal static void Restore(in LastErrorRecord record)
    {
        t_status = record.Status;
        t_template = record.Template;
        t_arg0 = record.Arg0;
        t_arg1 = record.Arg1;
        t_subject = record.Subject;
    }

    /// <summary>Forgets the last failure on this thread.</summary>
    internal static void Clear()
    {
        t_status = NpStatus.Ok;
        t_template = null;
        t_subject = null;
    }

    /// <summary>The formatted detail message, or an empty string when no failure was recorded.</summary>
    public static string Message
    {
        get
        {
            string? template = t_template;
            if (template is null) return string.Empty;
            var text = new StringBuilder(template, template.Length + 32);
            text.Replace("{0}", t_arg0.Decimal())
                .Replace("{1}", t_arg1.Decimal())
                .Replace("{x0}", t_arg0.Hex())
                .Replace("{s}", t_subject ?? string.Empty);
            return text.ToString();
        }
    }
}
