"""S14: producers allocate, consumers free; S15: exhaustion at max_blocks and growth without one."""
import math
import queue
import threading
import unittest

from nativepools import NativePoolsError, abi
from tests.support import LiveBlocks, PoolTestCase, Workers, check_pattern, size, write_pattern

PRODUCERS = CONSUMERS = 4


class ProducerConsumer(PoolTestCase):

    def test_S14_producers_allocate_consumers_free(self):
        per_producer = size(ci=40_000, full=250_000)
        pool = self.preset("medium")
        channel = queue.Queue(maxsize=4_096)  # bounded: producers must wait for consumers
        live = LiveBlocks()
        seen = [set() for _ in range(CONSUMERS)]
        producers_done = threading.Barrier(PRODUCERS)

        def producer(index, workers):
            for seq in range(0, per_producer, 8):
                blocks = pool.alloc_batch(8) if seq % 16 else [pool.alloc() for _ in range(8)]
                for j, block in enumerate(blocks):
                    tag = (index << 32) | (seq + j)
                    live.claim(block, tag)
                    write_pattern(block, pool.block_size, tag)
                    workers.give(channel, (block, tag))
            if producers_done.wait() == 0:
                for _ in range(CONSUMERS):
                    workers.give(channel, None)  # one end mark per consumer, after every block

        def consumer(index, workers):
            pending = []
            while (item := workers.take(channel)) is not None:
                block, tag = item
                check_pattern(block, pool.block_size, tag)
                if tag in seen[index]:
                    raise AssertionError(f"tag 0x{tag:x} delivered twice")
                seen[index].add(tag)
                live.release(block)
                pending.append(block)
                if len(pending) == 8:  # alternate single frees and batch frees
                    if tag & 8:
                        pool.free_batch(pending)
                    else:
                        for b in pending:
                            pool.free(b)
                    pending = []
            pool.free_batch(pending)

        Workers().run(PRODUCERS + CONSUMERS,
                      lambda i, w: producer(i, w) if i < PRODUCERS else consumer(i - PRODUCERS, w))

        total = PRODUCERS * per_producer
        everything = set().union(*seen)
        self.assertEqual(sum(len(s) for s in seen), total)
        self.assertEqual(everything, {(p << 32) | s for p in range(PRODUCERS) for s in range(per_producer)})
        self.assertEqual(len(live), 0)
        stats, _ = self.assert_consistent(pool, in_use=0, allocations=total)
        self.assertEqual(stats.frees, total)


class Exhaustion(PoolTestCase):

    def test_S15_exhaustion_at_max_blocks(self):
        pool = self.pool(32, max_blocks=100, growth_blocks=10)
        blocks = [pool.alloc() for _ in range(100)]
        for attempt in range(3):
            with self.assertRaises(NativePoolsError) as caught:
                pool.alloc()
            self.assertEqual(caught.exception.status, abi.NP_E_POOL_EXHAUSTED)
            self.assertEqual(caught.exception.name, "NP_E_POOL_EXHAUSTED")
        with self.assertRaises(NativePoolsError) as caught:
            pool.reserve(101)
        self.assertEqual(caught.exception.status, abi.NP_E_POOL_EXHAUSTED)
        stats = pool.stats()
        self.assertEqual((stats.capacity, stats.chunks, stats.in_use), (100, 10, 100))
        self.assertEqual(stats.failed_allocations, 3)

        pool.free(blocks[37])
        self.assertEqual(pool.alloc(), blocks[37], "after a free the next alloc gets that block")
        stats = pool.stats()
        self.assertEqual((stats.capacity, stats.failed_allocations, stats.allocations), (100, 3, 101))
        pool.free_batch(blocks)
        self.assert_consistent(pool, in_use=0, allocations=101)

    def test_S15_exhaustion_under_contention(self):
        limit, threads = 1_000, 8
        pool = self.pool(64, max_blocks=limit, growth_blocks=50)
        held = [[] for _ in range(threads)]
        failures = [None] * threads

        def grab_until_exhausted(index, _workers):
            while True:
                try:
                    held[index].append(pool.alloc())
                except NativePoolsError as error:
                    failures[index] = error.status
                    return

        Workers().run(threads, grab_until_exhausted, barrier=True)
        everything = [b for h in held for b in h]
        self.assertEqual(len(everything), limit)
        self.assertEqual(len(set(everything)), limit, "a block was handed to two threads")
        self.assertEqual(failures, [abi.NP_E_POOL_EXHAUSTED] * threads)
        stats = pool.stats()
        self.assertEqual((stats.capacity, stats.in_use, stats.failed_allocations), (limit, limit, threads))

        # Each thread's blocks are written by it and checked and freed by the next one.
        def write_then_pass(index, _workers):
            for block in held[index]:
                write_pattern(block, 64, block ^ index)
            ready.wait()
            neighbour = (index + 1) % threads
            for block in held[neighbour]:
                check_pattern(block, 64, block ^ neighbour)
            pool.free_batch(held[neighbour])

        ready = threading.Barrier(threads)
        Workers().run(threads, write_then_pass)
        self.assert_consistent(pool, in_use=0, allocations=limit)

    def test_S15_growth_without_maximum(self):
        pool = self.pool(100, growth_blocks=64)
        blocks, chunks_seen = [], []
        for _ in range(10_000):
            blocks.append(pool.alloc())
            if len(blocks) % 1_000 == 0:
                chunks_seen.append(pool.stats().chunks)
        stats = pool.stats()
        self.assertEqual(stats.chunks, math.ceil(10_000 / 64))
        self.assertEqual(stats.capacity, stats.chunks * 64)
        self.assertEqual(stats.failed_allocations, 0)
        self.assertEqual(chunks_seen, sorted(chunks_seen))
        self.assertEqual(chunks_seen[0], math.ceil(1_000 / 64))
        pool.free_batch(blocks)
        self.assert_consistent(pool, in_use=0, allocations=10_000)

    def test_S15_default_growth_step_is_64_kib(self):
        pool = self.preset("small")
        pool.alloc_batch(1_000)
        stats = pool.stats()
        per_chunk = math.ceil(64 * 1024 / stats.block_stride)
        self.assertEqual(stats.capacity, stats.chunks * per_chunk)
        self.assertEqual(stats.chunks, math.ceil(1_000 / per_chunk))


if __name__ == "__main__":
    unittest.main()
