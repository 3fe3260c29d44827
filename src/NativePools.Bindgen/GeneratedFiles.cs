using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;

namespace NativePools.Bindgen;

/// <summary>The generated outputs (path relative to the repository root, and text), written or checked.</summary>
public sealed class GeneratedFiles(string root, IReadOnlyList<(string Path, string Text)> files)
{
    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Writes every file whose content differs (untouched files keep their timestamps).</summary>
    public IReadOnlyList<string> Write()
    {
        var written = new List<string>();
        foreach ((string path, string text) in files.Where(f => IsStale(f.Path, f.Text)))
        {
            string full = Full(path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, text, Utf8NoBom);
            written.Add(path);
        }
        return written;
    }

    /// <summary>The files that are missing or differ from what would be generated.</summary>
    public IReadOnlyList<string> Stale() => files.Where(f => IsStale(f.Path, f.Text)).Select(f => f.Path).ToList();

    private bool IsStale(string path, string text) =>
        !File.Exists(Full(path)) || File.ReadAllText(Full(path), Utf8NoBom) != text;

    private string Full(string path) => Path.Combine(root, path);
}
