import 'dart:ffi';
import 'dart:isolate';

import 'package:nativepools/nativepools.dart';

import 'pattern.dart';

/// Blocks another isolate allocated and filled, to be checked and freed
/// here. Sendable: pools as handles, blocks as addresses.
final class HandoffTask {
  /// Describes the blocks [entries] of the pools [handles].
  const HandoffTask({
    required this.libraryPath,
    required this.handles,
    required this.entries,
  });

  /// The library file the isolate opens.
  final String libraryPath;

  /// The pools the entries refer to by index.
  final List<int> handles;

  /// Flat triples (pool index, block address, tag).
  final List<int> entries;
}

/// What a hand-off isolate found and freed.
final class HandoffResult {
  /// Collects the counts.
  const HandoffResult({
    required this.frees,
    required this.checked,
    required this.corrupt,
    required this.corruptions,
    required this.ownershipErrors,
  });

  /// Blocks freed per pool.
  final List<int> frees;

  /// Blocks whose contents were checked.
  final int checked;

  /// Blocks whose contents were not what their writer put there.
  final int corrupt;

  /// The first mismatches, described.
  final List<String> corruptions;

  /// Blocks np_pool_owns did not report as allocated before the free.
  final int ownershipErrors;
}

/// Runs [task] in a new isolate.
Future<HandoffResult> spawnHandoff(HandoffTask task) =>
    Isolate.run(() => checkAndFree(task), debugName: 'handoff');

/// Checks every handed-off block's contents and ownership, then frees them
/// with one batch call per pool.
HandoffResult checkAndFree(HandoffTask task) {
  final library = NativePools.open(task.libraryPath);
  final pools = [
    for (final handle in task.handles)
      BlockPool.attach(handle, library: library),
  ];
  final log = CorruptionLog();
  final batches = List.generate(pools.length, (_) => <Pointer<Uint8>>[]);
  var ownershipErrors = 0;
  for (var i = 0; i + 2 < task.entries.length; i += 3) {
    final p = task.entries[i];
    final block = Pointer<Uint8>.fromAddress(task.entries[i + 1]);
    log.check(block, pools[p].blockSize, task.entries[i + 2]);
    if (pools[p].owns(block) != BlockOwnership.allocated) ownershipErrors++;
    batches[p].add(block);
  }
  final frees = [
    for (var p = 0; p < pools.length; p++) pools[p].freeBatch(batches[p])
  ];
  return HandoffResult(
    frees: frees,
    checked: log.checked,
    corrupt: log.corrupt,
    corruptions: log.first,
    ownershipErrors: ownershipErrors,
  );
}
