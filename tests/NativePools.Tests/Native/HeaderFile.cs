using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace NativePools.Tests.Native;

/// <summary>
/// What the generated header (native-headers/nativepools.h) says: struct sizes and offsets from
/// its NP_STATIC_ASSERT lines, #define constants, and function declarations.
/// </summary>
public sealed partial class HeaderFile
{
    public string Path { get; }
    public string Text { get; }

    private HeaderFile(string path)
    {
        Path = path;
        Text = File.ReadAllText(path);
    }

    /// <summary>Reads the header from the repository, failing the test with instructions when it is missing.</summary>
    public static HeaderFile Load()
    {
        string? root = NativeLibraryLocator.RepositoryRoot();
        Assert.That(root, Is.Not.Null, "repository root not found above the test assembly");
        string path = System.IO.Path.Combine(root!, "native-headers", "nativepools.h");
        Assert.That(File.Exists(path), Is.True, $"{path} is missing: generate it (./build.sh) before running the tests");
        return new HeaderFile(path);
    }

    /// <summary>sizeof(type) == N assertions: type name to size.</summary>
    public Dictionary<string, int> StructSizes() =>
        SizeAssert().Matches(Text).ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value));

    /// <summary>offsetof(type, field) == N assertions.</summary>
    public List<(string Struct, string Field, int Offset)> FieldOffsets() =>
        OffsetAssert().Matches(Text).Select(m => (m.Groups[1].Value, m.Groups[2].Value, int.Parse(m.Groups[3].Value))).ToList();

    /// <summary>Integer #defines such as NP_E_DOUBLE_FREE (-6) or NP_POOL_ZERO_ON_ALLOC 1U.</summary>
    public Dictionary<string, long> IntegerDefines() =>
        IntegerDefine().Matches(Text).ToDictionary(m => m.Groups[1].Value, m => long.Parse(m.Groups[2].Value));

    /// <summary>Function declarations: name to (return type, parameter types).</summary>
    public Dictionary<string, (string Return, string[] Parameters)> Functions()
    {
        string code = BlockComment().Replace(Text, " ");
        var functions = new Dictionary<string, (string, string[])>();
        foreach (Match m in FunctionDeclaration().Matches(code))
        {
            string parameters = Regex.Replace(m.Groups[3].Value, @"\s+", " ").Trim();
            string[] types = parameters == "void"
                ? []
                : parameters.Split(',').Select(p => ParameterType(p.Trim())).ToArray();
            functions[m.Groups[2].Value] = (Regex.Replace(m.Groups[1].Value, @"\s+", " ").Trim(), types);
        }
        return functions;
    }

    /// <summary>Function pointer typedefs (callbacks such as np_handler_fn): name to (return type, parameter types).</summary>
    public Dictionary<string, (string Return, string[] Parameters)> FunctionPointerTypedefs()
    {
        string code = BlockComment().Replace(Text, " ");
        var typedefs = new Dictionary<string, (string, string[])>();
        foreach (Match m in FunctionPointerTypedef().Matches(code))
        {
            string parameters = Regex.Replace(m.Groups[3].Value, @"\s+", " ").Trim();
            string[] types = parameters == "void"
                ? []
                : parameters.Split(',').Select(p => ParameterType(p.Trim())).ToArray();
            typedefs[m.Groups[2].Value] = (Regex.Replace(m.Groups[1].Value, @"\s+", " ").Trim(), types);
        }
        return typedefs;
    }

    // "const np_pool_options* options" -> "const np_pool_options*": drop the parameter name.
    private static string ParameterType(string parameter)
    {
        Match m = Regex.Match(parameter, @"^(.*?[\s\*])(\w+)$");
        return m.Success ? m.Groups[1].Value.Trim() : parameter;
    }

    [GeneratedRegex(@"NP_STATIC_ASSERT\(\s*sizeof\((\w+)\)\s*==\s*(\d+)")]
    private static partial Regex SizeAssert();

    [GeneratedRegex(@"NP_STATIC_ASSERT\(\s*offsetof\((\w+),\s*(\w+)\)\s*==\s*(\d+)")]
    private static partial Regex OffsetAssert();

    [GeneratedRegex(@"(?m)^#define\s+(NP_\w+)\s+\(?(-?\d+)U?L{0,2}\)?\s*$")]
    private static partial Regex IntegerDefine();

    [GeneratedRegex(@"/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex BlockComment();

    [GeneratedRegex(@"typedef\s+((?:const\s+)?\w+\s*\**)\s*\(\s*\*\s*(np_\w+)\s*\)\s*\(([^;{)]*)\)\s*;")]
    private static partial Regex FunctionPointerTypedef();

    [GeneratedRegex(@"(?m)^[ \t]*((?:const\s+)?\w+\s*\**)\s*\b(np_\w+)\s*\(([^;{)]*)\)\s*;")]
    private static partial Regex FunctionDeclaration();
}
