using System.Collections.Generic;
using System.Linq;

namespace NativePools.Bindgen.Model;

/// <summary>A struct or a callback: a named type whose definition names other types.</summary>
public interface IAbiTypeDefinition
{
    /// <summary>The C name.</summary>
    string Name { get; }

    /// <summary>The types its definition names (fields, or parameters and return).</summary>
    IEnumerable<CType> Uses { get; }
}

/// <summary>
/// Orders structs and callbacks so each comes after every struct and callback it names: C needs a
/// typedef name declared before any use, even behind a pointer, and ctypes needs a class or
/// prototype defined before a field or argtype refers to it.
/// </summary>
public static class DefinitionOrder
{
    /// <summary>
    /// <paramref name="preferred"/> with each definition moved after what it names, and otherwise
    /// kept in place, so an ABI without such references keeps its order.
    /// </summary>
    public static IReadOnlyList<IAbiTypeDefinition> Of(IEnumerable<IAbiTypeDefinition> preferred)
    {
        var pending = preferred.ToList();
        var names = pending.Select(d => d.Name).ToHashSet();
        var defined = new HashSet<string>();
        var ordered = new List<IAbiTypeDefinition>();
        while (pending.Count > 0)
        {
            IAbiTypeDefinition next = pending.FirstOrDefault(d => d.Uses.All(t => !names.Contains(t.Base) || defined.Contains(t.Base)))
                ?? throw new BindgenException(
                    $"{string.Join(", ", pending.Select(d => d.Name))}: these structs and callbacks name each other (or "
                    + "themselves) in a cycle, which the header cannot declare; pass one of them as void*");
            pending.Remove(next);
            defined.Add(next.Name);
            ordered.Add(next);
        }
        return ordered;
    }
}
