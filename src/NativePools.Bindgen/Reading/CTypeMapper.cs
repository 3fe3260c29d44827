using System;
using System.Collections.Generic;
using System.Reflection;
using NativePools.Bindgen.Model;
using NativePools.Native.Abi;

namespace NativePools.Bindgen.Reading;

/// <summary>
/// Spells C# ABI types in C, and checks that a [NativeType] spelling describes the same shape
/// as the C# type it decorates, so a typo in an attribute cannot silently change the ABI.
/// </summary>
/// <param name="typedefs">[NativeTypedef] names and the C# integer type each stands for.</param>
/// <param name="structs">[NativeStruct] names.</param>
/// <param name="callbacks">[NativeCallback] names: function-pointer typedefs.</param>
public sealed class CTypeMapper(
    IReadOnlyDictionary<string, Type> typedefs, IReadOnlySet<string> structs, IReadOnlySet<string> callbacks)
{
    // C names a [NativeType] may use besides the mapped scalars and the declared names.
    private static readonly HashSet<string> OtherCNames = ["char", "ptrdiff_t", "uintptr_t"];

    private static readonly Dictionary<Type, string> Scalars = new()
    {
        [typeof(byte)] = "uint8_t",
        [typeof(sbyte)] = "int8_t",
        [typeof(ushort)] = "uint16_t",
        [typeof(short)] = "int16_t",
        [typeof(uint)] = "uint32_t",
        [typeof(int)] = "int32_t",
        [typeof(ulong)] = "uint64_t",
        [typeof(long)] = "int64_t",
        [typeof(nuint)] = "size_t",
        [typeof(nint)] = "intptr_t",
        [typeof(float)] = "float",
        [typeof(double)] = "double",
        [typeof(void)] = "void",
    };

    /// <summary>The C type of a parameter, return value or field: its [NativeType] if any, else the mapping.</summary>
    public CType Map(Type type, ICustomAttributeProvider site, string where)
    {
        CType mapped = MapClr(type, where);
        var attributes = site.GetCustomAttributes(typeof(NativeTypeAttribute), false);
        if (attributes.Length == 0) return mapped;

        string spelling = ((NativeTypeAttribute)attributes[0]).CType;
        CType declared;
        try { declared = CType.Parse(spelling); }
        catch (FormatException e) { throw new BindgenException($"{where}: [NativeType(\"{spelling}\")]: {e.Message}"); }
        if (!IsKnown(declared.Base))
            throw new BindgenException($"{where}: [NativeType(\"{spelling}\")]: unknown C type '{declared.Base}' "
                + "(not a C scalar, nor declared by [NativeTypedef], [NativeStruct] or [NativeCallback])");
        if (!SameShape(declared, mapped))
        {
            throw new BindgenException(callbacks.Contains(declared.Base)
                ? $"{where}: [NativeType(\"{spelling}\")] is a function pointer ([NativeCallback]): declare it in C# as nint or void* (nint* or void** for a pointer to one), not {type}"
                : $"{where}: [NativeType(\"{spelling}\")] does not match the C# type {type} (C: {mapped})");
        }
        return declared;
    }

    /// <summary>The C spelling of a C# type without any attribute.</summary>
    public static CType MapClr(Type type, string where)
    {
        if (type.IsPointer) return MapClr(type.GetElementType()!, where).PointerTo();
        if (type == typeof(bool) || type == typeof(char))
            throw new BindgenException($"{where}: {type.Name} is not blittable; use int32_t / uint8_t / uint16_t");
        if (Scalars.TryGetValue(type, out string? name)) return CType.Named(name);
        if (type.IsValueType && type.GetCustomAttribute<NativeStructAttribute>() is { } s) return CType.Named(s.CName);
        if (type.GetCustomAttribute<NativeCallbackAttribute>() is { } c)
            throw new BindgenException($"{where}: a delegate is not blittable; take {c.CName} as nint or void* marked [NativeType(\"{c.CName}\")]");
        throw new BindgenException($"{where}: {type} has no C spelling (mark structs with [NativeStruct])");
    }

    /// <summary>The C name of a fixed-width integer type, for typedefs.</summary>
    public static string ScalarName(Type type, string where) =>
        Scalars.TryGetValue(type, out string? name) && type != typeof(void)
            ? name
            : throw new BindgenException($"{where}: {type} cannot underlie a typedef");

    private bool IsKnown(string baseName) =>
        Scalars.ContainsValue(baseName) || OtherCNames.Contains(baseName)
        || typedefs.ContainsKey(baseName) || structs.Contains(baseName) || callbacks.Contains(baseName);

    // Same pointer depth and the same base once typedefs are resolved; const is free to differ,
    // char matches bytes, and a void pointee matches any pointee. A callback typedef is itself a
    // pointer, which C# holds as void* (one level more) or nint (same level): the export casts it
    // to a delegate* unmanaged to call it.
    private bool SameShape(CType declared, CType mapped)
    {
        if (callbacks.Contains(declared.Base))
        {
            return (mapped.Base == "void" && mapped.PointerDepth == declared.PointerDepth + 1)
                || (mapped.Base == "intptr_t" && mapped.PointerDepth == declared.PointerDepth);
        }
        if (declared.PointerDepth != mapped.PointerDepth) return false;
        string d = Resolve(declared.Base), m = Resolve(mapped.Base);
        if (d == m) return true;
        if (d == "char" && m is "uint8_t" or "int8_t") return true;
        if (d == "void" && declared.PointerDepth > 0) return true;
        return (d, m) is ("ptrdiff_t", "intptr_t") or ("uintptr_t", "size_t");
    }

    private string Resolve(string baseName) =>
        typedefs.TryGetValue(baseName, out Type? underlying) ? Scalars[underlying] : baseName;
}
