"""S10-S13: long single-thread sequences: bulk allocation, rapid cycles, fragmentation, free-list integrity."""
import ctypes
import random
import threading
import struct
import unittest

from nativepools import NativePoolsError
from tests.support import FULL, PoolTestCase, Workers, check_pattern, size, write_pattern

_U64 = struct.Struct("<Q")


class Sequences(PoolTestCase):

    def test_S10_sequential_allocations_then_frees(self):
        count = size(ci=200_000, full=1_000_000)
        pool = self.preset("small")
        alloc = pool.alloc
        blocks = [alloc() for _ in range(count)]
        self.assertEqual(len(set(blocks)), count, "a block was handed out twice")
        self.assertTrue(all(b % 8 == 0 for b in blocks), "a block is not 8-byte aligned")
        # Tag the first and last 8 bytes of every block, then read all of them back.
        last = pool.block_size - 8
        for i, block in enumerate(blocks):
            ctypes.memmove(block, _U64.pack(i), 8)
            ctypes.memmove(block + last, _U64.pack(~i & 0xFFFF_FFFF_FFFF_FFFF), 8)
        for i, block in enumerate(blocks):
            self.assertEqual(_U64.unpack(ctypes.string_at(block, 8))[0], i)
            self.assertEqual(_U64.unpack(ctypes.string_at(block + last, 8))[0], ~i & 0xFFFF_FFFF_FFFF_FFFF)

        stats, report = self.assert_consistent(pool, in_use=count, allocations=count)
        self.assertEqual((stats.created, stats.reused), (count, 0))
        self.assertGreaterEqual(stats.capacity, count)
        self.assertEqual(report.allocated, count)

        free = pool.free
        for block in blocks:
            free(block)
        stats, report = self.assert_consistent(pool, in_use=0, allocations=count)
        self.assertEqual(stats.frees, count)
        self.assertEqual(report.free_listed, stats.capacity)

    def test_S11_rapid_alloc_free_cycles_one_thread(self):
        cycles = size(ci=100_000, full=1_000_000)
        pool = self.pool(64)
        first = pool.alloc()
        pool.free(first)
        alloc, free = pool.alloc, pool.free
        for i in range(cycles - 1):
            block = alloc()
            if block != first:
                self.fail(f"cycle {i}: LIFO free list returned 0x{block:x}, not the block just freed 0x{first:x}")
            ctypes.memmove(block, _U64.pack(i), 8)
            if ctypes.string_at(block, 8) != _U64.pack(i):
                self.fail(f"cycle {i}: contents did not read back")
            free(block)
        stats, _ = self.assert_consistent(pool, in_use=0, allocations=cycles)
        self.assertEqual((stats.created, stats.reused, stats.frees), (1, cycles - 1, cycles))
        self.assertAlmostEqual(stats.reuse_rate, (cycles - 1) / cycles)
        self.assertEqual(stats.peak_in_use, 1)

    def test_S11_rapid_batch_cycles_one_thread(self):
        cycles = size(ci=5_000, full=50_000)
        pool = self.pool(64)
        first = pool.alloc_batch(64)
        pool.free_batch(first)
        for i in range(cycles):
            blocks = pool.alloc_batch(64)
            # free_batch pushes in order and the list is LIFO: the same blocks, in reverse order.
            self.assertEqual(blocks, first[::-1] if i % 2 == 0 else first)
            pool.free_batch(blocks)
        stats, _ = self.assert_consistent(pool, in_use=0, allocations=64 * (cycles + 1))
        self.assertEqual(stats.created, 64)

    def test_S12_fragmentation_reuses_freed_slots(self):
        pool = self.preset("small")
        blocks = pool.alloc_batch(10_000)
        for i, block in enumerate(blocks):
            write_pattern(block, pool.block_size, i)
        before = pool.stats()

        freed = blocks[1::2]
        for block in freed:
            pool.free(block)
        again = [pool.alloc() for _ in range(5_000)]

        self.assertEqual(set(again), set(freed), "new allocations did not all come from the freed slots")
        self.assertEqual(again, freed[::-1], "the free list is not LIFO")
        after = pool.stats()
        self.assertEqual(after.capacity, before.capacity)
        self.assertEqual(after.chunks, before.chunks)
        self.assertEqual(after.created, before.created)
        self.assertEqual(after.reused, 5_000)
        for i, block in enumerate(blocks):
            if i % 2 == 0:
                check_pattern(block, pool.block_size, i)  # kept blocks untouched
        for block in again:
            write_pattern(block, pool.block_size, block)
        for block in again:
            check_pattern(block, pool.block_size, block)
        self.assert_consistent(pool, in_use=10_000, allocations=15_000)
        pool.free_batch(blocks[0::2] + again)
        self.assert_consistent(pool, in_use=0)

    def test_S13_free_list_integrity_after_1000_and_10000_cycles(self):
        pool = self.pool(48, growth_blocks=128)
        rng = random.Random(13)
        live = []
        checkpoints = (1_000, 10_000, 100_000) if FULL else (1_000, 10_000)
        cycle = 0
        for checkpoint in checkpoints:
            while cycle < checkpoint:
                cycle += 1
                # Random walk around ~300 live blocks; frees come from random positions.
                if live and (rng.random() < 0.5 or len(live) > 600):
                    block = live.pop(rng.randrange(len(live)))
                    pool.free(block)
                else:
                    live.append(pool.alloc())
            with self.subTest(cycles=checkpoint):
                stats, report = self.assert_consistent(pool, in_use=len(live))
                self.assertEqual(report.free_listed, stats.capacity - len(live))
                self.assertEqual(report.allocated, len(live))
                self.assertTrue(all(pool.owns(b) == "allocated" for b in live))
        pool.free_batch(live)
        stats, report = self.assert_consistent(pool, in_use=0)
        self.assertEqual(report.free_listed, stats.capacity)

    def test_S13_free_list_integrity_after_concurrent_cycles(self):
        pool = self.pool(48, growth_blocks=128)
        cycles = size(ci=10_000, full=100_000)
        held = [[] for _ in range(4)]

        def worker(index, _workers):
            rng = random.Random(index)
            live = held[index]
            for _ in range(cycles):
                if live and (rng.random() < 0.5 or len(live) > 200):
                    pool.free(live.pop(rng.randrange(len(live))))
                else:
                    live.append(pool.alloc())

        Workers().run(4, worker)
        still_live = sum(len(h) for h in held)
        stats, report = self.assert_consistent(pool, in_use=still_live)
        self.assertEqual(report.free_listed, stats.capacity - still_live)
        for live in held:
            pool.free_batch(live)
        self.assert_consistent(pool, in_use=0)

    def test_S13_validate_while_other_threads_alloc_and_free(self):
        # validate() may run concurrently with any call; with others active it must still find
        # the pool intact (it may only skip the count comparison: counts_checked=0). Fresh
        # threads each round vary how the OS schedules them against the validating thread.
        pool = self.pool(64)
        rounds, per_round = size(ci=8, full=40), 2_500
        corrupted = []

        def one_round():
            churning = threading.Barrier(5)
            done = threading.Event()

            def worker(index, _workers):
                if index == 0:
                    churning.wait()  # every other thread is in its alloc/free loop
                    for _ in range(per_round):
                        try:
                            pool.validate()
                        except NativePoolsError as error:
                            corrupted.append(f"counts_checked={error.report.counts_checked}: {error.detail}")
                    done.set()
                    return
                alloc, free = pool.alloc, pool.free
                free(alloc())
                churning.wait()
                while not done.is_set():
                    free(alloc())

            Workers().run(5, worker)

        for _ in range(rounds):
            one_round()
        if corrupted:
            self.fail(f"{len(corrupted)} of {rounds * per_round} validations concurrent with alloc/free "
                      f"reported NP_E_CORRUPTED; first: {corrupted[0]}")
        self.assert_consistent(pool, in_use=0)

if __name__ == "__main__":
    unittest.main()
