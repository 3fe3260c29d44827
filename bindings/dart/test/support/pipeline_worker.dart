import 'dart:ffi';
import 'dart:isolate';
import 'dart:typed_data';

import 'package:nativepools/nativepools.dart';

import 'pattern.dart';

/// A producer: allocates and fills blocks, sends their addresses to the
/// consumers. Sendable.
final class ProducerTask {
  /// Describes producer [producer].
  const ProducerTask({
    required this.libraryPath,
    required this.handle,
    required this.producer,
    required this.blocks,
    required this.batch,
    required this.consumers,
  });

  /// The library file the isolate opens.
  final String libraryPath;

  /// The pool.
  final int handle;

  /// The producer's number (block tags, consumer rotation).
  final int producer;

  /// Blocks to produce.
  final int blocks;

  /// Blocks per message.
  final int batch;

  /// Where the consumers receive (address, tag) pairs, and null when a
  /// producer is done.
  final List<SendPort> consumers;
}

/// A consumer: checks and frees what the producers send. Sendable.
final class ConsumerTask {
  /// Describes a consumer that waits for [producers] producers.
  const ConsumerTask({
    required this.libraryPath,
    required this.handle,
    required this.producers,
    required this.ready,
  });

  /// The library file the isolate opens.
  final String libraryPath;

  /// The pool.
  final int handle;

  /// Producers whose end-of-stream the consumer waits for.
  final int producers;

  /// Where the consumer sends its own SendPort once it listens.
  final SendPort ready;
}

/// What a consumer checked and freed.
final class ConsumerResult {
  /// Collects the counts.
  const ConsumerResult({
    required this.freed,
    required this.corrupt,
    required this.corruptions,
  });

  /// Blocks checked and freed.
  final int freed;

  /// Blocks whose contents were not what the producer wrote.
  final int corrupt;

  /// The first mismatches, described.
  final List<String> corruptions;
}

/// Runs a producer in a new isolate; completes with the blocks produced.
Future<int> spawnProducer(ProducerTask task) =>
    Isolate.run(() => runProducer(task), debugName: 'producer');

/// Runs a consumer in a new isolate.
Future<ConsumerResult> spawnConsumer(ConsumerTask task) =>
    Isolate.run(() => runConsumer(task), debugName: 'consumer');

/// Allocates blocks (alternating single and batch calls), fills them, and
/// sends each batch of (address, tag) pairs to the next consumer in turn.
int runProducer(ProducerTask task) {
  final library = NativePools.open(task.libraryPath);
  final pool = BlockPool.attach(task.handle, library: library);
  final size = pool.blockSize;
  final firstTag = (task.producer + 1) << 32;
  var produced = 0;
  var message = 0;
  while (produced < task.blocks) {
    final count = task.blocks - produced < task.batch
        ? task.blocks - produced
        : task.batch;
    final blocks = message.isEven
        ? pool.allocBatch(count)
        : [for (var i = 0; i < count; i++) pool.alloc()];
    final pairs = Int64List(count * 2);
    for (var i = 0; i < count; i++) {
      final tag = firstTag + produced + i;
      writePattern(blocks[i], size, tag);
      pairs[2 * i] = blocks[i].address;
      pairs[2 * i + 1] = tag;
    }
    task.consumers[(task.producer + message) % task.consumers.length]
        .send(pairs);
    produced += count;
    message++;
  }
  for (final consumer in task.consumers) {
    consumer.send(null);
  }
  return produced;
}

/// Listens for (address, tag) batches until every producer said it is done;
/// checks each block and frees each batch with one call.
Future<ConsumerResult> runConsumer(ConsumerTask task) async {
  final library = NativePools.open(task.libraryPath);
  final pool = BlockPool.attach(task.handle, library: library);
  final size = pool.blockSize;
  final log = CorruptionLog();
  final inbox = ReceivePort('consumer');
  task.ready.send(inbox.sendPort);
  var done = 0;
  var freed = 0;
  await for (final Object? message in inbox) {
    if (message is! List<int>) {
      // null: one producer is done.
      if (++done == task.producers) break;
      continue;
    }
    final pairs = message;
    final blocks = <Pointer<Uint8>>[];
    for (var i = 0; i + 1 < pairs.length; i += 2) {
      final block = Pointer<Uint8>.fromAddress(pairs[i]);
      log.check(block, size, pairs[i + 1]);
      blocks.add(block);
    }
    freed += pool.freeBatch(blocks);
  }
  inbox.close();
  return ConsumerResult(
      freed: freed, corrupt: log.corrupt, corruptions: log.first);
}
