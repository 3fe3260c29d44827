"""M01-M08: size-classed message pools (np_msgpool_*) through the ctypes binding, from real threads.

M01 class selection at every boundary, M02 threads acquiring and releasing mixed sizes across
threads with contents checked, M03 the retention bound with resident memory really dropping,
M04 warm-up, M05 reuse in steady state, M06 totals that are the sums of the class stats and reset,
M07 bad input through the raw C calls, M08 destroy and stale handles. Every pool still open at
the end of a test must have totals equal to the sums of its class stats.
"""
import ctypes
import queue
import random
import threading
import time
import unittest

from nativepools import DEFAULT_CLASS_SIZES, MessagePool, NativePoolsError, Pool, abi, load_library, text
from tests.support import Workers, check_pattern, resident_bytes, size, write_pattern

lib = load_library()
MiB = 1 << 20
LARGEST = DEFAULT_CLASS_SIZES[-1]
SUMMED = ("capacity", "bytes_committed", "in_flight", "peak_in_flight", "free_blocks", "acquisitions", "created",
          "reused", "released", "discarded", "failed_acquisitions", "double_releases", "foreign_releases",
          "invalid_releases", "chunks_released")
GARBAGE = 0xDEAD_BEEF_CAFE_F00D


class MessagePoolTestCase(unittest.TestCase):
    """Creates message pools that are checked and closed after the test."""

    def setUp(self) -> None:
        self._pools: list[MessagePool] = []

    def make(self, class_sizes=None, **options) -> MessagePool:
        pool = MessagePool(class_sizes, name=options.pop("name", "m-test"), **options)
        self._pools.append(pool)
        self.addCleanup(pool.close)
        return pool

    def tearDown(self) -> None:
        for pool in self._pools:
            if not pool.closed:
                self.assert_consistent(pool)

    def assert_consistent(self, pool: MessagePool):
        """Each class is consistent in itself, and every total is the sum of the classes."""
        total = pool.stats()
        classes = pool.all_class_stats()
        self.assertEqual(total.class_count, len(classes))
        for c in classes:
            self.assertEqual(c.created + c.reused, c.acquisitions, c)
            self.assertEqual(c.in_flight + c.free_blocks, c.capacity, c)
            self.assertEqual(c.bytes_committed, c.capacity * c.block_stride, c)
            self.assertLessEqual(c.discarded, c.released, c)
            self.assertGreaterEqual(c.peak_in_flight, c.in_flight, c)
            self.assertAlmostEqual(c.reuse_rate, c.reused / c.acquisitions if c.acquisitions else 0.0, places=9)
        for name in SUMMED:
            self.assertEqual(getattr(total, name), sum(getattr(c, name) for c in classes), f"totals.{name}")
        self.assertAlmostEqual(total.reuse_rate, total.reused / total.acquisitions if total.acquisitions else 0.0,
                               places=9)
        return total, classes


def class_of(size_: int) -> int:
    return next(k for k, limit in enumerate(DEFAULT_CLASS_SIZES) if size_ <= limit)


class ClassSelection(MessagePoolTestCase):

    def expect(self, pool: MessagePool, size_: int, expected: int) -> None:
        before = [c.acquisitions for c in pool.all_class_stats()]
        address, capacity = pool.acquire(size_)
        self.assertEqual(capacity, pool.class_sizes[expected], f"size {size_}")
        self.assertEqual(pool.class_index(size_), expected)
        ctypes.memset(address, 0xA5, capacity)
        self.assertEqual(ctypes.string_at(address, capacity), b"\xa5" * capacity)
        after = [c.acquisitions for c in pool.all_class_stats()]
        self.assertEqual(after, [b + (k == expected) for k, b in enumerate(before)], f"size {size_}")
        pool.release(address)

    def expect_oversize(self, pool: MessagePool, size_: int) -> None:
        with self.assertRaises(NativePoolsError) as caught:
            pool.acquire(size_)
        self.assertEqual(caught.exception.status, abi.NP_E_INVALID_ARGUMENT)
        self.assertIn(str(pool.class_sizes[-1]), caught.exception.detail)

    def test_M01_class_selection_at_every_boundary(self):
        pool = self.make()
        self.assertEqual(pool.class_sizes, DEFAULT_CLASS_SIZES)
        self.expect(pool, 0, 0)
        for k, limit in enumerate(DEFAULT_CLASS_SIZES):
            self.expect(pool, limit - 1, k)
            self.expect(pool, limit, k)
            if k + 1 < len(DEFAULT_CLASS_SIZES):
                self.expect(pool, limit + 1, k + 1)
        self.expect_oversize(pool, LARGEST + 1)
        self.expect_oversize(pool, (1 << 64) - 1)
        self.assertIsNone(pool.class_index(LARGEST + 1))
        self.assertEqual(pool.stats().oversize_acquisitions, 2)
        self.assertEqual(pool.stats().failed_acquisitions, 0)

    def test_M01_custom_classes_down_to_one_byte(self):
        pool = self.make([1, 8, 100, 4096], retain_per_class=16)
        for size_, expected in ((0, 0), (1, 0), (2, 1), (8, 1), (9, 2), (100, 2), (101, 3), (4096, 3)):
            self.expect(pool, size_, expected)
        self.expect_oversize(pool, 4097)
        pairs = [(pool.acquire(n)[0], pool.acquire(n)[0]) for n in (2, 8, 100, 4096)]
        for a, b in pairs:
            self.assertEqual((a % 8, b % 8), (0, 0))
            self.assertNotEqual(a, b)
            pool.release(a)
            pool.release(b)


class Threads(MessagePoolTestCase):

    def test_M02_threads_mixed_sizes_cross_thread_contents(self):
        pool = self.make()
        threads, rounds, per_round = size(ci=8, full=32), size(ci=150, full=1500), 8
        weights = (30, 25, 20, 12, 8, 4, 1)  # mostly small, a few of 256 KiB
        inboxes = [queue.Queue() for _ in range(threads)]
        acquired = [[0] * len(DEFAULT_CLASS_SIZES) for _ in range(threads)]
        released = [[0] * len(DEFAULT_CLASS_SIZES) for _ in range(threads)]

        def pick(rng: random.Random) -> int:
            k = rng.choices(range(len(weights)), weights)[0]
            low = 0 if k == 0 else DEFAULT_CLASS_SIZES[k - 1] + 1
            return rng.randint(low, DEFAULT_CLASS_SIZES[k])

        def check_and_release(index: int, item, writer: int) -> None:
            address, length, tag = item
            self.assertEqual(tag >> 48, writer)
            check_pattern(address, length, tag)
            pool.release(address)
            released[index][class_of(length)] += 1

        def worker(index: int, workers: Workers) -> None:
            rng = random.Random(index)
            outbox = inboxes[(index + 1) % threads]
            received = 0
            for r in range(rounds):
                mine = []
                for j in range(per_round):
                    length = pick(rng)
                    address, capacity = pool.acquire(length)
                    self.assertEqual(capacity, DEFAULT_CLASS_SIZES[class_of(length)])
                    tag = (index << 48) | (r << 8) | j
                    write_pattern(address, length, tag)
                    acquired[index][class_of(length)] += 1
                    mine.append((address, length, tag))
                for item in mine[:per_round // 2]:
                    outbox.put(item)  # the next thread checks and releases these
                while True:
                    try:
                        item = inboxes[index].get_nowait()
                    except queue.Empty:
                        break
                    check_and_release(index, item, (index - 1) % threads)
                    received += 1
                for item in mine[per_round // 2:]:
                    check_and_release(index, item, index)
            while received < rounds * (per_round // 2):
                check_and_release(index, workers.take(inboxes[index]), (index - 1) % threads)
                received += 1

        Workers().run(threads, worker, barrier=True)
        total, classes = self.assert_consistent(pool)
        for k, c in enumerate(classes):
            self.assertEqual(c.acquisitions, sum(a[k] for a in acquired), f"class {k}")
            self.assertEqual(c.released, sum(r[k] for r in released), f"class {k}")
            self.assertEqual(c.in_flight, 0)
        self.assertEqual(total.acquisitions, threads * rounds * per_round)
        self.assertEqual(total.double_releases + total.foreign_releases + total.invalid_releases, 0)

    def test_M05_reuse_rate_above_99_percent_in_steady_state(self):
        pool = self.make()
        handoff = queue.Queue()

        def steady(operations: int):
            def worker(index: int, workers: Workers) -> None:
                rng = random.Random(1000 + index)
                live = []
                for n in range(operations):
                    if len(live) < 32 and (not live or rng.random() < 0.5):
                        length = rng.randint(0, 65536) if rng.random() < 0.25 else rng.randint(0, 1024)
                        address, _ = pool.acquire(length)
                        if length >= 8:
                            ctypes.memmove(address, n.to_bytes(8, "little"), 8)
                        live.append((address, length, n))
                    else:
                        item = live.pop(rng.randrange(len(live)))
                        if rng.random() < 0.125:
                            handoff.put(item)
                        else:
                            release(item)
                    while rng.random() < 0.25:
                        try:
                            release(handoff.get_nowait())
                        except queue.Empty:
                            break
                for item in live:
                    release(item)

            Workers().run(4, worker)
            while not handoff.empty():
                release(handoff.get_nowait())

        def release(item) -> None:
            address, length, n = item
            if length >= 8:
                self.assertEqual(ctypes.string_at(address, 8), n.to_bytes(8, "little"))
            pool.release(address)

        steady(3000)  # warm-up
        pool.reset_stats()
        steady(size(ci=20_000, full=200_000))
        total, classes = self.assert_consistent(pool)
        self.assertGreater(total.reuse_rate, 0.99, total)
        self.assertEqual(total.in_flight, 0)
        # Every class of the mix was used; each busy one (5 % of the traffic or more) reuses too. A
        # quiet class can still create a few blocks late: free blocks may sit in other threads' caches.
        for k in range(6):
            self.assertGreater(classes[k].acquisitions, 0, f"class {k} was not used")
            if classes[k].acquisitions >= total.acquisitions // 20:
                self.assertGreater(classes[k].reuse_rate, 0.99, classes[k])


class Retention(MessagePoolTestCase):

    def test_M03_retention_discards_and_returns_memory_of_a_large_class(self):
        blocks, klass, length, retain = 1000, 5, 65536, 16
        pool = self.make(retain_per_class=retain)
        messages = []
        for i in range(blocks):
            address, capacity = pool.acquire(length)
            self.assertEqual(capacity, length)
            ctypes.memset(address, i & 0xFF, length)
            messages.append(address)
        full = pool.class_stats(klass)
        self.assertEqual((full.retain_limit, full.blocks_per_chunk, full.capacity), (retain, 1, blocks))
        self.assertEqual(full.bytes_committed, blocks * length)
        rss_full = resident_bytes()
        for i, address in enumerate(messages):
            self.assertEqual(ctypes.string_at(address + length - 8, 8), bytes([i & 0xFF]) * 8)
            pool.release(address)
        rss_released = resident_bytes()
        s = pool.class_stats(klass)
        self.assertEqual((s.released, s.in_flight), (blocks, 0))
        self.assertEqual(s.free_blocks + s.discarded, blocks)  # every discarded block left the class
        self.assertEqual(s.discarded, s.chunks_released)
        self.assertGreaterEqual(s.free_blocks, retain)
        self.assertLessEqual(s.free_blocks, retain + 2 * s.magazine_capacity)
        self.assertGreaterEqual(rss_full - rss_released, s.discarded * length * 0.9,
                                f"resident memory went from {rss_full} to {rss_released} bytes")
        # Acquiring again takes the kept blocks first, then recommits exactly the discarded ones.
        messages = [pool.acquire(length)[0] for _ in range(blocks)]
        again = pool.class_stats(klass)
        self.assertEqual(again.reused, s.reused + s.free_blocks)
        self.assertEqual(again.created, s.created + s.discarded)
        for address in messages:
            pool.release(address)

    def test_M03_retention_holds_exactly_once_releasing_threads_exit(self):
        klass, retain, threads, per_thread = 5, 16, 4, 64
        pool = self.make(retain_per_class=retain)

        def worker(index: int, workers: Workers) -> None:
            mine = [pool.acquire(50_000)[0] for _ in range(per_thread)]
            for j, address in enumerate(mine):
                write_pattern(address, 50_000, (index << 32) | j)
            for j, address in enumerate(mine):
                check_pattern(address, 50_000, (index << 32) | j)
                pool.release(address)

        Workers().run(threads, worker, barrier=True)
        # Reading stats takes back the caches of exited threads and applies the limit. A Python
        # join may return a moment before the OS thread has left the library's runtime: poll.
        deadline = time.monotonic() + 10
        while True:
            s = pool.class_stats(klass)
            if s.free_blocks == retain or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.assertEqual(s.released, threads * per_thread)
        self.assertEqual((s.free_blocks, s.capacity), (retain, retain), s)
        self.assertEqual(s.released, s.reused + s.discarded + retain)
        self.assertEqual(s.created, s.discarded + retain)
        self.assertEqual(s.bytes_committed, retain * 65536)

    def test_M03_retention_returns_whole_chunks_of_a_small_class(self):
        blocks, klass, length, retain = 20_000, 2, 1024, 64
        pool = self.make(retain_per_class=retain)
        messages = []
        for _ in range(blocks):
            address, _ = pool.acquire(length)
            ctypes.memset(address, 0x3C, length)
            messages.append(address)
        self.assertEqual(pool.class_stats(klass).blocks_per_chunk, 16)
        rss_full = resident_bytes()
        for address in messages:
            pool.release(address)
        rss_released = resident_bytes()
        s = pool.class_stats(klass)
        self.assertEqual((s.released, s.in_flight), (blocks, 0))
        self.assertGreaterEqual(s.discarded, blocks - retain - 2 * s.magazine_capacity)
        bound = retain + 2 * s.magazine_capacity + retain // 4 + 2 * s.blocks_per_chunk
        self.assertLessEqual(s.free_blocks, bound, s)
        self.assertEqual(s.capacity, blocks - s.chunks_released * s.blocks_per_chunk)
        self.assertGreaterEqual(rss_full - rss_released, (blocks - bound) * length * 0.9)

    def test_M04_reserve_warms_up_a_class(self):
        count, klass = 500, 2
        pool = self.make()
        rss_before = resident_bytes()
        pool.reserve(1000, count)
        rss_reserved = resident_bytes()
        warm = pool.class_stats(klass)
        self.assertGreaterEqual(warm.capacity, count)
        self.assertLess(warm.capacity, count + warm.blocks_per_chunk)
        self.assertEqual((warm.acquisitions, warm.free_blocks), (0, warm.capacity))
        self.assertGreaterEqual(rss_reserved - rss_before, count * 1024 * 0.9, "reserve faults the pages in")
        self.assertEqual([c.capacity for k, c in enumerate(pool.all_class_stats()) if k != klass], [0] * 7)
        messages = [pool.acquire(600 + i % 400)[0] for i in range(count)]
        used = pool.class_stats(klass)
        self.assertEqual((used.capacity, used.created), (warm.capacity, count))  # no growth
        for address in messages:
            pool.release(address)
        messages = [pool.acquire(1024)[0] for _ in range(count)]
        self.assertEqual(pool.class_stats(klass).reused, count)
        for address in messages:
            pool.release(address)
        pool.reserve(1024, 10)
        self.assertEqual(pool.class_stats(klass).capacity, warm.capacity)
        pool.reserve(0, 100)
        self.assertGreaterEqual(pool.class_stats(0).capacity, 100)
        pool.reserve(65536, 37)
        self.assertEqual(pool.class_stats(5).capacity, 37)
        with self.assertRaises(NativePoolsError) as caught:
            pool.reserve(LARGEST + 1, 1)
        self.assertEqual(caught.exception.status, abi.NP_E_INVALID_ARGUMENT)
        with self.assertRaises(NativePoolsError) as caught:
            pool.reserve(LARGEST, abi.NP_MSGPOOL_CLASS_RANGE_BYTES // LARGEST + 1)
        self.assertEqual(caught.exception.status, abi.NP_E_POOL_EXHAUSTED)


class Stats(MessagePoolTestCase):

    def test_M06_totals_are_the_sums_of_the_classes_and_reset(self):
        pool = self.make()
        kept = [pool.acquire(limit)[0] for limit in DEFAULT_CLASS_SIZES]
        burst = [pool.acquire(200)[0] for _ in range(50)]
        for address in burst:
            pool.release(address)
        self.assertEqual(pool.class_stats(1).peak_in_flight, 51)

        address, _ = pool.acquire(1000)
        pool.release(address)
        refusals = (
            (address, abi.NP_E_DOUBLE_FREE),                      # class 2
            (kept[3] + 8, abi.NP_E_INTERIOR_POINTER),             # class 3
            (kept[4] + 3, abi.NP_E_MISALIGNED_POINTER),           # class 4
            (kept[7] + (1 << 33), abi.NP_E_FOREIGN_POINTER),      # class 7, beyond its blocks
            (ctypes.addressof(ctypes.c_int64()), abi.NP_E_FOREIGN_POINTER),  # no class
        )
        for target, status in refusals:
            with self.assertRaises(NativePoolsError) as caught:
                pool.release(target)
            self.assertEqual(caught.exception.status, status, caught.exception.detail)
        with self.assertRaises(NativePoolsError):
            pool.acquire(LARGEST + 1)
        classes = pool.all_class_stats()
        self.assertEqual(classes[2].double_releases, 1)
        self.assertEqual((classes[3].invalid_releases, classes[4].invalid_releases), (1, 1))
        self.assertEqual(classes[7].foreign_releases, 1)
        s, _ = self.assert_consistent(pool)
        self.assertEqual((s.double_releases, s.invalid_releases, s.foreign_releases), (1, 2, 1))
        self.assertEqual((s.unowned_releases, s.oversize_acquisitions), (1, 1))
        self.assertEqual((s.in_flight, s.acquisitions, s.released), (8, 59, 51))

        pool.reset_stats()
        r, _ = self.assert_consistent(pool)
        for name in ("acquisitions", "created", "reused", "released", "discarded", "failed_acquisitions",
                     "double_releases", "foreign_releases", "invalid_releases", "oversize_acquisitions",
                     "unowned_releases"):
            self.assertEqual(getattr(r, name), 0, name)
        self.assertEqual((r.in_flight, r.peak_in_flight, r.capacity, r.reuse_rate), (8, 8, s.capacity, 0.0))
        for address in kept:
            pool.release(address)
        self.assertEqual((pool.stats().released, pool.stats().in_flight), (8, 0))


def raw_options(**fields):
    options = abi.np_msgpool_options()
    assert lib.np_msgpool_options_init(ctypes.byref(options)) == abi.NP_OK
    for name, value in fields.items():
        setattr(options, name, value)
    return options


def create_status(options) -> int:
    handle = abi.np_msgpool(0x5A5A)
    status = lib.np_msgpool_create(ctypes.byref(options), ctypes.byref(handle))
    if status == abi.NP_OK:
        assert lib.np_msgpool_destroy(handle.value) == abi.NP_OK
    elif handle.value != 0:
        raise AssertionError(f"a failed create left handle 0x{handle.value:x}")
    return status


def sizes_array(*sizes):
    return ctypes.cast((ctypes.c_uint32 * len(sizes))(*sizes), ctypes.POINTER(ctypes.c_uint32))


class BadInput(MessagePoolTestCase):

    def setUp(self):
        super().setUp()
        self.victim = self.make(name="victim")
        self.other = self.make(name="other")
        stale = MessagePool(name="stale")
        self.stale = stale.handle
        stale.close()
        self.block_pool = Pool.preset("small")
        self.addCleanup(self.block_pool.close)
        self.message, _ = self.victim.acquire(200)
        self.released, _ = self.victim.acquire(200)
        self.victim.release(self.released)
        self.other_message, _ = self.other.acquire(200)
        self.block = self.block_pool.alloc()
        self.heap = ctypes.create_string_buffer(256)
        write_pattern(self.message, 200, 42)

    def tearDown(self):
        check_pattern(self.message, 200, 42)
        self.victim.release(self.message)
        self.other.release(self.other_message)
        self.block_pool.free(self.block)
        super().tearDown()

    def acquire_raw(self, handle: int, size_: int) -> int:
        message, capacity = ctypes.c_void_p(0x1234), ctypes.c_size_t(99)
        status = lib.np_msgpool_acquire(handle, size_, ctypes.byref(message), ctypes.byref(capacity))
        self.assertEqual((message.value, capacity.value), (None, 0), "a failed acquire leaves NULL and 0")
        return status

    def class_stats_raw(self, handle: int, index: int, struct_size: int | None = None) -> int:
        stats = abi.np_msgpool_class_stats()
        stats.struct_size = ctypes.sizeof(stats) if struct_size is None else struct_size
        return lib.np_msgpool_get_class_stats(handle, index, ctypes.byref(stats))

    def stats_raw(self, handle: int, struct_size: int | None = None) -> int:
        stats = abi.np_msgpool_stats()
        stats.struct_size = ctypes.sizeof(stats) if struct_size is None else struct_size
        return lib.np_msgpool_get_stats(handle, ctypes.byref(stats))

    def test_M07_bad_input_table(self):
        v, message = self.victim.handle, self.message
        null = ctypes.POINTER(ctypes.c_uint32)()
        rows = [
            ("options_init(NULL)", lambda: lib.np_msgpool_options_init(None), abi.NP_E_NULL_POINTER, None),
            ("create(NULL options)", lambda: lib.np_msgpool_create(None, ctypes.byref(abi.np_msgpool())),
             abi.NP_E_NULL_POINTER, None),
            ("create(NULL out)", lambda: lib.np_msgpool_create(ctypes.byref(raw_options()), None),
             abi.NP_E_NULL_POINTER, None),
            ("create(struct_size 0)", lambda: create_status(raw_options(struct_size=0)),
             abi.NP_E_UNSUPPORTED_STRUCT_SIZE, None),
            ("create(17 classes)", lambda: create_status(raw_options(class_sizes=sizes_array(*range(1, 18)),
                                                                     class_count=17)),
             abi.NP_E_INVALID_ARGUMENT, None),
            ("create(count without sizes)", lambda: create_status(raw_options(class_sizes=null, class_count=2)),
             abi.NP_E_NULL_POINTER, None),
            ("create(sizes without count)", lambda: create_status(raw_options(class_sizes=sizes_array(64, 128))),
             abi.NP_E_INVALID_ARGUMENT, None),
            ("create(descending)", lambda: create_status(raw_options(class_sizes=sizes_array(128, 64),
                                                                     class_count=2)),
             abi.NP_E_INVALID_ARGUMENT, None),
            ("create(repeated)", lambda: create_status(raw_options(class_sizes=sizes_array(64, 64), class_count=2)),
             abi.NP_E_INVALID_ARGUMENT, None),
            ("create(size 0)", lambda: create_status(raw_options(class_sizes=sizes_array(0, 64), class_count=2)),
             abi.NP_E_INVALID_ARGUMENT, None),
            ("create(size 16 MiB + 1)",
             lambda: create_status(raw_options(class_sizes=sizes_array(64, abi.NP_MSGPOOL_MAX_CLASS_SIZE + 1),
                                               class_count=2)),
             abi.NP_E_INVALID_ARGUMENT, None),
            ("acquire(NULL out)", lambda: lib.np_msgpool_acquire(v, 10, None, None), abi.NP_E_NULL_POINTER, None),
            ("acquire(handle 0)", lambda: self.acquire_raw(0, 10), abi.NP_E_INVALID_HANDLE, None),
            ("acquire(garbage)", lambda: self.acquire_raw(GARBAGE, 10), abi.NP_E_INVALID_HANDLE, None),
            ("acquire(wrong generation)", lambda: self.acquire_raw(v ^ (1 << 40), 10), abi.NP_E_INVALID_HANDLE, None),
            ("acquire(destroyed)", lambda: self.acquire_raw(self.stale, 10), abi.NP_E_INVALID_HANDLE, None),
            ("acquire(block pool handle)", lambda: self.acquire_raw(self.block_pool.handle, 10),
             abi.NP_E_INVALID_HANDLE, None),
            ("acquire(SIZE_MAX)", lambda: self.acquire_raw(v, (1 << 64) - 1), abi.NP_E_INVALID_ARGUMENT,
             "oversize_acquisitions"),
            ("acquire(largest + 1)", lambda: self.acquire_raw(v, LARGEST + 1), abi.NP_E_INVALID_ARGUMENT,
             "oversize_acquisitions"),
            ("release(handle 0)", lambda: lib.np_msgpool_release(0, message), abi.NP_E_INVALID_HANDLE, None),
            ("release(garbage)", lambda: lib.np_msgpool_release(GARBAGE, message), abi.NP_E_INVALID_HANDLE, None),
            ("release(destroyed)", lambda: lib.np_msgpool_release(self.stale, message), abi.NP_E_INVALID_HANDLE,
             None),
            ("release(NULL)", lambda: lib.np_msgpool_release(v, None), abi.NP_E_NULL_POINTER, None),
            ("release twice", lambda: lib.np_msgpool_release(v, self.released), abi.NP_E_DOUBLE_FREE,
             "double_releases"),
            ("release(never handed out)", lambda: lib.np_msgpool_release(v, message + 264 * 10),
             abi.NP_E_DOUBLE_FREE, "double_releases"),
            ("release(interior)", lambda: lib.np_msgpool_release(v, message + 8), abi.NP_E_INTERIOR_POINTER,
             "invalid_releases"),
            ("release(misaligned)", lambda: lib.np_msgpool_release(v, message + 1), abi.NP_E_MISALIGNED_POINTER,
             "invalid_releases"),
            ("release(class range, beyond blocks)", lambda: lib.np_msgpool_release(v, message + (1 << 32)),
             abi.NP_E_FOREIGN_POINTER, "foreign_releases"),
            ("release(heap)", lambda: lib.np_msgpool_release(v, ctypes.addressof(self.heap)),
             abi.NP_E_FOREIGN_POINTER, "unowned_releases"),
            ("release(other pool's message)", lambda: lib.np_msgpool_release(v, self.other_message),
             abi.NP_E_FOREIGN_POINTER, "unowned_releases"),
            ("release(block pool's block)", lambda: lib.np_msgpool_release(v, self.block),
             abi.NP_E_FOREIGN_POINTER, "unowned_releases"),
            ("release(all ones)", lambda: lib.np_msgpool_release(v, (1 << 64) - 1), abi.NP_E_FOREIGN_POINTER,
             "unowned_releases"),
            ("get_stats(NULL)", lambda: lib.np_msgpool_get_stats(v, None), abi.NP_E_NULL_POINTER, None),
            ("get_stats(struct_size 0)", lambda: self.stats_raw(v, 0), abi.NP_E_UNSUPPORTED_STRUCT_SIZE, None),
            ("get_stats(destroyed)", lambda: self.stats_raw(self.stale), abi.NP_E_INVALID_HANDLE, None),
            ("get_class_stats(NULL)", lambda: lib.np_msgpool_get_class_stats(v, 0, None), abi.NP_E_NULL_POINTER,
             None),
            ("get_class_stats(struct_size 8)", lambda: self.class_stats_raw(v, 0, 8),
             abi.NP_E_UNSUPPORTED_STRUCT_SIZE, None),
            ("get_class_stats(index 8)", lambda: self.class_stats_raw(v, 8), abi.NP_E_INVALID_ARGUMENT, None),
            ("get_class_stats(index 2^32 - 1)", lambda: self.class_stats_raw(v, (1 << 32) - 1),
             abi.NP_E_INVALID_ARGUMENT, None),
            ("get_class_stats(destroyed)", lambda: self.class_stats_raw(self.stale, 0), abi.NP_E_INVALID_HANDLE,
             None),
            ("reserve(SIZE_MAX)", lambda: lib.np_msgpool_reserve(v, (1 << 64) - 1, 1), abi.NP_E_INVALID_ARGUMENT,
             None),
            ("reserve(2^64 - 1 blocks)", lambda: lib.np_msgpool_reserve(v, 64, (1 << 64) - 1),
             abi.NP_E_POOL_EXHAUSTED, None),
            ("reserve(destroyed)", lambda: lib.np_msgpool_reserve(self.stale, 64, 1), abi.NP_E_INVALID_HANDLE, None),
            ("reset_stats(destroyed)", lambda: lib.np_msgpool_reset_stats(self.stale), abi.NP_E_INVALID_HANDLE, None),
            ("destroy(destroyed)", lambda: lib.np_msgpool_destroy(self.stale), abi.NP_E_INVALID_HANDLE, None),
            ("destroy(garbage)", lambda: lib.np_msgpool_destroy(GARBAGE), abi.NP_E_INVALID_HANDLE, None),
            ("destroy(block pool handle)", lambda: lib.np_msgpool_destroy(self.block_pool.handle),
             abi.NP_E_INVALID_HANDLE, None),
        ]
        counters = ("double_releases", "foreign_releases", "invalid_releases", "unowned_releases",
                    "oversize_acquisitions")
        for what, call, expected, counter in rows:
            with self.subTest(what):
                before = self.victim.stats()
                status = call()
                detail_length = lib.np_last_error_message(None, 0)
                buffer = ctypes.create_string_buffer(detail_length + 1)
                lib.np_last_error_message(buffer, detail_length + 1)
                detail = buffer.value.decode()
                name = text(lib.np_status_name(expected))
                self.assertEqual(status, expected, f"{what}: {text(lib.np_status_name(status))} ({detail})")
                self.assertEqual(lib.np_last_error_status(), expected, what)
                # The detail explains; it does not repeat the status name (callers print it beside).
                self.assertTrue(name not in detail and len(detail) > 4, f"{what}: {detail!r}")
                after = self.victim.stats()
                for c in counters:
                    self.assertEqual(getattr(after, c), getattr(before, c) + (c == counter), f"{what}: {c}")
                self.assertEqual(after.in_flight, 1, what)
        self.assertEqual(lib.np_msgpool_destroy(0), abi.NP_OK)

    def test_M07_wrapper_raises_with_status_and_detail(self):
        with self.assertRaises(ValueError):
            MessagePool([])
        for sizes in ([64, 64], [128, 64], [0], [abi.NP_MSGPOOL_MAX_CLASS_SIZE + 1], list(range(1, 18))):
            with self.assertRaises(NativePoolsError) as caught:
                MessagePool(sizes)
            self.assertEqual(caught.exception.status, abi.NP_E_INVALID_ARGUMENT, sizes)
            self.assertTrue(caught.exception.detail, sizes)
        with self.assertRaises(NativePoolsError) as caught:
            self.victim.release(self.released)
        self.assertEqual(caught.exception.name, "NP_E_DOUBLE_FREE")
        self.assertIn("victim/264", caught.exception.detail)

    def test_M07_last_error_is_per_thread(self):
        seen = {}

        def fail(size_: int) -> None:
            try:
                self.victim.acquire(size_)
            except NativePoolsError as error:
                seen[size_] = error.detail

        threads = [threading.Thread(target=fail, args=(LARGEST + 1 + i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i in range(8):
            self.assertIn(str(LARGEST + 1 + i), seen[LARGEST + 1 + i])


class Lifetime(MessagePoolTestCase):

    def test_M08_destroy_with_messages_out_makes_the_handle_stale(self):
        pool = MessagePool(name="doomed")
        messages = [pool.acquire(limit)[0] for limit in DEFAULT_CLASS_SIZES]
        handle = pool.handle
        pool.close()
        pool.close()  # a second close does nothing
        for call in (lambda: pool.acquire(10), lambda: pool.release(messages[0]), lambda: pool.reserve(10, 1),
                     pool.stats, lambda: pool.class_stats(0), pool.reset_stats):
            with self.assertRaises(NativePoolsError) as caught:
                call()
            self.assertEqual(caught.exception.status, abi.NP_E_INVALID_HANDLE)
        self.assertEqual(lib.np_msgpool_destroy(handle), abi.NP_E_INVALID_HANDLE)
        for _ in range(20):
            with MessagePool(retain_per_class=4) as fresh:
                self.assertNotEqual(fresh.handle, handle)

    def test_M08_create_destroy_churn_returns_memory_and_address_space(self):
        def virtual_bytes() -> int:
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[0]) * 4096

        def churn(count: int) -> None:
            for _ in range(count):
                with MessagePool() as pool:
                    for k, limit in enumerate(DEFAULT_CLASS_SIZES):
                        address, _ = pool.acquire(limit)
                        ctypes.memset(address, 0x77, limit)
                        if k % 2 == 0:
                            pool.release(address)  # the rest stay out at destroy

        churn(10)
        rss, vm = resident_bytes(), virtual_bytes()
        cycles = size(ci=200, full=2000)
        churn(cycles)
        self.assertLess(resident_bytes() - rss, 8 * MiB, f"resident memory grew over {cycles} pools")
        self.assertLess(virtual_bytes() - vm, 1 << 30, f"address space grew over {cycles} pools (16 GiB per class each)")

    def test_M08_pools_created_and_destroyed_concurrently(self):
        shared = self.make()
        per_thread = size(ci=50, full=500)

        def worker(index: int, workers: Workers) -> None:
            for n in range(per_thread):
                own = MessagePool(retain_per_class=8)
                mine, _ = own.acquire(100 * n)
                address, _ = shared.acquire(300)
                write_pattern(address, 300, (index << 32) | n)
                own.close()  # with `mine` still out
                with self.assertRaises(NativePoolsError):
                    own.release(mine)
                check_pattern(address, 300, (index << 32) | n)
                shared.release(address)

        Workers().run(4, worker, barrier=True)
        self.assertEqual((shared.stats().acquisitions, shared.stats().in_flight), (4 * per_thread, 0))


if __name__ == "__main__":
    unittest.main()
