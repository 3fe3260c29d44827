import 'package:nativepools/nativepools.dart';
import 'package:test/test.dart';

import '../support/churn_scenario.dart';
import '../support/environment.dart';

/// S01-S04: concurrent isolates on the three preset pools.
void definePresetPoolScenarios() {
  final timeout = Timeout(Duration(minutes: fullStress ? 30 : 3));

  for (final (id, preset) in [
    ('S01', PoolPreset.small),
    ('S02', PoolPreset.medium),
    ('S03', PoolPreset.large),
  ]) {
    test('$id: 4 isolates on the ${preset.name} preset pool', () async {
      final pool = BlockPool.preset(preset, name: id);
      addTearDown(pool.destroy);
      await runChurnScenario([pool],
          isolates: 4,
          operations: sized(ci: 20000, full: 500000),
          maxLivePerPool: 64);
    }, timeout: timeout);
  }

  test('S04: mixed operations across the three preset pools from 8 isolates',
      () async {
    final pools = [
      for (final preset in PoolPreset.values)
        BlockPool.preset(preset, name: 'S04 ${preset.name}')
    ];
    addTearDown(() {
      for (final pool in pools) {
        pool.destroy();
      }
    });
    await runChurnScenario(pools,
        isolates: 8,
        operations: sized(ci: 15000, full: 400000),
        maxLivePerPool: 32);
  }, timeout: timeout);
}
