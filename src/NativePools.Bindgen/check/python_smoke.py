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
# Callbacks: np_handler_fn is a CFUNCTYPE of the C signature. A handler is called through a C
# function pointer (the prototype rebuilt from the wrapper's address), and the argtype used by
# functions taking one also passes None as NULL but refuses a wrapper of another prototype.
check(n.np_handler_fn._restype_ is n.np_status, "np_handler_fn returns np_status")
u8, u32 = ctypes.POINTER(ctypes.c_uint8), ctypes.POINTER(ctypes.c_uint32)
check(list(n.np_handler_fn._argtypes_) == [ctypes.c_void_p, ctypes.c_uint32, u8, ctypes.c_uint32, u8, ctypes.c_uint32, u32],
      f"np_handler_fn argtypes: {n.np_handler_fn._argtypes_}")


def echo(user_data, route_id, request, request_length, response, response_capacity, response_length):
    length = min(request_length, response_capacity)
    ctypes.memmove(response, request, length)
    response_length[0] = length
    return n.NP_OK if route_id == 7 else n.NP_E_INVALID_ARGUMENT


handler = n.np_handler_fn(echo)
through_c = n.np_handler_fn(ctypes.cast(handler, ctypes.c_void_p).value)
request, response, response_length = (ctypes.c_uint8 * 4)(*b"ping"), (ctypes.c_uint8 * 8)(), ctypes.c_uint32()
ok(through_c(None, 7, request, 4, response, 8, ctypes.byref(response_length)), "np_handler_fn call")
check(bytes(response[:response_length.value]) == b"ping", "np_handler_fn echo")
argtype = n._CallbackOrNull(n.np_handler_fn)
check(argtype.from_param(None) is None and argtype.from_param(handler) is not None, "callback argtype takes a handler or None")
try:
    argtype.from_param(ctypes.CFUNCTYPE(None)(lambda: None))
    check(False, "callback argtype refuses another prototype")
except TypeError:
    pass

print(f"python smoke test: {len(n.FUNCTIONS)} functions bound, np_version_string {lib.np_version_string().decode()}, "
      "np_handler_fn called through a C pointer")
