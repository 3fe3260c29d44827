namespace NativePools.Bindgen.Model;

/// <summary>How the managed entry points are named relative to the public C names.</summary>
public static class AbiNames
{
    /// <summary>
    /// Prefix of every managed entry point: <c>[UnmanagedCallersOnly(EntryPoint = "managed_np_pool_create")]</c>
    /// implements the public <c>np_pool_create</c>, which is a C shim (Boundary/exports.g.c) that calls it.
    /// The library's version script exports the public names only.
    /// </summary>
    public const string ManagedPrefix = "managed_";
}
