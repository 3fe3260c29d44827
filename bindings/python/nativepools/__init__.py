"""Python binding of libnativepools (ctypes): fixed-size block pools, size-classed message pools
in native memory, and IPC request/response over shared memory.

    from nativepools import MessagePool, Pool
    with Pool.preset("small") as pool:
        block = pool.alloc()          # an int address; use ctypes.memmove / ctypes.string_at
        pool.free(block)
    with MessagePool() as messages:
        address, capacity = messages.acquire(300)   # from the 1 KiB class: capacity 1024
        messages.release(address)
    with Server("@my-service") as server:                 # IPC: see nativepools.ipc
        server.add_route("echo", lambda route_id, request: request)
        server.start()
        with Client.connect("@my-service") as client:
            assert client.call("echo", b"hi") == b"hi"

Constants (NP_OK, NP_E_*, NP_BLOCK_*, ...) live in nativepools.abi, the generated ABI module.
"""
from . import _native as abi
from ._loader import LIBRARY_ENV_VAR, load_library
from .errors import NativePoolsError, last_error_message, text
from .ipc import WAIT_FOREVER, Client, Request, RouteStats, Server, ServerStats
from .message_pool import DEFAULT_CLASS_SIZES, MessageClassStats, MessagePool, MessagePoolStats
from .pool import PRESETS, Pool, PoolStats, ValidationReport

#: The package's version: the header's, from the project's VERSION file through the generator.
__version__ = f"{abi.NP_VERSION_MAJOR}.{abi.NP_VERSION_MINOR}.{abi.NP_VERSION_PATCH}"


def version() -> str:
    """The loaded library's version string, e.g. "0.1.0"."""
    return text(load_library().np_version_string())


def version_number() -> int:
    """The loaded library's version as (major << 16) | (minor << 8) | patch."""
    return load_library().np_version()


def status_name(status: int) -> str:
    """The symbolic name of a status code, e.g. "NP_E_DOUBLE_FREE"."""
    return text(load_library().np_status_name(status))


def status_message(status: int) -> str:
    """A one-line description of a status code."""
    return text(load_library().np_status_message(status))


__all__ = [
    "abi", "load_library", "LIBRARY_ENV_VAR", "NativePoolsError", "last_error_message",
    "Pool", "PoolStats", "ValidationReport", "PRESETS",
    "MessagePool", "MessagePoolStats", "MessageClassStats", "DEFAULT_CLASS_SIZES",
    "Server", "Client", "Request", "ServerStats", "RouteStats", "WAIT_FOREVER",
    "version", "version_number", "status_name", "status_message",
]
