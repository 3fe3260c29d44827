import 'dart:ffi';
import 'dart:io';
import 'dart:typed_data';

import 'package:nativepools/nativepools.dart';
import 'package:test/test.dart';

import '../support/environment.dart';
import '../support/invariants.dart';
import '../support/pattern.dart';

/// S10, S11, S17, S18: volume, rapid cycles, leaks and scaling on one
/// isolate.
void defineVolumeScenarios() {
  final timeout = Timeout(Duration(minutes: fullStress ? 30 : 3));

  test('S10: 1,000,000 sequential allocations, then frees', () {
    const count = 1000000;
    final pool = BlockPool.preset(PoolPreset.small, name: 'S10');
    addTearDown(pool.destroy);
    final size = pool.blockSize;
    final addresses = Int64List(count);
    for (var i = 0; i < count; i++) {
      final block = pool.alloc();
      writePattern(block, size, i);
      addresses[i] = block.address;
    }
    final full = pool.stats();
    expect(full.inUse, count);
    expect(full.peakInUse, count);
    expect(full.created, count, reason: 'a fresh pool reuses nothing');
    expect(full.reused, 0);
    // Default growth adds a quarter of the chunks per step (at least one,
    // at most 32 MiB) and only when nothing is free: whole 64 KiB chunks,
    // at most a quarter more than needed plus one.
    final perChunk = _defaultChunkBlocks(full.blockStride);
    final needed = (count + perChunk - 1) ~/ perChunk;
    expect(full.capacity, full.chunks * perChunk, reason: 'whole chunks');
    expect(full.chunks, inInclusiveRange(needed, needed + needed ~/ 4 + 1),
        reason: '$needed chunks needed');
    final sorted = Int64List.fromList(addresses)..sort();
    for (var i = 1; i < count; i++) {
      if (sorted[i] == sorted[i - 1]) fail('block handed out twice');
    }

    final log = CorruptionLog();
    for (var i = 0; i < count; i++) {
      final block = Pointer<Uint8>.fromAddress(addresses[i]);
      log.check(block, size, i);
      pool.free(block);
    }
    expect(log.corrupt, 0, reason: log.first.join('\n'));
    expectPoolIntact(pool, allocations: count, frees: count, inUse: 0);
  }, timeout: timeout);

  final cycles = sized(ci: 200000, full: 2000000);
  test('S11: $cycles rapid alloc/free cycles on one isolate', () {
    final pool = BlockPool.preset(PoolPreset.small, name: 'S11');
    addTearDown(pool.destroy);
    final size = pool.blockSize;
    final first = pool.alloc();
    pool.free(first);
    final capacity = pool.stats().capacity;
    final log = CorruptionLog();
    var moved = 0;
    for (var i = 0; i < cycles; i++) {
      final block = pool.alloc();
      // The thread's cache is LIFO: with one block in play it is always the
      // same.
      if (block != first) moved++;
      writePattern(block, size, i);
      log.check(block, size, i);
      pool.free(block);
    }
    expect(moved, 0);
    expect(log.corrupt, 0, reason: log.first.join('\n'));
    final stats = expectPoolIntact(pool,
        allocations: cycles + 1, frees: cycles + 1, inUse: 0);
    expect(stats.created, 1);
    expect(stats.reused, cycles);
    expect(stats.capacity, capacity);
    expect(stats.peakInUse, 1);
  }, timeout: timeout);

  final leakCycles = sized(ci: 100000, full: 1000000);
  test('S17: $leakCycles alloc/free cycles leak nothing', () {
    final pool = BlockPool.preset(PoolPreset.small, name: 'S17');
    addTearDown(pool.destroy);
    final size = pool.blockSize;

    // One cycle: take 1..64 blocks (batch or single calls), fill, give back.
    void cycle(int i) {
      final count = 1 + i % 64;
      final blocks = i.isEven
          ? pool.allocBatch(count)
          : [for (var k = 0; k < count; k++) pool.alloc()];
      for (final block in blocks) {
        writePattern(block, size, i);
      }
      if (i % 3 == 0) {
        pool.freeBatch(blocks);
      } else {
        for (final block in blocks) {
          pool.free(block);
        }
      }
    }

    // Warm-up with the same code, so the pool, the JIT and the Dart heap
    // reach their steady state before the baseline is taken.
    final warmUp = leakCycles ~/ 5;
    for (var i = 0; i < warmUp; i++) {
      cycle(i);
    }
    final capacity = pool.stats().capacity;
    final rssBefore = residentBytes();
    for (var i = 0; i < leakCycles; i++) {
      cycle(i);
    }
    final rssAfter = residentBytes();

    final stats = expectPoolIntact(pool, inUse: 0);
    expect(stats.capacity, capacity, reason: 'capacity unchanged');
    expect(stats.peakInUse, 64);
    // A leak of one block per cycle would be 100,000 x 264 B = 26 MB.
    const tolerance = 8 << 20;
    expect(rssAfter - rssBefore, lessThan(tolerance),
        reason: 'resident memory before $rssBefore, after $rssAfter');
  }, timeout: timeout);

  test('S18: capacity and memory grow linearly from 1,000 to 10,000 blocks',
      () {
    final pool = BlockPool.preset(PoolPreset.small, name: 'S18');
    addTearDown(pool.destroy);
    final blocks = <Pointer<Uint8>>[];
    PoolStats holding(int count) {
      while (blocks.length < count) {
        blocks.add(pool.alloc());
      }
      return pool.stats();
    }

    final small = holding(1000);
    final large = holding(10000);
    final perChunk = _defaultChunkBlocks(small.blockStride);
    for (final (stats, count) in [(small, 1000), (large, 10000)]) {
      // Whole chunks, at least those needed; default growth commits at most
      // a quarter more plus one.
      final needed = (count + perChunk - 1) ~/ perChunk;
      expect(stats.chunks, inInclusiveRange(needed, needed + needed ~/ 4 + 1),
          reason: '$count live blocks need $needed chunks');
      expect(stats.capacity, stats.chunks * perChunk);
      expect(stats.bytesReserved, stats.capacity * stats.blockStride);
      // One out-of-band state byte per block, committed page by page.
      expect(stats.bytesMetadata, greaterThanOrEqualTo(stats.capacity),
          reason: '$count live blocks');
    }
    // Live blocks need no magazine storage, so metadata grows with the
    // blocks (a state byte each, in doubling page steps) and never by more
    // than 16 bytes per block.
    final addedBlocks = large.capacity - small.capacity;
    final addedMetadata = large.bytesMetadata - small.bytesMetadata;
    expect(addedMetadata, greaterThan(0));
    expect(addedMetadata, lessThanOrEqualTo(addedBlocks * 16 + (64 << 10)));

    pool.freeBatch(blocks);
    expectPoolIntact(pool, allocations: 10000, frees: 10000, inUse: 0);
  });
}

/// Blocks per chunk when growthBlocks is 0: enough for 64 KiB.
int _defaultChunkBlocks(int blockStride) =>
    ((64 << 10) + blockStride - 1) ~/ blockStride;

/// This process's resident set size (VmRSS) in bytes.
int residentBytes() {
  final status = File('/proc/self/status').readAsLinesSync();
  final line = status.firstWhere((line) => line.startsWith('VmRSS:'));
  final kilobytes = int.parse(line.split(RegExp(r'\s+'))[1]);
  return kilobytes * 1024;
}
