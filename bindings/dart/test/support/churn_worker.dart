import 'dart:ffi';
import 'dart:isolate';
import 'dart:math';

import 'package:nativepools/nativepools.dart';

import 'pattern.dart';

/// One isolate's share of a churn scenario. It crosses to the worker
/// isolate, so it holds only sendable values: pools travel as handles.
final class ChurnTask {
  /// Describes worker [worker]'s run over the pools [handles].
  const ChurnTask({
    required this.libraryPath,
    required this.handles,
    required this.worker,
    required this.operations,
    required this.maxLivePerPool,
    required this.handoffPerPool,
  });

  /// The library file the worker opens in its own isolate.
  final String libraryPath;

  /// The pools to work on.
  final List<int> handles;

  /// The worker's number: seeds its random choices and its block tags.
  final int worker;

  /// Operations (alloc, free, batch alloc, batch free) to perform.
  final int operations;

  /// Most blocks the worker holds per pool at a time.
  final int maxLivePerPool;

  /// Blocks per pool the worker leaves allocated at the end, for another
  /// isolate to check and free.
  final int handoffPerPool;
}

/// What a churn worker did, counted per pool.
final class ChurnResult {
  /// Collects a worker's counts.
  const ChurnResult({
    required this.allocations,
    required this.frees,
    required this.handoff,
    required this.checked,
    required this.corrupt,
    required this.corruptions,
    required this.ownershipErrors,
  });

  /// Successful allocations per pool.
  final List<int> allocations;

  /// Successful frees per pool.
  final List<int> frees;

  /// Blocks left allocated, as flat triples (pool index, address, tag).
  final List<int> handoff;

  /// Blocks whose contents were checked before being freed or handed off.
  final int checked;

  /// Blocks whose contents were not what the worker wrote.
  final int corrupt;

  /// The first mismatches, described.
  final List<String> corruptions;

  /// Live blocks that np_pool_owns did not report as allocated.
  final int ownershipErrors;
}

/// Runs [task] in a new isolate.
Future<ChurnResult> spawnChurn(ChurnTask task) =>
    Isolate.run(() => runChurn(task), debugName: 'churn ${task.worker}');

final class _Live {
  _Live(this.block, this.tag);
  final Pointer<Uint8> block;
  final int tag;
}

/// The worker: random single and batch allocations and frees over the
/// pools, every block filled with its own pattern when taken and checked
/// when given back, then the hand-off set left allocated.
ChurnResult runChurn(ChurnTask task) {
  final library = NativePools.open(task.libraryPath);
  final pools = [
    for (final handle in task.handles)
      BlockPool.attach(handle, library: library),
  ];
  final random = Random(task.worker * 7919 + 17);
  final live = List.generate(pools.length, (_) => <_Live>[]);
  final allocations = List<int>.filled(pools.length, 0);
  final frees = List<int>.filled(pools.length, 0);
  final log = CorruptionLog();
  var ownershipErrors = 0;
  var nextTag = (task.worker + 1) << 32;

  void keep(int p, Pointer<Uint8> block) {
    final tag = nextTag++;
    writePattern(block, pools[p].blockSize, tag);
    live[p].add(_Live(block, tag));
  }

  // Swap-removes entry [index] of pool [p] and checks its contents.
  Pointer<Uint8> takeBack(int p, int index) {
    final list = live[p];
    final entry = list[index];
    list[index] = list.last;
    list.removeLast();
    log.check(entry.block, pools[p].blockSize, entry.tag);
    return entry.block;
  }

  for (var op = 0; op < task.operations; op++) {
    final p = random.nextInt(pools.length);
    final pool = pools[p];
    final list = live[p];
    final roll = random.nextInt(16);
    final grow =
        list.isEmpty || (list.length < task.maxLivePerPool && roll < 8);
    if (grow && roll == 0) {
      final room = task.maxLivePerPool - list.length;
      final blocks = pool.allocBatch(min(room, 1 + random.nextInt(8)));
      for (final block in blocks) {
        keep(p, block);
      }
      allocations[p] += blocks.length;
    } else if (grow) {
      keep(p, pool.alloc());
      allocations[p]++;
    } else if (roll == 15) {
      final count = min(list.length, 1 + random.nextInt(8));
      final batch = [
        for (var i = 0; i < count; i++) takeBack(p, random.nextInt(list.length))
      ];
      frees[p] += pool.freeBatch(batch);
    } else {
      pool.free(takeBack(p, random.nextInt(list.length)));
      frees[p]++;
    }
    // Ownership queries race the other workers' allocs and frees; a block
    // this worker holds must read as allocated whatever they do.
    if (roll == 7 && list.isNotEmpty) {
      final block = list[random.nextInt(list.length)].block;
      if (pool.owns(block) != BlockOwnership.allocated) ownershipErrors++;
    }
  }

  final handoff = <int>[];
  for (var p = 0; p < pools.length; p++) {
    final list = live[p];
    while (list.length < task.handoffPerPool) {
      keep(p, pools[p].alloc());
      allocations[p]++;
    }
    final rest = <Pointer<Uint8>>[];
    while (list.length > task.handoffPerPool) {
      rest.add(takeBack(p, list.length - 1));
    }
    frees[p] += pools[p].freeBatch(rest);
    for (final entry in list) {
      log.check(entry.block, pools[p].blockSize, entry.tag);
      handoff.addAll([p, entry.block.address, entry.tag]);
    }
  }
  return ChurnResult(
    allocations: allocations,
    frees: frees,
    handoff: handoff,
    checked: log.checked,
    corrupt: log.corrupt,
    corruptions: log.first,
    ownershipErrors: ownershipErrors,
  );
}
