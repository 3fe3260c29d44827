import 'dart:ffi';
import 'dart:typed_data';

import 'package:ffi/ffi.dart';

import 'library.dart';
import 'message_stats.dart';
import 'native.g.dart';
import 'scratch.dart';

/// A message buffer taken from a [MessagePool]: its address and its usable
/// size (the size of the class it came from, at least what was asked for).
final class MessageBuffer {
  /// Wraps an acquired buffer.
  const MessageBuffer(this.address, this.capacity);

  /// The buffer's native address; valid until released or the pool is
  /// destroyed.
  final Pointer<Uint8> address;

  /// Usable bytes at [address].
  final int capacity;

  /// A byte view of the whole buffer.
  Uint8List get bytes => address.asTypedList(capacity);

  @override
  String toString() => 'MessageBuffer(0x${address.address.toRadixString(16)}'
      ', capacity: $capacity)';
}

/// Size-classed message buffers in native memory (np_msgpool).
///
/// [acquire] takes a buffer from the smallest class that holds the size
/// asked for; [release] finds the class from the address alone. Each class
/// keeps at most its retain limit of free blocks for reuse; releases beyond
/// it are discarded and their memory goes back to the OS. Every method is one
/// native call; failures throw [NativePoolsException] with the exact status.
///
/// Pools are destroyed explicitly with [destroy], never by the garbage
/// collector. Other isolates use the same pool through [handle] and
/// [MessagePool.attach]; [destroy] must not race with calls on the pool from
/// other isolates.
final class MessagePool {
  MessagePool._(this.library, this.handle, this.classSizes);

  /// Creates a message pool.
  ///
  /// [classSizes] are the class block sizes, strictly ascending, 1 to
  /// NP_MSGPOOL_MAX_CLASS_SIZE, at most NP_MSGPOOL_MAX_CLASSES of them; null
  /// picks the defaults (64 B to 1 MiB). Each class keeps
  /// min([retainPerClass], [retainBytesPerClass] / class size) free blocks.
  /// [name] shows in the library's diagnostics.
  factory MessagePool.create({
    List<int>? classSizes,
    int retainPerClass = NP_MSGPOOL_DEFAULT_RETAIN_PER_CLASS,
    int retainBytesPerClass = NP_MSGPOOL_DEFAULT_RETAIN_BYTES_PER_CLASS,
    String? name,
    NativePools? library,
  }) {
    RangeError.checkNotNegative(retainPerClass, 'retainPerClass');
    RangeError.checkNotNegative(retainBytesPerClass, 'retainBytesPerClass');
    final lib = library ?? NativePools.instance;
    return using((arena) {
      final options = arena<np_msgpool_options>();
      lib.check(lib.bindings.np_msgpool_options_init(options),
          'np_msgpool_options_init');
      if (classSizes != null) {
        final sizes = arena<Uint32>(classSizes.isEmpty ? 1 : classSizes.length);
        for (var i = 0; i < classSizes.length; i++) {
          sizes[i] = classSizes[i];
        }
        options.ref
          ..class_sizes = sizes
          ..class_count = classSizes.length;
      }
      options.ref
        ..retain_per_class = retainPerClass
        ..retain_bytes_per_class = retainBytesPerClass;
      if (name != null) {
        options.ref.name = name.toNativeUtf8(allocator: arena).cast();
      }
      final out = arena<Uint64>();
      lib.check(lib.bindings.np_msgpool_create(options, out),
          'np_msgpool_create');
      return MessagePool._(lib, out.value, _readClassSizes(lib, out.value));
    });
  }

  /// Uses a message pool created elsewhere, typically in another isolate that
  /// sent its [handle]. Throws NP_E_INVALID_HANDLE for a handle that is not a
  /// live message pool.
  factory MessagePool.attach(int handle, {NativePools? library}) {
    final lib = library ?? NativePools.instance;
    return MessagePool._(lib, handle, _readClassSizes(lib, handle));
  }

  /// The library this pool's calls go through (this isolate's).
  final NativePools library;

  /// The pool's handle: an integer other isolates can use with [attach].
  final int handle;

  /// The class sizes, ascending.
  final List<int> classSizes;

  NativePoolsBindings get _np => library.bindings;

  /// Takes a buffer of at least [size] bytes from the smallest class that
  /// holds it. A size above the largest class throws NP_E_INVALID_ARGUMENT.
  MessageBuffer acquire(int size) {
    RangeError.checkNotNegative(size, 'size');
    final scratch = CallScratch.current;
    // The out word receives the buffer, the first batch slot its capacity.
    final capacity = scratch.blocks.cast<Size>();
    final status =
        _np.np_msgpool_acquire(handle, size, scratch.outBlock, capacity);
    if (status != NP_OK) throw library.failure(status, 'np_msgpool_acquire');
    return MessageBuffer(scratch.outBlock.value.cast<Uint8>(), capacity.value);
  }

  /// Returns a buffer. Double, foreign, interior and misaligned releases
  /// throw their own status and leave the pool intact.
  void release(Pointer<NativeType> message) {
    final status = _np.np_msgpool_release(handle, message.cast<Void>());
    if (status != NP_OK) throw library.failure(status, 'np_msgpool_release');
  }

  /// Warm-up: the class serving [size] grows to hold at least [count]
  /// blocks, with their pages faulted in.
  void reserve(int size, int count) {
    RangeError.checkNotNegative(size, 'size');
    RangeError.checkNotNegative(count, 'count');
    library.check(
        _np.np_msgpool_reserve(handle, size, count), 'np_msgpool_reserve');
  }

  /// The index of the class [acquire] uses for [size], or null when it
  /// exceeds the largest class.
  int? classIndexFor(int size) {
    for (var k = 0; k < classSizes.length; k++) {
      if (size <= classSizes[k]) return k;
    }
    return null;
  }

  /// A snapshot of the totals.
  MessagePoolStats stats() {
    final stats = calloc<np_msgpool_stats>();
    try {
      stats.ref.struct_size = sizeOf<np_msgpool_stats>();
      library.check(
          _np.np_msgpool_get_stats(handle, stats), 'np_msgpool_get_stats');
      return MessagePoolStats.fromNative(stats.ref);
    } finally {
      calloc.free(stats);
    }
  }

  /// A snapshot of class [index] (0 to classSizes.length - 1).
  MessageClassStats classStats(int index) =>
      _readClassStats(library, handle, index);

  /// Zeroes the event counters of every class and of the pool; peaks
  /// restart from the current in-flight counts.
  void resetStats() => library.check(
      _np.np_msgpool_reset_stats(handle), 'np_msgpool_reset_stats');

  /// Destroys the pool and returns all its memory to the OS. Buffers still in
  /// flight become invalid at once; later calls with the handle, from any
  /// isolate, throw NP_E_INVALID_HANDLE.
  void destroy() =>
      library.check(_np.np_msgpool_destroy(handle), 'np_msgpool_destroy');

  static MessageClassStats _readClassStats(
      NativePools lib, int handle, int index) {
    final stats = calloc<np_msgpool_class_stats>();
    try {
      stats.ref.struct_size = sizeOf<np_msgpool_class_stats>();
      lib.check(lib.bindings.np_msgpool_get_class_stats(handle, index, stats),
          'np_msgpool_get_class_stats');
      return MessageClassStats.fromNative(stats.ref);
    } finally {
      calloc.free(stats);
    }
  }

  static List<int> _readClassSizes(NativePools lib, int handle) {
    final stats = calloc<np_msgpool_stats>();
    try {
      stats.ref.struct_size = sizeOf<np_msgpool_stats>();
      lib.check(lib.bindings.np_msgpool_get_stats(handle, stats),
          'np_msgpool_get_stats');
      final count = stats.ref.class_count;
      return List<int>.unmodifiable([
        for (var k = 0; k < count; k++)
          _readClassStats(lib, handle, k).classSize,
      ]);
    } finally {
      calloc.free(stats);
    }
  }

  @override
  String toString() => 'MessagePool(handle: 0x${handle.toRadixString(16)}, '
      'classSizes: $classSizes)';
}
