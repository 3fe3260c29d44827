"""The exception every failing call raises, with the library's per-thread detail message."""
from __future__ import annotations

import ctypes


class NativePoolsError(Exception):
    """A library call returned a negative np_status.

    status:  the code (compare with nativepools.abi.NP_E_*), name: e.g. "NP_E_DOUBLE_FREE",
    message: the status's one-line description, detail: np_last_error_message() of the failing thread.
    Batch and validate failures carry what was done anyway: blocks (alloc_batch: the blocks that
    were taken and now belong to the caller), freed (free_batch: how many were freed),
    report (validate: the ValidationReport).
    """

    blocks: list[int] | None = None
    freed: int | None = None
    report: object | None = None

    def __init__(self, status: int, name: str, message: str, detail: str):
        self.status = status
        self.name = name
        self.message = message
        self.detail = detail
        # The detail does not repeat the status name: the text shows it once, in front.
        super().__init__(f"{name}: {detail}" if detail else f"{name}: {message}")


def text(value) -> str:
    """Decodes a const char* result, whether bound as c_char_p (bytes) or as an address."""
    if value is None:
        return ""
    if isinstance(value, int):
        value = ctypes.string_at(value)
    return value.decode("utf-8", "replace")


def last_error_message(lib) -> str:
    """The calling OS thread's detail for its most recent failure ("" when none)."""
    length = lib.np_last_error_message(None, 0)
    if length == 0:
        return ""
    buffer = ctypes.create_string_buffer(length + 1)
    lib.np_last_error_message(buffer, length + 1)
    return buffer.value.decode("utf-8", "replace")


def error_for(lib, status: int) -> NativePoolsError:
    """Builds the exception for a failed call; must run on the thread that made the call."""
    detail = last_error_message(lib)
    return NativePoolsError(status, text(lib.np_status_name(status)), text(lib.np_status_message(status)), detail)
