using System;
using System.Collections.Generic;
using System.Linq;

namespace NativePools.Bindgen.Model;

// The C ABI as the writers see it: names, C types, values, layouts and documentation, already
// taken out of reflection and XML docs. Writers never look at the C# assembly themselves.

/// <summary>Integer types a constant can have; decides the literal suffix in C.</summary>
public enum ConstantKind { Int32, UInt32, Int64, UInt64 }

/// <summary>One macro: <c>#define Name Value</c>.</summary>
public sealed record AbiConstant(string Name, ConstantKind Kind, Int128 Value, string Doc);

/// <summary>A titled run of constants (one [NativeConstants] class, or the status codes).</summary>
public sealed record AbiConstantGroup(string Title, IReadOnlyList<AbiConstant> Constants);

/// <summary><c>typedef Underlying Name;</c> where Underlying is a fixed-width C integer type.</summary>
public sealed record AbiTypedef(string Name, string Underlying, string Doc);

/// <summary>A struct field with its managed offset and size.</summary>
public sealed record AbiField(string Name, CType Type, int Offset, int Size, string Doc);

/// <summary>A <c>typedef struct Name { ... } Name;</c> with its managed size.</summary>
public sealed record AbiStruct(string Name, string Doc, int Size, IReadOnlyList<AbiField> Fields) : IAbiTypeDefinition
{
    /// <inheritdoc/>
    public IEnumerable<CType> Uses => Fields.Select(f => f.Type);
}

/// <summary>A function parameter.</summary>
public sealed record AbiParameter(string Name, CType Type, string Doc);

/// <summary>
/// An exported function with its documentation. <see cref="Name"/> is the public C name;
/// <see cref="ManagedName"/> the managed entry point that its C shim calls (see
/// src/NativePools.Native/Boundary). <see cref="HasCFastPath"/>: the public function is hand-written
/// C (FastPath/) and the generated shim is its general path, named <see cref="GeneralName"/>.
/// <see cref="ExitPhaseFunction"/>: the C function that answers instead of a proxied call once the
/// calling thread is exiting, or null.
/// </summary>
public sealed record AbiFunction(
    string Name, CType Return, IReadOnlyList<AbiParameter> Parameters,
    string Summary, string Returns, string Remarks)
{
    /// <summary>The managed entry point the C shim calls.</summary>
    public string ManagedName => AbiNames.ManagedPrefix + Name;

    /// <summary>True when FastPath/ defines the public function in C.</summary>
    public bool HasCFastPath { get; init; }

    /// <summary>The generated shim's name when <see cref="HasCFastPath"/>.</summary>
    public string GeneralName => Name + "_general";

    /// <summary>The C function that stands in for a proxied call on an exiting thread, or null.</summary>
    public string? ExitPhaseFunction { get; init; }
}

/// <summary>
/// <c>typedef Return (*Name)(Parameters);</c>: a function the caller implements and the library
/// calls (one [NativeCallback] delegate), documented like an export.
/// </summary>
public sealed record AbiCallback(
    string Name, CType Return, IReadOnlyList<AbiParameter> Parameters,
    string Summary, string Returns, string Remarks) : IAbiTypeDefinition
{
    /// <inheritdoc/>
    public IEnumerable<CType> Uses => Parameters.Select(p => p.Type).Append(Return);
}

/// <summary>The exports of one [NativeExports] class.</summary>
public sealed record AbiSection(string Title, string Doc, IReadOnlyList<AbiFunction> Functions);

/// <summary>The whole ABI, in header order.</summary>
public sealed record AbiModel(
    AbiConstantGroup Version,
    IReadOnlyList<AbiTypedef> Typedefs,
    AbiConstantGroup Statuses,
    IReadOnlyList<AbiConstantGroup> ConstantGroups,
    IReadOnlyList<AbiStruct> Structs,
    IReadOnlyList<AbiCallback> Callbacks,
    IReadOnlyList<AbiSection> Sections)
{
    /// <summary>Every constant: version, statuses, then the other groups.</summary>
    public IEnumerable<AbiConstantGroup> AllConstantGroups =>
        new[] { Version, Statuses }.Concat(ConstantGroups);

    /// <summary>
    /// Structs and callbacks in header order: structs then callbacks, each in declaration order,
    /// except that a definition comes after every struct or callback it names.
    /// </summary>
    public IReadOnlyList<IAbiTypeDefinition> TypeDefinitions =>
        DefinitionOrder.Of(Structs.Concat<IAbiTypeDefinition>(Callbacks));

    /// <summary>Every exported function in header order.</summary>
    public IEnumerable<AbiFunction> Functions => Sections.SelectMany(s => s.Functions);

    /// <summary>The typedef named <paramref name="name"/>, or null.</summary>
    public AbiTypedef? FindTypedef(string name) => Typedefs.FirstOrDefault(t => t.Name == name);

    /// <summary>The struct named <paramref name="name"/>, or null.</summary>
    public AbiStruct? FindStruct(string name) => Structs.FirstOrDefault(s => s.Name == name);

    /// <summary>The callback typedef named <paramref name="name"/>, or null.</summary>
    public AbiCallback? FindCallback(string name) => Callbacks.FirstOrDefault(c => c.Name == name);
}
