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

    private const string StructsTitle = "Structs (layouts checked at import against the library's)";

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

        Heading(py, StructsTitle);
        py.Line();
        py.Line();
        py.Line("def _expect_layout(what: str, actual: int, expected: int) -> None:");
        py.Line("    if actual != expected:");
        py.Line("        raise ImportError(f\"{what} is {actual} in ctypes but {expected} in libnativepools\")");
        WriteTypeDefinitions(py, model);

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

    // Structs and callbacks in dependency order (a class or prototype must exist before a field
    // or argtype names it), with a heading wherever the run changes from one kind to the other.
    private static void WriteTypeDefinitions(SourceText py, AbiModel model)
    {
        IAbiTypeDefinition? previous = null;
        foreach (IAbiTypeDefinition definition in model.TypeDefinitions)
        {
            switch (definition)
            {
                case AbiStruct s:
                    if (previous is AbiCallback) Heading(py, StructsTitle);
                    WriteStruct(py, model, s);
                    break;
                case AbiCallback c:
                    if (previous is not AbiCallback) CallbacksHeading(py);
                    WriteCallback(py, model, c);
                    break;
            }
            previous = definition;
        }
    }

    private static void CallbacksHeading(SourceText py)
    {
        Heading(py, "Callbacks (ctypes.CFUNCTYPE prototypes)");
        py.Wrapped("# ", "Pass a Python function wrapped in its prototype, prototype(function), and keep the "
            + "wrapper referenced for as long as the library may call it: ctypes frees the C entry point "
            + "with the wrapper. Calls from library threads take the GIL.");
    }

    private static void WriteCallback(SourceText py, AbiModel model, AbiCallback c)
    {
        py.Line();
        py.Line();
        py.Wrapped("# ", $"{c.Name}({string.Join(", ", c.Parameters.Select(p => p.Name))}): {c.Summary}");
        foreach (AbiParameter p in c.Parameters) py.Wrapped("#   ", $"{p.Name}: {p.Doc}", "#     ");
        if (c.Returns.Length > 0) py.Wrapped("#   ", "returns: " + c.Returns, "#     ");
        if (c.Remarks.Length > 0) py.Wrapped("# ", c.Remarks);
        py.Line($"{c.Name} = ctypes.CFUNCTYPE(");
        py.Line($"    {CallbackResult(model, c)},");
        foreach (AbiParameter p in c.Parameters)
            py.Line($"    {TypeOf(model, p.Type, $"{c.Name}({p.Name})")},  # {p.Name}");
        py.Line(")");
    }

    // ctypes can return only simple types from a Python callback: no POINTER(...), no struct.
    private static string CallbackResult(AbiModel model, AbiCallback c)
    {
        string result = TypeOf(model, c.Return, c.Name + " return");
        bool simple = c.Return.PointerDepth == 0
            ? model.FindStruct(c.Return.Base) is null && model.FindCallback(c.Return.Base) is null
            : result is "ctypes.c_void_p" or "ctypes.c_char_p";
        return simple
            ? result
            : throw new BindgenException($"{c.Name} return: ctypes callbacks cannot return {c.Return}; return a scalar or void*");
    }

    private static void WriteFunctions(SourceText py, AbiModel model)
    {
        Heading(py, "Functions: name -> (restype, argtypes)");
        if (model.Callbacks.Count > 0) WriteCallbackArgType(py);
        py.Line("FUNCTIONS: Dict[str, Tuple[Any, List[Any]]] = {");
        foreach (AbiSection section in model.Sections)
        {
            if (section != model.Sections[0]) py.Line();
            py.Line($"    # {section.Title}");
            foreach (AbiFunction f in section.Functions)
            {
                string result = TypeOf(model, f.Return, f.Name + " return");
                string args = string.Join(", ", f.Parameters.Select(p => ArgTypeOf(model, p.Type, $"{f.Name}({p.Name})")));
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

    // ctypes refuses None where a CFUNCTYPE is the argtype, but C APIs take NULL for "no callback".
    private static void WriteCallbackArgType(SourceText py)
    {
        py.Line();
        py.Line();
        py.Line("class _CallbackOrNull:");
        py.Line("    \"\"\"Argtype of a callback parameter: an instance of the prototype, or None for NULL.\"\"\"");
        py.Line();
        py.Line("    def __init__(self, prototype: Any) -> None:");
        py.Line("        self.prototype = prototype");
        py.Line();
        py.Line("    def from_param(self, value: Any) -> Any:");
        py.Line("        return None if value is None else self.prototype.from_param(value)");
        py.Line();
        py.Line();
    }

    // Doc text inside a """ docstring: backslashes and quotes must not end or escape it.
    private static string Docstring(string text) => text.Replace("\\", "\\\\").Replace("\"", "\\\"");

    // An exported function's argtype: a callback parameter also takes None (NULL).
    private static string ArgTypeOf(AbiModel model, CType type, string where) =>
        type.PointerDepth == 0 && model.FindCallback(type.Base) is not null
            ? $"_CallbackOrNull({type.Base})"
            : TypeOf(model, type, where);

    // Typedefs keep their alias (np_pool), structs their class, callbacks their prototype; char
    // and void pointers use ctypes' own c_char_p / c_void_p, deeper pointers nest POINTER().
    private static string TypeOf(AbiModel model, CType type, string where)
    {
        if (type.PointerDepth == 0)
        {
            if (type.Base == "void") return "None";
            if (model.FindTypedef(type.Base) is not null || model.FindStruct(type.Base) is not null
                || model.FindCallback(type.Base) is not null)
                return type.Base;
            return Scalars.TryGetValue(type.Base, out string? scalar)
                ? scalar
                : throw new BindgenException($"{where}: no ctypes type for '{type.Base}'");
        }
        if (type.PointerDepth == 1 && type.Base == "char") return "ctypes.c_char_p";
        if (type.PointerDepth == 1 && type.Base == "void") return "ctypes.c_void_p";
        return $"ctypes.POINTER({TypeOf(model, type.Pointee(), where)})";
    }
}
