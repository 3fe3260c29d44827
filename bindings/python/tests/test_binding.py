"""The binding itself: loading, errors, the Pool API surface and the README example."""
import ctypes
import os
import subprocess
import sys
import threading
import unittest
from pathlib import Path

import nativepools
from nativepools import NativePoolsError, Pool, PoolStats, ValidationReport, abi, load_library
from tests.support import PoolTestCase

PACKAGE_ROOT = Path(__file__).absolute().parents[1]  # bindings/python


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT), **env)
    return subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120)


class Loading(unittest.TestCase):

    def test_load_library_is_loaded_once_and_bound(self):
        lib = load_library()
        self.assertIs(load_library(), lib)
        self.assertEqual(lib.np_pool_alloc.restype, abi.np_status)

    def test_environment_variable_names_the_library(self):
        path = load_library()._name
        result = run_python("import nativepools; print(nativepools.load_library()._name)", NATIVEPOOLS_LIB=path)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), path)

    def test_missing_library_named_by_environment_raises(self):
        result = run_python("import nativepools; nativepools.load_library()", NATIVEPOOLS_LIB="/nonexistent/libnp.so")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("OSError", result.stderr)
        self.assertIn("NATIVEPOOLS_LIB", result.stderr)

    def test_explicit_missing_path_raises(self):
        with self.assertRaises(OSError):
            load_library("/nonexistent/libnativepools.so")

    def test_version(self):
        number = nativepools.version_number()
        self.assertEqual(number, abi.NP_VERSION_NUMBER)
        major, minor, patch = number >> 16, (number >> 8) & 0xFF, number & 0xFF
        self.assertEqual(nativepools.version(), f"{major}.{minor}.{patch}")
        # The package's version is the library's, and both are the project's VERSION file.
        self.assertEqual(nativepools.__version__, nativepools.version())
        version_file = os.path.join(os.path.dirname(__file__), "..", "..", "..", "VERSION")
        with open(version_file) as f:
            self.assertEqual(f.read().strip(), nativepools.__version__)
        self.assertEqual(nativepools.status_name(abi.NP_E_DOUBLE_FREE), "NP_E_DOUBLE_FREE")
        self.assertTrue(nativepools.status_message(abi.NP_E_DOUBLE_FREE))


class FirstCallInAProcess(unittest.TestCase):
    """np_pool_alloc and np_pool_free are C functions that start the runtime themselves when they
    are the first call into the library; a fresh process shows it (this one has long started it)."""

    SCRIPT = """
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
for name in ("np_pool_alloc", "np_pool_free", "np_pool_create", "np_pool_options_preset", "np_pool_destroy"):
    getattr(lib, name).restype = ctypes.c_int32
garbage = ctypes.c_uint64(0xDEAD_BEEF_0000_0001)
block = ctypes.c_void_p(0x5A5A)
if sys.argv[2] == "alloc":
    first = lib.np_pool_alloc(garbage, ctypes.byref(block))
else:
    first = lib.np_pool_free(garbage, ctypes.c_void_p(0x1000))
detail = ctypes.create_string_buffer(512)
lib.np_last_error_message(detail, ctypes.c_size_t(512))
options = ctypes.create_string_buffer(256)
assert lib.np_pool_options_preset(options, 1) == 0
pool = ctypes.c_uint64(0)
assert lib.np_pool_create(options, ctypes.byref(pool)) == 0
got = ctypes.c_void_p()
statuses = [lib.np_pool_alloc(pool, ctypes.byref(got)) for _ in range(3)]
statuses += [lib.np_pool_free(pool, got), lib.np_pool_free(pool, got), lib.np_pool_destroy(pool)]
print(first, block.value, detail.value.decode(), statuses)
"""

    def first_call(self, which: str) -> list[str]:
        result = run_python(self.SCRIPT.replace("sys.argv[1]", repr(load_library()._name)).replace("sys.argv[2]", repr(which)))
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout.strip()

    REFUSED = "0xdeadbeef00000001 is not a live pool handle (0, destroyed, stale or garbage)"
    # then: three allocs, a free, the same free again (a double free), destroy
    AFTERWARDS = f"[0, 0, 0, 0, {abi.NP_E_DOUBLE_FREE}, 0]"

    def test_alloc_with_a_garbage_handle_as_the_first_call(self):
        # the block out-parameter is cleared (it held 0x5A5A)
        self.assertEqual(self.first_call("alloc"), f"{abi.NP_E_INVALID_HANDLE} None {self.REFUSED} {self.AFTERWARDS}")

    def test_free_with_a_garbage_handle_as_the_first_call(self):
        self.assertEqual(self.first_call("free"), f"{abi.NP_E_INVALID_HANDLE} 23130 {self.REFUSED} {self.AFTERWARDS}")


class Errors(PoolTestCase):

    def test_bad_options_raise_with_status_name_message_and_detail(self):
        with self.assertRaises(NativePoolsError) as caught:
            Pool(0)
        error = caught.exception
        self.assertEqual(error.status, abi.NP_E_INVALID_ARGUMENT)
        self.assertEqual(error.name, "NP_E_INVALID_ARGUMENT")
        self.assertEqual(error.message, nativepools.status_message(abi.NP_E_INVALID_ARGUMENT))
        self.assertIn("block_size 0", error.detail)
        # The name once, then the detail (which does not repeat it).
        self.assertEqual(str(error), f"NP_E_INVALID_ARGUMENT: {error.detail}")
        self.assertNotIn("NP_E_", error.detail)

    def test_double_free_raises_and_names_the_pool(self):
        pool = self.pool(16, name="named-for-errors")
        block = pool.alloc()
        pool.free(block)
        with self.assertRaises(NativePoolsError) as caught:
            pool.free(block)
        self.assertEqual(caught.exception.status, abi.NP_E_DOUBLE_FREE)
        self.assertIn("named-for-errors", caught.exception.detail)
        self.assertIn(f"{block:x}", caught.exception.detail)

    def test_each_thread_gets_its_own_error_detail(self):
        # Detail messages are per OS thread: errors raised at once on different threads must not mix.
        bounded = self.pool(16, max_blocks=1)
        bounded.alloc()
        plain = self.pool(16)
        freed = plain.alloc()
        plain.free(freed)
        mismatches = []

        # Each status's own detail: the refusal names the limit, the double free says so.
        expected_text = {abi.NP_E_POOL_EXHAUSTED: "holds its maximum", abi.NP_E_DOUBLE_FREE: "is not allocated",
                         abi.NP_E_NULL_POINTER: "free of NULL"}

        def hammer(expected_status, call):
            for _ in range(2_000):
                try:
                    call()
                except NativePoolsError as error:
                    if error.status != expected_status or expected_text[expected_status] not in error.detail:
                        mismatches.append((expected_status, error.status, error.detail))
                except BaseException as error:  # anything else fails the test instead of ending the thread quietly
                    mismatches.append((expected_status, type(error).__name__, str(error)))
                    return
                else:
                    mismatches.append((expected_status, "no error", ""))

        threads = [threading.Thread(target=hammer, args=(abi.NP_E_POOL_EXHAUSTED, bounded.alloc)),
                   threading.Thread(target=hammer, args=(abi.NP_E_DOUBLE_FREE, lambda: plain.free(freed))),
                   threading.Thread(target=hammer, args=(abi.NP_E_NULL_POINTER, lambda: plain.free(0)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(mismatches, [])

    def test_unknown_preset(self):
        with self.assertRaises(ValueError):
            Pool.preset("huge")
        with self.assertRaises(NativePoolsError) as caught:
            Pool.preset(99)
        self.assertEqual(caught.exception.status, abi.NP_E_INVALID_ARGUMENT)


class PoolApi(PoolTestCase):

    def test_context_manager_closes(self):
        with Pool.preset("small") as pool:
            handle = pool.handle
            self.assertFalse(pool.closed)
            pool.alloc()
        self.assertTrue(pool.closed)
        self.assertEqual(pool.handle, 0)
        self.assertEqual(load_library().np_pool_destroy(handle), abi.NP_E_INVALID_HANDLE, "the handle was not destroyed")
        with self.assertRaises(NativePoolsError) as caught:
            pool.stats()
        self.assertEqual(caught.exception.status, abi.NP_E_INVALID_HANDLE)
        self.assertIn("closed", repr(pool))

    def test_free_passes_64_bit_addresses_and_rejects_non_addresses(self):
        # alloc() and free() call the library without ctypes argtypes (see Pool._handle_value):
        # the address must still arrive as all 64 bits, and bad arguments must still be refused.
        pool = self.pool(64)
        blocks = [pool.alloc() for _ in range(3)]
        self.assertTrue(all(b > 2**32 for b in blocks), "blocks live above 4 GiB, so a truncated address would miss")
        for bad in ("0x10", 1.5, b"x", None):
            with self.assertRaises(TypeError, msg=repr(bad)):
                pool.free(bad)
        for outside in (2**64, 2**70 + blocks[0], -1, -blocks[0]):
            with self.assertRaises(OverflowError, msg=hex(outside)):
                pool.free(outside)
        with self.assertRaises(NativePoolsError) as caught:
            pool.free(0)
        self.assertEqual(caught.exception.status, abi.NP_E_NULL_POINTER)
        for garbage in (2**64 - 1, blocks[0] | (1 << 63)):
            with self.assertRaises(NativePoolsError, msg=hex(garbage)) as caught:
                pool.free(garbage)
            self.assertEqual(caught.exception.status, abi.NP_E_FOREIGN_POINTER, hex(garbage))
        with self.assertRaises(NativePoolsError) as caught:
            pool.free(blocks[0] + 8)
        self.assertEqual(caught.exception.status, abi.NP_E_INTERIOR_POINTER)
        for block in blocks:
            pool.free(block)
        with self.assertRaises(NativePoolsError) as caught:
            pool.free(blocks[1])
        self.assertEqual(caught.exception.status, abi.NP_E_DOUBLE_FREE)
        stats = pool.stats()
        self.assertEqual((stats.in_use, stats.allocations, stats.frees), (0, 3, 3))
        pool.close()
        for call in (pool.alloc, lambda: pool.free(blocks[0])):
            with self.assertRaises(NativePoolsError) as caught:
                call()
            self.assertEqual(caught.exception.status, abi.NP_E_INVALID_HANDLE)

    def test_options_reach_the_library(self):
        pool = self.pool(100, alignment=64, initial_blocks=10, growth_blocks=10, max_blocks=30, name="shaped")
        stats = pool.stats()
        self.assertEqual((stats.block_size, stats.block_stride, stats.capacity, stats.chunks), (100, 128, 10, 1))
        self.assertTrue(all(b % 64 == 0 for b in pool.alloc_batch(30)))
        self.assertEqual(pool.stats().capacity, 30)
        self.assertEqual((pool.block_size, pool.name), (100, "shaped"))
        presets = {name: self.preset(name) for name in nativepools.PRESETS}
        self.assertEqual({n: p.stats().block_size for n, p in presets.items()},
                         {"small": 264, "medium": 1024, "large": 10 * 1024})

    def test_stats_and_validation_are_dataclasses(self):
        pool = self.pool(32)
        blocks = pool.alloc_batch(4)
        pool.free_batch(blocks)
        pool.alloc()
        stats = pool.stats()
        self.assertIsInstance(stats, PoolStats)
        self.assertEqual((stats.allocations, stats.reused, stats.created), (5, 1, 4))
        self.assertAlmostEqual(stats.reuse_rate, 1 / 5)
        report = pool.validate()
        self.assertIsInstance(report, ValidationReport)
        self.assertEqual(report.allocated, 1)

    def test_reset_stats(self):
        pool = self.pool(32)
        pool.free_batch(pool.alloc_batch(10))
        pool.reset_stats()
        stats = pool.stats()
        self.assertEqual((stats.allocations, stats.frees, stats.created, stats.peak_in_use), (0, 0, 0, 0))
        self.assertEqual(stats.reuse_rate, 0.0)
        pool.free(pool.alloc())
        self.assertEqual(pool.stats().reused, 1)

    def test_reserve_grows_free_blocks(self):
        pool = self.pool(64, growth_blocks=100)
        pool.reserve(250)
        stats = pool.stats()
        self.assertEqual((stats.capacity, stats.in_use, stats.created), (300, 0, 0))

    def test_example_runs(self):
        example = PACKAGE_ROOT / "examples" / "hello_pool.py"
        result = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=120,
                                env=dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT)))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("hello from Python", result.stdout)
        self.assertIn("allocations=101 in_use=0", result.stdout)


if __name__ == "__main__":
    unittest.main()
