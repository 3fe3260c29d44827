import 'dart:ffi';

import 'package:ffi/ffi.dart';
import 'package:nativepools/nativepools.dart';
import 'package:nativepools/nativepools_ffi.dart';
import 'package:test/test.dart';

import '../support/invariants.dart';

/// One bad call: what it does, the status it must return, and which pool
/// counter (if any) must count it.
final class _BadCall {
  _BadCall(this.label, this.expected, this.call, {this.pool, this.counter});

  final String label;
  final int expected;
  final int Function() call;

  /// The pool whose counters the call may change (the victim when null).
  final BlockPool? pool;

  /// The counter that must go up by one; every other must stay.
  final String? counter;
}

/// The counters a rejected call may change.
Map<String, int> _counters(PoolStats s) => {
      'failedAllocations': s.failedAllocations,
      'doubleFrees': s.doubleFrees,
      'foreignFrees': s.foreignFrees,
      'invalidFrees': s.invalidFrees,
    };

/// S16: bad input through the raw C calls, one row per mistake.
void defineBadInputScenarios() {
  test('S16: every bad input returns its own status, counted and explained',
      () {
    final library = NativePools.instance;
    final np = library.bindings;
    final arena = Arena();
    addTearDown(arena.releaseAll);

    final victim =
        BlockPool.create(blockSize: 64, growthBlocks: 64, name: 'S16');
    addTearDown(victim.destroy);
    final other = BlockPool.create(blockSize: 64, name: 'S16 other');
    addTearDown(other.destroy);
    final full = BlockPool.create(blockSize: 64, maxBlocks: 1, name: 'S16 1');
    addTearDown(full.destroy);
    final poisoned =
        BlockPool.create(blockSize: 64, poisonOnFree: true, name: 'S16 poison');
    addTearDown(poisoned.destroy);
    final dead = BlockPool.create(blockSize: 64, name: 'S16 dead')..destroy();

    final options = arena<np_pool_options>();
    final handleOut = arena<Uint64>();
    final blockOut = arena<Pointer<Void>>();
    final array = arena<Pointer<Void>>(4);
    final count = arena<Size>();
    final stats = arena<np_pool_stats>();
    final report = arena<np_pool_validation>();
    final heap = arena<Uint8>(64);

    final live = victim.alloc();
    final freed = victim.alloc();
    victim.free(freed);
    final stride = victim.stats().blockStride;
    Pointer<Void> fromLive(int offset) =>
        Pointer<Void>.fromAddress(live.address + offset);
    final otherBlock = other.alloc();
    full.alloc();

    // Creates a pool from default options adjusted by [adjust]; a pool that
    // is (wrongly) created is destroyed again so it cannot leak.
    int create(void Function(np_pool_options o) adjust) {
      np.np_pool_options_init(options);
      options.ref.block_size = 64;
      adjust(options.ref);
      final status = np.np_pool_create(options, handleOut);
      if (status == NP_OK) np.np_pool_destroy(handleOut.value);
      return status;
    }

    final v = victim.handle;
    final calls = [
      _BadCall('options_init(NULL)', NP_E_NULL_POINTER,
          () => np.np_pool_options_init(nullptr)),
      _BadCall('options_preset(NULL)', NP_E_NULL_POINTER,
          () => np.np_pool_options_preset(nullptr, NP_POOL_PRESET_SMALL)),
      _BadCall('unknown preset 0', NP_E_INVALID_ARGUMENT,
          () => np.np_pool_options_preset(options, 0)),
      _BadCall('unknown preset 4', NP_E_INVALID_ARGUMENT,
          () => np.np_pool_options_preset(options, 4)),
      _BadCall('create(NULL options)', NP_E_NULL_POINTER,
          () => np.np_pool_create(nullptr, handleOut)),
      _BadCall('create(NULL handle out)', NP_E_NULL_POINTER, () {
        np.np_pool_options_preset(options, NP_POOL_PRESET_SMALL);
        return np.np_pool_create(options, nullptr);
      }),
      _BadCall('struct_size 0', NP_E_UNSUPPORTED_STRUCT_SIZE,
          () => create((o) => o.struct_size = 0)),
      _BadCall('struct_size one short', NP_E_UNSUPPORTED_STRUCT_SIZE,
          () => create((o) => o.struct_size = sizeOf<np_pool_options>() - 1)),
      _BadCall('struct_size too large', NP_E_UNSUPPORTED_STRUCT_SIZE,
          () => create((o) => o.struct_size = sizeOf<np_pool_options>() + 8)),
      _BadCall('block_size 0', NP_E_INVALID_ARGUMENT,
          () => create((o) => o.block_size = 0)),
      _BadCall('block_size over 16 MiB', NP_E_INVALID_ARGUMENT,
          () => create((o) => o.block_size = NP_POOL_MAX_BLOCK_SIZE + 1)),
      _BadCall('alignment 3', NP_E_INVALID_ARGUMENT,
          () => create((o) => o.alignment = 3)),
      _BadCall('alignment 8192', NP_E_INVALID_ARGUMENT,
          () => create((o) => o.alignment = 8192)),
      _BadCall('initial_blocks > max_blocks', NP_E_INVALID_ARGUMENT,
          () => create((o) => o
            ..initial_blocks = 10
            ..max_blocks = 5)),
      // 8 is the lowest bit no NP_POOL_* flag uses (4 is NP_POOL_ATOMIC_STATE).
      _BadCall('unknown flag bit 8', NP_E_INVALID_ARGUMENT,
          () => create((o) => o.flags = 8)),
      _BadCall('unknown flag bit 31', NP_E_INVALID_ARGUMENT,
          () => create((o) => o.flags = 0x80000000)),
      // 2^31 blocks of 16 MiB: more address space than the machine has.
      _BadCall('address space for 32 PiB', NP_E_OUT_OF_MEMORY,
          () => create((o) => o
            ..block_size = NP_POOL_MAX_BLOCK_SIZE
            ..max_blocks = 2147483646)),
      _BadCall('handle 0', NP_E_INVALID_HANDLE,
          () => np.np_pool_alloc(0, blockOut)),
      _BadCall('garbage handle', NP_E_INVALID_HANDLE,
          () => np.np_pool_alloc(0x7EADBEEF12345678, blockOut)),
      _BadCall('stale handle: alloc', NP_E_INVALID_HANDLE,
          () => np.np_pool_alloc(dead.handle, blockOut)),
      _BadCall('stale handle: free', NP_E_INVALID_HANDLE,
          () => np.np_pool_free(dead.handle, live.cast())),
      _BadCall('stale handle: owns', NP_E_INVALID_HANDLE,
          () => np.np_pool_owns(dead.handle, live.cast(), arena<Int32>())),
      _BadCall('alloc(NULL out)', NP_E_NULL_POINTER,
          () => np.np_pool_alloc(v, nullptr)),
      _BadCall('free(NULL)', NP_E_NULL_POINTER,
          () => np.np_pool_free(v, nullptr)),
      _BadCall('double free', NP_E_DOUBLE_FREE,
          () => np.np_pool_free(v, freed.cast()),
          counter: 'doubleFrees'),
      _BadCall('free of a block never handed out', NP_E_DOUBLE_FREE,
          () => np.np_pool_free(v, fromLive(10 * stride)),
          counter: 'doubleFrees'),
      _BadCall('free of malloc heap memory', NP_E_FOREIGN_POINTER,
          () => np.np_pool_free(v, heap.cast()),
          counter: 'foreignFrees'),
      _BadCall("free of the library's static data", NP_E_FOREIGN_POINTER,
          () => np.np_pool_free(v, np.np_version_string().cast()),
          counter: 'foreignFrees'),
      _BadCall("free of another pool's block", NP_E_FOREIGN_POINTER,
          () => np.np_pool_free(v, otherBlock.cast()),
          counter: 'foreignFrees'),
      _BadCall('free of a low garbage address', NP_E_FOREIGN_POINTER,
          () => np.np_pool_free(v, Pointer<Void>.fromAddress(0x1000)),
          counter: 'foreignFrees'),
      _BadCall('free of an interior pointer', NP_E_INTERIOR_POINTER,
          () => np.np_pool_free(v, fromLive(8)),
          counter: 'invalidFrees'),
      _BadCall('free of a misaligned pointer', NP_E_MISALIGNED_POINTER,
          () => np.np_pool_free(v, fromLive(1)),
          counter: 'invalidFrees'),
      _BadCall('get_stats(NULL)', NP_E_NULL_POINTER,
          () => np.np_pool_get_stats(v, nullptr)),
      _BadCall('stats struct_size 8', NP_E_UNSUPPORTED_STRUCT_SIZE, () {
        stats.ref.struct_size = 8;
        return np.np_pool_get_stats(v, stats);
      }),
      _BadCall('validation struct_size 4', NP_E_UNSUPPORTED_STRUCT_SIZE, () {
        report.ref.struct_size = 4;
        return np.np_pool_validate(v, report);
      }),
      _BadCall('owns(NULL result)', NP_E_NULL_POINTER,
          () => np.np_pool_owns(v, live.cast(), nullptr)),
      _BadCall('alloc_batch(NULL blocks)', NP_E_NULL_POINTER,
          () => np.np_pool_alloc_batch(v, nullptr, 4, count)),
      _BadCall('alloc_batch(NULL count out)', NP_E_NULL_POINTER,
          () => np.np_pool_alloc_batch(v, array, 4, nullptr)),
      _BadCall('alloc_batch of 2^31 blocks', NP_E_INVALID_ARGUMENT,
          () => np.np_pool_alloc_batch(v, array, 1 << 31, count)),
      _BadCall('free_batch(NULL blocks)', NP_E_NULL_POINTER,
          () => np.np_pool_free_batch(v, nullptr, 3, nullptr)),
      _BadCall('alloc at max_blocks', NP_E_POOL_EXHAUSTED,
          () => np.np_pool_alloc(full.handle, blockOut),
          pool: full, counter: 'failedAllocations'),
      _BadCall('reserve beyond max_blocks', NP_E_POOL_EXHAUSTED,
          () => np.np_pool_reserve(full.handle, 2),
          pool: full),
      _BadCall('validate after a write after free', NP_E_CORRUPTED, () {
        final block = poisoned.alloc();
        poisoned.free(block);
        block[3] = 7; // the write after free under test
        report.ref.struct_size = sizeOf<np_pool_validation>();
        return np.np_pool_validate(poisoned.handle, report);
      }, pool: poisoned),
    ];

    for (final bad in calls) {
      final pool = bad.pool ?? victim;
      final victimBefore = _counters(victim.stats());
      final poolBefore = _counters(pool.stats());

      final status = bad.call();
      // Read right away, on the same OS thread: nothing awaits in between.
      final lastStatus = np.np_last_error_status();
      final detail = library.lastErrorMessage();

      final name = STATUS_NAMES[bad.expected]!;
      expect(status, bad.expected, reason: '${bad.label}: $detail');
      expect(library.statusName(status), name, reason: bad.label);
      expect(library.statusMessage(status), isNotEmpty, reason: bad.label);
      expect(lastStatus, bad.expected, reason: '${bad.label}: last status');
      expect(detail, startsWith('$name: '), reason: '${bad.label}: detail');
      expect(detail.length, greaterThan(name.length + 2), reason: bad.label);

      final poolAfter = _counters(pool.stats());
      for (final counter in poolBefore.keys) {
        final delta = counter == bad.counter ? 1 : 0;
        expect(poolAfter[counter]! - poolBefore[counter]!, delta,
            reason: '${bad.label}: $counter');
      }
      if (!identical(pool, victim)) {
        expect(_counters(victim.stats()), victimBefore,
            reason: '${bad.label}: the victim pool is untouched');
      }
    }

    // Every status the ABI can produce appears above. NP_E_BUFFER_TOO_SMALL
    // and NP_E_INTERNAL have no trigger through the C ABI.
    final covered = {for (final bad in calls) bad.expected};
    expect(
        covered,
        STATUS_NAMES.keys.toSet()
          ..removeAll([NP_OK, NP_E_BUFFER_TOO_SMALL, NP_E_INTERNAL]));

    // The pools are intact afterwards; the poisoned block is handed out
    // again so that the poison check no longer sees it.
    poisoned.alloc();
    expectPoolIntact(poisoned, inUse: 1);
    expectPoolIntact(victim, allocations: 2, frees: 1, inUse: 1);
    expectPoolIntact(other, inUse: 1);
    expectPoolIntact(full, inUse: 1);
  });

  test('S16: status names and messages for every code, known or not', () {
    final library = NativePools.instance;
    final messages = <String>{};
    for (final MapEntry(key: code, value: name) in STATUS_NAMES.entries) {
      expect(library.statusName(code), name);
      messages.add(library.statusMessage(code));
    }
    expect(messages, hasLength(STATUS_NAMES.length),
        reason: 'one distinct message per status');
    for (final unknown in [1, 2, -14, -1000, 1 << 30]) {
      expect(library.statusName(unknown), 'NP_E_UNKNOWN');
      expect(library.statusMessage(unknown), isNotEmpty);
    }
  });

  test('S16: np_last_error_message truncates like snprintf', () {
    final library = NativePools.instance;
    final np = library.bindings;
    final pool = BlockPool.create(blockSize: 64, name: 'S16 message');
    addTearDown(pool.destroy);
    final block = pool.alloc();
    pool.free(block);
    expect(np.np_pool_free(pool.handle, block.cast()), NP_E_DOUBLE_FREE);
    final full = library.lastErrorMessage();
    expect(full, contains('S16 message'), reason: 'the pool is named');

    using((arena) {
      final length = np.np_last_error_message(nullptr, 0);
      expect(length, full.length, reason: 'the full length, nothing written');
      final buffer = arena<Uint8>(8);
      expect(np.np_last_error_message(buffer, 8), full.length);
      expect(buffer.cast<Utf8>().toDartString(), full.substring(0, 7),
          reason: '7 bytes and the NUL');
      final exact = arena<Uint8>(length + 1);
      expect(np.np_last_error_message(exact, length + 1), length);
      expect(exact.cast<Utf8>().toDartString(), full);
    });
    expectPoolIntact(pool, allocations: 1, frees: 1, inUse: 0);
  });
}
