import 'package:nativepools/nativepools.dart';
import 'package:test/test.dart';

/// The checks every scenario ends with: the stats add up, and a validate
/// walk with nobody else on the pool passes with the counts compared.
/// Optional expectations pin the exact counts the scenario produced.
PoolStats expectPoolIntact(BlockPool pool,
    {int? allocations, int? frees, int? inUse}) {
  final stats = pool.stats();
  expect(stats.inUse, stats.allocations - stats.frees,
      reason: 'in_use = allocations - frees ($stats)');
  expect(stats.created + stats.reused, stats.allocations,
      reason: 'created + reused = allocations ($stats)');
  expect(stats.inUse, lessThanOrEqualTo(stats.capacity),
      reason: 'in_use <= capacity');
  expect(stats.bytesReserved, stats.capacity * stats.blockStride,
      reason: 'bytes_reserved = capacity * block_stride');
  // Free blocks are in the shared depot or in thread caches, which hold at
  // most two magazines each.
  expect(stats.magazineCapacity, inInclusiveRange(1, 64));
  expect(stats.depotBlocks, lessThanOrEqualTo(stats.capacity - stats.inUse),
      reason: 'depot blocks are free blocks ($stats)');
  expect(stats.capacity - stats.inUse - stats.depotBlocks,
      lessThanOrEqualTo(stats.cachedThreads * 2 * stats.magazineCapacity),
      reason: 'free blocks outside the depot are in thread caches ($stats)');
  if (allocations != null) expect(stats.allocations, allocations);
  if (frees != null) expect(stats.frees, frees);
  if (inUse != null) expect(stats.inUse, inUse);

  final report = pool.validate();
  expect(report.status, NP_OK, reason: report.detail);
  expect(report.countsChecked, isTrue,
      reason: 'no other thread used the pool, so counts were compared');
  expect(report.errors, 0);
  expect(report.allocated, stats.inUse, reason: 'blocks marked allocated');
  expect(report.free, stats.capacity - stats.inUse,
      reason: 'blocks marked free');
  expect(report.freeListed, report.free,
      reason: 'every free block is in one magazine, or never handed out');
  return stats;
}
