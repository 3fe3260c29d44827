import 'dart:ffi';
import 'dart:isolate';

import 'package:nativepools/nativepools.dart';

import 'pattern.dart';

/// A long run of single allocations on one pool with a bounded number of
/// blocks live (a sliding window). Sendable.
final class WindowTask {
  /// Describes worker [worker]'s run.
  const WindowTask({
    required this.libraryPath,
    required this.handle,
    required this.worker,
    required this.allocations,
    required this.window,
  });

  /// The library file the isolate opens.
  final String libraryPath;

  /// The pool.
  final int handle;

  /// The worker's number (block tags).
  final int worker;

  /// Allocations to perform.
  final int allocations;

  /// Most blocks live at a time; the window's blocks at the end are handed
  /// off to another isolate.
  final int window;
}

/// What a window worker did.
final class WindowResult {
  /// Collects the counts.
  const WindowResult({
    required this.allocations,
    required this.frees,
    required this.handoff,
    required this.corrupt,
    required this.corruptions,
  });

  /// Successful allocations.
  final int allocations;

  /// Successful frees.
  final int frees;

  /// The blocks left allocated, as triples (0, address, tag).
  final List<int> handoff;

  /// Blocks whose contents were not what the worker wrote.
  final int corrupt;

  /// The first mismatches, described.
  final List<String> corruptions;
}

/// Runs [task] in a new isolate.
Future<WindowResult> spawnWindow(WindowTask task) =>
    Isolate.run(() => runWindow(task), debugName: 'window ${task.worker}');

/// Allocates and fills blocks one at a time; once the window is full, the
/// oldest block is checked and freed before each new allocation.
WindowResult runWindow(WindowTask task) {
  final library = NativePools.open(task.libraryPath);
  final pool = BlockPool.attach(task.handle, library: library);
  final size = pool.blockSize;
  final blocks = List<Pointer<Uint8>>.filled(task.window, nullptr);
  final tags = List<int>.filled(task.window, 0);
  final log = CorruptionLog();
  final firstTag = (task.worker + 1) << 32;
  var frees = 0;
  for (var i = 0; i < task.allocations; i++) {
    final slot = i % task.window;
    if (i >= task.window) {
      log.check(blocks[slot], size, tags[slot]);
      pool.free(blocks[slot]);
      frees++;
    }
    final block = pool.alloc();
    writePattern(block, size, firstTag + i);
    blocks[slot] = block;
    tags[slot] = firstTag + i;
  }
  final live = task.allocations < task.window ? task.allocations : task.window;
  return WindowResult(
    allocations: task.allocations,
    frees: frees,
    handoff: [
      for (var slot = 0; slot < live; slot++) ...[
        0,
        blocks[slot].address,
        tags[slot],
      ]
    ],
    corrupt: log.corrupt,
    corruptions: log.first,
  );
}
