"""S01-S04: the three preset pools used from several threads, contents checked across threads."""
import unittest

from tests.support import PoolTestCase, ring_exchange, size

ROUNDS = size(ci=1_500, full=25_000)
PER_ROUND = 8


class PresetPoolsFromThreads(PoolTestCase):

    def _four_threads_on(self, preset: str, block_size: int) -> None:
        pool = self.preset(preset)
        self.assertEqual(pool.block_size, block_size)
        [made] = ring_exchange([pool], threads=4, rounds=ROUNDS, per_round=PER_ROUND)
        self.assertEqual(made, 4 * ROUNDS * PER_ROUND)
        stats, _ = self.assert_consistent(pool, in_use=0, allocations=made)
        self.assertEqual(stats.frees, made)
        self.assertEqual(stats.block_size, block_size)
        # Blocks cycle through the free list, so almost every allocation reuses one.
        self.assertLessEqual(stats.created, stats.capacity)
        self.assertEqual(stats.reused, made - stats.created)

    def test_S01_small_preset_4_threads(self):
        self._four_threads_on("small", 264)

    def test_S02_medium_preset_4_threads(self):
        self._four_threads_on("medium", 1024)

    def test_S03_large_preset_4_threads(self):
        self._four_threads_on("large", 10 * 1024)

    def test_S04_mixed_operations_on_three_presets_8_threads(self):
        pools = [self.preset("small"), self.preset("medium"), self.preset("large")]
        rounds = size(ci=1_000, full=12_500)
        made = ring_exchange(pools, threads=8, rounds=rounds, per_round=PER_ROUND, mixed=True, seed=4)
        self.assertEqual(sum(made), 8 * rounds * PER_ROUND)
        for pool, count in zip(pools, made):
            with self.subTest(pool=pool.name):
                self.assertGreater(count, 0)
                stats, _ = self.assert_consistent(pool, in_use=0, allocations=count)
                self.assertEqual(stats.frees, count)


if __name__ == "__main__":
    unittest.main()
