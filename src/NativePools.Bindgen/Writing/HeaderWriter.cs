using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using NativePools.Bindgen.Model;

namespace NativePools.Bindgen.Writing;

/// <summary>Writes native-headers/nativepools.h.</summary>
public static class HeaderWriter
{
    /// <summary>The header's text.</summary>
    public static string Write(AbiModel model)
    {
        var h = new SourceText();
        WritePrologue(h);
        WriteConstants(h, model.Version);
        WriteTypedefs(h, model.Typedefs);
        WriteConstants(h, model.Statuses);
        foreach (AbiConstantGroup group in model.ConstantGroups) WriteConstants(h, group);
        WriteTypeDefinitions(h, model);
        foreach (AbiSection section in model.Sections) WriteSection(h, section);
        WriteEpilogue(h);
        return h.ToString();
    }

    private static void WritePrologue(SourceText h)
    {
        h.Line("/*");
        h.Line(" * nativepools.h: the C API of libnativepools (fixed-size block pools in native memory).");
        h.Line(" *");
        foreach (string line in Banner.Lines) h.Line(" * " + line);
        h.Line(" *");
        h.Wrapped(" * ", "Struct sizes and field offsets are checked at compile time against the layout the "
            + "library was built with (64-bit targets).");
        h.Line(" */");
        h.Line("#ifndef NATIVEPOOLS_H");
        h.Line("#define NATIVEPOOLS_H");
        h.Line();
        h.Line("#include <stddef.h>");
        h.Line("#include <stdint.h>");
        h.Line();
        h.Line("#ifdef __cplusplus");
        h.Line("extern \"C\" {");
        h.Line("#endif");
        h.Line();
        // C++11 and C11 have a keyword; GNU C99 accepts C11's under __extension__ without a
        // -pedantic warning; anything else gets an array whose size is negative when cond fails.
        h.Line("/* NP_STATIC_ASSERT(cond, msg): a compile-time check at file scope, in C89 to C23 and C++. */");
        h.Line("#if defined(__cplusplus) && (__cplusplus >= 201103L || (defined(_MSC_VER) && _MSC_VER >= 1600))");
        h.Line("#define NP_STATIC_ASSERT(cond, msg) static_assert(cond, msg)");
        h.Line("#elif !defined(__cplusplus) && defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L");
        h.Line("#define NP_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)");
        h.Line("#elif !defined(__cplusplus) && (defined(__clang__) || \\");
        h.Line("    (defined(__GNUC__) && (__GNUC__ > 4 || (__GNUC__ == 4 && __GNUC_MINOR__ >= 6))))");
        h.Line("#define NP_STATIC_ASSERT(cond, msg) __extension__ _Static_assert(cond, msg)");
        h.Line("#else");
        h.Line("#define NP_STATIC_ASSERT_JOIN2(a, b) a##b");
        h.Line("#define NP_STATIC_ASSERT_JOIN(a, b) NP_STATIC_ASSERT_JOIN2(a, b)");
        h.Line("#define NP_STATIC_ASSERT(cond, msg) \\");
        h.Line("    typedef char NP_STATIC_ASSERT_JOIN(np_static_assert_line_, __LINE__)[(cond) ? 1 : -1]");
        h.Line("#endif");
    }

    private static void WriteEpilogue(SourceText h)
    {
        h.Line();
        h.Line("#ifdef __cplusplus");
        h.Line("} /* extern \"C\" */");
        h.Line("#endif");
        h.Line();
        h.Line("#endif /* NATIVEPOOLS_H */");
    }

    private static void Heading(SourceText h, string title, string doc = "")
    {
        string rule = new('=', SourceText.Width - 3);
        h.Line();
        h.Line("/* " + rule);
        h.Line(" * " + CommentSafe(title));
        if (doc.Length > 0)
        {
            h.Line(" *");
            h.Wrapped(" * ", CommentSafe(doc));
        }
        h.Line(" * " + rule + " */");
    }

    private static void WriteConstants(SourceText h, AbiConstantGroup group)
    {
        Heading(h, group.Title);
        foreach (AbiConstant c in group.Constants)
        {
            h.Line();
            DocComment(h, "", [c.Doc]);
            h.Line($"#define {c.Name} {Literal(c)}");
        }
    }

    private static void WriteTypedefs(SourceText h, IReadOnlyList<AbiTypedef> typedefs)
    {
        Heading(h, "Types");
        foreach (AbiTypedef t in typedefs)
        {
            h.Line();
            DocComment(h, "", [t.Doc]);
            h.Line($"typedef {t.Underlying} {t.Name};");
        }
    }

    private static void WriteStruct(SourceText h, AbiStruct s)
    {
        Heading(h, s.Name);
        h.Line();
        DocComment(h, "", [s.Doc]);
        h.Line($"typedef struct {s.Name} {{");
        for (int i = 0; i < s.Fields.Count; i++)
        {
            AbiField f = s.Fields[i];
            if (i > 0) h.Line();
            DocComment(h, "    ", [f.Doc]);
            h.Line($"    {f.Type} {f.Name};");
        }
        h.Line($"}} {s.Name};");
        h.Line();
        h.Line($"NP_STATIC_ASSERT(sizeof({s.Name}) == {s.Size}, \"{s.Name}: size mismatch\");");
        foreach (AbiField f in s.Fields)
            h.Line($"NP_STATIC_ASSERT(offsetof({s.Name}, {f.Name}) == {f.Offset}, \"{s.Name}.{f.Name}: offset mismatch\");");
    }

    // Structs (a heading each) and callbacks (a heading per run of them), in dependency order.
    // Callbacks are written even when no export takes them yet: callers implement them, so they
    // are API too.
    private static void WriteTypeDefinitions(SourceText h, AbiModel model)
    {
        IAbiTypeDefinition? previous = null;
        foreach (IAbiTypeDefinition definition in model.TypeDefinitions)
        {
            switch (definition)
            {
                case AbiStruct s:
                    WriteStruct(h, s);
                    break;
                case AbiCallback c:
                    if (previous is not AbiCallback) Heading(h, "Callbacks", "Functions the caller implements and the library calls.");
                    WriteCallback(h, c);
                    break;
            }
            previous = definition;
        }
    }

    private static void WriteCallback(SourceText h, AbiCallback c)
    {
        h.Line();
        DocComment(h, "", SignatureDoc(c.Summary, c.Parameters, c.Returns, c.Remarks));
        WritePrototype(h, $"typedef {c.Return} (*{c.Name})(", c.Parameters);
    }

    private static void WriteSection(SourceText h, AbiSection section)
    {
        Heading(h, section.Title, section.Doc);
        foreach (AbiFunction f in section.Functions)
        {
            h.Line();
            DocComment(h, "", SignatureDoc(f.Summary, f.Parameters, f.Returns, f.Remarks));
            WritePrototype(h, $"{f.Return} {f.Name}(", f.Parameters);
        }
    }

    private static List<string> SignatureDoc(string summary, IReadOnlyList<AbiParameter> parameters, string returns, string remarks)
    {
        var paragraphs = new List<string> { summary };
        paragraphs.AddRange(parameters.Select(p => $"@param {p.Name} {p.Doc}"));
        if (returns.Length > 0) paragraphs.Add("@return " + returns);
        if (remarks.Length > 0) paragraphs.Add("@remarks " + remarks);
        return paragraphs;
    }

    // "head(parameters);" on one line when it fits, else one parameter per line aligned after
    // the parenthesis. head is "np_status np_pool_create(" or "typedef np_status (*np_handler_fn)(".
    private static void WritePrototype(SourceText h, string head, IReadOnlyList<AbiParameter> signature)
    {
        string[] parameters = signature.Select(p => $"{p.Type} {p.Name}").ToArray();
        string oneLine = head + (parameters.Length == 0 ? "void" : string.Join(", ", parameters)) + ");";
        if (oneLine.Length <= SourceText.Width)
        {
            h.Line(oneLine);
            return;
        }
        string indent = new(' ', head.Length);
        for (int i = 0; i < parameters.Length; i++)
            h.Line((i == 0 ? head : indent) + parameters[i] + (i == parameters.Length - 1 ? ");" : ","));
    }

    // "/** text */" when it fits on one line; otherwise a block with one paragraph per group
    // of lines. @param/@return/@remarks paragraphs hang-indent their continuation lines.
    private static void DocComment(SourceText h, string indent, IReadOnlyList<string> paragraphs)
    {
        var safe = paragraphs.Select(CommentSafe).ToList();
        string single = $"{indent}/** {safe[0]} */";
        if (safe.Count == 1 && single.Length <= SourceText.Width)
        {
            h.Line(single);
            return;
        }
        h.Line(indent + "/**");
        bool wasTag = false;
        for (int i = 0; i < safe.Count; i++)
        {
            bool isTag = safe[i].StartsWith('@');
            if (i > 0 && !(isTag && wasTag)) h.Line(indent + " *");
            string prefix = indent + " * ";
            string continuation = isTag ? prefix + new string(' ', HangingIndent(safe[i])) : prefix;
            h.Wrapped(prefix, safe[i], continuation);
            wasTag = isTag;
        }
        h.Line(indent + " */");
    }

    // Continuation lines line up with the text after "@return " or "@param name ".
    private static int HangingIndent(string tagged)
    {
        string[] words = tagged.Split(' ');
        return words[0] == "@param" && words.Length > 1 ? words[0].Length + words[1].Length + 2 : words[0].Length + 1;
    }

    // Doc text must not end the comment early or open a nested one (-Wcomment).
    private static string CommentSafe(string text) => text.Replace("*/", "* /").Replace("/*", "/ *");

    /// <summary>A C literal of the constant's type; negatives in parentheses so macros expand safely.</summary>
    public static string Literal(AbiConstant c)
    {
        (string suffix, Int128 min) = c.Kind switch
        {
            ConstantKind.Int32 => ("", (Int128)int.MinValue),
            ConstantKind.UInt32 => ("U", Int128.Zero),
            ConstantKind.Int64 => ("LL", (Int128)long.MinValue),
            _ => ("ULL", Int128.Zero),
        };
        if (c.Value >= 0) return c.Value.ToString(CultureInfo.InvariantCulture) + suffix;
        // -2147483648 is unary minus applied to a literal too big for int: spell the minimum as (-max - 1).
        if (c.Value == min) return $"(-{(-(c.Value + 1)).ToString(CultureInfo.InvariantCulture)}{suffix} - 1)";
        return $"(-{(-c.Value).ToString(CultureInfo.InvariantCulture)}{suffix})";
    }
}
