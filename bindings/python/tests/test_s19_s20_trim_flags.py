"""S19: trim gives back only chunks with no block in use; S20: zero-on-alloc and poison-on-free."""
import ctypes
import unittest

from nativepools import NativePoolsError, abi
from tests.support import PoolTestCase, Workers, check_pattern, write_pattern

CHUNK_BLOCKS = 16
PAGE_BLOCK = 4096  # one block per page, so a chunk is exactly 64 KiB of whole pages


class Trim(PoolTestCase):

    def test_S19_trim_releases_only_chunks_with_no_block_in_use(self):
        pool = self.pool(PAGE_BLOCK, growth_blocks=CHUNK_BLOCKS)
        blocks = pool.alloc_batch(10 * CHUNK_BLOCKS)
        base = min(blocks)
        chunk_of = lambda b: (b - base) // (PAGE_BLOCK * CHUNK_BLOCKS)
        for b in blocks:
            write_pattern(b, PAGE_BLOCK, b)
        survivor = next(b for b in blocks if chunk_of(b) == 2)
        freed = [b for b in blocks if chunk_of(b) < 5 and b != survivor]
        kept = [b for b in blocks if b not in set(freed)]
        pool.free_batch(freed)

        released = pool.trim()
        self.assertEqual(released, 4 * CHUNK_BLOCKS * PAGE_BLOCK, "chunks 0, 1, 3 and 4 are entirely free")
        stats = pool.stats()
        self.assertEqual((stats.capacity, stats.chunks, stats.chunks_released), (6 * CHUNK_BLOCKS, 6, 4))
        for b in kept:
            check_pattern(b, PAGE_BLOCK, b)
        self.assertEqual(pool.owns(survivor), "allocated")
        self.assertEqual(pool.owns(next(b for b in freed if chunk_of(b) == 2)), "free")
        self.assertIsNone(pool.owns(next(b for b in freed if chunk_of(b) == 0)), "a released block is still owned")
        self.assertEqual(pool.trim(), 0, "a second trim found more to release")
        self.assert_consistent(pool, in_use=len(kept))

        # Later allocations use chunk 2's free blocks, then grow back into the released chunks.
        again = pool.alloc_batch(len(freed))
        self.assertEqual(set(again), set(freed))
        for b in again:
            write_pattern(b, PAGE_BLOCK, ~b)
        for b in again:
            check_pattern(b, PAGE_BLOCK, ~b)
        for b in kept:
            check_pattern(b, PAGE_BLOCK, b)
        stats = pool.stats()
        self.assertEqual((stats.capacity, stats.chunks), (10 * CHUNK_BLOCKS, 10))
        self.assertEqual(stats.reused, CHUNK_BLOCKS - 1)
        pool.free_batch(again + kept)
        self.assert_consistent(pool, in_use=0)

    def test_S19_trim_keeps_neighbours_in_shared_pages(self):
        # Small-preset chunks (249 x 264 bytes) do not end on page boundaries: releasing the
        # middle chunk must not touch the blocks of its neighbours on the shared pages.
        pool = self.preset("small")
        blocks = pool.alloc_batch(3 * 249)
        base = min(blocks)
        middle = [b for b in blocks if (b - base) // (249 * 264) == 1]
        self.assertEqual(len(middle), 249)
        for b in blocks:
            write_pattern(b, 264, b)
        pool.free_batch(middle)
        released = pool.trim()
        self.assertGreater(released, 0)
        self.assertLessEqual(released, 249 * 264)
        self.assertEqual(released % 4096, 0)
        self.assertEqual(pool.stats().capacity, 2 * 249)
        outer = [b for b in blocks if b not in set(middle)]
        for b in outer:
            check_pattern(b, 264, b)
        self.assert_consistent(pool, in_use=len(outer))
        pool.free_batch(outer)
        self.assertGreater(pool.trim(), 0)
        stats = pool.stats()
        self.assertEqual((stats.capacity, stats.chunks, stats.chunks_released), (0, 0, 3))
        self.assert_consistent(pool, in_use=0)

    def test_S19_trim_while_other_threads_allocate(self):
        pool = self.pool(256, growth_blocks=32)

        def worker(index, _workers):
            for round_ in range(300):
                if index == 0:
                    pool.trim()
                    continue
                blocks = pool.alloc_batch(40)
                for b in blocks:
                    write_pattern(b, 256, b ^ round_)
                for b in blocks:
                    check_pattern(b, 256, b ^ round_)
                pool.free_batch(blocks)

        Workers().run(4, worker)
        self.assert_consistent(pool, in_use=0, allocations=3 * 300 * 40)


class Flags(PoolTestCase):

    def test_S20_zero_on_alloc_returns_zeroed_reused_blocks(self):
        pool = self.pool(200, zero_on_alloc=True)
        block = pool.alloc()
        self.assertEqual(ctypes.string_at(block, 200), bytes(200))
        ctypes.memset(block, 0xAB, 200)
        pool.free(block)
        self.assertEqual(pool.alloc(), block, "LIFO: the same block comes back")
        self.assertEqual(ctypes.string_at(block, 200), bytes(200), "a reused block was not zeroed")
        batch = pool.alloc_batch(50)
        for b in batch:
            ctypes.memset(b, 0xCD, 200)
        pool.free_batch(batch)
        for b in pool.alloc_batch(50):
            self.assertEqual(ctypes.string_at(b, 200), bytes(200))
        stats = pool.stats()
        self.assertEqual(stats.reused, 51)

    def test_S20_poison_on_free_reports_write_after_free(self):
        pool = self.pool(96, poison_on_free=True, name="poisoned-pool")
        keep, victim = pool.alloc(), pool.alloc()
        write_pattern(victim, 96, 7)
        pool.free(victim)
        self.assertEqual(ctypes.string_at(victim, 96), bytes([abi.NP_POOL_POISON_BYTE]) * 96)
        self.assertEqual(pool.validate().poison_violations, 0)

        ctypes.memset(victim + 40, 0x00, 4)  # write after free
        with self.assertRaises(NativePoolsError) as caught:
            pool.validate()
        error = caught.exception
        self.assertEqual(error.status, abi.NP_E_CORRUPTED)
        self.assertEqual(error.report.poison_violations, 1)
        self.assertEqual(error.report.errors, 0)
        self.assertIn("poisoned-pool", error.detail, "the detail names the pool")

        self.assertEqual(pool.alloc(), victim)  # handing it out again counts the violation
        stats = pool.stats()
        self.assertEqual(stats.poison_violations, 1)
        pool.free(victim)  # re-poisoned: the pool is clean again
        self.assertEqual(pool.validate().poison_violations, 0)
        pool.free(keep)

    def test_S20_both_flags_poison_then_zero(self):
        pool = self.pool(64, zero_on_alloc=True, poison_on_free=True)
        block = pool.alloc()
        ctypes.memset(block, 0x33, 64)
        pool.free(block)
        self.assertEqual(ctypes.string_at(block, 64), b"\xde" * 64)
        self.assertEqual(pool.alloc(), block)
        self.assertEqual(ctypes.string_at(block, 64), bytes(64))
        self.assertEqual(pool.stats().poison_violations, 0)
        pool.free(block)


if __name__ == "__main__":
    unittest.main()
