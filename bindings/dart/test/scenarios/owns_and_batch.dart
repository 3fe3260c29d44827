import 'dart:ffi';

import 'package:ffi/ffi.dart';
import 'package:nativepools/nativepools.dart';
import 'package:nativepools/nativepools_ffi.dart'
    show NativePoolsBindings, NP_BLOCK_NOT_OWNED;
import 'package:test/test.dart';

import '../support/invariants.dart';
import '../support/pattern.dart';

/// S22, S23: ownership queries and batch calls.
void defineOwnsAndBatchScenarios() {
  test('S22: np_pool_owns on allocated, free, foreign and interior pointers',
      () {
    final pool =
        BlockPool.create(blockSize: 48, growthBlocks: 32, name: 'S22');
    addTearDown(pool.destroy);
    final other = BlockPool.create(blockSize: 48, name: 'S22 other');
    addTearDown(other.destroy);
    final heap = calloc<Uint8>(64);
    addTearDown(() => calloc.free(heap));

    final allocated = pool.alloc();
    final freed = pool.alloc();
    pool.free(freed);
    final stride = pool.stats().blockStride;
    Pointer<Uint8> at(int offset) =>
        Pointer<Uint8>.fromAddress(allocated.address + offset);
    final library = NativePools.instance;

    expect(pool.owns(allocated), BlockOwnership.allocated);
    expect(pool.owns(freed), BlockOwnership.free);
    expect(pool.owns(at(5 * stride)), BlockOwnership.free,
        reason: 'committed but never handed out');
    expect(pool.owns(at(8)), BlockOwnership.notOwned, reason: 'interior');
    expect(pool.owns(at(1)), BlockOwnership.notOwned, reason: 'misaligned');
    expect(pool.owns(at(32 * stride)), BlockOwnership.notOwned,
        reason: 'past the committed chunk');
    expect(pool.owns(nullptr), BlockOwnership.notOwned);
    expect(pool.owns(heap), BlockOwnership.notOwned, reason: 'malloc heap');
    expect(pool.owns(other.alloc()), BlockOwnership.notOwned,
        reason: "another pool's block");
    expect(pool.owns(library.bindings.np_version_string()),
        BlockOwnership.notOwned,
        reason: 'static data of the library');
    expect(other.owns(allocated), BlockOwnership.notOwned);

    final result = calloc<Int32>();
    addTearDown(() => calloc.free(result));
    final np = library.bindings;
    expect(np.np_pool_owns(pool.handle, allocated.cast(), nullptr),
        NP_E_NULL_POINTER);
    result.value = 99;
    expect(np.np_pool_owns(0, allocated.cast(), result), NP_E_INVALID_HANDLE);
    expect(result.value, NP_BLOCK_NOT_OWNED, reason: 'written on failure too');

    expectPoolIntact(pool, allocations: 2, frees: 1, inUse: 1);
  });

  test('S23: batch alloc and free, in full and partial', () {
    final pool = BlockPool.create(blockSize: 96, name: 'S23');
    addTearDown(pool.destroy);
    final blocks = pool.allocBatch(100);
    expect(blocks, hasLength(100));
    expect({for (final block in blocks) block.address}, hasLength(100));
    for (var i = 0; i < blocks.length; i++) {
      expect(pool.owns(blocks[i]), BlockOwnership.allocated);
      writePattern(blocks[i], 96, i);
    }
    final log = CorruptionLog();
    for (var i = 0; i < blocks.length; i++) {
      log.check(blocks[i], 96, i);
    }
    expect(log.corrupt, 0, reason: log.first.join('\n'));
    expect(pool.allocBatch(0), isEmpty);
    expect(pool.freeBatch(const []), 0);
    expect(pool.freeBatch(blocks), 100);
    // A batch of 100 more reuses the 100 just freed.
    final again = pool.allocBatch(100);
    expect({for (final b in again) b.address},
        {for (final b in blocks) b.address});
    expect(pool.freeBatch(again), 100);
    final stats = expectPoolIntact(pool, allocations: 200, frees: 200);
    expect(stats.reused, 100);
  });

  test('S23: a batch stops at max_blocks', () {
    final pool =
        BlockPool.create(blockSize: 40, maxBlocks: 50, name: 'S23 max');
    addTearDown(pool.destroy);
    final partial = pool.allocBatch(80, allowPartial: true);
    expect(partial, hasLength(50));
    expect(pool.stats().failedAllocations, 1);

    // All or nothing without allowPartial: nothing is kept on failure.
    expect(() => pool.allocBatch(10),
        throwsA(isA<NativePoolsException>()
            .having((e) => e.status, 'status', NP_E_POOL_EXHAUSTED)));
    pool.freeBatch(partial.sublist(0, 5));
    expect(() => pool.allocBatch(10),
        throwsA(isA<NativePoolsException>()
            .having((e) => e.status, 'status', NP_E_POOL_EXHAUSTED)));
    expect(pool.stats().inUse, 45, reason: 'the 5 taken were given back');
    final refill = pool.allocBatch(5);
    expect(pool.stats().failedAllocations, 3);
    pool.freeBatch([...partial.sublist(5), ...refill]);
    expectPoolIntact(pool, inUse: 0);
  });

  test('S23: np_pool_alloc_batch fills the leading entries and NULLs the rest',
      () {
    final np = NativePools.instance.bindings;
    final pool =
        BlockPool.create(blockSize: 40, maxBlocks: 50, name: 'S23 raw');
    addTearDown(pool.destroy);
    using((arena) {
      final array = arena<Pointer<Void>>(80);
      for (var i = 0; i < 80; i++) {
        array[i] = Pointer<Void>.fromAddress(0xDEAD0000 + i);
      }
      final count = arena<Size>();
      expect(np.np_pool_alloc_batch(pool.handle, array, 80, count),
          NP_E_POOL_EXHAUSTED);
      expect(count.value, 50);
      for (var i = 0; i < 50; i++) {
        expect(pool.owns(array[i]), BlockOwnership.allocated);
      }
      for (var i = 50; i < 80; i++) {
        expect(array[i], nullptr, reason: 'entry $i');
      }
      final freed = arena<Size>();
      expect(np.np_pool_free_batch(pool.handle, array, 50, freed), NP_OK);
      expect(freed.value, 50);
      _expectZeroCountBatches(np, pool.handle);
    });
    expectPoolIntact(pool, allocations: 50, frees: 50, inUse: 0);
  });

  test('S23: a batch with invalid entries frees the valid ones', () {
    final pool = BlockPool.create(blockSize: 64, name: 'S23 invalid');
    addTearDown(pool.destroy);
    final heap = calloc<Uint8>(64);
    addTearDown(() => calloc.free(heap));
    final b = pool.allocBatch(4);
    final before = pool.stats();
    final batch = <Pointer<NativeType>>[
      b[0],
      b[1],
      b[1], // already freed by the entry before: double free
      heap, // foreign
      b[2] + 8, // interior
      b[3],
    ];
    final error = _freeBatchError(() => pool.freeBatch(batch));
    expect(error?.status, NP_E_DOUBLE_FREE, reason: 'the first invalid entry');
    expect(error?.freed, 3);
    final after = pool.stats();
    expect(after.frees - before.frees, 3);
    expect(after.doubleFrees - before.doubleFrees, 1);
    expect(after.foreignFrees - before.foreignFrees, 1);
    expect(after.invalidFrees - before.invalidFrees, 1);
    expect(pool.owns(b[2]), BlockOwnership.allocated,
        reason: 'the interior pointer did not free its block');
    pool.free(b[2]);
    expectPoolIntact(pool, allocations: 4, frees: 4, inUse: 0);
  });
}

FreeBatchException? _freeBatchError(void Function() action) {
  try {
    action();
    return null;
  } on FreeBatchException catch (e) {
    return e;
  }
}

void _expectZeroCountBatches(NativePoolsBindings np, int handle) {
  using((arena) {
    final count = arena<Size>()..value = 7;
    expect(np.np_pool_alloc_batch(handle, nullptr, 0, count), NP_OK);
    expect(count.value, 0);
    expect(np.np_pool_free_batch(handle, nullptr, 0, nullptr), NP_OK);
  });
}
