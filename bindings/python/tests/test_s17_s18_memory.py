"""S17: long runs leave capacity and resident memory flat; S18: memory grows linearly with live blocks."""
import ctypes
import threading
import unittest

from nativepools import NativePoolsError, Pool, abi
from tests.support import PoolTestCase, check_pattern, resident_bytes, size, wait_until, write_pattern

MiB = 1 << 20
# Python's own allocator and the library's GC heap settle after warm-up; real leaks of the
# measured loops (a few bytes to kilobytes per cycle, times 100,000 cycles) far exceed this.
RSS_TOLERANCE = 6 * MiB


class LeakCheck(PoolTestCase):

    def assert_rss_flat(self, before: int, label: str) -> None:
        grown = resident_bytes() - before
        self.assertLess(grown, RSS_TOLERANCE, f"{label}: resident memory grew by {grown / MiB:.1f} MiB")

    def test_S17_alloc_free_cycles_keep_capacity_and_rss_flat(self):
        pool = self.preset("small")
        window = [pool.alloc() for _ in range(64)]
        alloc, free = pool.alloc, pool.free

        def cycles(count: int) -> None:
            # A sliding window of 64 live blocks: allocate one, free the oldest; every 100 cycles a batch.
            for i in range(count):
                block = alloc()
                ctypes.memmove(block, b"leakcheck", 9)
                window.append(block)
                free(window.pop(0))
                if i % 100 == 0:
                    pool.free_batch(pool.alloc_batch(32))

        cycles(10_000)
        capacity, rss = pool.stats().capacity, resident_bytes()
        cycles(size(ci=100_000, full=1_000_000))
        self.assertEqual(pool.stats().capacity, capacity)
        self.assert_rss_flat(rss, "alloc/free cycles")
        pool.free_batch(window)

    def test_S17_rejected_frees_and_error_messages_do_not_leak(self):
        pool = self.pool(64)
        block = pool.alloc()
        heap = ctypes.create_string_buffer(64)

        def failures(count: int) -> None:
            for i in range(count):
                target = (block + 8, ctypes.addressof(heap), block + 3)[i % 3]
                try:
                    pool.free(target)  # builds the error, reading np_last_error_message each time
                except NativePoolsError:
                    continue
                raise AssertionError(f"free(0x{target:x}) was accepted")

        failures(20_000)
        rss = resident_bytes()
        cycles = size(ci=100_000, full=1_000_000)
        failures(cycles)
        self.assert_rss_flat(rss, "rejected frees")
        stats = pool.stats()
        self.assertEqual(stats.foreign_frees + stats.invalid_frees, 20_000 + cycles)
        pool.free(block)

    def test_S17_thread_churn_does_not_leak(self):
        # Every new thread is attached to the library's runtime on its first call and must be
        # released when it exits, with the blocks it freed back in the pool.
        pool = self.preset("small")

        def short_life(tag: int) -> None:
            blocks = [pool.alloc() for _ in range(4)]
            for b in blocks:
                write_pattern(b, 64, tag)
            for b in blocks:
                check_pattern(b, 64, tag)
            pool.free_batch(blocks)

        def wave(index: int) -> None:
            threads = [threading.Thread(target=short_life, args=(index * 1000 + i,)) for i in range(50)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        for i in range(5):
            wave(i)
        rss, capacity = resident_bytes(), pool.stats().capacity
        waves = size(ci=20, full=200)
        for i in range(waves):
            wave(5 + i)
        self.assert_rss_flat(rss, f"{waves * 50} threads started and ended")
        # Every exited thread's cache comes back: no thread holds one, all free blocks are in the
        # depot. Eventually, not at once: join() returns when the Python thread is done, a moment
        # before the OS thread exits and the library's runtime sees it gone.
        wait_until(lambda: pool.stats().cached_threads == 0, "the exited threads' caches to come back")
        stats = pool.stats()
        self.assertEqual(stats.depot_blocks, stats.capacity)
        # Capacity is bounded by what 50 concurrent threads may cache (two magazines each), not by the thread count.
        per_chunk = -(-64 * 1024 // stats.block_stride)
        self.assertLessEqual(stats.capacity, max(capacity, 50 * 2 * stats.magazine_capacity + 2 * per_chunk))
        self.assert_consistent(pool, in_use=0, allocations=(5 + waves) * 50 * 4)

    def test_S17_pool_create_destroy_churn_does_not_leak(self):
        def churn(count: int, handles: set) -> None:
            for i in range(count):
                with Pool.preset("small") as pool:
                    handles.add(pool.handle)
                    blocks = pool.alloc_batch(16)
                    write_pattern(blocks[0], 264, i)
                    check_pattern(blocks[0], 264, i)
                    pool.free_batch(blocks[8:])  # half stay out: destroy must take them back

        handles = set()
        churn(100, handles)
        rss = resident_bytes()
        count = size(ci=1_000, full=10_000)
        churn(count, handles)
        self.assert_rss_flat(rss, f"{count} pools created and destroyed")
        self.assertEqual(len(handles), 100 + count, "a handle value was given out twice")


class Scaling(PoolTestCase):

    def test_S18_memory_grows_linearly_from_1000_to_10000_live_blocks(self):
        rows = []
        for live in (1_000, 2_000, 5_000, 10_000):
            pool = self.preset("small")
            empty = pool.stats()
            blocks = pool.alloc_batch(live)
            stats = pool.stats()
            rows.append((live, stats, stats.bytes_metadata - empty.bytes_metadata))
            self.assertGreaterEqual(stats.capacity, live)
            per_chunk = -(-64 * 1024 // stats.block_stride)
            needed = -(-live // per_chunk)
            # Default growth adds a quarter of the capacity per step, in whole chunks.
            self.assertEqual(stats.capacity % per_chunk, 0)
            self.assertLessEqual(stats.capacity // per_chunk, needed + needed // 4 + 1, "more than a quarter of slack")
            self.assertEqual(stats.bytes_reserved, stats.capacity * stats.block_stride)
            pool.free_batch(blocks)

        report = "; ".join(f"{live}: capacity {s.capacity}, reserved {s.bytes_reserved}, "
                           f"metadata {s.bytes_metadata} (+{grown} since creation)" for live, s, grown in rows)
        for live, stats, grown in rows:
            per_block = grown / stats.capacity
            # One state byte per block, committed a page at a time (magazines hold only free blocks).
            self.assertGreater(grown, 0, f"metadata did not grow with the blocks: {report}")
            self.assertLessEqual(per_block, 16, f"{live} live blocks: {per_block:.0f} metadata bytes per block: {report}")
        for (a, sa, ga), (b, sb, gb) in zip(rows, rows[1:]):
            self.assertGreaterEqual(gb, ga, f"{a} -> {b} live blocks: metadata shrank: {report}")
        (_, first, g_first), (_, last, g_last) = rows[0], rows[-1]
        slope = (g_last - g_first) / (last.capacity - first.capacity)
        # Page granularity makes single steps lumpy; over 1,000 -> 10,000 it is about a byte per block.
        self.assertTrue(0.5 <= slope <= 16, f"{slope:.2f} metadata bytes per added block over the range: {report}")


if __name__ == "__main__":
    unittest.main()
