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

/// <summary>
/// Marks a delegate as a C function-pointer typedef, e.g.
/// <c>typedef np_status (*np_handler_fn)(void* user_data, ...);</c>, for callbacks the caller
/// passes in. The Invoke signature is the C signature: parameter names as declared,
/// <see cref="NativeTypeAttribute"/> on parameters and on the return (<c>[return: NativeType(...)]</c>),
/// and the delegate's XML docs (summary, params, returns, remarks) become the typedef's.
/// Exports take the callback as <c>nint</c> or <c>void*</c> marked <c>[NativeType("np_handler_fn")]</c>;
/// the delegate itself is never marshalled.
/// </summary>
[AttributeUsage(AttributeTargets.Delegate)]
public sealed class NativeCallbackAttribute(string cName) : Attribute
{
    /// <summary>The C typedef name.</summary>
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

/// <summary>
/// Marks the managed part of an export whose common case is written in C
/// (FastPath/pool_fast_path.c): that C function is the exported symbol <see cref="EntryPoint"/>,
/// and the generated shim for this method (Boundary/exports.g.c), named
/// <c><see cref="EntryPoint"/>_general</c>, is what it calls for everything else. The header
/// declares the export from this method's signature and docs, as for any other export.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class NativeFastPathAttribute(string entryPoint) : Attribute
{
    /// <summary>The exported C name.</summary>
    public string EntryPoint { get; } = entryPoint;
}

/// <summary>
/// Names the C function (Boundary/thread_exit.c) that answers for this export once the calling
/// thread has begun to exit, instead of running the call on a proxy thread: for calls whose
/// answer is about the calling thread itself, such as its last error.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class NativeExitPhaseAttribute(string cFunction) : Attribute
{
    /// <summary>The C function, with the export's signature.</summary>
    public string CFunction { get; } = cFunction;
}
