using NativePools.Tests.Scenarios;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Native;

// The shared scenarios (Scenarios/) run through P/Invoke against the built libnativepools.so,
// called from CoreCLR threads that are foreign threads to the library's NativeAOT runtime.

[TestFixture] public sealed class NativePresetThreadTests : PresetThreadScenarios { protected override IPoolBackend Backend => NativeBackend.Instance; }
[TestFixture] public sealed class NativeMixedPoolsTests : MixedPoolsScenario { protected override IPoolBackend Backend => NativeBackend.Instance; }
[TestFixture] public sealed class NativeThreadStressTests : ThreadStressScenarios { protected override IPoolBackend Backend => NativeBackend.Instance; }
[TestFixture] public sealed class NativeVolumeTests : VolumeScenarios { protected override IPoolBackend Backend => NativeBackend.Instance; }
[TestFixture] public sealed class NativeFreeListTests : FreeListScenarios { protected override IPoolBackend Backend => NativeBackend.Instance; }
[TestFixture] public sealed class NativeProducerConsumerTests : ProducerConsumerScenario { protected override IPoolBackend Backend => NativeBackend.Instance; }
[TestFixture] public sealed class NativeLimitTests : LimitScenarios { protected override IPoolBackend Backend => NativeBackend.Instance; }
[TestFixture] public sealed class NativeTrimTests : TrimScenarios { protected override IPoolBackend Backend => NativeBackend.Instance; }
[TestFixture] public sealed class NativeFlagTests : FlagScenarios { protected override IPoolBackend Backend => NativeBackend.Instance; }
[TestFixture] public sealed class NativeOwnershipTests : OwnershipScenarios { protected override IPoolBackend Backend => NativeBackend.Instance; }
[TestFixture] public sealed class NativeBadPointerTests : BadPointerScenarios { protected override IPoolBackend Backend => NativeBackend.Instance; }
[TestFixture] public sealed class NativeBatchTests : BatchScenarios { protected override IPoolBackend Backend => NativeBackend.Instance; }
[TestFixture] public sealed class NativeStatsTests : StatsScenarios { protected override IPoolBackend Backend => NativeBackend.Instance; }
