using System.Runtime.InteropServices;

namespace NativePools.Tests.Native;

/// <summary>
/// The C ABI of libnativepools, declared as the header declares it: blittable parameters
/// only (np_status = int, np_pool = ulong, size_t = nuint, pointers as pointers). The
/// library file is resolved by <see cref="NativeLibraryLocator"/>, registered before the first call.
/// </summary>
public static unsafe partial class NativeApi
{
    public const string Library = "libnativepools";

    static NativeApi() => NativeLibraryLocator.RegisterResolver(typeof(NativeApi).Assembly);

    /// <summary>Loads the library now (failing with a clear message when it is missing).</summary>
    public static void EnsureLoaded() => NativeLibraryLocator.Load();

    [LibraryImport(Library)] public static partial uint np_version();
    [LibraryImport(Library)] public static partial byte* np_version_string();
    [LibraryImport(Library)] public static partial byte* np_status_name(int status);
    [LibraryImport(Library)] public static partial byte* np_status_message(int status);
    [LibraryImport(Library)] public static partial int np_last_error_status();
    [LibraryImport(Library)] public static partial nuint np_last_error_message(byte* buffer, nuint capacity);

    [LibraryImport(Library)] public static partial int np_pool_options_init(NpPoolOptions* options);
    [LibraryImport(Library)] public static partial int np_pool_options_preset(NpPoolOptions* options, int preset);
    [LibraryImport(Library)] public static partial int np_pool_create(NpPoolOptions* options, ulong* pool);
    [LibraryImport(Library)] public static partial int np_pool_destroy(ulong pool);
    [LibraryImport(Library)] public static partial int np_pool_alloc(ulong pool, void** block);
    [LibraryImport(Library)] public static partial int np_pool_free(ulong pool, void* block);
    [LibraryImport(Library)] public static partial int np_pool_alloc_batch(ulong pool, void** blocks, nuint count, nuint* allocated);
    [LibraryImport(Library)] public static partial int np_pool_free_batch(ulong pool, void** blocks, nuint count, nuint* freed);
    [LibraryImport(Library)] public static partial int np_pool_reserve(ulong pool, ulong free_blocks);
    [LibraryImport(Library)] public static partial int np_pool_trim(ulong pool, ulong* bytes_released);
    [LibraryImport(Library)] public static partial int np_pool_owns(ulong pool, void* block, int* result);
    [LibraryImport(Library)] public static partial int np_pool_validate(ulong pool, NpPoolValidation* report);
    [LibraryImport(Library)] public static partial int np_pool_get_stats(ulong pool, NpPoolStats* stats);
    [LibraryImport(Library)] public static partial int np_pool_reset_stats(ulong pool);

    /// <summary>A static C string returned by the library, as a managed string.</summary>
    public static string Text(byte* text) => text == null ? "<NULL>" : Marshal.PtrToStringUTF8((nint)text)!;
}
