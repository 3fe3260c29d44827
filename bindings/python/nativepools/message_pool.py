"""MessagePool: size-classed message buffers in native memory, addressed by plain int addresses."""
from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass, fields

from . import _native
from ._loader import load_library
from .errors import NativePoolsError, error_for

DEFAULT_CLASS_SIZES = (64, 264, 1024, 4096, 10240, 65536, 262144, 1048576)


@dataclass(frozen=True, slots=True)
class MessagePoolStats:
    """A snapshot of np_msgpool_stats: every field shared with MessageClassStats is the sum over the
    classes; oversize_acquisitions and unowned_releases are seen by no class. Exact when no other
    thread is operating on the pool."""

    class_count: int
    capacity: int
    bytes_committed: int
    in_flight: int
    peak_in_flight: int
    free_blocks: int
    acquisitions: int
    created: int
    reused: int
    released: int
    discarded: int
    failed_acquisitions: int
    double_releases: int
    foreign_releases: int
    invalid_releases: int
    chunks_released: int
    oversize_acquisitions: int
    unowned_releases: int
    reuse_rate: float


@dataclass(frozen=True, slots=True)
class MessageClassStats:
    """A snapshot of np_msgpool_class_stats: the counters of one size class."""

    class_index: int
    class_size: int
    block_stride: int
    retain_limit: int
    blocks_per_chunk: int
    magazine_capacity: int
    capacity: int
    bytes_committed: int
    in_flight: int
    peak_in_flight: int
    free_blocks: int
    acquisitions: int
    created: int
    reused: int
    released: int
    discarded: int
    failed_acquisitions: int
    double_releases: int
    foreign_releases: int
    invalid_releases: int
    chunks_released: int
    reuse_rate: float


_STATS_FIELDS = tuple(f.name for f in fields(MessagePoolStats))
_CLASS_STATS_FIELDS = tuple(f.name for f in fields(MessageClassStats))


class _Scratch(threading.local):
    """Out-parameters reused by every call on one thread, so hot calls allocate no ctypes objects."""

    def __init__(self):
        self.message = ctypes.c_void_p()
        self.message_ref = ctypes.byref(self.message)
        self.capacity = ctypes.c_size_t()
        self.capacity_ref = ctypes.byref(self.capacity)


_scratch = _Scratch()


class MessagePool:
    """Message buffers by size: acquire(size) takes a buffer from the smallest class that holds size,
    release(address) gives it back. Use as a context manager, or call close().

    Each class keeps at most retain_limit free blocks (min(retain_per_class,
    retain_bytes_per_class // class size)); releases beyond it are discarded and their memory goes
    back to the OS. Every method may run on any thread concurrently with any other, except close().
    Failures raise NativePoolsError.
    """

    def __init__(self, class_sizes=None, *, retain_per_class: int | None = None,
                 retain_bytes_per_class: int | None = None, name: str | None = None):
        self._handle = 0
        lib = load_library()
        options = _native.np_msgpool_options()
        _check(lib, lib.np_msgpool_options_init(ctypes.byref(options)))
        if class_sizes is not None:
            sizes = list(class_sizes)
            if not sizes:
                raise ValueError("class_sizes is empty; pass None for the default classes")
            # The array must outlive the create call only: the library copies it.
            array = (ctypes.c_uint32 * len(sizes))(*sizes)
            options.class_sizes = ctypes.cast(array, ctypes.POINTER(ctypes.c_uint32))
            options.class_count = len(sizes)
        if retain_per_class is not None:
            options.retain_per_class = retain_per_class
        if retain_bytes_per_class is not None:
            options.retain_bytes_per_class = retain_bytes_per_class
        options.name = None if name is None else name.encode("utf-8")
        handle = _native.np_msgpool()
        _check(lib, lib.np_msgpool_create(ctypes.byref(options), ctypes.byref(handle)))
        self._lib = lib
        self._handle = handle.value
        # Hot calls pass this prebuilt argument: converting a Python int costs ctypes about 0.3 µs per call.
        self._handle_arg = _native.np_msgpool(self._handle)
        self.name = name
        self._np_acquire = lib.np_msgpool_acquire
        self._np_release = lib.np_msgpool_release
        self.class_sizes = tuple(self.class_stats(k).class_size for k in range(self.stats().class_count))

    # ---------------------------------------------------------------- hot path

    def acquire(self, size: int) -> tuple[int, int]:
        """Takes a buffer of at least size bytes; returns (address, capacity), capacity being its class size.

        A size above the largest class raises NP_E_INVALID_ARGUMENT.
        """
        scratch = _scratch
        status = self._np_acquire(self._handle_arg, size, scratch.message_ref, scratch.capacity_ref)
        if status:
            raise error_for(self._lib, status)
        return scratch.message.value, scratch.capacity.value

    def release(self, address: int) -> None:
        """Returns a buffer. Double, foreign, interior and misaligned releases raise their own status."""
        status = self._np_release(self._handle_arg, address)
        if status:
            raise error_for(self._lib, status)

    # ---------------------------------------------------------------- maintenance

    def reserve(self, size: int, count: int) -> None:
        """Warm-up: the class serving size grows to hold at least count blocks, pages faulted in."""
        _check(self._lib, self._lib.np_msgpool_reserve(self._handle, size, count))

    def class_index(self, size: int) -> int | None:
        """The index of the class acquire(size) uses, or None when size exceeds the largest class."""
        return next((k for k, limit in enumerate(self.class_sizes) if size <= limit), None)

    def stats(self) -> MessagePoolStats:
        """A snapshot of the totals."""
        raw = _native.np_msgpool_stats()
        raw.struct_size = ctypes.sizeof(raw)
        _check(self._lib, self._lib.np_msgpool_get_stats(self._handle, ctypes.byref(raw)))
        return MessagePoolStats(*[getattr(raw, name) for name in _STATS_FIELDS])

    def class_stats(self, index: int) -> MessageClassStats:
        """A snapshot of class index (0 to class_count - 1, ascending sizes)."""
        raw = _native.np_msgpool_class_stats()
        raw.struct_size = ctypes.sizeof(raw)
        _check(self._lib, self._lib.np_msgpool_get_class_stats(self._handle, index, ctypes.byref(raw)))
        return MessageClassStats(*[getattr(raw, name) for name in _CLASS_STATS_FIELDS])

    def all_class_stats(self) -> list[MessageClassStats]:
        """class_stats of every class, in order."""
        return [self.class_stats(k) for k in range(len(self.class_sizes))]

    def reset_stats(self) -> None:
        """Zeroes the event counters of every class and of the pool; peaks restart from in_flight."""
        _check(self._lib, self._lib.np_msgpool_reset_stats(self._handle))

    # ---------------------------------------------------------------- lifetime

    @property
    def handle(self) -> int:
        """The np_msgpool handle (0 once closed)."""
        return self._handle

    @property
    def closed(self) -> bool:
        return self._handle == 0

    def close(self) -> None:
        """Destroys the pool; buffers still in flight become invalid. A second close does nothing."""
        handle, self._handle = self._handle, 0
        if handle:
            self._handle_arg = _native.np_msgpool(0)  # later calls get NP_E_INVALID_HANDLE
            _check(self._lib, self._lib.np_msgpool_destroy(handle))

    def __enter__(self) -> "MessagePool":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"handle=0x{self._handle:x}"
        return f"MessagePool(class_sizes={self.class_sizes}, name={self.name!r}, {state})"


def _check(lib, status: int) -> None:
    if status:
        raise error_for(lib, status)


__all__ = ["MessagePool", "MessagePoolStats", "MessageClassStats", "DEFAULT_CLASS_SIZES", "NativePoolsError"]
