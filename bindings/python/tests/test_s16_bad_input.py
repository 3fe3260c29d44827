"""S16: bad input through the raw C ABI: every call returns its own status, counts what the
stats count, leaves a detail message on the calling thread, and the pool stays valid."""
import ctypes
import threading
import unittest

from nativepools import abi, last_error_message, load_library, text
from tests.support import PoolTestCase

lib = load_library()
OPTIONS_SIZE = ctypes.sizeof(abi.np_pool_options)
STATS_SIZE = ctypes.sizeof(abi.np_pool_stats)
VALIDATION_SIZE = ctypes.sizeof(abi.np_pool_validation)
ERROR_COUNTERS = ("failed_allocations", "double_frees", "foreign_frees", "invalid_frees", "poison_violations")
GARBAGE_HANDLES = (0xDEAD_BEEF_0000_0001, 0x1234_5678_9ABC_DEF0, 0xFFFF_FFFF_FFFF_FFFF)


def options(block_size=64, **fields):
    opts = abi.np_pool_options()
    assert lib.np_pool_options_init(ctypes.byref(opts)) == abi.NP_OK
    opts.block_size = block_size
    for name, value in fields.items():
        setattr(opts, name, value)
    return opts


def create(opts):
    """np_pool_create; returns (status, handle). The handle is preset to garbage to see it cleared."""
    handle = abi.np_pool(0x5A5A)
    status = lib.np_pool_create(ctypes.byref(opts), ctypes.byref(handle))
    if status == abi.NP_OK:
        assert lib.np_pool_destroy(handle.value) == abi.NP_OK
    elif handle.value != 0:
        raise AssertionError(f"failed create left handle 0x{handle.value:x}, not 0")
    return status


def stack_address() -> int:
    """An address inside this process's main-thread stack (free never dereferences it)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            if line.rstrip().endswith("[stack]"):
                start, end = (int(x, 16) for x in line.split()[0].split("-"))
                return (start + (end - start) // 2) & ~7
    raise AssertionError("no [stack] mapping in /proc/self/maps")


def raw_stats(handle):
    stats = abi.np_pool_stats()
    stats.struct_size = STATS_SIZE
    assert lib.np_pool_get_stats(handle, ctypes.byref(stats)) == abi.NP_OK
    return {name: getattr(stats, name) for name in ERROR_COUNTERS}


class BadInput(PoolTestCase):

    def setUp(self):
        super().setUp()
        self.victim = self.pool(64, name="victim")        # stride 64, alignment 8
        self.other = self.pool(64, name="other")
        self.full = self.pool(16, max_blocks=1, name="full")
        self.full.alloc()
        self.block = self.victim.alloc()
        self.spare = self.victim.alloc()
        self.other_block = self.other.alloc()
        dead = options()
        handle = abi.np_pool()
        self.assertEqual(lib.np_pool_create(ctypes.byref(dead), ctypes.byref(handle)), abi.NP_OK)
        self.assertEqual(lib.np_pool_destroy(handle.value), abi.NP_OK)
        self.stale = handle.value
        self.heap = ctypes.create_string_buffer(256)
        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        libc.free.argtypes = [ctypes.c_void_p]
        self.malloced = libc.malloc(128)
        self.addCleanup(libc.free, self.malloced)

    def expect(self, label, call, status, *, pool=None, counter=None):
        """Runs one table entry and checks everything S16 asks of it."""
        with self.subTest(label):
            watched = pool or self.victim
            before = raw_stats(watched.handle)
            got = call()
            self.assertEqual(got, status, f"{label}: got {text(lib.np_status_name(got))}")
            self.assertEqual(text(lib.np_status_name(got)), abi.STATUS_NAMES[status])
            if status != abi.NP_OK:
                self.assertEqual(lib.np_last_error_status(), status, "last error status is not this failure's")
                detail = last_error_message(lib)
                # A detail that explains without repeating the status name (callers print it beside).
                self.assertTrue(len(detail) > 4 and abi.STATUS_NAMES[status] not in detail, detail)
            after = raw_stats(watched.handle)
            expected = dict(before)
            if counter:
                expected[counter] += 1
            self.assertEqual(after, expected, "error counters")
            for each in (self.victim, self.other, self.full):
                self.assertTrue(each.validate().counts_checked)

    def test_S16_bad_options_and_create(self):
        OK, BAD, NULL, SIZE = abi.NP_OK, abi.NP_E_INVALID_ARGUMENT, abi.NP_E_NULL_POINTER, abi.NP_E_UNSUPPORTED_STRUCT_SIZE
        self.expect("options_init(NULL)", lambda: lib.np_pool_options_init(None), NULL)
        self.expect("options_preset(NULL)", lambda: lib.np_pool_options_preset(None, abi.NP_POOL_PRESET_SMALL), NULL)
        for preset in (0, 4, -1, 1 << 30):
            self.expect(f"options_preset({preset})",
                        lambda: lib.np_pool_options_preset(ctypes.byref(options()), preset), BAD)
        self.expect("create(NULL options)", lambda: lib.np_pool_create(None, ctypes.byref(abi.np_pool())), NULL)
        self.expect("create(NULL pool)", lambda: lib.np_pool_create(ctypes.byref(options()), None), NULL)
        for struct_size in (0, OPTIONS_SIZE - 8, OPTIONS_SIZE + 8):
            self.expect(f"create(struct_size={struct_size})", lambda: create(options(struct_size=struct_size)), SIZE)
        self.expect("block_size 0", lambda: create(options(0)), BAD)
        self.expect("block_size 16 MiB + 1", lambda: create(options((16 << 20) + 1)), BAD)
        self.expect("block_size 16 MiB", lambda: create(options(16 << 20, max_blocks=4)), OK)
        self.expect("alignment 3", lambda: create(options(alignment=3)), BAD)
        self.expect("alignment 8192", lambda: create(options(alignment=8192)), BAD)
        self.expect("alignment 4096", lambda: create(options(alignment=4096, max_blocks=4)), OK)
        self.expect("initial > max", lambda: create(options(initial_blocks=11, max_blocks=10)), BAD)
        self.expect("unknown flag", lambda: create(options(flags=8)), BAD)  # the lowest bit no NP_POOL_* flag uses
        self.expect("max_blocks 2^31", lambda: create(options(max_blocks=1 << 31)), BAD)
        # 16 MiB x (2^31 - 2) blocks needs 32 PiB of address space: the OS refuses the reservation.
        self.expect("reservation too large", lambda: create(options(16 << 20, max_blocks=(1 << 31) - 2)),
                    abi.NP_E_OUT_OF_MEMORY)

    def test_S16_bad_handles(self):
        H = abi.NP_E_INVALID_HANDLE
        out, count, state = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_int32()
        stats = abi.np_pool_stats(struct_size=STATS_SIZE)
        report = abi.np_pool_validation(struct_size=VALIDATION_SIZE)
        blocks = (ctypes.c_void_p * 2)()
        for name, handle in [("0", 0), ("stale", self.stale)] + [(f"garbage 0x{g:x}", g) for g in GARBAGE_HANDLES]:
            calls = {
                "alloc": lambda: lib.np_pool_alloc(handle, ctypes.byref(out)),
                "free": lambda: lib.np_pool_free(handle, self.block),
                "alloc_batch": lambda: lib.np_pool_alloc_batch(handle, blocks, 2, ctypes.byref(count)),
                "free_batch": lambda: lib.np_pool_free_batch(handle, blocks, 2, None),
                "reserve": lambda: lib.np_pool_reserve(handle, 10),
                "trim": lambda: lib.np_pool_trim(handle, None),
                "owns": lambda: lib.np_pool_owns(handle, self.block, ctypes.byref(state)),
                "validate": lambda: lib.np_pool_validate(handle, ctypes.byref(report)),
                "get_stats": lambda: lib.np_pool_get_stats(handle, ctypes.byref(stats)),
                "reset_stats": lambda: lib.np_pool_reset_stats(handle),
            }
            if handle:
                calls["destroy"] = lambda: lib.np_pool_destroy(handle)
            for call_name, call in calls.items():
                self.expect(f"{call_name}(handle {name})", call, H)
        self.assertIsNone(out.value, "a failed alloc must leave NULL in *block")
        self.assertEqual(self.victim.owns(self.block), "allocated", "the garbage-handle free touched a real pool")
        self.expect("destroy(0) is a no-op", lambda: lib.np_pool_destroy(0), abi.NP_OK)

    def test_S16_bad_frees(self):
        pool = self.victim.handle
        free = lambda address: (lambda: lib.np_pool_free(pool, address))
        self.expect("free(NULL)", free(None), abi.NP_E_NULL_POINTER)
        self.expect("free(heap buffer)", free(ctypes.addressof(self.heap)), abi.NP_E_FOREIGN_POINTER, counter="foreign_frees")
        self.expect("free(malloc)", free(self.malloced), abi.NP_E_FOREIGN_POINTER, counter="foreign_frees")
        self.expect("free(stack)", free(stack_address()), abi.NP_E_FOREIGN_POINTER, counter="foreign_frees")
        self.expect("free(another pool's block)", free(self.other_block), abi.NP_E_FOREIGN_POINTER, counter="foreign_frees")
        self.assertEqual(self.other.owns(self.other_block), "allocated")
        self.expect("free(interior +8)", free(self.block + 8), abi.NP_E_INTERIOR_POINTER, counter="invalid_frees")
        self.expect("free(interior +32)", free(self.block + 32), abi.NP_E_INTERIOR_POINTER, counter="invalid_frees")
        self.expect("free(misaligned +1)", free(self.block + 1), abi.NP_E_MISALIGNED_POINTER, counter="invalid_frees")
        self.expect("free(misaligned +63)", free(self.block + 63), abi.NP_E_MISALIGNED_POINTER, counter="invalid_frees")
        self.assertEqual(self.victim.owns(self.block), "allocated", "a rejected free changed the block")
        fresh = self.spare + 64 * 10  # inside the committed chunk, never handed out
        self.assertEqual(self.victim.owns(fresh), "free")
        self.expect("free(never allocated)", free(fresh), abi.NP_E_DOUBLE_FREE, counter="double_frees")
        self.expect("free(block)", free(self.block), abi.NP_OK)
        self.expect("free(block) again", free(self.block), abi.NP_E_DOUBLE_FREE, counter="double_frees")
        self.expect("free(spare)", free(self.spare), abi.NP_OK)

    def test_S16_bad_arguments_of_other_calls(self):
        NULL, OK = abi.NP_E_NULL_POINTER, abi.NP_OK
        pool = self.victim.handle
        count = ctypes.c_size_t(99)
        blocks = (ctypes.c_void_p * 4)()
        self.expect("alloc(NULL out)", lambda: lib.np_pool_alloc(pool, None), NULL)
        self.expect("alloc_batch(NULL blocks)", lambda: lib.np_pool_alloc_batch(pool, None, 4, ctypes.byref(count)), NULL)
        self.expect("alloc_batch(NULL allocated)", lambda: lib.np_pool_alloc_batch(pool, blocks, 4, None), NULL)
        self.expect("alloc_batch(NULL, 0)", lambda: lib.np_pool_alloc_batch(pool, None, 0, ctypes.byref(count)), OK)
        self.assertEqual(count.value, 0)
        self.expect("alloc_batch(count 2^31)",
                    lambda: lib.np_pool_alloc_batch(pool, blocks, 1 << 31, ctypes.byref(count)), abi.NP_E_INVALID_ARGUMENT)
        self.expect("free_batch(NULL blocks)", lambda: lib.np_pool_free_batch(pool, None, 3, None), NULL)
        self.expect("free_batch(NULL, 0)", lambda: lib.np_pool_free_batch(pool, None, 0, None), OK)
        self.expect("free_batch(count 2^31)", lambda: lib.np_pool_free_batch(pool, blocks, 1 << 31, None),
                    abi.NP_E_INVALID_ARGUMENT)
        self.expect("owns(NULL result)", lambda: lib.np_pool_owns(pool, self.block, None), NULL)
        self.expect("get_stats(NULL)", lambda: lib.np_pool_get_stats(pool, None), NULL)
        for size in (0, STATS_SIZE - 8, STATS_SIZE + 8):
            self.expect(f"get_stats(struct_size={size})",
                        lambda: lib.np_pool_get_stats(pool, ctypes.byref(abi.np_pool_stats(struct_size=size))),
                        abi.NP_E_UNSUPPORTED_STRUCT_SIZE)
        for size in (0, VALIDATION_SIZE + 8):
            self.expect(f"validate(struct_size={size})",
                        lambda: lib.np_pool_validate(pool, ctypes.byref(abi.np_pool_validation(struct_size=size))),
                        abi.NP_E_UNSUPPORTED_STRUCT_SIZE)
        self.expect("validate(NULL report)", lambda: lib.np_pool_validate(pool, None), OK)
        self.expect("trim(NULL released)", lambda: lib.np_pool_trim(pool, None), OK)
        full = self.full.handle
        self.expect("alloc at max_blocks", lambda: lib.np_pool_alloc(full, ctypes.byref(ctypes.c_void_p())),
                    abi.NP_E_POOL_EXHAUSTED, pool=self.full, counter="failed_allocations")
        self.expect("reserve beyond max_blocks", lambda: lib.np_pool_reserve(full, 2),
                    abi.NP_E_POOL_EXHAUSTED, pool=self.full)

    def test_S16_write_after_free_is_corrupted(self):
        pool = self.pool(32, poison_on_free=True, name="poisoned")
        block = pool.alloc()
        pool.free(block)
        ctypes.memset(block + 5, 0x11, 1)  # deliberate write after free
        self.expect("validate(poison overwritten)",
                    lambda: lib.np_pool_validate(pool.handle, None), abi.NP_E_CORRUPTED, pool=pool)
        # Handing the block out again reports the violation once and re-poisons it on free.
        self.assertEqual(pool.alloc(), block)
        self.assertEqual(pool.stats().poison_violations, 1)
        pool.free(block)

    def test_S16_every_status_has_name_and_message(self):
        messages = set()
        lowest = min(abi.STATUS_NAMES)
        for status in range(lowest, abi.NP_OK + 1):
            with self.subTest(status=status):
                self.assertEqual(text(lib.np_status_name(status)), abi.STATUS_NAMES[status])
                message = text(lib.np_status_message(status))
                self.assertTrue(message)
                messages.add(message)
        self.assertEqual(len(messages), abi.NP_OK - lowest + 1, "two statuses share a message")
        self.assertEqual(sorted(abi.STATUS_NAMES), list(range(lowest, abi.NP_OK + 1)), "status codes are contiguous")
        for unknown in (1, lowest - 1, 12345, -(1 << 31)):
            self.assertEqual(text(lib.np_status_name(unknown)), "NP_E_UNKNOWN")
            self.assertTrue(text(lib.np_status_message(unknown)))

    def test_S16_last_error_message_truncates_like_snprintf(self):
        self.assertEqual(lib.np_pool_free(self.victim.handle, self.spare + 64 * 10), abi.NP_E_DOUBLE_FREE)
        full = last_error_message(lib)
        length = lib.np_last_error_message(None, 0)
        self.assertEqual(length, len(full.encode()))
        small = ctypes.create_string_buffer(b"\xff" * 8)
        self.assertEqual(lib.np_last_error_message(small, 5), length)
        self.assertEqual(small.raw[:5], full.encode()[:4] + b"\0")
        self.assertEqual(small.raw[5:8], b"\xff" * 3, "wrote past the given capacity")

    def test_S16_last_error_is_per_thread(self):
        seen = {}

        def fresh_thread():
            seen["status"] = lib.np_last_error_status()
            seen["length"] = lib.np_last_error_message(None, 0)

        self.assertEqual(lib.np_pool_free(self.victim.handle, None), abi.NP_E_NULL_POINTER)
        thread = threading.Thread(target=fresh_thread)
        thread.start()
        thread.join()
        self.assertEqual(seen, {"status": abi.NP_OK, "length": 0})
        self.assertEqual(lib.np_last_error_status(), abi.NP_E_NULL_POINTER)
        # Successful calls do not reset it.
        self.victim.stats()
        self.assertEqual(lib.np_last_error_status(), abi.NP_E_NULL_POINTER)


if __name__ == "__main__":
    unittest.main()
