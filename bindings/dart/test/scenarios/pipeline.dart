import 'dart:isolate';

import 'package:nativepools/nativepools.dart';
import 'package:test/test.dart';

import '../support/environment.dart';
import '../support/invariants.dart';
import '../support/pipeline_worker.dart';

/// S14: producers allocate, consumers free, on different isolates.
void definePipelineScenario() {
  const producers = 4;
  const consumers = 3;
  final perProducer = sized(ci: 25000, full: 500000);

  test(
      'S14: $producers producer isolates allocate, $consumers consumer '
      'isolates check and free', () async {
    final pool = BlockPool.preset(PoolPreset.small, name: 'S14');
    addTearDown(pool.destroy);

    // Consumers first: each reports the port it listens on.
    final ready = [for (var c = 0; c < consumers; c++) ReceivePort()];
    final consumed = [
      for (final port in ready)
        spawnConsumer(ConsumerTask(
          libraryPath: testLibraryPath,
          handle: pool.handle,
          producers: producers,
          ready: port.sendPort,
        )),
    ];
    final inboxes = [for (final port in ready) await port.first as SendPort];

    final produced = await Future.wait([
      for (var p = 0; p < producers; p++)
        spawnProducer(ProducerTask(
          libraryPath: testLibraryPath,
          handle: pool.handle,
          producer: p,
          blocks: perProducer,
          batch: 32,
          consumers: inboxes,
        )),
    ]);
    final results = await Future.wait(consumed);

    expect(produced, List.filled(producers, perProducer));
    var freed = 0;
    for (final result in results) {
      expect(result.corrupt, 0, reason: result.corruptions.join('\n'));
      expect(result.freed, greaterThan(0), reason: 'every consumer got work');
      freed += result.freed;
    }
    expect(freed, producers * perProducer);
    expectPoolIntact(pool,
        allocations: producers * perProducer, frees: freed, inUse: 0);
  }, timeout: Timeout(Duration(minutes: fullStress ? 30 : 3)));
}
