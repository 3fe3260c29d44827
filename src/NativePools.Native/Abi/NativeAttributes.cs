using System;

namespace NativePools.Native.Abi;

// Markers read by the header and bindings generator (src/NativePools.Bindgen). They change
// nothing at run time; they say how a C# declaration is spelled in C.

/// <summary>Spells a parameter, return value or field in C, e.g. <c>np_pool</c> or <c>const char*</c>.</summary>
[AttributeUsage(AttributeTargets.Parameter | AttributeTargets.ReturnValue | AttributeTargets.Field)]
public sealed class NativeTypeAttribute(string cType) : Attribute
{
    /// <summary>The C spelling.</summary>
    public string CType { get; } = cType;
}

/// <summary>Marks a blittable struct that crosses the ABI, with its C name.</summary>
[AttributeUsage(AttributeTargets.Struct)]
public sealed class NativeStructAttribute(string cName) : Attribute
{
    /// <summary>The C type name.</summary>
    public string CName { get; } = cName;
}

/// <summary>Marks a static class whose const fields become C macros (the field names are the C names).</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class NativeConstantsAttribute : Attribute;

/// <summary>Declares a C typedef for an integer type, e.g. handles: <c>typedef uint64_t np_pool;</c>.</summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
public sealed class NativeTypedefAttribute(string cName, Type underlying, string doc) : Attribute
{
    /// <summary>The C type name.</summary>
    public string CName { get; } = cName;
    /// <summary>The C# type it stands for.</summary>
    public Type Underlying { get; } = underlying;
    /// <summary>One line of documentation.</summary>
    public string Doc { get; } = doc;
}

/// <summary>Marks a static class of exports; <see cref="Section"/> titles its part of the header.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class NativeExportsAttribute(string section) : Attribute
{
    /// <summary>Heading of the header section.</summary>
    public string Section { get; } = section;
}
