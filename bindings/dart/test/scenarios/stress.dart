import 'package:nativepools/nativepools.dart';
import 'package:test/test.dart';

import '../support/churn_scenario.dart';
import '../support/environment.dart';
import '../support/handoff_worker.dart';
import '../support/invariants.dart';
import '../support/window_worker.dart';

/// S05-S09: many isolates at once on one pool.
///
/// Isolates are what Dart has for parallel native calls: each runs on a VM
/// thread-pool thread, and the library sees them as foreign OS threads.
void defineStressScenarios() {
  final timeout = Timeout(Duration(minutes: fullStress ? 60 : 4));

  for (final (id, isolates, ciOperations) in [
    ('S05', 10, 20000),
    ('S06', 20, 10000),
    ('S07', 50, 4000),
  ]) {
    test('$id: stress with $isolates isolates', () async {
      final pool = BlockPool.preset(PoolPreset.small, name: id);
      addTearDown(pool.destroy);
      await runChurnScenario([pool],
          isolates: isolates,
          operations: sized(ci: ciOperations, full: ciOperations * 20),
          maxLivePerPool: 128);
    }, timeout: timeout);
  }

  // CI: 500 isolates at once with a few operations each; full: 2000.
  final manyIsolates = sized(ci: 500, full: 2000);
  test('S08: $manyIsolates isolates at once', () async {
    final pool = BlockPool.preset(PoolPreset.small, name: 'S08');
    addTearDown(pool.destroy);
    await runChurnScenario([pool],
        isolates: manyIsolates,
        operations: sized(ci: 100, full: 2000),
        maxLivePerPool: 8,
        handoffPerPool: 2);
  }, timeout: timeout);

  final perIsolate = sized(ci: 100000, full: 1000000);
  test('S09: 10 isolates x $perIsolate allocations', () async {
    final pool = BlockPool.preset(PoolPreset.small, name: 'S09');
    addTearDown(pool.destroy);
    const isolates = 10;
    const window = 64;
    final results = await Future.wait([
      for (var worker = 0; worker < isolates; worker++)
        spawnWindow(WindowTask(
          libraryPath: testLibraryPath,
          handle: pool.handle,
          worker: worker,
          allocations: perIsolate,
          window: window,
        )),
    ]);
    // The workers are done and hold their last windows: in use is exact
    // now, and a stats read reports a peak at least that high.
    final held = pool.stats();
    expect(held.allocations, isolates * perIsolate);
    expect(held.inUse, isolates * window);
    expect(held.peakInUse, greaterThanOrEqualTo(held.inUse));
    // Each worker's last window is checked and freed by another isolate.
    final handedOff = await Future.wait([
      for (var worker = 0; worker < isolates; worker++)
        spawnHandoff(HandoffTask(
          libraryPath: testLibraryPath,
          handles: [pool.handle],
          entries: results[(worker + 1) % isolates].handoff,
        )),
    ]);
    var frees = 0;
    for (final result in results) {
      expect(result.corrupt, 0, reason: result.corruptions.join('\n'));
      expect(result.allocations, perIsolate);
      expect(result.frees, perIsolate - window);
      frees += result.frees;
    }
    for (final result in handedOff) {
      expect(result.corrupt, 0, reason: result.corruptions.join('\n'));
      expect(result.ownershipErrors, 0);
      expect(result.frees, [window]);
      frees += result.frees.single;
    }
    final stats = expectPoolIntact(pool,
        allocations: isolates * perIsolate, frees: frees, inUse: 0);
    // With several threads the peak is sampled at magazine exchanges, so it
    // can read below the true peak, never above it.
    expect(stats.peakInUse, lessThanOrEqualTo(isolates * window));
  }, timeout: timeout);
}
