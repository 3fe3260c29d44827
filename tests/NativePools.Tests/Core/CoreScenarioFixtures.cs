using NativePools.Tests.Scenarios;
using NativePools.Tests.Support;
using NUnit.Framework;

namespace NativePools.Tests.Core;

// The shared scenarios (Scenarios/) run in-process against the managed core.

[TestFixture] public sealed class CorePresetThreadTests : PresetThreadScenarios { protected override IPoolBackend Backend => CoreBackend.Instance; }
[TestFixture] public sealed class CoreMixedPoolsTests : MixedPoolsScenario { protected override IPoolBackend Backend => CoreBackend.Instance; }
[TestFixture] public sealed class CoreThreadStressTests : ThreadStressScenarios { protected override IPoolBackend Backend => CoreBackend.Instance; }
[TestFixture] public sealed class CoreVolumeTests : VolumeScenarios { protected override IPoolBackend Backend => CoreBackend.Instance; }
[TestFixture] public sealed class CoreFreeListTests : FreeListScenarios { protected override IPoolBackend Backend => CoreBackend.Instance; }
[TestFixture] public sealed class CoreProducerConsumerTests : ProducerConsumerScenario { protected override IPoolBackend Backend => CoreBackend.Instance; }
[TestFixture] public sealed class CoreLimitTests : LimitScenarios { protected override IPoolBackend Backend => CoreBackend.Instance; }
[TestFixture] public sealed class CoreTrimTests : TrimScenarios { protected override IPoolBackend Backend => CoreBackend.Instance; }
[TestFixture] public sealed class CoreFlagTests : FlagScenarios { protected override IPoolBackend Backend => CoreBackend.Instance; }
[TestFixture] public sealed class CoreOwnershipTests : OwnershipScenarios { protected override IPoolBackend Backend => CoreBackend.Instance; }
[TestFixture] public sealed class CoreBadPointerTests : BadPointerScenarios { protected override IPoolBackend Backend => CoreBackend.Instance; }
[TestFixture] public sealed class CoreBatchTests : BatchScenarios { protected override IPoolBackend Backend => CoreBackend.Instance; }
[TestFixture] public sealed class CoreStatsTests : StatsScenarios { protected override IPoolBackend Backend => CoreBackend.Instance; }
