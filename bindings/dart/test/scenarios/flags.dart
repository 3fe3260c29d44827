import 'package:nativepools/nativepools.dart';
import 'package:test/test.dart';

import '../support/invariants.dart';

/// S20: zero-on-alloc and poison-on-free.
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
    expect(report.detail, startsWith('NP_E_CORRUPTED'));
    expect(pool.stats().poisonViolations, 0, reason: 'counted when reused');

    // Handing the block out again counts the violation in the stats.
    final again = pool.alloc();
    expect(again, block);
    expect(pool.stats().poisonViolations, 1);
    pool.freeBatch([again, neighbour]);
    final stats = expectPoolIntact(pool, allocations: 3, frees: 3, inUse: 0);
    expect(stats.poisonViolations, 1);
  });
}
