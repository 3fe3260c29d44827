using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Xml.Linq;
using NativePools.Bindgen.Model;
using NativePools.Native.Abi;
using NativePools.Native.Exports;

namespace NativePools.Bindgen.Reading;

/// <summary>
/// Builds the <see cref="AbiModel"/> from the export assembly (libnativepools.dll), the core
/// assembly (status codes) and their XML docs. Declaration order is metadata-token order.
/// </summary>
public static class AbiReader
{
    private const BindingFlags AllStatic = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly;
    private const BindingFlags AllInstance = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.DeclaredOnly;

    /// <summary>Reads the ABI of the referenced NativePools.Native assembly.</summary>
    public static AbiModel Read()
    {
        Assembly exports = typeof(PoolExports).Assembly;
        Assembly core = typeof(NpStatus).Assembly;
        var docs = new XmlDocs(new[] { exports, core }.Select(DocFile));

        List<NativeTypedefAttribute> typedefAttributes = exports.GetCustomAttributes<NativeTypedefAttribute>().ToList();
        var typedefs = typedefAttributes
            .Select(t => new AbiTypedef(t.CName, CTypeMapper.ScalarName(t.Underlying, "typedef " + t.CName), t.Doc))
            .ToList();

        Type[] types = exports.GetTypes().OrderBy(t => t.MetadataToken).ToArray();
        Type[] structTypes = types.Where(t => t.IsDefined(typeof(NativeStructAttribute))).ToArray();
        Type[] callbackTypes = types.Where(t => t.IsDefined(typeof(NativeCallbackAttribute))).ToArray();
        // Every C type name is known before any signature is read, so a struct field, export or
        // callback may name any struct or callback, whatever the declaration order; and a name
        // declared twice is reported as such, not as a type mismatch where it is used.
        List<string> structNames = structTypes.Select(t => t.GetCustomAttribute<NativeStructAttribute>()!.CName).ToList();
        List<string> callbackNames = callbackTypes.Select(t => t.GetCustomAttribute<NativeCallbackAttribute>()!.CName).ToList();
        CheckUnique(typedefs.Select(t => t.Name).Concat(structNames).Concat(callbackNames));
        var mapper = new CTypeMapper(
            typedefAttributes.ToDictionary(t => t.CName, t => t.Underlying), structNames.ToHashSet(), callbackNames.ToHashSet());

        var model = new AbiModel(
            Version: ReadConstants(typeof(VersionConstants), docs),
            Typedefs: typedefs,
            Statuses: ReadStatuses(docs),
            ConstantGroups: types
                .Where(t => t.IsDefined(typeof(NativeConstantsAttribute)) && t != typeof(VersionConstants))
                .Select(t => ReadConstants(t, docs)).ToList(),
            Structs: structTypes.Select(t => ReadStruct(t, mapper, docs)).ToList(),
            Callbacks: callbackTypes.Select(t => ReadCallback(t, mapper, docs)).ToList(),
            Sections: types.Where(t => t.IsDefined(typeof(NativeExportsAttribute))).Select(t => ReadSection(t, mapper, docs)).ToList());

        CheckEveryExportIsInASection(types);
        CheckUniqueNames(model);
        _ = model.TypeDefinitions; // a cycle among structs and callbacks fails here, before any writer runs
        return model;
    }

    // The build writes <assembly>.xml next to <assembly>.dll, and the project reference copies both.
    private static string DocFile(Assembly assembly) => Path.ChangeExtension(assembly.Location, ".xml");

    private static AbiConstantGroup ReadConstants(Type type, XmlDocs docs)
    {
        if (!type.IsDefined(typeof(NativeConstantsAttribute)))
            throw new BindgenException($"{type}: expected [NativeConstants]");
        var constants = type.GetFields(AllStatic)
            .Where(f => f.IsLiteral)
            .OrderBy(f => f.MetadataToken)
            .Select(f => new AbiConstant(f.Name, KindOf(f), ToInt128(f.GetRawConstantValue()!), Required(docs.FieldSummary(f), f)))
            .ToList();
        return new AbiConstantGroup(Required(docs.TypeSummary(type), type), constants);
    }

    private static AbiConstantGroup ReadStatuses(XmlDocs docs)
    {
        var statuses = typeof(NpStatus).GetFields(BindingFlags.Public | BindingFlags.Static)
            .OrderBy(f => f.MetadataToken)
            .Select(f =>
            {
                var value = (NpStatus)f.GetValue(null)!;
                string name = StatusText.NameString(value);
                if (name == StatusText.NameString((NpStatus)int.MinValue))
                    throw new BindgenException($"NpStatus.{f.Name} has no C name in StatusText.Name");
                return new AbiConstant(name, ConstantKind.Int32, (int)value, Required(docs.FieldSummary(f), f));
            })
            .ToList();
        return new AbiConstantGroup("Status codes (np_status). 0 is success, negatives are errors.", statuses);
    }

    private static ConstantKind KindOf(FieldInfo field) => field.FieldType switch
    {
        Type t when t == typeof(int) || t == typeof(short) || t == typeof(sbyte) => ConstantKind.Int32,
        Type t when t == typeof(uint) || t == typeof(ushort) || t == typeof(byte) => ConstantKind.UInt32,
        Type t when t == typeof(long) => ConstantKind.Int64,
        Type t when t == typeof(ulong) => ConstantKind.UInt64,
        _ => throw new BindgenException($"{field.DeclaringType}.{field.Name}: constants must be integers, not {field.FieldType}"),
    };

    private static Int128 ToInt128(object value) => value switch
    {
        ulong u => u,
        IConvertible c => c.ToInt64(null),
        _ => throw new BindgenException($"unsupported constant value {value}"),
    };

    private static AbiStruct ReadStruct(Type type, CTypeMapper mapper, XmlDocs docs)
    {
        string name = type.GetCustomAttribute<NativeStructAttribute>()!.CName;
        if (!type.IsValueType || type.IsAutoLayout)
            throw new BindgenException($"{type}: a [NativeStruct] must be a struct with sequential or explicit layout");

        int size = Marshal.SizeOf(type);
        int managedSize = ManagedSize(type);
        if (size != managedSize)
            throw new BindgenException($"{type}: marshalled size {size} differs from managed size {managedSize}; the struct is not blittable");

        var fields = new List<AbiField>();
        int end = 0;
        foreach (FieldInfo f in type.GetFields(AllInstance).OrderBy(f => f.MetadataToken))
        {
            string where = $"{name}.{f.Name}";
            CType cType = mapper.Map(f.FieldType, f, where);
            int offset = (int)Marshal.OffsetOf(type, f.Name);
            int fieldSize = f.FieldType.IsPointer ? IntPtr.Size : Marshal.SizeOf(f.FieldType);
            if (offset < end) throw new BindgenException($"{where}: overlaps the previous field (offset {offset})");
            end = offset + fieldSize;
            fields.Add(new AbiField(f.Name, cType, offset, fieldSize, Required(docs.FieldSummary(f), f)));
        }
        return new AbiStruct(name, Required(docs.TypeSummary(type), type), size, fields);
    }

    // Unsafe.SizeOf<T>() is what C# sizeof(T) gives the export shims.
    private static int ManagedSize(Type type) =>
        (int)typeof(System.Runtime.CompilerServices.Unsafe).GetMethod(nameof(System.Runtime.CompilerServices.Unsafe.SizeOf))!
            .MakeGenericMethod(type).Invoke(null, null)!;

    private static AbiSection ReadSection(Type type, CTypeMapper mapper, XmlDocs docs)
    {
        var functions = new List<AbiFunction>();
        foreach (MethodInfo method in type.GetMethods(AllStatic).OrderBy(m => m.MetadataToken))
        {
            string? entryPoint = ExportName(method);
            if (entryPoint is null) continue;

            var doc = docs.Method(method);
            functions.Add(new AbiFunction(
                entryPoint,
                mapper.Map(method.ReturnType, method.ReturnParameter, entryPoint + " return"),
                ReadParameters(method, doc, entryPoint, mapper),
                RequiredSummary(doc, entryPoint),
                XmlDocs.Tag(doc, "returns"),
                XmlDocs.Tag(doc, "remarks"))
            {
                HasCFastPath = method.IsDefined(typeof(NativeFastPathAttribute)),
                ExitPhaseFunction = method.GetCustomAttribute<NativeExitPhaseAttribute>()?.CFunction,
            });
        }
        string title = type.GetCustomAttribute<NativeExportsAttribute>()!.Section;
        return new AbiSection(title, Required(docs.TypeSummary(type), type), functions);
    }

    // A callback's C signature is its delegate's Invoke method; its docs are the delegate's own
    // (the compiler puts <param> and <returns> of a delegate on the type, not on Invoke).
    private static AbiCallback ReadCallback(Type type, CTypeMapper mapper, XmlDocs docs)
    {
        string name = type.GetCustomAttribute<NativeCallbackAttribute>()!.CName;
        if (type.IsGenericTypeDefinition)
            throw new BindgenException($"{type}: a [NativeCallback] delegate cannot be generic ({name} has one C signature)");

        MethodInfo invoke = type.GetMethod("Invoke")!;
        var doc = docs.TypeMember(type);
        return new AbiCallback(
            name,
            mapper.Map(invoke.ReturnType, invoke.ReturnParameter, name + " return"),
            ReadParameters(invoke, doc, name, mapper),
            RequiredSummary(doc, name),
            XmlDocs.Tag(doc, "returns"),
            XmlDocs.Tag(doc, "remarks"));
    }

    // Parameters of an export or callback: the same type checks and the same required docs.
    private static List<AbiParameter> ReadParameters(MethodInfo signature, XElement? doc, string cName, CTypeMapper mapper) =>
        signature.GetParameters().Select(p =>
        {
            string where = $"{cName}({p.Name})";
            string paramDoc = XmlDocs.Param(doc, p.Name!);
            if (paramDoc.Length == 0) throw new BindgenException($"{where}: missing <param name=\"{p.Name}\"> doc");
            return new AbiParameter(p.Name!, mapper.Map(p.ParameterType, p, where), paramDoc);
        }).ToList();

    private static string RequiredSummary(XElement? doc, string cName)
    {
        string summary = XmlDocs.Tag(doc, "summary");
        return summary.Length > 0 ? summary : throw new BindgenException($"{cName}: missing <summary> doc");
    }

    // The public C name: the managed entry point without its prefix (the C shim that calls the
    // entry point has the public name). Null for a method that is not an entry point.
    private static string? ExportName(MethodInfo method)
    {
        string? entryPoint = method.GetCustomAttribute<UnmanagedCallersOnlyAttribute>()?.EntryPoint;
        if (entryPoint is null) return null;
        string where = $"{method.DeclaringType}.{method.Name}";
        if (!entryPoint.StartsWith(AbiNames.ManagedPrefix + "np_", StringComparison.Ordinal))
            throw new BindgenException($"{where}: entry point '{entryPoint}' must be '{AbiNames.ManagedPrefix}np_...' (the C shim exports the np_ name)");
        string name = entryPoint[AbiNames.ManagedPrefix.Length..];
        string? fastPath = method.GetCustomAttribute<NativeFastPathAttribute>()?.EntryPoint;
        if (fastPath is not null && fastPath != name)
            throw new BindgenException($"{where}: [NativeFastPath(\"{fastPath}\")] names another function than its entry point ({name})");
        return name;
    }

    // An entry point outside a [NativeExports] class would be exported but missing from the header.
    private static void CheckEveryExportIsInASection(IEnumerable<Type> types)
    {
        foreach (Type type in types.Where(t => !t.IsDefined(typeof(NativeExportsAttribute))))
        {
            foreach (MethodInfo method in type.GetMethods(AllStatic))
            {
                if (ExportName(method) is { } entryPoint)
                    throw new BindgenException($"{entryPoint} ({type}.{method.Name}) is exported from a class without [NativeExports]");
            }
        }
    }

    private static void CheckUniqueNames(AbiModel model) =>
        CheckUnique(model.AllConstantGroups.SelectMany(g => g.Constants).Select(c => c.Name)
            .Concat(model.Typedefs.Select(t => t.Name))
            .Concat(model.Structs.Select(s => s.Name))
            .Concat(model.Callbacks.Select(c => c.Name))
            .Concat(model.Functions.Select(f => f.Name)));

    private static void CheckUnique(IEnumerable<string> names)
    {
        string? duplicate = names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1)?.Key;
        if (duplicate is not null) throw new BindgenException($"C name {duplicate} is declared twice");
    }

    private static string Required(string doc, MemberInfo member) =>
        doc.Length > 0
            ? doc
            : throw new BindgenException($"{(member is Type t ? t.FullName : member.DeclaringType + "." + member.Name)}: missing <summary> doc");
}
