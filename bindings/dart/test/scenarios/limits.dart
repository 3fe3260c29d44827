import 'dart:ffi';
import 'dart:isolate';

import 'package:nativepools/nativepools.dart';
import 'package:test/test.dart';

import '../support/environment.dart';
import '../support/invariants.dart';
import '../support/pattern.dart';

/// S15, S19, S21: limits, growth, trim and destroy.
void defineLimitScenarios() {
  test('S15: exhaustion at max_blocks, growth without a maximum', () {
    final bounded = BlockPool.create(
        blockSize: 64, maxBlocks: 100, growthBlocks: 10, name: 'S15 bounded');
    addTearDown(bounded.destroy);
    final blocks = [for (var i = 0; i < 100; i++) bounded.alloc()];
    expect(bounded.stats().capacity, 100);

    final exhausted = _statusOf(bounded.alloc);
    expect(exhausted?.status, NP_E_POOL_EXHAUSTED);
    expect(exhausted?.name, 'NP_E_POOL_EXHAUSTED');
    expect(exhausted?.detail, contains('holds its maximum of 100 blocks'));
    expect(bounded.tryAlloc(), isNull);
    expect(_statusOf(() => bounded.reserve(1))?.status, NP_E_POOL_EXHAUSTED);
    var stats = bounded.stats();
    expect(stats.failedAllocations, 2, reason: 'both refused allocations');
    expect(stats.capacity, 100);
    expect(stats.chunks, 10);

    // After a free the pool has room again: the freed block comes back.
    bounded.free(blocks[50]);
    final again = bounded.alloc();
    expect(again, blocks[50]);
    stats = expectPoolIntact(bounded, allocations: 101, frees: 1, inUse: 100);
    expect(stats.failedAllocations, 2);

    // With growthBlocks given, every growth step adds exactly one chunk of
    // that size (default growth would add a quarter of the capacity at once).
    final growing =
        BlockPool.create(blockSize: 128, growthBlocks: 16, name: 'S15 growing');
    addTearDown(growing.destroy);
    var chunks = 0;
    for (var i = 1; i <= 16 * 20 + 1; i++) {
      growing.alloc();
      final now = growing.stats();
      expect(now.capacity, now.chunks * 16);
      expect(now.chunks, (i + 15) ~/ 16, reason: 'a chunk when the last fills');
      expect(now.chunks, greaterThanOrEqualTo(chunks));
      chunks = now.chunks;
    }
    expect(chunks, 21);
    expectPoolIntact(growing, allocations: 321, frees: 0, inUse: 321);
  });

  test('S19: trim releases only chunks with no block in use', () {
    // 64 blocks of 256 bytes: a chunk is 16 KiB, whole pages.
    const perChunk = 64;
    const chunkBytes = perChunk * 256;
    final pool =
        BlockPool.create(blockSize: 256, growthBlocks: perChunk, name: 'S19');
    addTearDown(pool.destroy);
    final blocks = [for (var i = 0; i < 4 * perChunk; i++) pool.alloc()];
    final base = blocks
        .map((block) => block.address)
        .reduce((a, b) => a < b ? a : b);
    int chunkOf(Pointer<Uint8> block) => (block.address - base) ~/ chunkBytes;
    int slotOf(Pointer<Uint8> block) => (block.address - base) ~/ 256;

    // Keep every other block of chunks 0 and 2; free all of chunks 1 and 3.
    final kept = [
      for (final block in blocks)
        if (chunkOf(block).isEven && slotOf(block).isEven) block
    ];
    for (var i = 0; i < kept.length; i++) {
      writePattern(kept[i], 256, i);
    }
    final released = [for (final b in blocks) if (chunkOf(b).isOdd) b];
    pool.freeBatch([
      for (final block in blocks)
        if (!kept.contains(block)) block
    ]);
    expect(kept.length, perChunk);
    expect(pool.stats().capacity, 4 * perChunk);

    // The freed blocks sit in this thread's cache; trim moves them to the
    // depot first, so chunks 1 and 3 are seen to be entirely free.
    expect(pool.trim(), 2 * chunkBytes);
    var stats = pool.stats();
    expect(stats.capacity, 2 * perChunk);
    expect(stats.chunks, 2);
    expect(stats.chunksReleased, 2);
    expect(stats.inUse, perChunk);
    for (final block in released) {
      expect(pool.owns(block), BlockOwnership.notOwned);
    }
    final log = CorruptionLog();
    for (var i = 0; i < kept.length; i++) {
      log.check(kept[i], 256, i);
      expect(pool.owns(kept[i]), BlockOwnership.allocated);
    }
    expect(log.corrupt, 0, reason: log.first.join('\n'));
    expectPoolIntact(pool, inUse: perChunk);
    expect(pool.trim(), 0, reason: 'nothing left to release');

    // Later allocations fill the kept chunks, then grow again.
    final createdBefore = stats.created;
    final more = [for (var i = 0; i < 3 * perChunk; i++) pool.alloc()];
    stats = expectPoolIntact(pool, inUse: 4 * perChunk);
    expect(stats.capacity, 4 * perChunk);
    expect(stats.chunks, 4);
    expect(stats.created - createdBefore, 2 * perChunk,
        reason: 'recommitted chunks hand out fresh blocks');
    pool.freeBatch([...kept, ...more]);
    expectPoolIntact(pool, inUse: 0);
  });

  test('S21: destroy with blocks still out; the handle is stale afterwards',
      () async {
    final pool = BlockPool.preset(PoolPreset.medium, name: 'S21');
    final blocks = [for (var i = 0; i < 10; i++) pool.alloc()];
    expect(pool.stats().inUse, 10);
    pool.destroy();

    final stale = <String, void Function()>{
      'alloc': pool.alloc,
      'free': () => pool.free(blocks.first),
      'allocBatch': () => pool.allocBatch(4),
      'freeBatch': () => pool.freeBatch(blocks),
      'stats': pool.stats,
      'resetStats': pool.resetStats,
      'reserve': () => pool.reserve(1),
      'trim': pool.trim,
      'owns': () => pool.owns(blocks.first),
      'validate': pool.validate,
      'destroy': pool.destroy,
    };
    for (final MapEntry(key: call, value: action) in stale.entries) {
      expect(_statusOf(action)?.status, NP_E_INVALID_HANDLE, reason: call);
    }
    expect(_statusOf(() => BlockPool.attach(pool.handle))?.status,
        NP_E_INVALID_HANDLE);
    // Another isolate sees the same stale handle.
    expect(await _attachStatusElsewhere(testLibraryPath, pool.handle),
        NP_E_INVALID_HANDLE);

    final bindings = NativePools.instance.bindings;
    expect(bindings.np_pool_destroy(0), NP_OK, reason: 'destroy(0) is a no-op');
    final next = BlockPool.preset(PoolPreset.medium, name: 'S21 next');
    addTearDown(next.destroy);
    expect(next.handle, isNot(pool.handle),
        reason: 'a new pool never revives the stale handle');
    expect(bindings.np_pool_reset_stats(pool.handle), NP_E_INVALID_HANDLE);
    expectPoolIntact(next, allocations: 0, inUse: 0);
  });
}

/// The exception [action] throws, or null when it succeeds.
NativePoolsException? _statusOf(void Function() action) {
  try {
    action();
    return null;
  } on NativePoolsException catch (e) {
    return e;
  }
}

/// Attaches [handle] in a new isolate and returns the status. (A top-level
/// function, so the closure sent to the isolate captures only its
/// arguments.)
Future<int> _attachStatusElsewhere(String path, int handle) =>
    Isolate.run(() => _attachStatus(path, handle));

int _attachStatus(String path, int handle) {
  try {
    BlockPool.attach(handle, library: NativePools.open(path));
    return NP_OK;
  } on NativePoolsException catch (e) {
    return e.status;
  }
}
