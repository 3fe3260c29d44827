using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using NativePools.Bindgen.Model;

namespace NativePools.Bindgen.Writing;

/// <summary>Writes bindings/python/nativepools/_native.py, the generated ctypes layer.</summary>
public static class PythonWriter
{
    private static readonly Dictionary<string, string> Scalars = new()
    {
        ["int8_t"] = "ctypes.c_int8",
        ["uint8_t"] = "ctypes.c_uint8",
        ["int16_t"] = "ctypes.c_int16",
        ["uint16_t"] = "ctypes.c_uint16",
        ["int32_t"] = "ctypes.c_int32",
        ["uint32_t"] = "ctypes.c_uint32",
        ["int64_t"] = "ctypes.c_int64",
        ["uint64_t"] = "ctypes.c_uint64",
        ["size_t"] = "ctypes.c_size_t",
        ["uintptr_t"] = "ctypes.c_size_t",
        ["intptr_t"] = "ctypes.c_ssize_t",
        ["ptrdiff_t"] = "ctypes.c_ssize_t",
        ["float"] = "ctypes.c_float",
        ["double"] = "ctypes.c_double",
        ["char"] = "ctypes.c_char",
    };

    /// <summary>The module's text.</summary>
    public static string Write(AbiModel model)
    {
        var py = new SourceText();
        py.Line("\"\"\"ctypes declarations of libnativepools: constants, structs and function signatures.");
        py.Line();
        foreach (string line in Banner.Lines) py.Line(line);
        py.Line();
        py.Line("Use bind(ctypes.CDLL(path)) to set every function's restype and argtypes.");
        py.Line("\"\"\"");
        py.Line();
        py.Line("import ctypes");
        py.Line("from typing import Any, Dict, List, Tuple");

        WriteConstants(py, model.Version);
        Heading(py, "Types");
        foreach (AbiTypedef t in model.Typedefs)
        {
            py.Wrapped("# ", t.Doc);
            py.Line($"{t.Name} = {Scalars[t.Underlying]}");
        }
        WriteConstants(py, model.Statuses);
        py.Line();
        py.Line("STATUS_NAMES: Dict[int, str] = {");
        foreach (AbiConstant c in model.Statuses.Constants)
            py.Line($"    {c.Value.ToString(CultureInfo.InvariantCulture)}: \"{c.Name}\",");
        py.Line("}");
        foreach (AbiConstantGroup group in model.ConstantGroups) WriteConstants(py, group);

        Heading(py, "Structs (layouts checked at import against the library's)");
        py.Line();
        py.Line();
        py.Line("def _expect_layout(what: str, actual: int, expected: int) -> None:");
        py.Line("    if actual != expected:");
        py.Line("        raise ImportError(f\"{what} is {actual} in ctypes but {expected} in libnativepools\")");
        foreach (AbiStruct s in model.Structs) WriteStruct(py, model, s);

        WriteFunctions(py, model);
        return py.ToString();
    }

    private static void Heading(SourceText py, string title)
    {
        py.Line();
        py.Line();
        py.Line("# " + new string('-', SourceText.Width - 2));
        py.Line("# " + title);
        py.Line("# " + new string('-', SourceText.Width - 2));
    }

    private static void WriteConstants(SourceText py, AbiConstantGroup group)
    {
        Heading(py, group.Title);
        foreach (AbiConstant c in group.Constants)
        {
            py.Wrapped("# ", c.Doc);
            py.Line($"{c.Name} = {c.Value.ToString(CultureInfo.InvariantCulture)}");
        }
    }

    private static void WriteStruct(SourceText py, AbiModel model, AbiStruct s)
    {
        py.Line();
        py.Line();
        py.Line($"class {s.Name}(ctypes.Structure):");
        py.Wrapped("    \"\"\"", Docstring(s.Doc) + "\"\"\"", "    ");
        py.Line();
        py.Line("    _fields_ = [");
        foreach (AbiField f in s.Fields)
        {
            py.Wrapped("        # ", f.Doc);
            py.Line($"        (\"{f.Name}\", {TypeOf(model, f.Type, $"{s.Name}.{f.Name}")}),");
        }
        py.Line("    ]");
        py.Line();
        py.Line();
        py.Line($"_expect_layout(\"sizeof({s.Name})\", ctypes.sizeof({s.Name}), {s.Size})");
        foreach (AbiField f in s.Fields)
            py.Line($"_expect_layout(\"offsetof({s.Name}, {f.Name})\", {s.Name}.{f.Name}.offset, {f.Offset})");
    }

    private static void WriteFunctions(SourceText py, AbiModel model)
    {
        Heading(py, "Functions: name -> (restype, argtypes)");
        py.Line("FUNCTIONS: Dict[str, Tuple[Any, List[Any]]] = {");
        foreach (AbiSection section in model.Sections)
        {
            if (section != model.Sections[0]) py.Line();
            py.Line($"    # {section.Title}");
            foreach (AbiFunction f in section.Functions)
            {
                string result = TypeOf(model, f.Return, f.Name + " return");
                string args = string.Join(", ", f.Parameters.Select(p => TypeOf(model, p.Type, $"{f.Name}({p.Name})")));
                py.Wrapped("    # ", $"{f.Name}({string.Join(", ", f.Parameters.Select(p => p.Name))}): {f.Summary}");
                string entry = $"    \"{f.Name}\": ({result}, [{args}]),";
                if (entry.Length <= SourceText.Width)
                {
                    py.Line(entry);
                }
                else
                {
                    py.Line($"    \"{f.Name}\": ({result}, [");
                    py.Line($"        {args}]),");
                }
            }
        }
        py.Line("}");
        py.Line();
        py.Line();
        py.Line("def bind(lib: ctypes.CDLL) -> ctypes.CDLL:");
        py.Line("    \"\"\"Sets restype and argtypes of every exported function on lib and returns lib.\"\"\"");
        py.Line("    for name, (restype, argtypes) in FUNCTIONS.items():");
        py.Line("        function = getattr(lib, name)");
        py.Line("        function.restype = restype");
        py.Line("        function.argtypes = argtypes");
        py.Line("    return lib");
    }

    // Doc text inside a """ docstring: backslashes and quotes must not end or escape it.
    private static string Docstring(string text) => text.Replace("\\", "\\\\").Replace("\"", "\\\"");

    // Typedefs keep their alias (np_pool), structs their class; char and void pointers use
    // ctypes' own c_char_p / c_void_p, deeper pointers nest POINTER().
    private static string TypeOf(AbiModel model, CType type, string where)
    {
        if (type.PointerDepth == 0)
        {
            if (type.Base == "void") return "None";
            if (model.FindTypedef(type.Base) is not null || model.FindStruct(type.Base) is not null) return type.Base;
            return Scalars.TryGetValue(type.Base, out string? scalar)
                ? scalar
                : throw new BindgenException($"{where}: no ctypes type for '{type.Base}'");
        }
        if (type.PointerDepth == 1 && type.Base == "char") return "ctypes.c_char_p";
        if (type.PointerDepth == 1 && type.Base == "void") return "ctypes.c_void_p";
        return $"ctypes.POINTER({TypeOf(model, type.Pointee(), where)})";
    }
}
