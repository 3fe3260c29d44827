using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using System.Xml.Linq;

namespace NativePools.Bindgen.Reading;

/// <summary>
/// The compiler's XML documentation files, looked up by member and rendered as plain one-line
/// text (whitespace collapsed, <c>&lt;c&gt;</c> and <c>&lt;see cref&gt;</c> reduced to their names).
/// </summary>
public sealed class XmlDocs
{
    private readonly Dictionary<string, XElement> _members = new(StringComparer.Ordinal);

    /// <summary>Loads the given documentation files; a member documented twice is an error.</summary>
    public XmlDocs(IEnumerable<string> files)
    {
        foreach (string file in files)
        {
            if (!File.Exists(file))
                throw new BindgenException($"XML documentation file not found: {file} (GenerateDocumentationFile must be on)");
            foreach (XElement member in XDocument.Load(file).Descendants("member"))
            {
                string id = (string?)member.Attribute("name") ?? "";
                if (!_members.TryAdd(id, member))
                    throw new BindgenException($"{id} is documented twice");
            }
        }
    }

    /// <summary>Summary of a type.</summary>
    public string TypeSummary(Type type) => Tag(TypeMember(type), "summary");

    /// <summary>The member element of a type; a delegate's holds its params and returns too.</summary>
    public XElement? TypeMember(Type type) => Member("T:" + TypeId(type));

    /// <summary>Summary of a field (struct field, constant, enum member).</summary>
    public string FieldSummary(FieldInfo field) =>
        Tag(Member("F:" + TypeId(field.DeclaringType!) + "." + field.Name), "summary");

    /// <summary>The member element of a method. Exports are never overloaded, so the name identifies it.</summary>
    public XElement? Method(MethodInfo method)
    {
        string prefix = "M:" + TypeId(method.DeclaringType!) + "." + method.Name;
        var matches = _members
            .Where(m => m.Key == prefix || m.Key.StartsWith(prefix + "(", StringComparison.Ordinal))
            .Select(m => m.Value).ToList();
        if (matches.Count > 1) throw new BindgenException($"{prefix} is overloaded; exports must not be");
        return matches.SingleOrDefault();
    }

    /// <summary>Rendered text of the first child element named <paramref name="tag"/>, or "".</summary>
    public static string Tag(XElement? member, string tag) => Render(member?.Element(tag));

    /// <summary>Rendered text of <c>&lt;param name="..."&gt;</c>, or "".</summary>
    public static string Param(XElement? member, string name) =>
        Render(member?.Elements("param").FirstOrDefault(p => (string?)p.Attribute("name") == name));

    private XElement? Member(string id) => _members.GetValueOrDefault(id);

    // Documentation ids spell nested types with '.', reflection with '+'.
    private static string TypeId(Type type) => type.FullName!.Replace('+', '.');

    private static string Render(XElement? element)
    {
        if (element is null) return "";
        var text = new StringBuilder();
        AppendNodes(element, text);
        return string.Join(' ', text.ToString().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
    }

    private static void AppendNodes(XElement element, StringBuilder text)
    {
        foreach (XNode node in element.Nodes())
        {
            switch (node)
            {
                case XText t:
                    text.Append(t.Value);
                    break;
                case XElement e when e.Name == "see" || e.Name == "seealso":
                    text.Append(e.IsEmpty ? CrefName((string?)e.Attribute("cref") ?? (string?)e.Attribute("langword") ?? "") : e.Value);
                    break;
                case XElement e when e.Name == "paramref" || e.Name == "typeparamref":
                    text.Append((string?)e.Attribute("name"));
                    break;
                case XElement e when e.Name == "para":
                    text.Append(' ');
                    AppendNodes(e, text);
                    text.Append(' ');
                    break;
                case XElement e: // <c>, <b>, <i>, <code>, ...: keep the text
                    AppendNodes(e, text);
                    break;
            }
        }
    }

    // "T:NativePools.NpStatus" -> "NpStatus"; "M:A.B.C(System.Int32)" -> "C".
    private static string CrefName(string cref)
    {
        string name = cref.Contains(':') ? cref[(cref.IndexOf(':') + 1)..] : cref;
        int paren = name.IndexOf('(');
        if (paren >= 0) name = name[..paren];
        return name[(name.LastIndexOf('.') + 1)..];
    }
}
