using System;
using System.Collections.Generic;
using System.IO;
using NativePools.Bindgen;
using NativePools.Bindgen.Model;
using NativePools.Bindgen.Reading;
using NativePools.Bindgen.Writing;

// Usage: NativePools.Bindgen [--root <repo>] [--check | --list-exports]
//   (default) write the header and bindings that changed
//   --check         write nothing; exit 1 listing every missing or stale file
//   --list-exports  print the exported C function names, one per line (compared with nm -D)
try
{
    Options options = Options.Parse(args);
    AbiModel model = AbiReader.Read();

    if (options.ListExports)
    {
        foreach (AbiFunction f in model.Functions) Console.Out.Write(f.Name + "\n");
        return 0;
    }

    var outputs = new GeneratedFiles(options.Root, new List<(string, string)>
    {
        ("native-headers/nativepools.h", HeaderWriter.Write(model)),
        ("bindings/python/nativepools/_native.py", PythonWriter.Write(model)),
        ("bindings/dart/lib/src/native.g.dart", DartWriter.Write(model)),
        ("src/NativePools.Native/Boundary/exports.g.c", ExportShimWriter.Write(model)),
    });

    if (options.Check)
    {
        IReadOnlyList<string> stale = outputs.Stale();
        foreach (string path in stale) Console.Error.WriteLine($"stale: {path} (regenerate: {Banner.Command})");
        return stale.Count == 0 ? 0 : 1;
    }

    foreach (string path in outputs.Write()) Console.WriteLine($"wrote {path}");
    return 0;
}
catch (BindgenException e)
{
    Console.Error.WriteLine("bindgen: " + e.Message);
    return 2;
}

/// <summary>Command-line options.</summary>
internal sealed record Options(string Root, bool Check, bool ListExports)
{
    public static Options Parse(string[] args)
    {
        string? root = null;
        bool check = false, listExports = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--root" when i + 1 < args.Length: root = args[++i]; break;
                case "--check": check = true; break;
                case "--list-exports": listExports = true; break;
                default: throw new BindgenException($"unknown argument '{args[i]}'; usage: [--root <repo>] [--check | --list-exports]");
            }
        }
        if (check && listExports) throw new BindgenException("--check and --list-exports are exclusive");
        root = Path.GetFullPath(root ?? FindRoot());
        if (!File.Exists(Path.Combine(root, "Directory.Build.props")))
            throw new BindgenException($"{root} does not look like the repository root (no Directory.Build.props)");
        return new Options(root, check, listExports);
    }

    // Without --root: the nearest ancestor of the working directory that holds Directory.Build.props.
    private static string FindRoot()
    {
        for (DirectoryInfo? dir = new(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Directory.Build.props"))) return dir.FullName;
        }
        throw new BindgenException("cannot find the repository root; pass --root <repo>");
    }
}
