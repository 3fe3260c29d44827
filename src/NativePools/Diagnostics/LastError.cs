using System;
using System.Text;

namespace NativePools.Diagnostics;

/// <summary>
/// The calling thread's detail for its most recent failure (like errno, but with text).
/// Recording a failure stores a static template and two numbers and allocates nothing:
/// failure paths such as pool exhaustion may run in hot loops. The text is only formatted
/// when somebody asks for it.
/// </summary>
public static class LastError
{
    [ThreadStatic] private static NpStatus t_status;
    [ThreadStatic] private static string? t_template;
    [ThreadStatic] private static long t_arg0;
    [ThreadStatic] private static long t_arg1;
    [ThreadStatic] private static string? t_subject;

    /// <summary>Status of the last recorded failure on this thread (Ok if none).</summary>
    public static NpStatus Status => t_status;

    /// <summary>
    /// Records a failure and returns its status, so callers can write <c>return LastError.Set(...)</c>.
    /// <paramref name="template"/> is a constant string with optional {0}, {1} (numbers) and {s} (subject).
    /// </summary>
    public static NpStatus Set(NpStatus status, string template, long arg0 = 0, long arg1 = 0, string? subject = null)
    {
        t_status = status;
        t_template = template;
        t_arg0 = arg0;
        t_arg1 = arg1;
        t_subject = subject;
        return status;
    }

    /// <summary>Forgets the last failure on this thread.</summary>
    public static void Clear()
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
            var text = new StringBuilder(template.Length + 32);
            text.Append(StatusText.NameString(t_status)).Append(": ");
            text.Append(template)
                .Replace("{0}", t_arg0.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .Replace("{1}", t_arg1.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .Replace("{x0}", "0x" + t_arg0.ToString("x", System.Globalization.CultureInfo.InvariantCulture))
                .Replace("{s}", t_subject ?? string.Empty);
            return text.ToString();
        }
    }
}
