using System;
using System.Collections.Generic;
using System.Linq;

namespace NativePools.Bindgen.Model;

/// <summary>
/// A C type as the header spells it: an optionally const base name followed by pointer levels,
/// each optionally const, e.g. <c>const char*</c> or <c>void* const*</c>. That is all the ABI
/// needs (no arrays; function pointers only by their typedef name, see <see cref="AbiCallback"/>),
/// and anything else is rejected when parsed.
/// </summary>
public sealed record CType(string Base, bool BaseConst, IReadOnlyList<bool> ConstPointers)
{
    /// <summary>Pointer levels: 0 for a value, 1 for <c>T*</c>, 2 for <c>T**</c>.</summary>
    public int PointerDepth => ConstPointers.Count;

    /// <summary>A non-pointer type named <paramref name="name"/>.</summary>
    public static CType Named(string name) => new(name, false, Array.Empty<bool>());

    /// <summary>This type with one more (non-const) pointer level.</summary>
    public CType PointerTo() => this with { ConstPointers = ConstPointers.Append(false).ToArray() };

    /// <summary>The pointed-to type (one level removed).</summary>
    public CType Pointee() => PointerDepth == 0
        ? throw new InvalidOperationException($"{this} is not a pointer")
        : this with { ConstPointers = ConstPointers.Take(PointerDepth - 1).ToArray() };

    /// <summary>Parses a spelling such as <c>const np_pool_options*</c> or <c>void* const*</c>.</summary>
    public static CType Parse(string spelling)
    {
        var tokens = new List<string>();
        foreach (string word in spelling.Replace("*", " * ").Split(' ', StringSplitOptions.RemoveEmptyEntries))
            tokens.Add(word);

        int i = 0;
        bool baseConst = false;
        if (i < tokens.Count && tokens[i] == "const") { baseConst = true; i++; }
        if (i >= tokens.Count || !IsIdentifier(tokens[i]) || tokens[i] == "const")
            throw new FormatException($"C type '{spelling}': expected a type name");
        string name = tokens[i++];
        if (i < tokens.Count && tokens[i] == "const") { baseConst = true; i++; } // "char const*"

        var pointers = new List<bool>();
        while (i < tokens.Count)
        {
            if (tokens[i] != "*") throw new FormatException($"C type '{spelling}': unexpected '{tokens[i]}'");
            i++;
            bool isConst = i < tokens.Count && tokens[i] == "const";
            if (isConst) i++;
            pointers.Add(isConst);
        }
        return new CType(name, baseConst, pointers);
    }

    /// <summary>The canonical spelling, e.g. <c>void* const*</c>.</summary>
    public override string ToString() =>
        (BaseConst ? "const " : "") + Base + string.Concat(ConstPointers.Select(c => c ? "* const" : "*"));

    /// <summary>Equality by spelling (records compare lists by reference otherwise).</summary>
    public bool Equals(CType? other) => other is not null && ToString() == other.ToString();

    /// <inheritdoc/>
    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);

    private static bool IsIdentifier(string token) =>
        token.Length > 0 && (char.IsAsciiLetter(token[0]) || token[0] == '_') &&
        token.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
