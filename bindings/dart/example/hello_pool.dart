// A pool of small blocks: take one, write into it, read it back, give it
// back, and look at the counters.
//
//   NATIVEPOOLS_LIB=../../artifacts/native/libnativepools.so \
//     dart run example/hello_pool.dart
import 'dart:convert';

import 'package:nativepools/nativepools.dart';

void main() {
  final library = NativePools.instance;
  print('libnativepools ${library.versionString}');

  final pool = BlockPool.preset(PoolPreset.small, name: 'hello');
  try {
    final block = pool.alloc();
    final bytes = pool.bytes(block);
    final message = utf8.encode('hello from Dart');
    bytes.setAll(0, message);
    print('wrote "${utf8.decode(bytes.sublist(0, message.length))}" '
        'into a ${pool.blockSize}-byte block at '
        '0x${block.address.toRadixString(16)}');
    pool.free(block);

    // A thread's cache is LIFO, so the next block is the one just freed.
    final again = pool.alloc();
    print('reused the same block: ${again == block}');
    pool.free(again);

    try {
      pool.free(again);
    } on NativePoolsException catch (e) {
      print('a second free is refused: ${e.name} (${e.detail})');
    }

    final stats = pool.stats();
    print('allocations ${stats.allocations}, created ${stats.created}, '
        'reused ${stats.reused}, reuse rate ${stats.reuseRate}, '
        'double frees ${stats.doubleFrees}, capacity ${stats.capacity}');
  } finally {
    pool.destroy();
  }
}
