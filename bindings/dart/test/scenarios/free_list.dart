import 'dart:ffi';
import 'dart:math';

import 'package:nativepools/nativepools.dart';
import 'package:test/test.dart';

import '../support/invariants.dart';
import '../support/pattern.dart';

/// S12, S13: the free list under fragmentation and long alloc/free cycles.
void defineFreeListScenarios() {
  test('S12: fragmentation: 5,000 new blocks reuse the 5,000 freed slots', () {
    final pool = BlockPool.preset(PoolPreset.small, name: 'S12');
    addTearDown(pool.destroy);
    final size = pool.blockSize;
    final blocks = [for (var i = 0; i < 10000; i++) pool.alloc()];
    for (var i = 0; i < blocks.length; i++) {
      writePattern(blocks[i], size, i);
    }
    final freed = [for (var i = 0; i < blocks.length; i += 2) blocks[i]];
    for (final block in freed) {
      pool.free(block);
    }
    final before = pool.stats();

    final refilled = [for (var i = 0; i < 5000; i++) pool.alloc()];
    for (var i = 0; i < refilled.length; i++) {
      writePattern(refilled[i], size, 1000000 + i);
    }
    final after = pool.stats();

    final freedSet = {for (final block in freed) block.address};
    expect(refilled.every((block) => freedSet.contains(block.address)), isTrue,
        reason: 'each new block is one of the freed slots');
    expect({for (final block in refilled) block.address}.length, 5000,
        reason: 'no slot handed out twice');
    // Free blocks travel in LIFO magazines (the thread's two, then the
    // depot's stack): the last block freed is the first reused.
    expect(refilled, freed.reversed.toList());
    expect(after.capacity, before.capacity);
    expect(after.created, before.created);
    expect(after.created, 10000);
    expect(after.reused, 5000);

    // The blocks that were never freed kept their contents.
    final log = CorruptionLog();
    for (var i = 1; i < blocks.length; i += 2) {
      log.check(blocks[i], size, i);
    }
    for (var i = 0; i < refilled.length; i++) {
      log.check(refilled[i], size, 1000000 + i);
    }
    expect(log.corrupt, 0, reason: log.first.join('\n'));

    pool.freeBatch([...refilled, for (var i = 1; i < 10000; i += 2) blocks[i]]);
    expectPoolIntact(pool, allocations: 15000, frees: 15000, inUse: 0);
  });

  test('S13: free-list integrity after 1,000 and 10,000 cycles', () {
    final pool =
        BlockPool.create(blockSize: 40, growthBlocks: 64, name: 'S13');
    addTearDown(pool.destroy);
    final random = Random(13);
    final live = <(Pointer<Uint8>, int)>[];
    var tag = 0;

    // A cycle takes 1..16 blocks (one batch or single calls) and gives
    // back a random number of random live blocks, checking each.
    void cycle() {
      final take = 1 + random.nextInt(16);
      final taken = random.nextBool()
          ? pool.allocBatch(take)
          : [for (var i = 0; i < take; i++) pool.alloc()];
      for (final block in taken) {
        writePattern(block, 40, tag);
        live.add((block, tag++));
      }
      final give = random.nextInt(live.length < 512 ? take + 1 : take + 8);
      for (var i = 0; i < give && live.isNotEmpty; i++) {
        final index = random.nextInt(live.length);
        final (block, blockTag) = live[index];
        live[index] = live.last;
        live.removeLast();
        final mismatch = patternMismatch(block, 40, blockTag);
        if (mismatch != null) fail(mismatch);
        pool.free(block);
      }
    }

    void expectListIntact(int cycles) {
      final stats = expectPoolIntact(pool, inUse: live.length);
      final report = pool.validate();
      expect(report.allocated, live.length, reason: 'after $cycles cycles');
      expect(report.free, stats.capacity - live.length);
      expect(report.freeListed, report.free);
      for (final (block, blockTag) in live) {
        final mismatch = patternMismatch(block, 40, blockTag);
        if (mismatch != null) fail(mismatch);
      }
    }

    for (var i = 0; i < 1000; i++) {
      cycle();
    }
    expectListIntact(1000);
    for (var i = 1000; i < 10000; i++) {
      cycle();
    }
    expectListIntact(10000);

    pool.freeBatch([for (final (block, _) in live) block]);
    live.clear();
    final stats = expectPoolIntact(pool, inUse: 0);
    expect(pool.validate().freeListed, stats.capacity);
  });
}
