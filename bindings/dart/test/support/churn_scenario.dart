import 'package:nativepools/nativepools.dart';
import 'package:test/test.dart';

import 'churn_worker.dart';
import 'environment.dart';
import 'handoff_worker.dart';
import 'invariants.dart';

/// Runs [isolates] churn workers at once over the fresh [pools]; then each
/// worker's remaining blocks go to another new isolate, which checks their
/// contents and frees them. Ends with the exact counts and the invariants.
Future<void> runChurnScenario(
  List<BlockPool> pools, {
  required int isolates,
  required int operations,
  required int maxLivePerPool,
  int handoffPerPool = 4,
}) async {
  final handles = [for (final pool in pools) pool.handle];
  final churned = await Future.wait([
    for (var worker = 0; worker < isolates; worker++)
      spawnChurn(ChurnTask(
        libraryPath: testLibraryPath,
        handles: handles,
        worker: worker,
        operations: operations,
        maxLivePerPool: maxLivePerPool,
        handoffPerPool: handoffPerPool,
      )),
  ]);
  // Worker w's blocks are checked and freed by a new isolate of its own
  // while the others do the same: cross-thread frees, concurrently.
  final handedOff = await Future.wait([
    for (var worker = 0; worker < isolates; worker++)
      spawnHandoff(HandoffTask(
        libraryPath: testLibraryPath,
        handles: handles,
        entries: churned[(worker + 1) % isolates].handoff,
      )),
  ]);

  for (final result in churned) {
    expect(result.corrupt, 0, reason: result.corruptions.join('\n'));
    expect(result.ownershipErrors, 0,
        reason: 'np_pool_owns on a held block must say allocated');
  }
  for (final result in handedOff) {
    expect(result.corrupt, 0, reason: result.corruptions.join('\n'));
    expect(result.ownershipErrors, 0);
    expect(result.checked, handoffPerPool * pools.length);
  }
  for (var p = 0; p < pools.length; p++) {
    final allocations =
        churned.fold<int>(0, (sum, result) => sum + result.allocations[p]);
    final frees = churned.fold<int>(0, (sum, result) => sum + result.frees[p]) +
        handedOff.fold<int>(0, (sum, result) => sum + result.frees[p]);
    expect(allocations, greaterThan(0));
    expect(frees, allocations, reason: 'every block came back');
    expectPoolIntact(pools[p],
        allocations: allocations, frees: frees, inUse: 0);
  }
}
