"""Binds the generated ctypes layer to the real library and runs one pool through it.

Usage: python3 src/NativePools.Bindgen/check/python_smoke.py [repo-root]
"""

import ctypes
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "..")
sys.path.insert(0, os.path.join(root, "bindings", "python"))
import nativepools._native as n  # noqa: E402  (path set up above)

lib = n.bind(ctypes.CDLL(os.path.join(root, "artifacts", "native", "libnativepools.so")))


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"FAIL: {what}")


def ok(status: int, call: str) -> None:
    check(status == n.NP_OK, f"{call} returned {n.STATUS_NAMES.get(status, status)}")


check(lib.np_version() == n.NP_VERSION_NUMBER, "np_version() == NP_VERSION_NUMBER")
check(lib.np_status_name(n.NP_E_DOUBLE_FREE) == b"NP_E_DOUBLE_FREE", "np_status_name")
for code, name in n.STATUS_NAMES.items():
    check(lib.np_status_name(code).decode() == name, f"STATUS_NAMES[{code}] == np_status_name({code})")

options = n.np_pool_options()
ok(lib.np_pool_options_preset(ctypes.byref(options), n.NP_POOL_PRESET_MEDIUM), "np_pool_options_preset")
check(options.struct_size == ctypes.sizeof(n.np_pool_options) and options.block_size == 1024, "medium preset")
options.max_blocks = 4
options.name = b"python-smoke"
pool = n.np_pool()
ok(lib.np_pool_create(ctypes.byref(options), ctypes.byref(pool)), "np_pool_create")

blocks = (ctypes.c_void_p * 4)()
taken = ctypes.c_size_t()
ok(lib.np_pool_alloc_batch(pool, blocks, 4, ctypes.byref(taken)), "np_pool_alloc_batch")
check(taken.value == 4, "4 blocks taken")
extra = ctypes.c_void_p()
status = lib.np_pool_alloc(pool, ctypes.byref(extra))
check(status == n.NP_E_POOL_EXHAUSTED, f"5th alloc is NP_E_POOL_EXHAUSTED, got {status}")
needed = lib.np_last_error_message(None, 0)
message = ctypes.create_string_buffer(needed + 1)
check(lib.np_last_error_message(message, len(message)) == needed and len(message.value) == needed, "last error message")

ctypes.memset(blocks[0], 0xA5, options.block_size)
check(ctypes.string_at(blocks[0], 4) == b"\xa5" * 4, "block contents")
owned = ctypes.c_int32()
ok(lib.np_pool_owns(pool, blocks[0], ctypes.byref(owned)), "np_pool_owns")
check(owned.value == n.NP_BLOCK_ALLOCATED, "owns == NP_BLOCK_ALLOCATED")
ok(lib.np_pool_free(pool, blocks[0]), "np_pool_free")
check(lib.np_pool_free(pool, blocks[0]) == n.NP_E_DOUBLE_FREE, "double free detected")
freed = ctypes.c_size_t()
ok(lib.np_pool_free_batch(pool, ctypes.cast(ctypes.byref(blocks, ctypes.sizeof(ctypes.c_void_p)),
                                            ctypes.POINTER(ctypes.c_void_p)), 3, ctypes.byref(freed)), "np_pool_free_batch")
check(freed.value == 3, "3 blocks freed")

stats = n.np_pool_stats(struct_size=ctypes.sizeof(n.np_pool_stats))
ok(lib.np_pool_get_stats(pool, ctypes.byref(stats)), "np_pool_get_stats")
check((stats.allocations, stats.frees, stats.in_use, stats.double_frees, stats.failed_allocations) == (4, 4, 0, 1, 1),
      f"stats: {stats.allocations} {stats.frees} {stats.in_use} {stats.double_frees} {stats.failed_allocations}")
report = n.np_pool_validation(struct_size=ctypes.sizeof(n.np_pool_validation))
ok(lib.np_pool_validate(pool, ctypes.byref(report)), "np_pool_validate")
check(report.counts_checked == 1 and report.allocated == 0 and report.free == report.free_listed, "validation report")
released = ctypes.c_uint64()
ok(lib.np_pool_trim(pool, ctypes.byref(released)), "np_pool_trim")
ok(lib.np_pool_destroy(pool), "np_pool_destroy")
check(lib.np_pool_destroy(pool) == n.NP_E_INVALID_HANDLE, "stale handle after destroy")
print(f"python smoke test: {len(n.FUNCTIONS)} functions bound, np_version_string {lib.np_version_string().decode()}")
