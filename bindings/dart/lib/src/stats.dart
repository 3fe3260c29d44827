import 'native.g.dart';

/// A snapshot of a pool's counters (np_pool_stats).
///
/// Exact when no other thread was operating on the pool; otherwise each field
/// is a recent value. Reading it first takes back the caches of threads that
/// have exited.
final class PoolStats {
  /// Creates a snapshot; [PoolStats.fromNative] is the usual way.
  const PoolStats({
    required this.blockSize,
    required this.blockStride,
    required this.capacity,
    required this.inUse,
    required this.peakInUse,
    required this.chunks,
    required this.bytesReserved,
    required this.bytesMetadata,
    required this.allocations,
    required this.frees,
    required this.created,
    required this.reused,
    required this.failedAllocations,
    required this.doubleFrees,
    required this.foreignFrees,
    required this.invalidFrees,
    required this.poisonViolations,
    required this.chunksReleased,
    required this.cachedThreads,
    required this.depotBlocks,
    required this.magazineCapacity,
    required this.reuseRate,
  });

  /// Copies the fields of a filled np_pool_stats.
  PoolStats.fromNative(np_pool_stats s)
      : blockSize = s.block_size,
        blockStride = s.block_stride,
        capacity = s.capacity,
        inUse = s.in_use,
        peakInUse = s.peak_in_use,
        chunks = s.chunks,
        bytesReserved = s.bytes_reserved,
        bytesMetadata = s.bytes_metadata,
        allocations = s.allocations,
        frees = s.frees,
        created = s.created,
        reused = s.reused,
        failedAllocations = s.failed_allocations,
        doubleFrees = s.double_frees,
        foreignFrees = s.foreign_frees,
        invalidFrees = s.invalid_frees,
        poisonViolations = s.poison_violations,
        chunksReleased = s.chunks_released,
        cachedThreads = s.cached_threads,
        depotBlocks = s.depot_blocks,
        magazineCapacity = s.magazine_capacity,
        reuseRate = s.reuse_rate;

  /// Usable bytes per block.
  final int blockSize;

  /// Distance between block starts (block size rounded up to the alignment).
  final int blockStride;

  /// Blocks in committed chunks, free or in use.
  final int capacity;

  /// Blocks handed out and not freed.
  final int inUse;

  /// Highest [inUse] since creation or the last reset: exact while a single
  /// thread uses the pool; with several it is sampled at magazine exchanges,
  /// so it can read below the true peak (never below the current [inUse]).
  final int peakInUse;

  /// Committed chunks.
  final int chunks;

  /// Bytes of block memory committed.
  final int bytesReserved;

  /// Bytes of out-of-band metadata committed.
  final int bytesMetadata;

  /// Successful allocations ([created] + [reused]).
  final int allocations;

  /// Successful frees.
  final int frees;

  /// Blocks handed out for the first time.
  final int created;

  /// Blocks handed out again after a free.
  final int reused;

  /// Allocations refused (exhausted, out of memory).
  final int failedAllocations;

  /// Frees of blocks that were not allocated.
  final int doubleFrees;

  /// Frees of pointers outside the pool.
  final int foreignFrees;

  /// Frees of interior or misaligned pointers inside the pool.
  final int invalidFrees;

  /// Freed blocks found written after their free (poison mode).
  final int poisonViolations;

  /// Chunks given back to the OS by trim.
  final int chunksReleased;

  /// Threads holding a cache of this pool (at most two magazines of free
  /// blocks each).
  final int cachedThreads;

  /// Free blocks in the shared depot, cached by no thread (never-used blocks
  /// included).
  final int depotBlocks;

  /// Blocks per magazine; a thread caches at most two magazines per pool.
  final int magazineCapacity;

  /// [reused] / [allocations], 0 when nothing was allocated.
  final double reuseRate;

  @override
  String toString() => 'PoolStats(capacity: $capacity, inUse: $inUse, '
      'peakInUse: $peakInUse, chunks: $chunks, allocations: $allocations, '
      'frees: $frees, created: $created, reused: $reused, '
      'failedAllocations: $failedAllocations, doubleFrees: $doubleFrees, '
      'foreignFrees: $foreignFrees, invalidFrees: $invalidFrees, '
      'poisonViolations: $poisonViolations, '
      'chunksReleased: $chunksReleased, cachedThreads: $cachedThreads, '
      'depotBlocks: $depotBlocks, magazineCapacity: $magazineCapacity, '
      'reuseRate: ${reuseRate.toStringAsFixed(4)})';
}

/// What np_pool_validate found.
final class PoolValidation {
  /// Creates a report; [PoolValidation.fromNative] is the usual way.
  const PoolValidation({
    required this.status,
    required this.countsChecked,
    required this.freeListed,
    required this.allocated,
    required this.free,
    required this.errors,
    required this.poisonViolations,
    this.detail = '',
  });

  /// Copies a filled np_pool_validation, with the call's [status] and the
  /// library's [detail] text for a failure.
  PoolValidation.fromNative(this.status, np_pool_validation v,
      {this.detail = ''})
      : countsChecked = v.counts_checked != 0,
        freeListed = v.free_listed,
        allocated = v.allocated,
        free = v.free,
        errors = v.errors,
        poisonViolations = v.poison_violations;

  /// NP_OK when the pool is intact, NP_E_CORRUPTED otherwise.
  final int status;

  /// Whether no other thread used the pool during the walk, so the counts
  /// were compared with the stats as well.
  final bool countsChecked;

  /// Free blocks the walk accounted for: those in magazines and those never
  /// handed out since their chunk was committed. Blocks in threads' caches
  /// are included only when [countsChecked].
  final int freeListed;

  /// Blocks marked allocated.
  final int allocated;

  /// Blocks marked free.
  final int free;

  /// Inconsistencies found.
  final int errors;

  /// Free blocks whose poison was overwritten (poison mode).
  final int poisonViolations;

  /// The library's detail text when [status] is not NP_OK.
  final String detail;

  /// Whether the walk found the pool intact.
  bool get isIntact => status == NP_OK;

  @override
  String toString() => 'PoolValidation(status: $status, '
      'countsChecked: $countsChecked, freeListed: $freeListed, '
      'allocated: $allocated, free: $free, errors: $errors, '
      'poisonViolations: $poisonViolations'
      '${detail.isEmpty ? '' : ', detail: $detail'})';
}
