import 'dart:ffi';
import 'dart:isolate';

import 'package:nativepools/nativepools.dart';
import 'package:test/test.dart';

import '../support/environment.dart';
import '../support/invariants.dart';

/// S20: zero-on-alloc, poison-on-free and atomic state.
void defineFlagScenarios() {
  test('S20: zero-on-alloc hands out zeroed blocks, reused ones included', () {
    final pool =
        BlockPool.create(blockSize: 100, zeroOnAlloc: true, name: 'S20 zero');
    addTearDown(pool.destroy);
    final block = pool.alloc();
    expect(pool.bytes(block), everyElement(0), reason: 'a fresh block');
    pool.bytes(block).fillRange(0, 100, 0xAB);
    pool.free(block);

    final again = pool.alloc();
    expect(again, block, reason: 'LIFO: the block just freed comes back');
    expect(pool.bytes(again), everyElement(0), reason: 'a reused block');
    expect(pool.stats().reused, 1);
    pool.free(again);
    expectPoolIntact(pool, allocations: 2, frees: 2, inUse: 0);
  });

  test('S20: zero-on-alloc with poison-on-free still hands out zeros', () {
    final pool = BlockPool.create(
        blockSize: 64, zeroOnAlloc: true, poisonOnFree: true, name: 'S20 both');
    addTearDown(pool.destroy);
    final block = pool.alloc();
    pool.bytes(block).fillRange(0, 64, 0x33);
    pool.free(block);
    final again = pool.alloc();
    expect(again, block);
    expect(pool.bytes(again), everyElement(0));
    pool.free(again);
    expectPoolIntact(pool, inUse: 0);
  });

  test('S20: poison-on-free reports a write after free', () {
    final pool =
        BlockPool.create(blockSize: 64, poisonOnFree: true, name: 'S20 poison');
    addTearDown(pool.destroy);
    final block = pool.alloc();
    final neighbour = pool.alloc();
    pool.bytes(block).fillRange(0, 64, 0x11);
    // Kept past the free on purpose: the test plays the buggy caller.
    final dangling = pool.bytes(block);
    pool.free(block);
    expect(dangling, everyElement(NP_POOL_POISON_BYTE));
    expect(pool.validate().status, NP_OK);

    dangling[5] = 0x42; // the write after free
    final report = pool.validate();
    expect(report.status, NP_E_CORRUPTED);
    expect(report.poisonViolations, 1);
    expect(report.errors, 0, reason: 'the free list itself is intact');
    expect(report.countsChecked, isTrue);
    expect(report.detail, contains('were written after their free'));
    expect(pool.stats().poisonViolations, 0, reason: 'counted when reused');

    // Handing the block out again counts the violation in the stats.
    final again = pool.alloc();
    expect(again, block);
    expect(pool.stats().poisonViolations, 1);
    pool.freeBatch([again, neighbour]);
    final stats = expectPoolIntact(pool, allocations: 3, frees: 3, inUse: 0);
    expect(stats.poisonViolations, 1);
  });

  test('S20: atomic state: racing frees of the same blocks succeed once each',
      () async {
    const blocks = 4000;
    const racers = 4;
    final pool = BlockPool.create(
        blockSize: 64, atomicState: true, name: 'S20 atomic');
    addTearDown(pool.destroy);
    final block = pool.alloc();
    pool.free(block);
    expect(() => pool.free(block),
        throwsA(isA<NativePoolsException>()
            .having((e) => e.status, 'status', NP_E_DOUBLE_FREE)));
    expect(pool.alloc(), block, reason: 'LIFO as without the flag');
    pool.free(block);

    final addresses = [for (final b in pool.allocBatch(blocks)) b.address];
    // Every racer frees every block, half of them in reverse order so that
    // they meet in the middle.
    final outcomes = await Future.wait([
      for (var racer = 0; racer < racers; racer++)
        _freeAllElsewhere(
            testLibraryPath, pool.handle, addresses, racer.isOdd),
    ]);
    final ok = outcomes.fold<int>(0, (sum, o) => sum + o.ok);
    final doubles = outcomes.fold<int>(0, (sum, o) => sum + o.doubleFrees);
    expect(outcomes.map((o) => o.other), everyElement(0));
    expect(ok, blocks, reason: 'exactly one free of each block succeeds');
    expect(doubles, (racers - 1) * blocks);
    final stats = expectPoolIntact(pool,
        allocations: blocks + 2, frees: blocks + 2, inUse: 0);
    expect(stats.doubleFrees, (racers - 1) * blocks + 1);
  });
}

/// Frees [addresses] (in reverse when [reverse]) in a new isolate through
/// the raw binding and counts the statuses. (A top-level function, so the
/// closure sent to the isolate captures only its arguments.)
Future<({int ok, int doubleFrees, int other})> _freeAllElsewhere(
        String path, int handle, List<int> addresses, bool reverse) =>
    Isolate.run(() {
      final np = NativePools.open(path).bindings;
      var ok = 0, doubleFrees = 0, other = 0;
      for (final address in reverse ? addresses.reversed : addresses) {
        final status =
            np.np_pool_free(handle, Pointer<Void>.fromAddress(address));
        if (status == NP_OK) {
          ok++;
        } else if (status == NP_E_DOUBLE_FREE) {
          doubleFrees++;
        } else {
          other++;
        }
      }
      return (ok: ok, doubleFrees: doubleFrees, other: other);
    });
