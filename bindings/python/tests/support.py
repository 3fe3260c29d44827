"""Shared test machinery: sizes, content patterns, worker threads and pool invariants."""
from __future__ import annotations

import ctypes
import os
import queue
import random
import struct
import threading
import time
import traceback
import unittest

from nativepools import Pool

FULL = os.environ.get("NP_STRESS", "").lower() == "full"

# A hang guard for joins and queue waits, not a timing assertion: nothing here should take minutes.
HANG_GUARD_SECONDS = 900 if FULL else 300


def wait_until(predicate, what: str, guard: float = HANG_GUARD_SECONDS) -> None:
    """Polls predicate until true; fails after the hang guard (no timing is asserted)."""
    deadline = time.monotonic() + guard
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.005)


def size(ci: int, full: int) -> int:
    """The CI size by default, the full size under NP_STRESS=full."""
    return full if FULL else ci


# ------------------------------------------------------------------ contents

_TAG = struct.Struct("<Q")
_MASK64 = (1 << 64) - 1


def pattern(tag: int, length: int) -> bytes:
    """length bytes of the 8-byte little-endian tag repeated: unique per tag, checkable anywhere."""
    return (_TAG.pack(tag & _MASK64) * (length // 8 + 1))[:length]


def write_pattern(address: int, length: int, tag: int) -> None:
    ctypes.memmove(address, pattern(tag, length), length)


def check_pattern(address: int, length: int, tag: int) -> None:
    """Raises AssertionError unless the block holds pattern(tag, length)."""
    found = ctypes.string_at(address, length)
    expected = pattern(tag, length)
    if found != expected:
        at = next(i for i in range(length) if found[i] != expected[i])
        raise AssertionError(
            f"block 0x{address:x}: byte {at} of {length} differs: expected tag 0x{tag & _MASK64:x}, "
            f"found {found[at - at % 8:at - at % 8 + 8].hex()}")


class LiveBlocks:
    """Addresses currently handed out, across threads: the pool must never hand one out twice."""

    def __init__(self):
        self._owner: dict[int, int] = {}

    def claim(self, address: int, tag: int) -> None:
        # setdefault is one atomic step under the GIL, so two threads cannot both claim an address.
        previous = self._owner.setdefault(address, tag)
        if previous != tag:
            raise AssertionError(f"block 0x{address:x} handed out twice (tags 0x{previous:x} and 0x{tag:x})")

    def release(self, address: int) -> None:
        # Must happen before the free: afterwards another thread may legitimately get the block.
        self._owner.pop(address)

    def __len__(self) -> int:
        return len(self._owner)


# ------------------------------------------------------------------ threads


class Aborted(Exception):
    """Raised in a worker when another worker failed, so everyone stops."""


class Workers:
    """Runs count threads of target(index, workers) and re-raises the first real failure."""

    def __init__(self):
        self.abort = threading.Event()
        self._errors: list[str] = []
        self._lock = threading.Lock()

    def take(self, inbox: queue.Queue):
        """queue.get that gives up when another worker failed (or on the hang guard)."""
        waited = 0.0
        while True:
            try:
                return inbox.get(timeout=0.25)
            except queue.Empty:
                waited += 0.25
                if self.abort.is_set():
                    raise Aborted()
                if waited > HANG_GUARD_SECONDS:
                    raise AssertionError("worker waited past the hang guard for a message")

    def give(self, outbox: queue.Queue, item) -> None:
        """queue.put on a bounded queue that gives up when another worker failed."""
        waited = 0.0
        while True:
            try:
                return outbox.put(item, timeout=0.25)
            except queue.Full:
                waited += 0.25
                if self.abort.is_set():
                    raise Aborted()
                if waited > HANG_GUARD_SECONDS:
                    raise AssertionError("worker waited past the hang guard to send a message")

    def run(self, count: int, target, *, barrier: bool = False) -> None:
        start = threading.Barrier(count) if barrier else None

        def body(index: int) -> None:
            try:
                if start is not None:
                    start.wait()  # all threads exist at once before anyone calls the library
                target(index, self)
            except Aborted:
                pass
            except BaseException:
                with self._lock:
                    self._errors.append(f"worker {index}:\n{traceback.format_exc()}")
                self.abort.set()
                if start is not None:
                    start.abort()

        threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(HANG_GUARD_SECONDS)
            if thread.is_alive():
                self.abort.set()
                raise AssertionError(f"{thread.name} did not finish within the hang guard")
        if self._errors:
            raise AssertionError(f"{len(self._errors)} worker(s) failed; first:\n{self._errors[0]}")


# ------------------------------------------------------------------ ring exchange


def ring_exchange(pools: list[Pool], threads: int, rounds: int, per_round: int, *,
                  seed: int = 1, mixed: bool = False, barrier: bool = False) -> list[int]:
    """Each thread allocates per_round blocks a round, writes a unique pattern into each and
    hands them to the next thread, which checks every byte and frees them. Single calls and
    batch calls alternate. With mixed, each round picks one of the pools at random and the
    threads also call owns/stats/reserve/trim/validate concurrently.
    Returns the number of allocations made from each pool.
    """
    live = LiveBlocks()
    inboxes = [queue.Queue() for _ in range(threads)]
    tallies = [[0] * len(pools) for _ in range(threads)]

    def worker(index: int, workers: Workers) -> None:
        rng = random.Random(seed * 100_003 + index)
        outbox = inboxes[(index + 1) % threads]
        for r in range(rounds):
            which = rng.randrange(len(pools)) if mixed else 0
            pool = pools[which]
            if r % 2:
                blocks = pool.alloc_batch(per_round)
            else:
                blocks = [pool.alloc() for _ in range(per_round)]
            tallies[index][which] += len(blocks)
            tags = [((index + 1) << 44) | (r << 12) | j for j in range(per_round)]
            for address, tag in zip(blocks, tags):
                live.claim(address, tag)
                write_pattern(address, pool.block_size, tag)
            if mixed:
                _mixed_extras(rng, pool, blocks)
            outbox.put((which, blocks, tags))

            which, blocks, tags = workers.take(inboxes[index])
            pool = pools[which]
            for address, tag in zip(blocks, tags):
                check_pattern(address, pool.block_size, tag)
                live.release(address)
            if rng.random() < 0.5:
                pool.free_batch(blocks)
            else:
                for address in blocks:
                    pool.free(address)

    Workers().run(threads, worker, barrier=barrier)
    if len(live):
        raise AssertionError(f"{len(live)} blocks were never freed")
    return [sum(t[i] for t in tallies) for i in range(len(pools))]


def _mixed_extras(rng, pool: Pool, blocks: list[int]) -> None:
    """The occasional concurrent maintenance call a real program makes between allocations."""
    if pool.owns(blocks[0]) != "allocated":
        raise AssertionError(f"owns(0x{blocks[0]:x}) of a block this thread holds is not 'allocated'")
    roll = rng.random()
    if roll < 0.05:
        stats = pool.stats()
        if stats.in_use < len(blocks):
            raise AssertionError(f"in_use {stats.in_use} while this thread alone holds {len(blocks)}")
    elif roll < 0.07:
        pool.reserve(64)
    elif roll < 0.08:
        pool.trim()
    elif roll < 0.09:
        report = pool.validate()
        if report.errors:
            raise AssertionError(f"validate reported {report.errors} errors")


# ------------------------------------------------------------------ memory


def resident_bytes() -> int:
    """Resident set size of this process (from /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------ test case base


class PoolTestCase(unittest.TestCase):
    """Creates pools that are closed after the test and checked before: every pool still open at
    the end must satisfy in_use = allocations - frees, created + reused = allocations, and
    validate() == NP_OK with exact counts."""

    def setUp(self) -> None:
        self._pools: list[Pool] = []

    def pool(self, block_size: int, **options) -> Pool:
        return self._track(Pool(block_size, **options))

    def preset(self, preset, **options) -> Pool:
        return self._track(Pool.preset(preset, **options))

    def _track(self, pool: Pool) -> Pool:
        self._pools.append(pool)
        self.addCleanup(pool.close)
        return pool

    def tearDown(self) -> None:
        for pool in self._pools:
            if not pool.closed:
                self.assert_consistent(pool)

    def assert_consistent(self, pool: Pool, *, in_use: int | None = None, allocations: int | None = None):
        """The invariants every scenario ends with; returns the stats and validation report."""
        stats = pool.stats()
        report = pool.validate()
        self.assertEqual(stats.in_use, stats.allocations - stats.frees, f"{pool}: in_use != allocations - frees")
        self.assertEqual(stats.created + stats.reused, stats.allocations, f"{pool}: created + reused != allocations")
        self.assertTrue(report.counts_checked, f"{pool}: validate did not compare counts with no thread active")
        self.assertEqual(report.errors, 0)
        self.assertEqual(report.allocated, stats.in_use)
        self.assertEqual(report.free, report.free_listed)
        self.assertEqual(report.allocated + report.free, stats.capacity)
        if in_use is not None:
            self.assertEqual(stats.in_use, in_use)
        if allocations is not None:
            self.assertEqual(stats.allocations, allocations)
        return stats, report
