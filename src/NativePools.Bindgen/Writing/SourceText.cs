using System;
using System.Collections.Generic;
using System.Text;

namespace NativePools.Bindgen.Writing;

/// <summary>
/// Accumulates a generated file: LF line endings, no trailing spaces, exactly one final newline,
/// and comment text wrapped to a fixed width so the output is deterministic.
/// </summary>
public sealed class SourceText
{
    /// <summary>Column limit for wrapped comment text.</summary>
    public const int Width = 100;

    private readonly StringBuilder _text = new();

    /// <summary>Appends one line (trailing spaces removed).</summary>
    public SourceText Line(string line = "")
    {
        _text.Append(line.TrimEnd()).Append('\n');
        return this;
    }

    /// <summary>Appends <paramref name="text"/> wrapped, each line starting with <paramref name="prefix"/>;
    /// continuation lines use <paramref name="continuation"/> (defaults to the prefix).</summary>
    public SourceText Wrapped(string prefix, string text, string? continuation = null)
    {
        string next = continuation ?? prefix;
        bool first = true;
        foreach (string line in Wrap(text, Width - prefix.Length, Width - next.Length))
        {
            Line((first ? prefix : next) + line);
            first = false;
        }
        return this;
    }

    /// <summary>The file's text, ending with exactly one newline.</summary>
    public override string ToString() => _text.ToString().TrimEnd('\n') + "\n";

    /// <summary>Greedy word wrap; a word longer than the width gets a line of its own.</summary>
    public static IEnumerable<string> Wrap(string text, int firstWidth, int restWidth)
    {
        var line = new StringBuilder();
        int width = firstWidth;
        foreach (string word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                yield return line.ToString();
                line.Clear();
                width = restWidth;
            }
            if (line.Length > 0) line.Append(' ');
            line.Append(word);
        }
        if (line.Length > 0) yield return line.ToString();
    }
}
