/// The NativePools scenario suite (S01-S23, shared with the C, Python and
/// NUnit suites) against the real libnativepools, from Dart isolates.
///
/// The library comes from NATIVEPOOLS_LIB or ../../artifacts/native. Stress
/// sizes are the CI ones unless NP_STRESS=full.
@TestOn('vm')
library;

import 'package:nativepools/nativepools.dart';
import 'package:test/test.dart';

import 'scenarios/bad_input.dart';
import 'scenarios/flags.dart';
import 'scenarios/free_list.dart';
import 'scenarios/limits.dart';
import 'scenarios/owns_and_batch.dart';
import 'scenarios/pipeline.dart';
import 'scenarios/preset_pools.dart';
import 'scenarios/stress.dart';
import 'scenarios/volume.dart';
import 'support/environment.dart';

void main() {
  setUpAll(() {
    final library = useTestLibrary();
    expect(library.version, NP_VERSION_NUMBER,
        reason: 'library ${library.versionString} at ${library.path}');
  });

  group('preset pools', definePresetPoolScenarios);
  group('stress', defineStressScenarios);
  group('volume', defineVolumeScenarios);
  group('free list', defineFreeListScenarios);
  group('cross-isolate', definePipelineScenario);
  group('limits', defineLimitScenarios);
  group('bad input', defineBadInputScenarios);
  group('flags', defineFlagScenarios);
  group('owns and batch', defineOwnsAndBatchScenarios);
}
