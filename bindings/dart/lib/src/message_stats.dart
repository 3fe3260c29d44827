import 'native.g.dart';

/// A snapshot of a message pool's totals (np_msgpool_stats).
///
/// Every field shared with [MessageClassStats] is the sum over the classes;
/// [oversizeAcquisitions] and [unownedReleases] are events no class sees.
/// Exact when no other thread was operating on the pool.
final class MessagePoolStats {
  /// Copies the fields of a filled np_msgpool_stats.
  MessagePoolStats.fromNative(np_msgpool_stats s)
      : classCount = s.class_count,
        capacity = s.capacity,
        bytesCommitted = s.bytes_committed,
        inFlight = s.in_flight,
        peakInFlight = s.peak_in_flight,
        freeBlocks = s.free_blocks,
        acquisitions = s.acquisitions,
        created = s.created,
        reused = s.reused,
        released = s.released,
        discarded = s.discarded,
        failedAcquisitions = s.failed_acquisitions,
        doubleReleases = s.double_releases,
        foreignReleases = s.foreign_releases,
        invalidReleases = s.invalid_releases,
        chunksReleased = s.chunks_released,
        oversizeAcquisitions = s.oversize_acquisitions,
        unownedReleases = s.unowned_releases,
        reuseRate = s.reuse_rate;

  /// Number of size classes.
  final int classCount;

  /// Committed blocks of every class, free or in flight.
  final int capacity;

  /// Bytes of block memory committed.
  final int bytesCommitted;

  /// Messages acquired and not released.
  final int inFlight;

  /// Sum of the classes' peaks: an upper bound of the most messages ever in
  /// flight at once.
  final int peakInFlight;

  /// Committed blocks not in flight (retained, cached by threads, or never
  /// handed out).
  final int freeBlocks;

  /// Successful acquisitions ([created] + [reused]).
  final int acquisitions;

  /// Acquisitions served by fresh blocks.
  final int created;

  /// Acquisitions served by retained blocks.
  final int reused;

  /// Successful releases, retained or discarded.
  final int released;

  /// Releases found over their class's retention limit.
  final int discarded;

  /// Acquisitions a class refused (exhausted, out of memory).
  final int failedAcquisitions;

  /// Releases of buffers that were not in flight.
  final int doubleReleases;

  /// Releases of pointers in a class's address range that are not its blocks.
  final int foreignReleases;

  /// Releases of interior or misaligned pointers.
  final int invalidReleases;

  /// Chunks whose memory went back to the OS.
  final int chunksReleased;

  /// Acquisitions refused because the size exceeds the largest class.
  final int oversizeAcquisitions;

  /// Releases of pointers outside every class's address range.
  final int unownedReleases;

  /// [reused] / [acquisitions], 0 when nothing was acquired.
  final double reuseRate;

  @override
  String toString() => 'MessagePoolStats(classCount: $classCount, '
      'capacity: $capacity, inFlight: $inFlight, '
      'peakInFlight: $peakInFlight, freeBlocks: $freeBlocks, '
      'acquisitions: $acquisitions, created: $created, reused: $reused, '
      'released: $released, discarded: $discarded, '
      'failedAcquisitions: $failedAcquisitions, '
      'doubleReleases: $doubleReleases, foreignReleases: $foreignReleases, '
      'invalidReleases: $invalidReleases, chunksReleased: $chunksReleased, '
      'oversizeAcquisitions: $oversizeAcquisitions, '
      'unownedReleases: $unownedReleases, '
      'reuseRate: ${reuseRate.toStringAsFixed(4)})';
}

/// A snapshot of one size class of a message pool (np_msgpool_class_stats).
final class MessageClassStats {
  /// Copies the fields of a filled np_msgpool_class_stats.
  MessageClassStats.fromNative(np_msgpool_class_stats s)
      : classIndex = s.class_index,
        classSize = s.class_size,
        blockStride = s.block_stride,
        retainLimit = s.retain_limit,
        blocksPerChunk = s.blocks_per_chunk,
        magazineCapacity = s.magazine_capacity,
        capacity = s.capacity,
        bytesCommitted = s.bytes_committed,
        inFlight = s.in_flight,
        peakInFlight = s.peak_in_flight,
        freeBlocks = s.free_blocks,
        acquisitions = s.acquisitions,
        created = s.created,
        reused = s.reused,
        released = s.released,
        discarded = s.discarded,
        failedAcquisitions = s.failed_acquisitions,
        doubleReleases = s.double_releases,
        foreignReleases = s.foreign_releases,
        invalidReleases = s.invalid_releases,
        chunksReleased = s.chunks_released,
        reuseRate = s.reuse_rate;

  /// The class's index (classes are in ascending size).
  final int classIndex;

  /// Usable bytes of each message of this class.
  final int classSize;

  /// Distance between block starts.
  final int blockStride;

  /// Free blocks the class keeps for reuse; releases beyond it are discarded.
  final int retainLimit;

  /// Blocks per chunk, the unit in which memory is committed and given back.
  final int blocksPerChunk;

  /// Blocks per magazine; a thread caches at most two magazines per class.
  final int magazineCapacity;

  /// Committed blocks, free or in flight.
  final int capacity;

  /// Bytes of block memory committed.
  final int bytesCommitted;

  /// Messages acquired and not released.
  final int inFlight;

  /// Highest [inFlight] since creation or the last reset.
  final int peakInFlight;

  /// [capacity] - [inFlight].
  final int freeBlocks;

  /// Successful acquisitions ([created] + [reused]).
  final int acquisitions;

  /// Acquisitions served by fresh blocks.
  final int created;

  /// Acquisitions served by retained blocks.
  final int reused;

  /// Successful releases, retained or discarded.
  final int released;

  /// Releases found over the retention limit.
  final int discarded;

  /// Acquisitions refused (exhausted, out of memory).
  final int failedAcquisitions;

  /// Releases of buffers that were not in flight.
  final int doubleReleases;

  /// Releases of pointers in this class's range that are not its blocks.
  final int foreignReleases;

  /// Releases of interior or misaligned pointers.
  final int invalidReleases;

  /// Chunks whose memory went back to the OS.
  final int chunksReleased;

  /// [reused] / [acquisitions], 0 when nothing was acquired.
  final double reuseRate;

  @override
  String toString() => 'MessageClassStats(classIndex: $classIndex, '
      'classSize: $classSize, retainLimit: $retainLimit, '
      'capacity: $capacity, inFlight: $inFlight, freeBlocks: $freeBlocks, '
      'acquisitions: $acquisitions, reused: $reused, released: $released, '
      'discarded: $discarded, chunksReleased: $chunksReleased, '
      'reuseRate: ${reuseRate.toStringAsFixed(4)})';
}
