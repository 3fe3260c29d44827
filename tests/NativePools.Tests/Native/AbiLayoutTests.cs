using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Native;

/// <summary>
/// The declarations in <see cref="NativeApi"/> and the ABI structs (NpPoolOptions and friends) must match the
/// generated header and the built library, so drift on either side fails here instead of
/// corrupting memory in the scenarios.
/// </summary>
public sealed unsafe class AbiLayoutTests
{
    private static readonly Dictionary<string, Type> Structs = new()
    {
        ["np_pool_options"] = typeof(NpPoolOptions),
        ["np_pool_stats"] = typeof(NpPoolStats),
        ["np_pool_validation"] = typeof(NpPoolValidation),
        ["np_msgpool_options"] = typeof(NpMsgPoolOptions),
        ["np_msgpool_stats"] = typeof(NpMsgPoolStats),
        ["np_msgpool_class_stats"] = typeof(NpMsgPoolClassStats),
        ["np_server_options"] = typeof(NpServerOptions),
        ["np_client_options"] = typeof(NpClientOptions),
        ["np_server_stats"] = typeof(NpServerStats),
        ["np_route_stats"] = typeof(NpRouteStats),
        ["np_request"] = typeof(NpRequest),
    };

    [Test]
    public void StructSizesAndOffsets_MatchTheHeaderStaticAsserts()
    {
        HeaderFile header = HeaderFile.Load();
        Dictionary<string, int> sizes = header.StructSizes();
        var offsets = header.FieldOffsets();
        Assert.That(sizes.Keys, Is.SupersetOf(Structs.Keys), "the header asserts the size of every ABI struct");
        Assert.Multiple(() =>
        {
            foreach (var (name, size) in sizes)
            {
                Assert.That(Structs.ContainsKey(name), Is.True, $"the tests declare {name}");
                if (Structs.TryGetValue(name, out Type? type))
                    Assert.That(Marshal.SizeOf(type), Is.EqualTo(size), $"sizeof({name})");
            }
            foreach (var (name, field, offset) in offsets)
            {
                Type type = Structs[name];
                Assert.That(type.GetField(field), Is.Not.Null, $"{name}.{field} is declared");
                if (type.GetField(field) is not null)
                    Assert.That((int)Marshal.OffsetOf(type, field), Is.EqualTo(offset), $"offsetof({name}, {field})");
            }
            foreach (var (name, type) in Structs)
            {
                int asserted = offsets.Count(o => o.Struct == name);
                Assert.That(asserted, Is.EqualTo(type.GetFields().Length), $"the header asserts the offset of every field of {name}");
            }
        });
    }

    [Test]
    public void StructSizes_AreTheOnesTheLibraryAccepts()
    {
        NpPoolOptions options;
        Assert.That(NativeApi.np_pool_options_init(&options), Is.Zero);
        Assert.That(options.struct_size, Is.EqualTo((uint)sizeof(NpPoolOptions)), "np_pool_options_init writes sizeof(np_pool_options)");
        options.block_size = 64;
        ulong pool;
        Assert.That(NativeApi.np_pool_create(&options, &pool), Is.Zero);
        try
        {
            var stats = new NpPoolStats { struct_size = (uint)sizeof(NpPoolStats), reserved = 0xFFFF_FFFF };
            var report = new NpPoolValidation { struct_size = (uint)sizeof(NpPoolValidation) };
            var statsStatus = (NpStatus)NativeApi.np_pool_get_stats(pool, &stats);
            var validateStatus = (NpStatus)NativeApi.np_pool_validate(pool, &report);
            ulong statsBlockSize = stats.block_size;
            uint statsReserved = stats.reserved;
            uint reportSize = report.struct_size;
            Assert.Multiple(() =>
            {
                Assert.That(statsStatus, Is.EqualTo(NpStatus.Ok), "our np_pool_stats size");
                Assert.That(statsBlockSize, Is.EqualTo(64ul));
                Assert.That(statsReserved, Is.Zero, "np_pool_stats.reserved is written as 0");
                Assert.That(validateStatus, Is.EqualTo(NpStatus.Ok), "our np_pool_validation size");
                Assert.That(reportSize, Is.EqualTo((uint)sizeof(NpPoolValidation)));
            });
        }
        finally
        {
            NativeApi.np_pool_destroy(pool);
        }
    }

    [Test]
    public void Constants_MatchTheHeader()
    {
        Dictionary<string, long> defines = HeaderFile.Load().IntegerDefines();
        Assert.Multiple(() =>
        {
            foreach (NpStatus status in Enum.GetValues<NpStatus>())
            {
                string name = StatusText.NameString(status);
                Assert.That(defines.TryGetValue(name, out long value), Is.True, $"{name} is defined");
                Assert.That(value, Is.EqualTo((long)status), name);
            }
            foreach (FieldInfo constant in typeof(NpConstants).GetFields().Concat(typeof(NpMsgPoolConstants).GetFields()).Concat(typeof(NpIpcConstants).GetFields()))
            {
                Assert.That(defines.TryGetValue(constant.Name, out long value), Is.True, $"{constant.Name} is defined");
                Assert.That(value, Is.EqualTo(Convert.ToInt64(constant.GetValue(null))), constant.Name);
            }
            Assert.That(defines["NP_VERSION_NUMBER"], Is.EqualTo((long)NativeApi.np_version()), "the library's version is the header's");
        });
    }

    [Test]
    public void Functions_MatchTheHeaderDeclarations()
    {
        HeaderFile header = HeaderFile.Load();
        var declared = header.Functions();
        var callbacks = header.FunctionPointerTypedefs();
        Dictionary<string, MethodInfo> imported = typeof(NativeApi)
            .GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.Name.StartsWith("np_", StringComparison.Ordinal))
            .ToDictionary(m => m.Name);
        Assert.That(imported.Keys, Is.EquivalentTo(declared.Keys), "the tests import exactly the functions the header declares");
        Assert.Multiple(() =>
        {
            foreach (var (name, (returns, parameters)) in declared)
            {
                if (!imported.TryGetValue(name, out MethodInfo? method)) continue;
                Assert.That(Matches(returns, method.ReturnType, callbacks), Is.True, $"{name} returns {returns}, imported as {method.ReturnType}");
                ParameterInfo[] actual = method.GetParameters();
                Assert.That(actual.Length, Is.EqualTo(parameters.Length), $"{name} parameter count");
                for (int i = 0; i < Math.Min(actual.Length, parameters.Length); i++)
                    Assert.That(Matches(parameters[i], actual[i].ParameterType, callbacks), Is.True, $"{name} parameter {i}: {parameters[i]} imported as {actual[i].ParameterType}");
            }
        });
    }

    // How each C type of the header must be spelled in a blittable C# import. A callback typedef
    // (np_handler_fn) must be an unmanaged function pointer whose return and parameter types
    // match the typedef's, one by one.
    private static bool Matches(string cType, Type type, Dictionary<string, (string Return, string[] Parameters)> callbacks) => cType.Replace("const ", "").Trim() switch
    {
        var t when t.EndsWith('*') => type.IsPointer,
        var t when callbacks.TryGetValue(t, out var callback) =>
            type.IsFunctionPointer && type.IsUnmanagedFunctionPointer &&
            Matches(callback.Return, type.GetFunctionPointerReturnType(), callbacks) &&
            type.GetFunctionPointerParameterTypes().Length == callback.Parameters.Length &&
            callback.Parameters.Select((p, i) => Matches(p, type.GetFunctionPointerParameterTypes()[i], callbacks)).All(ok => ok),
        "np_pool" or "np_msgpool" or "np_server" or "np_client" or "uint64_t" => type == typeof(ulong),
        "np_status" or "int32_t" => type == typeof(int),
        "uint32_t" => type == typeof(uint),
        "size_t" => type == typeof(nuint),
        "void" => type == typeof(void),
        _ => false,
    };

    [Test]
    public void Version_NumberAndStringAgree()
    {
        uint version = NativeApi.np_version();
        string text = NativeApi.Text(NativeApi.np_version_string());
        Assert.That(text, Is.EqualTo($"{version >> 16}.{(version >> 8) & 0xFF}.{version & 0xFF}"));
    }
}
