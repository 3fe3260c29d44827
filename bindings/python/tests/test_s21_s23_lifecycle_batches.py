"""S21: destroy with blocks out; S22: ownership queries; S23: batch calls, partial and invalid."""
import ctypes
import queue
import threading
import unittest

from nativepools import NativePoolsError, Pool, abi, load_library
from tests.support import PoolTestCase, Workers, check_pattern, write_pattern

lib = load_library()


class Destroy(PoolTestCase):

    def test_S21_destroy_with_blocks_out_makes_the_handle_stale(self):
        pool = Pool.preset("medium")
        blocks = pool.alloc_batch(10) + [pool.alloc() for _ in range(5)]
        for b in blocks:
            write_pattern(b, 1024, b)
        for b in blocks:
            check_pattern(b, 1024, b)
        stale = pool.handle
        pool.close()
        self.assertTrue(pool.closed)
        pool.close()  # a second close is a no-op

        calls = {
            "alloc": lambda: lib.np_pool_alloc(stale, ctypes.byref(ctypes.c_void_p())),
            "free": lambda: lib.np_pool_free(stale, blocks[0]),
            "free_batch": lambda: lib.np_pool_free_batch(stale, (ctypes.c_void_p * 2)(*blocks[:2]), 2, None),
            "owns": lambda: lib.np_pool_owns(stale, blocks[0], ctypes.byref(ctypes.c_int32())),
            "stats": lambda: lib.np_pool_get_stats(stale, ctypes.byref(
                abi.np_pool_stats(struct_size=ctypes.sizeof(abi.np_pool_stats)))),
            "validate": lambda: lib.np_pool_validate(stale, None),
            "trim": lambda: lib.np_pool_trim(stale, None),
            "reserve": lambda: lib.np_pool_reserve(stale, 1),
            "reset_stats": lambda: lib.np_pool_reset_stats(stale),
            "destroy": lambda: lib.np_pool_destroy(stale),
        }
        for name, call in calls.items():
            with self.subTest(call=name):
                self.assertEqual(call(), abi.NP_E_INVALID_HANDLE)
        with self.assertRaises(NativePoolsError) as caught:
            pool.alloc()
        self.assertEqual(caught.exception.status, abi.NP_E_INVALID_HANDLE)

        # A new pool may reuse the slot, but never the handle: the old one stays stale.
        fresh = self.preset("medium")
        self.assertNotEqual(fresh.handle, stale)
        self.assertEqual(lib.np_pool_free(stale, blocks[0]), abi.NP_E_INVALID_HANDLE)
        block = fresh.alloc()
        self.assertEqual(lib.np_pool_owns(stale, block, ctypes.byref(ctypes.c_int32())), abi.NP_E_INVALID_HANDLE)
        fresh.free(block)

    def test_S21_destroy_after_foreign_threads_used_the_pool(self):
        pool = Pool.preset("small")
        handed = queue.Queue()

        def worker(index, _workers):
            for b in pool.alloc_batch(20):
                write_pattern(b, 264, b)
                handed.put(b)

        Workers().run(6, worker)
        blocks = [handed.get_nowait() for _ in range(120)]
        for b in blocks:
            check_pattern(b, 264, b)
        self.assertEqual(pool.stats().in_use, 120)
        stale = pool.handle
        pool.close()
        self.assertEqual(lib.np_pool_validate(stale, None), abi.NP_E_INVALID_HANDLE)

    def test_S21_context_manager_closes_even_on_error(self):
        with self.assertRaises(RuntimeError):
            with Pool(32) as pool:
                pool.alloc()
                raise RuntimeError("body failed")
        self.assertTrue(pool.closed)


class Ownership(PoolTestCase):

    def test_S22_owns_allocated_free_foreign_and_interior(self):
        pool = self.pool(100, alignment=16)  # stride 112
        other = self.pool(100)
        block, spare = pool.alloc(), pool.alloc()
        foreign = other.alloc()
        pool.free(spare)
        heap = ctypes.create_string_buffer(128)
        cases = {
            "allocated block": (block, "allocated"),
            "freed block": (spare, "free"),
            "never handed out": (block + 112 * 20, "free"),
            "interior +16": (block + 16, None),
            "interior +1": (block + 1, None),
            "last byte": (block + 111, None),
            "another pool's block": (foreign, None),
            "heap": (ctypes.addressof(heap), None),
            "NULL": (0, None),
            "below the pool": (block - 112, None),
            "past committed memory": (block + 112 * 100_000, None),
        }
        for name, (address, expected) in cases.items():
            with self.subTest(name):
                self.assertEqual(pool.owns(address), expected)
        self.assertEqual(other.owns(foreign), "allocated")
        stats = pool.stats()
        self.assertEqual((stats.foreign_frees, stats.invalid_frees, stats.double_frees), (0, 0, 0),
                         "owns must not count as a free attempt")
        pool.free(block)
        self.assertEqual(pool.owns(block), "free")
        other.free(foreign)

    def test_S22_owns_seen_from_another_thread(self):
        pool = self.preset("small")
        inbox, answers = queue.Queue(), queue.Queue()

        def observer():
            while (address := inbox.get()) is not None:
                answers.put(pool.owns(address))

        thread = threading.Thread(target=observer)
        thread.start()
        try:
            block = pool.alloc()
            inbox.put(block)
            self.assertEqual(answers.get(timeout=60), "allocated")
            pool.free(block)
            inbox.put(block)
            self.assertEqual(answers.get(timeout=60), "free")
        finally:
            inbox.put(None)
            thread.join()


class Batches(PoolTestCase):

    def test_S23_alloc_batch_and_free_batch(self):
        pool = self.preset("medium")
        blocks = pool.alloc_batch(100)
        self.assertEqual(len(blocks), 100)
        self.assertEqual(len(set(blocks)), 100)
        self.assertTrue(all(pool.owns(b) == "allocated" for b in blocks))
        for b in blocks:
            write_pattern(b, 1024, b)
        checked = []
        reader = threading.Thread(target=lambda: checked.extend(check_pattern(b, 1024, b) or b for b in blocks))
        reader.start()
        reader.join()
        self.assertEqual(checked, blocks)
        self.assertEqual(pool.free_batch(blocks), 100)
        self.assertEqual(pool.alloc_batch(0), [])
        self.assertEqual(pool.free_batch([]), 0)
        self.assert_consistent(pool, in_use=0, allocations=100)

    def test_S23_partial_batch_at_max_blocks(self):
        pool = self.pool(48, max_blocks=50, growth_blocks=20)
        first = pool.alloc_batch(30)
        with self.assertRaises(NativePoolsError) as caught:
            pool.alloc_batch(40)
        error = caught.exception
        self.assertEqual(error.status, abi.NP_E_POOL_EXHAUSTED)
        self.assertEqual(len(error.blocks), 20, "the blocks taken before the limit belong to the caller")
        self.assertEqual(len(set(first + error.blocks)), 50)
        self.assertTrue(all(pool.owns(b) == "allocated" for b in error.blocks))
        stats = pool.stats()
        self.assertEqual((stats.in_use, stats.failed_allocations, stats.capacity), (50, 1, 50))

        # The raw call leaves NULL in every entry past *allocated.
        pool.free_batch(error.blocks[:5])
        raw = (ctypes.c_void_p * 8)(*([0xBAD0] * 8))
        count = ctypes.c_size_t()
        self.assertEqual(lib.np_pool_alloc_batch(pool.handle, raw, 8, ctypes.byref(count)), abi.NP_E_POOL_EXHAUSTED)
        self.assertEqual(count.value, 5)
        self.assertEqual(set(raw[:5]), set(error.blocks[:5]))
        self.assertEqual(raw[5:], [None, None, None])
        self.assertEqual(pool.stats().failed_allocations, 2)
        pool.free_batch(first + error.blocks)
        self.assert_consistent(pool, in_use=0, allocations=55)

    def test_S23_free_batch_with_invalid_entries(self):
        pool = self.pool(64)
        other = self.pool(64)
        a, b, c = pool.alloc(), pool.alloc(), pool.alloc()
        foreign = other.alloc()
        entries = [a, b, a, foreign, c + 8, None, c + 3, c]
        with self.assertRaises(NativePoolsError) as caught:
            pool.free_batch(entries)
        error = caught.exception
        self.assertEqual(error.status, abi.NP_E_DOUBLE_FREE, "the status is that of the first invalid entry")
        self.assertEqual(error.freed, 3)
        self.assertEqual([pool.owns(x) for x in (a, b, c)], ["free"] * 3)
        stats = pool.stats()
        self.assertEqual((stats.double_frees, stats.foreign_frees, stats.invalid_frees), (1, 1, 2))
        self.assertEqual((stats.frees, stats.in_use), (3, 0))
        self.assertEqual(other.owns(foreign), "allocated")
        # The raw call accepts NULL for the freed count.
        d = pool.alloc()
        self.assertEqual(lib.np_pool_free_batch(pool.handle, (ctypes.c_void_p * 1)(d), 1, None), abi.NP_OK)
        other.free(foreign)


if __name__ == "__main__":
    unittest.main()
