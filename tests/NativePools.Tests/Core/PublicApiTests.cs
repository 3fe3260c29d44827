using System;
using System.Linq;
using NativePools.Pools;
using NUnit.Framework;

namespace NativePools.Tests.Core;

/// <summary>
/// The NuGet package's public surface is exactly what .NET users are meant to call: pools,
/// message pools, the IPC, statuses and the last-error detail. Plumbing (handle tables, virtual
/// memory, status text, the C fast path's hooks) stays internal, reached by the export layer and
/// the tests through InternalsVisibleTo. A type made public by accident fails here.
/// </summary>
public sealed class PublicApiTests
{
    private static readonly string[] Intended =
    [
        "NativePools.Diagnostics.LastError",
        "NativePools.Handles.HandleObject",
        "NativePools.Ipc.IpcClient",
        "NativePools.Ipc.IpcRequestHandler",
        "NativePools.Ipc.IpcRouteStats",
        "NativePools.Ipc.IpcServer",
        "NativePools.Ipc.IpcServerOptions",
        "NativePools.Ipc.IpcServerStats",
        "NativePools.Messages.MessageClassStats",
        "NativePools.Messages.MessagePool",
        "NativePools.Messages.MessagePoolOptions",
        "NativePools.Messages.MessagePoolStats",
        "NativePools.NpStatus",
        "NativePools.Pools.BlockPool",
        "NativePools.Pools.BlockPoolFlags",
        "NativePools.Pools.BlockPoolOptions",
        "NativePools.Pools.BlockPoolStats",
        "NativePools.Pools.BlockPoolValidation",
        "NativePools.Pools.PoolPreset",
        "NativePools.Pools.PoolPresets",
    ];

    [Test]
    public void ThePackageExportsExactlyTheIntendedTypes()
    {
        string[] exported = typeof(BlockPool).Assembly.GetExportedTypes().Select(t => t.FullName!).OrderBy(n => n, StringComparer.Ordinal).ToArray();
        Assert.That(exported, Is.EqualTo(Intended.OrderBy(n => n, StringComparer.Ordinal).ToArray()));
    }

    [Test]
    public void TheFastPathHooksAndErrorRecordingAreNotPublic()
    {
        string[] hooks = ["DestroyedPools", "DestroyedPoolsCounter", "CallingThreadState", "CallingThreadStateLayout"];
        foreach (string name in hooks)
            Assert.That(typeof(BlockPool).GetMember(name).Where(m => m is System.Reflection.MethodInfo { IsPublic: true } or System.Reflection.PropertyInfo { GetMethod.IsPublic: true }), Is.Empty, name);
        Assert.That(typeof(Diagnostics.LastError).GetMethods().Where(m => m.IsPublic && m.DeclaringType == typeof(Diagnostics.LastError)).Select(m => m.Name),
            Is.EquivalentTo(new[] { "get_Status", "get_Message" }));
    }
}
