"""S05-S09: many threads on one pool; every block written on one thread is checked on the next."""
import unittest

from tests.support import PoolTestCase, ring_exchange, size


class ThreadStress(PoolTestCase):

    def _stress(self, threads: int, rounds: int, per_round: int, **options) -> None:
        pool = self.preset("small")
        [made] = ring_exchange([pool], threads=threads, rounds=rounds, per_round=per_round, **options)
        self.assertEqual(made, threads * rounds * per_round)
        stats, _ = self.assert_consistent(pool, in_use=0, allocations=made)
        self.assertEqual(stats.frees, made)
        # At most two rounds per thread are out at once (its own and its neighbour's).
        self.assertLessEqual(stats.peak_in_use, threads * per_round * 2)

    def test_S05_stress_10_threads(self):
        self._stress(10, rounds=size(ci=1_500, full=12_500), per_round=8)

    def test_S06_stress_20_threads(self):
        self._stress(20, rounds=size(ci=750, full=6_250), per_round=8)

    def test_S07_stress_50_threads(self):
        self._stress(50, rounds=size(ci=300, full=2_500), per_round=8)

    def test_S08_2000_threads_alive_at_once(self):
        # All 2000 threads exist before any calls the library (barrier); each is a new foreign
        # thread for the runtime, and all of them exit afterwards with the pool intact.
        self._stress(2000, rounds=size(ci=10, full=25), per_round=2, barrier=True)

    def test_S09_10_threads_many_allocations(self):
        # 10 threads x 1,000,000 allocations at full size (60,000 each in CI).
        per_thread = size(ci=60_000, full=1_000_000)
        self._stress(10, rounds=per_thread // 16, per_round=16)


if __name__ == "__main__":
    unittest.main()
