using System;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;

namespace NativePools.Tests.Native;

/// <summary>
/// Finds the built libnativepools.so: the path in NATIVEPOOLS_LIB when set, else
/// artifacts/native/libnativepools.so under the repository root, found by walking up from
/// the test assembly to the folder holding NativePools.sln or .git. A missing library is an
/// error with instructions, never a reason to skip.
/// </summary>
public static class NativeLibraryLocator
{
    public const string EnvironmentVariable = "NATIVEPOOLS_LIB";
    private static readonly Lazy<nint> Handle = new(LoadFromPath);

    /// <summary>The absolute path the tests load.</summary>
    public static string LibraryPath()
    {
        string? configured = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(configured)) return Path.GetFullPath(configured);
        string root = RepositoryRoot() ?? throw new DllNotFoundException(
            $"cannot find the repository root (a folder with NativePools.sln or .git) above {AppContext.BaseDirectory}; set {EnvironmentVariable}");
        return Path.Combine(root, "artifacts", "native", "libnativepools.so");
    }

    /// <summary>The repository root above the test assembly, or null.</summary>
    public static string? RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "NativePools.sln")) ||
                Directory.Exists(Path.Combine(dir.FullName, ".git")) || File.Exists(Path.Combine(dir.FullName, ".git")))
                return dir.FullName;
        }
        return null;
    }

    /// <summary>Loads the library once and returns its handle; throws a clear error when it is missing.</summary>
    public static nint Load() => Handle.Value;

    internal static void RegisterResolver(Assembly assembly) =>
        NativeLibrary.SetDllImportResolver(assembly, (name, _, _) => name == NativeApi.Library ? Load() : 0);

    private static nint LoadFromPath()
    {
        string path = LibraryPath();
        if (!File.Exists(path))
            throw new DllNotFoundException(
                $"{path} does not exist. Build it first: dotnet publish src/NativePools.Native -c Release -r linux-x64 -o artifacts/native " +
                $"(or set {EnvironmentVariable} to the library's path)");
        return NativeLibrary.Load(path);
    }
}
