"""Pool: a fixed-size block pool in native memory, addressed by plain int addresses."""
from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass, fields

from . import _native
from ._loader import load_library
from .errors import NativePoolsError, error_for

PRESETS = {
    "small": _native.NP_POOL_PRESET_SMALL,
    "medium": _native.NP_POOL_PRESET_MEDIUM,
    "large": _native.NP_POOL_PRESET_LARGE,
}

_OWNERSHIP = {
    _native.NP_BLOCK_NOT_OWNED: None,
    _native.NP_BLOCK_ALLOCATED: "allocated",
    _native.NP_BLOCK_FREE: "free",
}


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of np_pool_stats (exact when no other thread is operating on the pool)."""

    block_size: int
    block_stride: int
    capacity: int
    in_use: int
    peak_in_use: int
    chunks: int
    bytes_reserved: int
    bytes_metadata: int
    allocations: int
    frees: int
    created: int
    reused: int
    failed_allocations: int
    double_frees: int
    foreign_frees: int
    invalid_frees: int
    poison_violations: int
    chunks_released: int
    cached_threads: int
    depot_blocks: int
    magazine_capacity: int
    reuse_rate: float


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """What np_pool_validate found; counts_checked is True when no other thread was active."""

    counts_checked: bool
    free_listed: int
    allocated: int
    free: int
    errors: int
    poison_violations: int


_STATS_FIELDS = tuple(f.name for f in fields(PoolStats))


class _Scratch(threading.local):
    """Out-parameters reused by every call on one thread, so hot calls allocate no ctypes objects."""

    def __init__(self):
        self.block = ctypes.c_void_p()
        self.block_ref = ctypes.byref(self.block)
        self.count = ctypes.c_size_t()
        self.count_ref = ctypes.byref(self.count)
        self.state = ctypes.c_int32()
        self.state_ref = ctypes.byref(self.state)
        # alloc()'s out-parameter as one attribute: each attribute read of a threading.local costs
        # about 65 ns more than a plain one here, so hot paths read it once.
        self.alloc_out = (self.block, self.block_ref)


_scratch = _Scratch()


_pointer_value = ctypes.c_void_p.from_param


def _without_argtypes(lib, name):
    """A second function object for an export, with the default restype (int: np_status) and no
    argtypes; callers must pass C values only (see Pool._handle_value)."""
    function = lib._FuncPtr((name, lib))
    function.restype = ctypes.c_int32
    return function


class Pool:
    """A pool of fixed-size blocks. Use as a context manager, or call close().

    Every method may run on any thread concurrently with any other, except close().
    Failures raise NativePoolsError.
    """

    def __init__(self, block_size: int, *, alignment: int = 0, initial_blocks: int = 0,
                 growth_blocks: int = 0, max_blocks: int = 0, zero_on_alloc: bool = False,
                 poison_on_free: bool = False, name: str | None = None):
        self._handle = 0
        lib = load_library()
        options = _native.np_pool_options()
        _check(lib, lib.np_pool_options_init(ctypes.byref(options)))
        options.block_size = block_size
        self._create(lib, options, alignment, initial_blocks, growth_blocks, max_blocks,
                     zero_on_alloc, poison_on_free, name)

    @classmethod
    def preset(cls, preset: str | int, *, alignment: int = 0, initial_blocks: int = 0,
               growth_blocks: int = 0, max_blocks: int = 0, zero_on_alloc: bool = False,
               poison_on_free: bool = False, name: str | None = None) -> "Pool":
        """A pool of a preset size: "small" (264 B), "medium" (1 KiB) or "large" (10 KiB).

        The other options are those of Pool(); the name defaults to the preset's. An int preset
        goes to the library unchecked (unknown ones raise NP_E_INVALID_ARGUMENT).
        """
        if isinstance(preset, str):
            if preset not in PRESETS:
                raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
            code = PRESETS[preset]
            name = preset if name is None else name
        else:
            code = preset
        pool = cls.__new__(cls)
        pool._handle = 0
        lib = load_library()
        options = _native.np_pool_options()
        _check(lib, lib.np_pool_options_preset(ctypes.byref(options), code))
        pool._create(lib, options, alignment, initial_blocks, growth_blocks, max_blocks,
                     zero_on_alloc, poison_on_free, name)
        return pool

    def _create(self, lib, options, alignment, initial_blocks, growth_blocks, max_blocks,
                zero_on_alloc, poison_on_free, name):
        options.alignment = alignment
        options.initial_blocks = initial_blocks
        options.growth_blocks = growth_blocks
        options.max_blocks = max_blocks
        options.flags = ((_native.NP_POOL_ZERO_ON_ALLOC if zero_on_alloc else 0)
                         | (_native.NP_POOL_POISON_ON_FREE if poison_on_free else 0))
        # The struct keeps the encoded name alive; the library copies it during create.
        options.name = None if name is None else name.encode("utf-8")
        handle = _native.np_pool()
        _check(lib, lib.np_pool_create(ctypes.byref(options), ctypes.byref(handle)))
        self._lib = lib
        self._handle = handle.value
        # Calls with argtypes pass this prebuilt argument: converting a Python int costs ctypes about 0.3 µs per call.
        self._handle_arg = _native.np_pool(self._handle)
        # alloc() and free() go further: their function objects have no argtypes, so ctypes does not
        # call a from_param per argument (about 0.1-0.3 µs each here); they get arguments that are
        # already C values: this one is copied as is, out-parameters are byref() objects, and free's
        # block goes in a reused c_void_p.
        self._handle_value = _native.np_pool.from_param(self._handle)
        self.block_size = options.block_size
        self.name = name
        # Pre-bound function objects keep the hot methods to one attribute load per call.
        self._np_alloc = _without_argtypes(lib, "np_pool_alloc")
        self._np_free = _without_argtypes(lib, "np_pool_free")
        self._np_alloc_batch = lib.np_pool_alloc_batch
        self._np_free_batch = lib.np_pool_free_batch
        self._np_owns = lib.np_pool_owns

    # ---------------------------------------------------------------- hot path

    def alloc(self) -> int:
        """Takes one block and returns its address."""
        block, block_ref = _scratch.alloc_out
        status = self._np_alloc(self._handle_value, block_ref)
        if status:
            raise error_for(self._lib, status)
        return block.value

    def free(self, address: int) -> None:
        """Returns one block."""
        # ctypes would keep only the low 64 bits of a wider int (which may name a real block).
        try:
            outside = address >> 64
        except TypeError:
            raise TypeError(f"a block address is an int, not {type(address).__name__}") from None
        if outside:
            raise OverflowError(f"{address:#x} is not a 64-bit address")
        # A C value made directly (no per-thread scratch to look up, nothing shared between threads).
        status = self._np_free(self._handle_value, _pointer_value(address))
        if status:
            raise error_for(self._lib, status)

    def alloc_batch(self, count: int) -> list[int]:
        """Takes count blocks in one library call.

        On failure the raised error's .blocks lists the blocks that were taken: they belong to the caller.
        """
        blocks = (ctypes.c_void_p * count)()
        scratch = _scratch
        status = self._np_alloc_batch(self._handle_arg, blocks, count, scratch.count_ref)
        taken = blocks[:scratch.count.value]
        if status:
            error = error_for(self._lib, status)
            error.blocks = taken
            raise error
        return taken

    def free_batch(self, addresses) -> int:
        """Returns blocks in one library call; returns how many were freed.

        Invalid entries are skipped (and counted by the pool); the raised error has the status of
        the first one and .freed tells how many valid entries were freed anyway.
        """
        count = len(addresses)
        blocks = (ctypes.c_void_p * count)(*addresses)
        scratch = _scratch
        status = self._np_free_batch(self._handle_arg, blocks, count, scratch.count_ref)
        freed = scratch.count.value
        if status:
            error = error_for(self._lib, status)
            error.freed = freed
            raise error
        return freed

    def owns(self, address: int) -> str | None:
        """"allocated" or "free" when address is the start of a block of this pool, else None."""
        scratch = _scratch
        status = self._np_owns(self._handle_arg, address, scratch.state_ref)
        if status:
            raise error_for(self._lib, status)
        return _OWNERSHIP[scratch.state.value]

    # ---------------------------------------------------------------- maintenance

    def reserve(self, free_blocks: int) -> None:
        """Grows the pool until at least free_blocks blocks are free, with their pages faulted in."""
        _check(self._lib, self._lib.np_pool_reserve(self._handle, free_blocks))

    def trim(self) -> int:
        """Gives chunks with no block in use back to the OS; returns the bytes released."""
        released = ctypes.c_uint64()
        _check(self._lib, self._lib.np_pool_trim(self._handle, ctypes.byref(released)))
        return released.value

    def validate(self) -> ValidationReport:
        """Walks the pool's metadata. NP_E_CORRUPTED raises with the report attached as .report."""
        raw = _native.np_pool_validation()
        raw.struct_size = ctypes.sizeof(raw)
        status = self._lib.np_pool_validate(self._handle, ctypes.byref(raw))
        report = ValidationReport(bool(raw.counts_checked), raw.free_listed, raw.allocated, raw.free,
                                  raw.errors, raw.poison_violations)
        if status:
            error = error_for(self._lib, status)
            error.report = report
            raise error
        return report

    def stats(self) -> PoolStats:
        """A snapshot of the pool's counters."""
        raw = _native.np_pool_stats()
        raw.struct_size = ctypes.sizeof(raw)
        _check(self._lib, self._lib.np_pool_get_stats(self._handle, ctypes.byref(raw)))
        return PoolStats(*[getattr(raw, name) for name in _STATS_FIELDS])

    def reset_stats(self) -> None:
        """Zeroes the event counters; the peak restarts from the current in_use."""
        _check(self._lib, self._lib.np_pool_reset_stats(self._handle))

    # ---------------------------------------------------------------- lifetime

    @property
    def handle(self) -> int:
        """The np_pool handle (0 once closed)."""
        return self._handle

    @property
    def closed(self) -> bool:
        return self._handle == 0

    def close(self) -> None:
        """Destroys the pool; blocks still out become invalid. A second close does nothing."""
        handle, self._handle = self._handle, 0
        if handle:
            self._handle_arg = _native.np_pool(0)  # later calls get NP_E_INVALID_HANDLE
            self._handle_value = _native.np_pool.from_param(0)
            _check(self._lib, self._lib.np_pool_destroy(handle))

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"handle=0x{self._handle:x}"
        return f"Pool(block_size={self.block_size}, name={self.name!r}, {state})"


def _check(lib, status: int) -> None:
    if status:
        raise error_for(lib, status)


__all__ = ["Pool", "PoolStats", "ValidationReport", "PRESETS", "NativePoolsError"]
