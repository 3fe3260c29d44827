/// Message pool scenarios (M01, M03, M06, M07; shared with the C, Python and
/// NUnit suites) against the real libnativepools.
///
/// The library comes from NATIVEPOOLS_LIB or ../../artifacts/native.
@TestOn('vm')
library;

import 'dart:ffi';

import 'package:ffi/ffi.dart';
import 'package:nativepools/nativepools.dart';
import 'package:test/test.dart';

import 'support/environment.dart';

const List<int> _defaults = [
  64, 264, 1024, 4096, 10240, 65536, 262144, 1048576, //
];

/// Each class is consistent in itself, and every total is the sum of the
/// classes' fields.
MessagePoolStats _expectConsistent(MessagePool pool) {
  final total = pool.stats();
  final classes = [
    for (var k = 0; k < total.classCount; k++) pool.classStats(k),
  ];
  for (final c in classes) {
    expect(c.created + c.reused, c.acquisitions, reason: '$c');
    expect(c.inFlight + c.freeBlocks, c.capacity, reason: '$c');
    expect(c.bytesCommitted, c.capacity * c.blockStride, reason: '$c');
  }
  int sum(int Function(MessageClassStats c) field) =>
      classes.fold(0, (sum, c) => sum + field(c));
  expect(total.capacity, sum((c) => c.capacity));
  expect(total.inFlight, sum((c) => c.inFlight));
  expect(total.acquisitions, sum((c) => c.acquisitions));
  expect(total.released, sum((c) => c.released));
  expect(total.discarded, sum((c) => c.discarded));
  expect(total.doubleReleases, sum((c) => c.doubleReleases));
  expect(total.invalidReleases, sum((c) => c.invalidReleases));
  expect(total.foreignReleases, sum((c) => c.foreignReleases));
  return total;
}

void main() {
  setUpAll(useTestLibrary);

  test('M01: every class boundary picks the smallest class that fits', () {
    final pool = MessagePool.create(name: 'M01');
    addTearDown(pool.destroy);
    expect(pool.classSizes, _defaults);
    void expectClass(int size, int expected) {
      final buffer = pool.acquire(size);
      expect(buffer.capacity, _defaults[expected], reason: 'size $size');
      expect(pool.classIndexFor(size), expected);
      buffer.bytes.fillRange(0, buffer.capacity, 0xA5);
      pool.release(buffer.address);
    }

    expectClass(0, 0);
    for (var k = 0; k < _defaults.length; k++) {
      expectClass(_defaults[k] - 1, k);
      expectClass(_defaults[k], k);
      if (k + 1 < _defaults.length) expectClass(_defaults[k] + 1, k + 1);
    }
    expect(
        () => pool.acquire(_defaults.last + 1),
        throwsA(isA<NativePoolsException>()
            .having((e) => e.status, 'status', NP_E_INVALID_ARGUMENT)
            .having((e) => e.detail, 'detail', contains('1048576'))));
    expect(_expectConsistent(pool).oversizeAcquisitions, 1);
  });

  test('M03: releases beyond the retention are discarded, memory returned',
      () {
    final pool = MessagePool.create(retainPerClass: 16, name: 'M03');
    addTearDown(pool.destroy);
    final buffers = [for (var i = 0; i < 200; i++) pool.acquire(65536)];
    for (final buffer in buffers) {
      buffer.bytes.fillRange(0, buffer.capacity, 1);
    }
    for (final buffer in buffers) {
      pool.release(buffer.address);
    }
    final s = pool.classStats(5);
    expect(s.retainLimit, 16);
    expect(s.released, 200);
    expect(s.freeBlocks + s.discarded, 200, reason: '$s');
    expect(s.chunksReleased, s.discarded);
    expect(s.freeBlocks, inInclusiveRange(16, 16 + 2 * s.magazineCapacity));
    _expectConsistent(pool);
  });

  test('M06: totals are the sums of the classes; reset starts over', () {
    final pool = MessagePool.create(name: 'M06');
    addTearDown(pool.destroy);
    final kept = [for (final size in _defaults) pool.acquire(size)];
    final freed = pool.acquire(1000);
    pool.release(freed.address);
    expect(() => pool.release(freed.address),
        throwsA(isA<NativePoolsException>()));
    final before = _expectConsistent(pool);
    expect(before.inFlight, _defaults.length);
    expect(before.doubleReleases, 1);
    pool.resetStats();
    final after = _expectConsistent(pool);
    expect(after.acquisitions + after.released + after.doubleReleases, 0);
    expect(after.inFlight, _defaults.length);
    expect(after.peakInFlight, _defaults.length);
    for (final buffer in kept) {
      pool.release(buffer.address);
    }
  });

  test('M07: bad releases return their status and are counted', () {
    final pool = MessagePool.create(name: 'M07');
    addTearDown(pool.destroy);
    final heap = calloc<Uint8>(64);
    addTearDown(() => calloc.free(heap));
    final buffer = pool.acquire(200);
    Pointer<Uint8> at(int offset) =>
        Pointer<Uint8>.fromAddress(buffer.address.address + offset);
    int statusOf(void Function() call) {
      try {
        call();
        return NP_OK;
      } on NativePoolsException catch (e) {
        return e.status;
      }
    }

    expect(statusOf(() => pool.release(at(8))), NP_E_INTERIOR_POINTER);
    expect(statusOf(() => pool.release(at(1))), NP_E_MISALIGNED_POINTER);
    expect(statusOf(() => pool.release(heap)), NP_E_FOREIGN_POINTER);
    expect(statusOf(() => pool.release(nullptr)), NP_E_NULL_POINTER);
    pool.release(buffer.address);
    expect(statusOf(() => pool.release(buffer.address)), NP_E_DOUBLE_FREE);
    final s = _expectConsistent(pool);
    expect(s.invalidReleases, 2);
    expect(s.unownedReleases, 1);
    expect(s.doubleReleases, 1);
    expect(() => MessagePool.create(classSizes: [128, 64]),
        throwsA(isA<NativePoolsException>()));
    expect(() => MessagePool.attach(0), throwsA(isA<NativePoolsException>()));
  });
}
