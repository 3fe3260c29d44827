using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using NativePools.Bindgen.Model;

namespace NativePools.Bindgen.Writing;

/// <summary>Writes bindings/dart/lib/src/native.g.dart, the generated dart:ffi layer (Dart 3, no package:ffi).</summary>
public static class DartWriter
{
    // C scalar -> dart:ffi native type. char is Uint8: UTF-8 bytes, without package:ffi's Utf8.
    private static readonly Dictionary<string, string> Natives = new()
    {
        ["int8_t"] = "Int8",
        ["uint8_t"] = "Uint8",
        ["int16_t"] = "Int16",
        ["uint16_t"] = "Uint16",
        ["int32_t"] = "Int32",
        ["uint32_t"] = "Uint32",
        ["int64_t"] = "Int64",
        ["uint64_t"] = "Uint64",
        ["size_t"] = "Size",
        ["intptr_t"] = "IntPtr",
        ["ptrdiff_t"] = "IntPtr",
        ["uintptr_t"] = "UintPtr",
        ["float"] = "Float",
        ["double"] = "Double",
        ["char"] = "Uint8",
        ["void"] = "Void",
    };

    // Words Dart does not accept as a field name.
    private static readonly HashSet<string> Reserved =
    [
        "assert", "break", "case", "catch", "class", "const", "continue", "default", "do", "else", "enum",
        "extends", "false", "final", "finally", "for", "if", "in", "is", "new", "null", "rethrow", "return",
        "super", "switch", "this", "throw", "true", "try", "var", "void", "while", "with",
    ];

    /// <summary>The library's text.</summary>
    public static string Write(AbiModel model)
    {
        var dart = new SourceText();
        dart.Line("// dart:ffi declarations of libnativepools: constants, structs and function signatures.");
        dart.Line("//");
        foreach (string line in Banner.Lines) dart.Line("// " + line);
        dart.Line();
        dart.Line("// ignore_for_file: constant_identifier_names, non_constant_identifier_names, camel_case_types");
        dart.Line();
        dart.Line("import 'dart:ffi';");
        dart.Line("import 'dart:io' show Platform;");

        WriteConstants(dart, model.Version);
        Heading(dart, "Types");
        foreach (AbiTypedef t in model.Typedefs)
        {
            dart.Line();
            dart.Wrapped("/// ", t.Doc);
            dart.Line($"typedef {t.Name} = {Natives[t.Underlying]};");
        }
        WriteConstants(dart, model.Statuses);
        dart.Line();
        dart.Line("/// The C name of each status code.");
        dart.Line("const Map<int, String> STATUS_NAMES = <int, String>{");
        foreach (AbiConstant c in model.Statuses.Constants) dart.Line($"  {Literal(c)}: '{c.Name}',");
        dart.Line("};");
        foreach (AbiConstantGroup group in model.ConstantGroups) WriteConstants(dart, group);
        // Dart resolves top-level names in any order: no dependency order needed, unlike C and ctypes.
        foreach (AbiStruct s in model.Structs) WriteStruct(dart, model, s);
        WriteCallbacks(dart, model);
        WriteFunctionTypes(dart, model);
        WriteBindings(dart, model);
        return dart.ToString();
    }

    private static void Heading(SourceText dart, string title)
    {
        dart.Line();
        dart.Line("// " + new string('-', SourceText.Width - 3));
        dart.Line("// " + title);
        dart.Line("// " + new string('-', SourceText.Width - 3));
    }

    private static void WriteConstants(SourceText dart, AbiConstantGroup group)
    {
        Heading(dart, group.Title);
        foreach (AbiConstant c in group.Constants)
        {
            dart.Line();
            dart.Wrapped("/// ", c.Doc);
            dart.Line($"const int {c.Name} = {Literal(c)};");
        }
    }

    // Dart ints are signed 64-bit: a uint64 above the signed range is written as its hex bit pattern.
    private static string Literal(AbiConstant c) =>
        c.Value > long.MaxValue
            ? "0x" + ((ulong)c.Value).ToString("X16", CultureInfo.InvariantCulture)
            : c.Value.ToString(CultureInfo.InvariantCulture);

    private static void WriteStruct(SourceText dart, AbiModel model, AbiStruct s)
    {
        Heading(dart, s.Name + $" ({s.Size} bytes)");
        dart.Line();
        dart.Wrapped("/// ", s.Doc);
        dart.Line($"final class {s.Name} extends Struct {{");
        for (int i = 0; i < s.Fields.Count; i++)
        {
            AbiField f = s.Fields[i];
            string where = $"{s.Name}.{f.Name}";
            if (Reserved.Contains(f.Name)) throw new BindgenException($"{where}: '{f.Name}' is reserved in Dart");
            if (i > 0) dart.Line();
            dart.Wrapped("  /// ", f.Doc);
            string native = NativeOf(model, f.Type, where);
            // A scalar field is a Dart int or double annotated with its native width; pointers
            // (callbacks too) and structs are their own native type.
            if (Natives.ContainsValue(native))
            {
                dart.Line($"  @{native}()");
                dart.Line($"  external {DartOf(native)} {f.Name};");
            }
            else
            {
                dart.Line($"  external {native} {f.Name};");
            }
        }
        dart.Line("}");
    }

    // Per callback: its native function type (for NativeCallable<...> and Pointer.fromFunction),
    // the matching Dart function type, and the C name for the pointer, which is what functions
    // and fields taking the callback hold.
    private static void WriteCallbacks(SourceText dart, AbiModel model)
    {
        if (model.Callbacks.Count == 0) return;
        Heading(dart, "Callbacks: functions the caller implements and the library calls");
        foreach (AbiCallback c in model.Callbacks)
        {
            string ret = NativeOf(model, c.Return, c.Name + " return");
            var natives = c.Parameters.Select(p =>
            {
                string where = $"{c.Name}({p.Name})";
                if (Reserved.Contains(p.Name)) throw new BindgenException($"{where}: '{p.Name}' is reserved in Dart");
                return (Type: NativeOf(model, p.Type, where), p.Name);
            }).ToList();
            dart.Line();
            dart.Wrapped("/// ", c.Summary);
            dart.Line("///");
            foreach (AbiParameter p in c.Parameters) dart.Wrapped("/// - ", $"`{p.Name}`: {p.Doc}", "///   ");
            if (c.Returns.Length > 0)
            {
                dart.Line("///");
                dart.Wrapped("/// ", "Returns: " + c.Returns);
            }
            if (c.Remarks.Length > 0)
            {
                dart.Line("///");
                dart.Wrapped("/// ", c.Remarks);
            }
            dart.Line($"typedef {c.Name}_native = {ret} Function({string.Join(", ", natives.Select(p => $"{p.Type} {p.Name}"))});");
            dart.Line();
            dart.Line($"/// [{c.Name}_native] as Dart code implements it.");
            dart.Line($"typedef {c.Name}_dart = {DartOf(ret)} Function({string.Join(", ", natives.Select(p => $"{DartOf(p.Type)} {p.Name}"))});");
            dart.Line();
            dart.Line($"/// The C type `{c.Name}`: a pointer to a native [{c.Name}_native].");
            dart.Line($"typedef {c.Name} = {CallbackPointer(c.Name)};");
        }
    }

    private static string CallbackPointer(string name) => $"Pointer<NativeFunction<{name}_native>>";

    private static void WriteFunctionTypes(SourceText dart, AbiModel model)
    {
        Heading(dart, "Function signatures: native (C) and Dart");
        foreach (AbiFunction f in model.Functions)
        {
            string ret = NativeOf(model, f.Return, f.Name + " return");
            var natives = f.Parameters.Select(p => (Type: NativeOf(model, p.Type, $"{f.Name}({p.Name})"), p.Name)).ToList();
            dart.Line();
            dart.Line($"typedef _{f.Name}_native = {ret} Function({string.Join(", ", natives.Select(p => $"{p.Type} {p.Name}"))});");
            dart.Line($"typedef _{f.Name}_dart = {DartOf(ret)} Function({string.Join(", ", natives.Select(p => $"{DartOf(p.Type)} {p.Name}"))});");
        }
    }

    private static void WriteBindings(SourceText dart, AbiModel model)
    {
        Heading(dart, "Bindings");
        dart.Line();
        dart.Line("/// Every libnativepools export, looked up on first use, named as in C.");
        dart.Line("final class NativePoolsBindings {");
        dart.Line("  /// Binds the exports of [dynamicLibrary], e.g. `NativePoolsBindings(NativePoolsBindings.open())`.");
        dart.Line("  NativePoolsBindings(this.dynamicLibrary);");
        dart.Line();
        dart.Line("  /// The loaded libnativepools.");
        dart.Line("  final DynamicLibrary dynamicLibrary;");
        dart.Line();
        dart.Line("  /// Loads libnativepools from [path], or by its platform file name through the loader's search path.");
        dart.Line("  static DynamicLibrary open([String? path]) {");
        dart.Line("    if (path != null) return DynamicLibrary.open(path);");
        dart.Line("    if (Platform.isMacOS || Platform.isIOS) return DynamicLibrary.open('libnativepools.dylib');");
        dart.Line("    if (Platform.isWindows) return DynamicLibrary.open('libnativepools.dll');");
        dart.Line("    return DynamicLibrary.open('libnativepools.so');");
        dart.Line("  }");
        foreach (AbiSection section in model.Sections)
        {
            dart.Line();
            dart.Line($"  // {section.Title}");
            foreach (AbiFunction f in section.Functions)
            {
                dart.Line();
                dart.Wrapped("  /// ", $"`{f.Name}`: {f.Summary}");
                if (f.Returns.Length > 0)
                {
                    dart.Line("  ///");
                    dart.Wrapped("  /// ", "Returns: " + f.Returns);
                }
                dart.Line($"  late final {f.Name} =");
                dart.Line($"      dynamicLibrary.lookupFunction<_{f.Name}_native, _{f.Name}_dart>('{f.Name}');");
            }
        }
        dart.Line("}");
    }

    // The dart:ffi native type: Int32, Pointer<Pointer<Void>>, Pointer<np_pool_options>, ...
    private static string NativeOf(AbiModel model, CType type, string where)
    {
        if (type.PointerDepth > 0) return $"Pointer<{NativeOf(model, type.Pointee(), where)}>";
        if (model.FindStruct(type.Base) is not null) return type.Base;
        if (model.FindCallback(type.Base) is not null) return CallbackPointer(type.Base);
        string name = model.FindTypedef(type.Base)?.Underlying ?? type.Base;
        return Natives.TryGetValue(name, out string? native)
            ? native
            : throw new BindgenException($"{where}: no dart:ffi type for '{type.Base}'");
    }

    // The Dart type seen by callers for a native type.
    private static string DartOf(string native) => native switch
    {
        "Void" => "void",
        "Float" or "Double" => "double",
        _ when native.StartsWith("Pointer<", StringComparison.Ordinal) => native,
        _ when Natives.ContainsValue(native) => "int",
        _ => native, // a struct passed by value
    };
}
