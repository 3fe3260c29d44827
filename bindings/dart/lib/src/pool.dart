import 'dart:ffi';
import 'dart:typed_data';

import 'package:ffi/ffi.dart';

import 'exception.dart';
import 'library.dart';
import 'native.g.dart';
import 'scratch.dart';
import 'stats.dart';

/// The preset block sizes of np_pool_options_preset.
enum PoolPreset {
  /// 264-byte blocks (a small message with its header).
  small(NP_POOL_PRESET_SMALL),

  /// 1 KiB blocks.
  medium(NP_POOL_PRESET_MEDIUM),

  /// 10 KiB blocks.
  large(NP_POOL_PRESET_LARGE);

  const PoolPreset(this.code);

  /// The NP_POOL_PRESET_* value.
  final int code;
}

/// What np_pool_owns says about a pointer.
enum BlockOwnership {
  /// Not the start of a block of this pool (foreign, interior, released).
  notOwned,

  /// A block of this pool, currently allocated.
  allocated,

  /// A block of this pool, currently free.
  free;

  /// Maps an NP_BLOCK_* value.
  static BlockOwnership fromCode(int code) => switch (code) {
        NP_BLOCK_NOT_OWNED => notOwned,
        NP_BLOCK_ALLOCATED => allocated,
        NP_BLOCK_FREE => free,
        _ => throw StateError('np_pool_owns returned unknown result $code'),
      };
}

/// A pool of fixed-size blocks in native memory (np_pool).
///
/// Blocks are plain native memory: hand them to C code, keep them across
/// isolates (as addresses), free them from any isolate. Every method is one
/// native call; failures throw [NativePoolsException] with the exact status.
///
/// Pools are destroyed explicitly with [destroy], never by the garbage
/// collector: blocks handed to native code must not vanish because a Dart
/// object became unreachable. Other isolates use the same pool through
/// [handle] and [BlockPool.attach]; [destroy] must not race with calls on
/// the pool from other isolates.
final class BlockPool {
  BlockPool._(this.library, this.handle, this.blockSize);

  /// Creates a pool of blocks of [blockSize] bytes.
  ///
  /// [alignment] is a power of two up to 4096 (0 picks 8); [initialBlocks]
  /// are committed and pre-faulted now; [maxBlocks] bounds the pool (0 is
  /// unbounded). [growthBlocks] is the chunk size: given, every growth step
  /// adds exactly one chunk of that many blocks; 0 picks 64 KiB chunks and
  /// grows geometrically, a quarter of the chunks at a time (at least one,
  /// at most 32 MiB), so capacity can run up to a quarter plus a chunk ahead
  /// of need. [zeroOnAlloc] hands out zeroed blocks; [poisonOnFree] fills
  /// freed blocks with NP_POOL_POISON_BYTE so writes after free are detected;
  /// [atomicState] makes block state changes atomic, so even two threads
  /// freeing the same block at the same instant get exactly one success
  /// (at the cost of a locked instruction per call). [name] shows in the
  /// library's diagnostics.
  ///
  /// Negative numbers throw [RangeError]; values the library refuses throw
  /// [NativePoolsException] (NP_E_INVALID_ARGUMENT and friends).
  factory BlockPool.create({
    required int blockSize,
    int alignment = 0,
    int initialBlocks = 0,
    int growthBlocks = 0,
    int maxBlocks = 0,
    bool zeroOnAlloc = false,
    bool poisonOnFree = false,
    bool atomicState = false,
    String? name,
    NativePools? library,
  }) {
    RangeError.checkNotNegative(blockSize, 'blockSize');
    RangeError.checkNotNegative(alignment, 'alignment');
    RangeError.checkNotNegative(initialBlocks, 'initialBlocks');
    RangeError.checkNotNegative(growthBlocks, 'growthBlocks');
    RangeError.checkNotNegative(maxBlocks, 'maxBlocks');
    final lib = library ?? NativePools.instance;
    return using((arena) {
      final options = arena<np_pool_options>();
      lib.check(lib.bindings.np_pool_options_init(options),
          'np_pool_options_init');
      options.ref
        ..flags = (zeroOnAlloc ? NP_POOL_ZERO_ON_ALLOC : 0) |
            (poisonOnFree ? NP_POOL_POISON_ON_FREE : 0) |
            (atomicState ? NP_POOL_ATOMIC_STATE : 0)
        ..block_size = blockSize
        ..alignment = alignment
        ..initial_blocks = initialBlocks
        ..growth_blocks = growthBlocks
        ..max_blocks = maxBlocks;
      if (name != null) {
        options.ref.name = name.toNativeUtf8(allocator: arena).cast();
      }
      return _create(lib, options, arena);
    });
  }

  /// Creates a pool with one of the preset block sizes and default options.
  factory BlockPool.preset(PoolPreset preset,
      {String? name, NativePools? library}) {
    final lib = library ?? NativePools.instance;
    return using((arena) {
      final options = arena<np_pool_options>();
      lib.check(lib.bindings.np_pool_options_preset(options, preset.code),
          'np_pool_options_preset');
      if (name != null) {
        options.ref.name = name.toNativeUtf8(allocator: arena).cast();
      }
      return _create(lib, options, arena);
    });
  }

  /// Uses a pool created elsewhere, typically in another isolate that sent
  /// its [handle]. The pool stays owned by whoever destroys it.
  ///
  /// Throws [NativePoolsException] (NP_E_INVALID_HANDLE) for a handle that is
  /// not a live pool.
  factory BlockPool.attach(int handle, {NativePools? library}) {
    final lib = library ?? NativePools.instance;
    final stats = _readStats(lib, handle);
    return BlockPool._(lib, handle, stats.blockSize);
  }

  static BlockPool _create(
      NativePools lib, Pointer<np_pool_options> options, Arena arena) {
    final handle = arena<Uint64>();
    lib.check(lib.bindings.np_pool_create(options, handle), 'np_pool_create');
    return BlockPool._(lib, handle.value, options.ref.block_size);
  }

  /// The library this pool's calls go through (this isolate's).
  final NativePools library;

  /// The pool's handle: an integer other isolates can use with [attach].
  final int handle;

  /// Usable bytes per block.
  final int blockSize;

  NativePoolsBindings get _np => library.bindings;

  /// Takes one block. Throws NP_E_POOL_EXHAUSTED at maxBlocks.
  Pointer<Uint8> alloc() {
    final scratch = CallScratch.current;
    final status = _np.np_pool_alloc(handle, scratch.outBlock);
    if (status != NP_OK) throw library.failure(status, 'np_pool_alloc');
    return scratch.outBlock.value.cast<Uint8>();
  }

  /// Takes one block, or returns null when the pool is at its maximum
  /// (NP_E_POOL_EXHAUSTED); other failures throw.
  Pointer<Uint8>? tryAlloc() {
    final scratch = CallScratch.current;
    final status = _np.np_pool_alloc(handle, scratch.outBlock);
    if (status == NP_OK) return scratch.outBlock.value.cast<Uint8>();
    if (status == NP_E_POOL_EXHAUSTED) return null;
    throw library.failure(status, 'np_pool_alloc');
  }

  /// Returns one block. Double, foreign, interior and misaligned frees throw
  /// their own status and leave the pool intact.
  void free(Pointer<NativeType> block) {
    final status = _np.np_pool_free(handle, block.cast<Void>());
    if (status != NP_OK) throw library.failure(status, 'np_pool_free');
  }

  /// Takes [count] blocks in one native call.
  ///
  /// When the pool cannot supply all of them, the blocks already taken are
  /// given back and the failure is thrown, unless [allowPartial] is set: then
  /// NP_E_POOL_EXHAUSTED and NP_E_OUT_OF_MEMORY return the shorter list.
  List<Pointer<Uint8>> allocBatch(int count, {bool allowPartial = false}) {
    RangeError.checkNotNegative(count, 'count');
    final scratch = CallScratch.forBatch(count);
    final array = scratch.blocks;
    final status =
        _np.np_pool_alloc_batch(handle, array, count, scratch.outSize);
    final taken = scratch.outSize.value;
    final blocks = List<Pointer<Uint8>>.generate(
        taken, (i) => array[i].cast<Uint8>(),
        growable: false);
    if (status == NP_OK) return blocks;
    if (allowPartial &&
        (status == NP_E_POOL_EXHAUSTED || status == NP_E_OUT_OF_MEMORY)) {
      return blocks;
    }
    final error = library.failure(status, 'np_pool_alloc_batch');
    if (taken > 0) {
      // All or nothing: a failed call leaves the pool as it found it. These
      // are valid blocks of this pool, so the give-back cannot fail.
      _np.np_pool_free_batch(handle, array, taken, nullptr);
    }
    throw error;
  }

  /// Returns [blocks] in one native call and returns how many were freed.
  ///
  /// Every valid entry is freed even when others are invalid; then a
  /// [FreeBatchException] carries the status of the first invalid entry and
  /// the number freed.
  int freeBatch(List<Pointer<NativeType>> blocks) {
    final count = blocks.length;
    final scratch = CallScratch.forBatch(count);
    final array = scratch.blocks;
    for (var i = 0; i < count; i++) {
      array[i] = blocks[i].cast<Void>();
    }
    final status =
        _np.np_pool_free_batch(handle, array, count, scratch.outSize);
    final freed = scratch.outSize.value;
    if (status != NP_OK) {
      throw FreeBatchException(
          library.failure(status, 'np_pool_free_batch'), freed);
    }
    return freed;
  }

  /// Grows the pool until at least [freeBlocks] blocks are free and faults
  /// their pages in (warm-up).
  void reserve(int freeBlocks) {
    RangeError.checkNotNegative(freeBlocks, 'freeBlocks');
    library.check(_np.np_pool_reserve(handle, freeBlocks), 'np_pool_reserve');
  }

  /// Gives every chunk with no block in use back to the OS and returns the
  /// bytes released. Blocks in use are never touched.
  ///
  /// Free blocks cached by the calling OS thread go back to the pool's depot
  /// first; those cached by other live threads count as in use. An isolate
  /// may run on another OS thread after an `await`, and a Dart VM thread
  /// stays alive for a while after its isolate ends, so blocks freed earlier
  /// (by this isolate on another thread, or by other isolates) can keep
  /// their chunks from being released.
  int trim() {
    final scratch = CallScratch.current;
    library.check(_np.np_pool_trim(handle, scratch.outUint64), 'np_pool_trim');
    return scratch.outUint64.value;
  }

  /// Whether [block] is a block of this pool, without touching its memory.
  BlockOwnership owns(Pointer<NativeType> block) {
    final scratch = CallScratch.current;
    final status =
        _np.np_pool_owns(handle, block.cast<Void>(), scratch.outInt32);
    library.check(status, 'np_pool_owns');
    return BlockOwnership.fromCode(scratch.outInt32.value);
  }

  /// Walks the pool's magazines (the shared depot and every thread's cache)
  /// and block states.
  ///
  /// A damaged pool is an outcome, not an error: it returns a report whose
  /// status is NP_E_CORRUPTED, with the library's detail. Other failures
  /// (a stale handle) throw.
  PoolValidation validate() {
    final report = calloc<np_pool_validation>();
    try {
      report.ref.struct_size = sizeOf<np_pool_validation>();
      final status = _np.np_pool_validate(handle, report);
      if (status != NP_OK && status != NP_E_CORRUPTED) {
        throw library.failure(status, 'np_pool_validate');
      }
      return PoolValidation.fromNative(status, report.ref,
          detail: library.detailFor(status));
    } finally {
      calloc.free(report);
    }
  }

  /// A snapshot of the pool's counters.
  PoolStats stats() => _readStats(library, handle);

  /// Zeroes the event counters; the peak restarts from the current in-use
  /// count.
  void resetStats() =>
      library.check(_np.np_pool_reset_stats(handle), 'np_pool_reset_stats');

  /// Destroys the pool and returns all its memory to the OS.
  ///
  /// Blocks still handed out become invalid at once. The handle becomes
  /// stale: later calls with it, from any isolate, throw NP_E_INVALID_HANDLE.
  void destroy() =>
      library.check(_np.np_pool_destroy(handle), 'np_pool_destroy');

  /// A byte view of [block] ([blockSize] bytes), valid until it is freed.
  Uint8List bytes(Pointer<Uint8> block) => block.asTypedList(blockSize);

  static PoolStats _readStats(NativePools lib, int handle) {
    final stats = calloc<np_pool_stats>();
    try {
      stats.ref.struct_size = sizeOf<np_pool_stats>();
      lib.check(
          lib.bindings.np_pool_get_stats(handle, stats), 'np_pool_get_stats');
      return PoolStats.fromNative(stats.ref);
    } finally {
      calloc.free(stats);
    }
  }

  @override
  String toString() =>
      'BlockPool(handle: 0x${handle.toRadixString(16)}, '
      'blockSize: $blockSize)';
}
