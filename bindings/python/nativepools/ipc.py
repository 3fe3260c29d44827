"""IPC: request/response between processes over shared-memory rings (np_server_* / np_client_*).

    from nativepools import Client, Server
    with Server("@my-service") as server:              # "@name": Linux abstract socket namespace
        server.add_route("echo", lambda route_id, request: request)
        server.start()
        with Client.connect("@my-service") as client:
            assert client.call("echo", b"hello") == b"hello"

A Server runs handler routes on its worker threads (the library's threads; each handler call takes
the GIL) and queues pull-route requests for Server.receive() on any thread. A Client serializes
its calls; open one Client per thread for parallel calls. Every library call releases the GIL
(ctypes does), so Python threads wait and copy in parallel. Timeouts are in milliseconds; None is
NP_WAIT_FOREVER (a dead peer still ends the wait with NP_E_PEER_GONE). Failures raise
NativePoolsError with the library's status and detail message.
"""
from __future__ import annotations

import atexit
import ctypes
import logging
import os
import threading
import weakref
from dataclasses import dataclass, fields
from typing import Callable, Union

from . import _native
from ._loader import load_library
from .errors import NativePoolsError, error_for, text

WAIT_FOREVER = _native.NP_WAIT_FOREVER
ROUTE_NAME_MAX = _native.NP_ROUTE_NAME_MAX
DEFAULT_MAX_MESSAGE_SIZE = _native.NP_DEFAULT_MAX_MESSAGE_SIZE
MAX_MESSAGE_SIZE = _native.NP_MAX_MESSAGE_SIZE

# What a handler's exception turns into (the client's call fails with NP_E_HANDLER_FAILED and its
# detail names this status): NP_E_INTERNAL, "an unexpected failure", unless the exception is a
# NativePoolsError with a negative status, which is passed on as is.
HANDLER_EXCEPTION_STATUS = _native.NP_E_INTERNAL

# Responses are first received into a per-client buffer of this size (or the connection's maximum
# message size when smaller); a larger response grows it (NP_E_BUFFER_TOO_SMALL, then receive).
_INITIAL_RESPONSE_BUFFER = 64 * 1024
_UINT32_MAX = 0xFFFF_FFFF

Payload = Union[bytes, bytearray, memoryview]
Handler = Callable[[int, Payload], Union[Payload, None]]

_log = logging.getLogger("nativepools.ipc")

# memoryviews straight over native memory: no ctypes array object per view, and format "B".
_PyBUF_READ = 0x100
_PyBUF_WRITE = 0x200
_memory_view = ctypes.pythonapi.PyMemoryView_FromMemory
_memory_view.restype = ctypes.py_object
_memory_view.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int]

# A ctypes callback on a thread Python did not start creates a Python thread state when it takes
# the GIL and deletes it when it returns: about two thirds of a small handler call here. Each
# server worker thread therefore takes one extra PyGILState_Ensure() on its first call and keeps
# it, so its thread state lives as long as the thread (ctypes' own Ensure/Release then only take
# and drop the GIL). The cost: one thread state (a few KiB) left behind per worker thread that
# ever ran a Python handler, freed at interpreter exit.
_gil_state_ensure = ctypes.pythonapi.PyGILState_Ensure
_gil_state_ensure.restype = ctypes.c_int
_gil_state_ensure.argtypes = []
_pinned = threading.local()  # lives in the thread state: empty again whenever that state is new


# ==================================================================================== stats


@dataclass(frozen=True, slots=True)
class ServerStats:
    """A snapshot of np_server_stats (recent values while the server runs), plus reuse_rate:
    buffers_reused / (buffers_created + buffers_reused), 0.0 before the first request."""

    connections_now: int
    connections_peak: int
    connections_total: int
    connections_rejected: int
    requests: int
    responses: int
    error_responses: int
    bytes_in: int
    bytes_out: int
    protocol_errors: int
    handler_errors: int
    unknown_routes: int
    peer_hangups: int
    idle_closed: int
    pending_requests: int
    buffers_created: int
    buffers_reused: int
    client_limit_hits: int
    refused_no_descriptor: int
    accept_backoffs: int
    reuse_rate: float


@dataclass(frozen=True, slots=True)
class RouteStats:
    """A snapshot of np_route_stats: one route's counters."""

    route_id: int
    requests: int
    responses: int
    errors: int
    bytes_in: int
    bytes_out: int


_SERVER_STATS_FIELDS = tuple(f.name for f in fields(ServerStats) if f.name != "reuse_rate")
_ROUTE_STATS_FIELDS = tuple(f.name for f in fields(RouteStats))


class Request:
    """A pull-mode request from Server.receive(). Answer it exactly once with Server.reply() or
    Server.reply_error().

    route_id: the route the client called; token: np_request.token; data: the payload as bytes (a
    copy, yours to keep); view: a writable zero-copy memoryview of the library's private copy of
    the payload, valid only until the reply (the binding releases it then; slices you took stay
    pointing at memory the library reuses). Replying with request.view itself is allowed.
    """

    __slots__ = ("route_id", "token", "data", "view", "_answered")

    def __init__(self, route_id: int, token: int, data: bytes, view: memoryview):
        self.route_id = route_id
        self.token = token
        self.data = data
        self.view = view
        self._answered = False

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"Request(route_id={self.route_id}, token=0x{self.token:x}, length={len(self.data)})"


# ==================================================================================== helpers


def _error(lib, status: int, detail: str) -> NativePoolsError:
    """A NativePoolsError for a check the binding makes itself (no library call failed)."""
    return NativePoolsError(status, text(lib.np_status_name(status)), text(lib.np_status_message(status)), detail)


def _check(lib, status: int) -> None:
    if status:
        raise error_for(lib, status)


def _timeout(timeout_ms) -> int:
    """None -> NP_WAIT_FOREVER; otherwise whole milliseconds 0 .. NP_WAIT_FOREVER."""
    if timeout_ms is None:
        return WAIT_FOREVER
    value = int(timeout_ms)
    if value != timeout_ms and isinstance(timeout_ms, float):
        value += 1  # round a fractional wait up, never down to 0 ("do not wait")
    if not 0 <= value <= WAIT_FOREVER:
        raise ValueError(f"timeout_ms {timeout_ms!r} is outside 0 .. {WAIT_FOREVER} (None waits forever)")
    return value


def _payload(data):
    """(argument for a const void*, length, keep-alive) of a bytes-like object without copying
    bytes, bytearrays and writable contiguous buffers; other buffers are copied once."""
    if data is None:
        return None, 0, None
    if type(data) is bytes:
        return data, len(data), None
    view = data if type(data) is memoryview else memoryview(data)  # TypeError for str, int, ...
    if not view.c_contiguous or view.readonly:
        copy = view.tobytes()
        return copy, len(copy), None
    length = view.nbytes
    if length == 0:
        return None, 0, None
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    array = (ctypes.c_char * length).from_buffer(view)
    return array, length, array


def _c_string(lib, value, what: str, status: int = _native.NP_E_INVALID_ARGUMENT) -> bytes:
    """value as the bytes of a C string; a NUL inside would silently cut it short, so it raises."""
    encoded = value.encode("utf-8") if isinstance(value, str) else os.fsencode(value)
    if b"\0" in encoded:
        raise _error(lib, status, f"the {what} {value!r} contains a NUL character")
    return encoded


def _release(view) -> None:
    """Best effort: makes later use of a view over library memory raise instead of reading it."""
    if view is not None:
        try:
            view.release()
        except BufferError:
            pass  # something still exports it (a ctypes object, numpy); it just stays usable


class _Scratch(threading.local):
    """Out-parameters reused by every call on one thread, so hot calls allocate no ctypes objects."""

    def __init__(self):
        self.u32 = ctypes.c_uint32()
        self.u32_ref = ctypes.byref(self.u32)
        self.u64 = ctypes.c_uint64()
        self.u64_ref = ctypes.byref(self.u64)
        self.pointer = ctypes.c_void_p()
        self.pointer_ref = ctypes.byref(self.pointer)
        self.request = _native.np_request()
        self.request.struct_size = ctypes.sizeof(_native.np_request)
        self.request_ref = ctypes.byref(self.request)
        # request.data read as a plain address (an int), without a POINTER object and a cast.
        self.request_data = ctypes.c_void_p.from_buffer(self.request, _native.np_request.data.offset)


_scratch = _Scratch()


# ==================================================================================== server


class _ErrorSink:
    """What handler trampolines report to. Deliberately not the Server: a trampoline that held the
    server would make a reference cycle that the collector might finalize on a worker thread."""

    __slots__ = ("callback", "count", "last", "_lock")

    def __init__(self, callback):
        self.callback = callback
        self.count = 0
        self.last: BaseException | None = None
        self._lock = threading.Lock()  # several worker threads may report at once

    def report(self, route_id: int, error: BaseException) -> None:
        with self._lock:
            self.count += 1
            self.last = error
        try:
            if self.callback is None:
                _log.error("handler of route %d raised", route_id, exc_info=error)
            else:
                self.callback(route_id, error)
        except BaseException:  # an error hook must not turn into an unraisable ctypes callback error
            pass


def _trampoline(handler: Handler, zero_copy: bool, sink: _ErrorSink):
    """Wraps handler(route_id, request) -> bytes-like in an np_handler_fn.

    The request is bytes (a copy) or, with zero_copy, a read-only memoryview valid only during the
    call. The result (bytes, bytearray, memoryview or any contiguous buffer; None = empty) is copied
    into the response buffer. An exception returns HANDLER_EXCEPTION_STATUS (or a NativePoolsError's
    own negative status); a result larger than the response buffer returns NP_E_BUFFER_TOO_SMALL.
    Either way the client's call fails with NP_E_HANDLER_FAILED and the error goes to the sink.
    """
    string_at = ctypes.string_at
    memmove = ctypes.memmove
    memory_view = _memory_view

    def trampoline(_user_data, route_id, request, request_length, response, capacity, response_length):
        payload = None
        try:
            if not _pinned.__dict__:
                _gil_state_ensure()  # the GIL is held: this only keeps the thread state (see above)
                _pinned.done = True
            if request_length == 0:
                payload = memoryview(b"") if zero_copy else b""
            elif zero_copy:
                payload = memory_view(request, request_length, _PyBUF_READ)
            else:
                payload = string_at(request, request_length)
            result = handler(route_id, payload)
            if result is None:
                length = 0
            elif type(result) is bytes:
                length = len(result)
                if length > capacity:
                    raise _TooLarge(length, capacity)
                memmove(response, result, length)
            else:
                source = memoryview(result)
                if not source.c_contiguous:
                    source = memoryview(source.tobytes())
                length = source.nbytes
                if length > capacity:
                    raise _TooLarge(length, capacity)
                if length:
                    if source.format != "B" or source.ndim != 1:
                        source = source.cast("B")
                    memory_view(response, length, _PyBUF_WRITE)[:] = source
            response_length[0] = length
            return 0
        except _TooLarge as error:
            sink.report(route_id, ValueError(
                f"route {route_id}: the handler returned {error.args[0]} bytes; the response holds at most "
                f"{error.args[1]} (the server's max_message_size)"))
            return _native.NP_E_BUFFER_TOO_SMALL
        except BaseException as error:  # nothing may leave a ctypes callback: the worker would send garbage
            sink.report(route_id, error)
            if isinstance(error, NativePoolsError) and isinstance(error.status, int) and -(1 << 31) <= error.status < 0:
                return error.status
            return HANDLER_EXCEPTION_STATUS
        finally:
            if zero_copy and type(payload) is memoryview:
                _release(payload)

    return _native.np_handler_fn(trampoline)


class _TooLarge(Exception):
    pass


_live_servers: "weakref.WeakSet[Server]" = weakref.WeakSet()


@atexit.register
def _close_live_servers() -> None:
    # A server still running at interpreter exit would call Python handlers while the interpreter
    # is being torn down: stop every one first.
    for server in list(_live_servers):
        try:
            server.close()
        except Exception:
            pass


class Server:
    """An IPC server. Add routes, start(), serve; stop() or close() (also by the context manager).

    address: "@name" for the Linux abstract namespace (recommended; unique per service), or a
    socket path whose directory is private (0700, created if missing). Sizes of 0 pick the
    library's defaults (see np_server_options in nativepools.h). allowed_uids: peer uids allowed
    besides the server's own. on_handler_error(route_id, exception) hears every exception a
    handler raised (and every too-large result); by default it is logged on the
    "nativepools.ipc" logger. Failures raise NativePoolsError.
    """

    def __init__(self, address: str | bytes | os.PathLike, *, ring_size: int = 0, max_message_size: int = 0,
                 max_clients: int = 0, worker_threads: int = 0, idle_timeout_ms: int = 0, spin_us: int = 0,
                 max_pending: int = 0, max_client_pending: int = 0, max_client_pending_bytes: int = 0,
                 allowed_uids=(), name: str | None = None,
                 on_handler_error: Callable[[int, BaseException], None] | None = None):
        self._handle = 0
        self._callbacks: list = []  # every np_handler_fn the library may call, kept until destroy
        self._routes: dict[str, int] = {}
        self._sink = _ErrorSink(on_handler_error)
        lib = load_library()
        options = _native.np_server_options()
        _check(lib, lib.np_server_options_init(ctypes.byref(options)))
        sizes = dict(ring_size=ring_size, max_message_size=max_message_size, max_clients=max_clients,
                     worker_threads=worker_threads, idle_timeout_ms=idle_timeout_ms, spin_us=spin_us,
                     max_pending=max_pending, max_client_pending=max_client_pending,
                     max_client_pending_bytes=max_client_pending_bytes)
        for field, value in sizes.items():
            # ctypes would silently wrap a negative or too large value into the uint32 field.
            if not 0 <= value <= _UINT32_MAX:
                raise _error(lib, _native.NP_E_INVALID_ARGUMENT, f"{field} {value} is outside 0 .. {_UINT32_MAX}")
            setattr(options, field, value)
        uids = list(allowed_uids)
        if not all(0 <= uid <= _UINT32_MAX for uid in uids):
            raise _error(lib, _native.NP_E_INVALID_ARGUMENT, f"allowed_uids {uids} holds a value that is not a uid")
        uid_array = (ctypes.c_uint32 * len(uids))(*uids) if uids else None  # copied by create
        options.allowed_uid_count = len(uids)
        options.allowed_uids = uid_array
        encoded = _c_string(lib, address, "address")
        options.address = encoded
        options.name = None if name is None else _c_string(lib, name, "name")
        handle = _native.np_server()
        _check(lib, lib.np_server_create(ctypes.byref(options), ctypes.byref(handle)))
        self._lib = lib
        self._handle = handle.value
        self._handle_arg = _native.np_server(self._handle)
        self.address = os.fsdecode(encoded)
        self.name = name
        self.max_message_size = max_message_size or DEFAULT_MAX_MESSAGE_SIZE
        self._np_receive = lib.np_server_receive
        self._np_reply = lib.np_server_reply
        self._np_reply_error = lib.np_server_reply_error
        _live_servers.add(self)

    # ---------------------------------------------------------------- setup

    def add_route(self, name: str, handler: Handler | None = None, *, zero_copy: bool = False) -> int:
        """Registers a route before start() and returns its id (1, 2, ... in order).

        handler(route_id, request) -> bytes-like (or None for an empty response) runs on a server
        worker thread for each request; request is bytes, or with zero_copy a read-only memoryview
        valid only during the call. Without a handler the route is pull-mode: Server.receive().
        """
        if handler is not None and not callable(handler):
            raise TypeError(f"handler must be callable or None, not {type(handler).__name__}")
        callback = None if handler is None else _trampoline(handler, zero_copy, self._sink)
        route_id = ctypes.c_uint32()
        _check(self._lib, self._lib.np_server_add_route(
            self._handle_arg, _c_string(self._lib, name, "route name"), callback, None, ctypes.byref(route_id)))
        if callback is not None:
            self._callbacks.append(callback)
        self._routes[name] = route_id.value
        return route_id.value

    def start(self) -> "Server":
        """Binds the address and starts serving; routes are fixed from now on. Returns self."""
        _check(self._lib, self._lib.np_server_start(self._handle_arg))
        return self

    def stop(self, drain_timeout_ms: int = 1000) -> None:
        """Stops accepting, serves what is in flight for up to drain_timeout_ms, answers the rest
        NP_E_SHUTDOWN and closes every connection. Stopping twice is harmless."""
        _check(self._lib, self._lib.np_server_stop(self._handle_arg, _timeout(drain_timeout_ms)))

    # ---------------------------------------------------------------- pull mode

    def receive(self, timeout_ms: int | None = None) -> Request | None:
        """The next request of any pull route, or None when none came within timeout_ms.

        Any thread, several at once. Raises NP_E_SHUTDOWN once the server stopped and
        NP_E_INVALID_STATE before start().
        """
        scratch = _scratch
        status = self._np_receive(self._handle_arg, _timeout(timeout_ms), scratch.request_ref)
        if status:
            if status == _native.NP_E_TIMEOUT:
                return None
            raise error_for(self._lib, status)
        raw = scratch.request
        length = raw.length
        if length:
            address = scratch.request_data.value
            data = ctypes.string_at(address, length)
            view = _memory_view(address, length, _PyBUF_WRITE)
        else:
            data = b""
            view = memoryview(bytearray())
        return Request(raw.route_id, raw.token, data, view)

    def reply(self, request: Request | int, data: Payload | None = b"") -> None:
        """Answers a pull request (a Request or its token) with a payload; never blocks.

        Raises NP_E_INVALID_ARGUMENT for a token already answered, NP_E_PEER_GONE when the client
        left, NP_E_SHUTDOWN when the stop answered it, NP_E_MESSAGE_TOO_LARGE.
        """
        token = self._token(request)
        pointer, length, keep = _payload(data)
        if length > _UINT32_MAX:
            raise _error(self._lib, _native.NP_E_MESSAGE_TOO_LARGE, f"the reply has {length} bytes")
        status = self._np_reply(self._handle_arg, token, pointer, length)
        del pointer, keep
        self._answered(request, status)
        if status:
            raise error_for(self._lib, status)

    def reply_error(self, request: Request | int, status: int = _native.NP_E_INTERNAL) -> None:
        """Answers a pull request with a negative status: the client's call raises
        NP_E_HANDLER_FAILED with this status in its detail (NP_E_SHUTDOWN and NP_E_UNKNOWN_ROUTE
        reach the client as themselves)."""
        token = self._token(request)
        if not -(1 << 31) <= status <= (1 << 31) - 1:
            raise ValueError(f"status {status} is not an int32")
        result = self._np_reply_error(self._handle_arg, token, status)
        self._answered(request, result)
        if result:
            raise error_for(self._lib, result)

    @staticmethod
    def _token(request) -> int:
        token = request.token if isinstance(request, Request) else request
        if not 0 <= token <= 0xFFFF_FFFF_FFFF_FFFF:
            raise ValueError(f"token {token!r} is not a uint64")
        return token

    @staticmethod
    def _answered(request, status: int) -> None:
        # The library frees (or reuses) the request's data once the token is spent: after any reply
        # that was not refused for bad arguments, the view must not be read any more.
        if isinstance(request, Request) and status in (0, _native.NP_E_PEER_GONE, _native.NP_E_SHUTDOWN):
            request._answered = True
            _release(request.view)

    # ---------------------------------------------------------------- stats

    def stats(self) -> ServerStats:
        """A snapshot of the server's counters."""
        raw = _native.np_server_stats()
        raw.struct_size = ctypes.sizeof(raw)
        _check(self._lib, self._lib.np_server_get_stats(self._handle_arg, ctypes.byref(raw)))
        values = [getattr(raw, name) for name in _SERVER_STATS_FIELDS]
        taken = raw.buffers_created + raw.buffers_reused
        return ServerStats(*values, raw.buffers_reused / taken if taken else 0.0)

    def route_stats(self, route: int | str) -> RouteStats:
        """A snapshot of one route's counters (by id or by the name given to add_route)."""
        if isinstance(route, str):
            if route not in self._routes:
                raise _error(self._lib, _native.NP_E_UNKNOWN_ROUTE, f"the server has no route named {route!r}")
            route_id = self._routes[route]
        elif not 0 <= route <= _UINT32_MAX:
            raise _error(self._lib, _native.NP_E_UNKNOWN_ROUTE, f"route id {route} is not a uint32")
        else:
            route_id = route
        raw = _native.np_route_stats()
        raw.struct_size = ctypes.sizeof(raw)
        _check(self._lib, self._lib.np_server_get_route_stats(self._handle_arg, route_id, ctypes.byref(raw)))
        return RouteStats(*[getattr(raw, name) for name in _ROUTE_STATS_FIELDS])

    @property
    def routes(self) -> dict[str, int]:
        """Route name -> id, in registration order."""
        return dict(self._routes)

    @property
    def handler_exceptions(self) -> int:
        """How many handler calls raised (or returned too much) since creation."""
        return self._sink.count

    @property
    def last_handler_exception(self) -> BaseException | None:
        return self._sink.last

    # ---------------------------------------------------------------- lifetime

    @property
    def handle(self) -> int:
        """The np_server handle (0 once closed)."""
        return self._handle

    @property
    def closed(self) -> bool:
        return self._handle == 0

    def close(self) -> None:
        """Stops the server without draining (in-flight requests get NP_E_SHUTDOWN) and frees it.
        A second close does nothing. Must not be called from one of its handlers."""
        handle = self._handle
        if not handle:
            return
        # Destroy joins the worker threads: only then may the handler callbacks be freed.
        _check(self._lib, self._lib.np_server_destroy(handle))
        self._handle = 0
        self._handle_arg = _native.np_server(0)  # later calls get NP_E_INVALID_HANDLE
        self._callbacks.clear()
        _live_servers.discard(self)

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self):
        # Dropping a running server must not leave the library calling freed callbacks.
        handle = self._handle
        if not handle:
            return
        self._handle = 0
        _live_servers.discard(self)
        if self._lib.np_server_destroy(handle) != 0:
            # NP_E_INVALID_STATE: the collector ran inside one of this server's own handlers (a
            # reference cycle through a handler). Destroy it from another thread, which keeps the
            # callbacks alive until the workers, this one included, have ended.
            lib, callbacks = self._lib, list(self._callbacks)

            def destroy_later():
                lib.np_server_destroy(handle)
                callbacks.clear()

            threading.Thread(target=destroy_later, name="nativepools-server-destroy", daemon=True).start()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"handle=0x{self._handle:x}"
        return f"Server(address={self.address!r}, routes={list(self._routes)}, {state})"


# ==================================================================================== client


class Client:
    """A connection to a Server. Client.connect(address) or Client(address); close() or use as a
    context manager.

    Routes are given by id (from resolve()) or by name (resolved once and cached). Calls from
    several threads are safe but run one at a time; open one client per thread to call in
    parallel, or pipeline with send()/receive(). close() must not race with other calls.
    Failures raise NativePoolsError; an error response also carries .request_id (receive()).
    """

    def __init__(self, address: str | bytes | os.PathLike, *, timeout_ms: int | None = 5000,
                 allowed_server_uids=()):
        self._handle = 0
        self._claim: memoryview | None = None
        self._claim_length = 0
        lib = load_library()
        encoded = _c_string(lib, address, "address")
        handle = _native.np_client()
        # Only a server of this process's uid or of one in allowed_server_uids is trusted.
        uids = list(allowed_server_uids)
        if any(not isinstance(uid, int) or not 0 <= uid <= 0xFFFFFFFF for uid in uids):
            raise _error(lib, _native.NP_E_INVALID_ARGUMENT, f"allowed_server_uids {uids} holds a value that is not a uid")
        options = _native.np_client_options()
        _check(lib, lib.np_client_options_init(ctypes.byref(options)))
        uid_array = (ctypes.c_uint32 * max(len(uids), 1))(*uids)
        options.allowed_server_uid_count = len(uids)
        options.allowed_server_uids = uid_array
        _check(lib, lib.np_client_connect_with(encoded, _timeout(timeout_ms), ctypes.byref(options), ctypes.byref(handle)))
        self._lib = lib
        self._handle = handle.value
        self._handle_arg = _native.np_client(self._handle)
        self.address = os.fsdecode(encoded)
        size = ctypes.c_uint32()
        _check(lib, lib.np_client_max_message_size(self._handle_arg, ctypes.byref(size)))
        self.max_message_size = size.value
        self._routes: dict[str, int] = {}
        # call() and receive() share one response buffer and, on NP_E_BUFFER_TOO_SMALL, must take
        # the queued response before anyone else: both run under this lock.
        self._lock = threading.Lock()
        self._buffer = (ctypes.c_uint8 * min(_INITIAL_RESPONSE_BUFFER, max(self.max_message_size, 1)))()
        self._buffer_view = memoryview(self._buffer).cast("B")  # view[:n].tobytes() beats string_at
        self._capacity = len(self._buffer)
        self._length = ctypes.c_uint32()
        self._length_ref = ctypes.byref(self._length)
        self._request_id = ctypes.c_uint64()
        self._request_id_ref = ctypes.byref(self._request_id)
        self._np_call = lib.np_client_call
        self._np_send = lib.np_client_send
        self._np_receive = lib.np_client_receive
        self._np_claim = lib.np_client_claim
        self._np_commit = lib.np_client_commit

    @classmethod
    def connect(cls, address: str | bytes | os.PathLike, timeout_ms: int | None = 5000,
                allowed_server_uids=()) -> "Client":
        """Connects, retrying while nobody listens at address yet, for up to timeout_ms (0: once).
        The server must run under this process's uid or one of allowed_server_uids.

        Raises NP_E_TIMEOUT, NP_E_PERMISSION_DENIED, NP_E_SERVER_FULL, NP_E_UNTRUSTED_PEER,
        NP_E_PROTOCOL, NP_E_IO.
        """
        return cls(address, timeout_ms=timeout_ms, allowed_server_uids=allowed_server_uids)

    # ---------------------------------------------------------------- routes

    def resolve(self, name: str) -> int:
        """The id of a route by name (a local lookup; raises NP_E_UNKNOWN_ROUTE)."""
        route_id = self._routes.get(name)
        if route_id is None:
            scratch = _scratch
            encoded = _c_string(self._lib, name, "route name", _native.NP_E_UNKNOWN_ROUTE)
            _check(self._lib, self._lib.np_client_resolve(self._handle_arg, encoded, scratch.u32_ref))
            route_id = self._routes[name] = scratch.u32.value
        return route_id

    def _route_id(self, route) -> int:
        if type(route) is int:
            if not 0 <= route <= _UINT32_MAX:
                raise _error(self._lib, _native.NP_E_UNKNOWN_ROUTE, f"route id {route} is not a uint32")
            return route
        if isinstance(route, str):
            return self.resolve(route)
        return self._route_id(int(route))

    # ---------------------------------------------------------------- request/response

    def call(self, route: int | str, data: Payload | None = b"", *, timeout_ms: int | None = None,
             max_response: int | None = None) -> bytes:
        """Sends a request and returns the response payload.

        A response larger than the client's buffer grows it and is taken with receive (no resend).
        With max_response, a larger response is received and discarded, and the call raises
        NP_E_BUFFER_TOO_SMALL with .needed set to its size. timeout_ms covers room and response (0:
        only an immediate answer; a late response is dropped by the library). Raises
        NP_E_HANDLER_FAILED (the handler failed; the detail names its status), NP_E_UNKNOWN_ROUTE,
        NP_E_MESSAGE_TOO_LARGE (nothing sent), NP_E_TIMEOUT, NP_E_PEER_GONE, NP_E_SHUTDOWN,
        NP_E_INVALID_STATE while pipelined responses are outstanding.
        """
        # Fast paths first (an int route, bytes, no timeout): this method is the hot path.
        route_id = route if type(route) is int and 0 <= route <= _UINT32_MAX else self._route_id(route)
        if type(data) is bytes:
            pointer, length, keep = data, len(data), None
        else:
            pointer, length, keep = _payload(data)
        if length > _UINT32_MAX:
            raise _error(self._lib, _native.NP_E_MESSAGE_TOO_LARGE, f"the request has {length} bytes")
        timeout = WAIT_FOREVER if timeout_ms is None else _timeout(timeout_ms)
        with self._lock:
            capacity = self._capacity
            if max_response is not None:
                if max_response < 0:
                    raise ValueError(f"max_response {max_response} is negative")
                capacity = min(capacity, max_response)
            status = self._np_call(self._handle_arg, route_id, pointer, length, self._buffer, capacity,
                                   self._length_ref, timeout)
            if status == 0:
                return self._buffer_view[:self._length.value].tobytes()
            if status != _native.NP_E_BUFFER_TOO_SMALL:
                raise error_for(self._lib, status)
            # The response stays queued as a pipelined one: take it now with a big enough buffer.
            needed = self._length.value
            _, response = self._receive_locked(timeout, needed)
            if max_response is not None and needed > max_response:
                error = _error(self._lib, _native.NP_E_BUFFER_TOO_SMALL,
                               f"the response has {needed} bytes, more than max_response {max_response}; "
                               f"it was received and discarded")
                error.needed = needed
                raise error
            return response

    def send(self, route: int | str, data: Payload | None = b"", *, timeout_ms: int | None = None) -> int:
        """Sends a request without waiting for its response (pipelining); returns its request id.
        Waits up to timeout_ms only for ring room."""
        route_id = self._route_id(route)
        pointer, length, keep = _payload(data)
        if length > _UINT32_MAX:
            raise _error(self._lib, _native.NP_E_MESSAGE_TOO_LARGE, f"the request has {length} bytes")
        scratch = _scratch
        status = self._np_send(self._handle_arg, route_id, pointer, length, scratch.u64_ref, _timeout(timeout_ms))
        if status:
            raise error_for(self._lib, status)
        return scratch.u64.value

    def receive(self, timeout_ms: int | None = None) -> tuple[int, bytes]:
        """The next response to a sent (or committed) request, in the order the server answered:
        (request_id, payload). An error response raises with .request_id set; NP_E_TIMEOUT when
        nothing came; NP_E_INVALID_STATE when nothing is outstanding."""
        timeout = _timeout(timeout_ms)
        with self._lock:
            return self._receive_locked(timeout, 0)

    def _receive_locked(self, timeout: int, needed: int) -> tuple[int, bytes]:
        while True:
            if needed > self._capacity:
                self._grow_locked(needed)
            status = self._np_receive(self._handle_arg, self._request_id_ref, self._buffer, self._capacity,
                                      self._length_ref, timeout)
            if status == 0:
                return self._request_id.value, self._buffer_view[:self._length.value].tobytes()
            if status == _native.NP_E_BUFFER_TOO_SMALL:
                needed = self._length.value
                continue
            error = error_for(self._lib, status)
            error.request_id = self._request_id.value or None
            raise error

    def _grow_locked(self, needed: int) -> None:
        size = len(self._buffer)
        while size < needed:
            size *= 2
        self._buffer = (ctypes.c_uint8 * max(size, needed))()
        self._buffer_view = memoryview(self._buffer).cast("B")
        self._capacity = len(self._buffer)

    # ---------------------------------------------------------------- zero copy

    def claim(self, route: int | str, length: int, *, timeout_ms: int | None = None) -> memoryview:
        """Reserves room for a request of up to length bytes in the shared ring and returns a
        writable memoryview of it: write the payload there, then commit() (or abort()). The view
        is released at commit/abort/close; do not keep slices of it."""
        route_id = self._route_id(route)
        if not 0 <= length <= _UINT32_MAX:
            raise _error(self._lib, _native.NP_E_MESSAGE_TOO_LARGE if length > 0 else _native.NP_E_INVALID_ARGUMENT,
                         f"claim length {length} is outside 0 .. {_UINT32_MAX}")
        scratch = _scratch
        status = self._np_claim(self._handle_arg, route_id, length, scratch.pointer_ref, _timeout(timeout_ms))
        if status:
            raise error_for(self._lib, status)
        view = _memory_view(scratch.pointer.value, length, _PyBUF_WRITE) if length else memoryview(bytearray())
        self._claim, self._claim_length = view, length
        return view

    def commit(self, length: int | None = None) -> int:
        """Publishes the claimed request with its final length (default: the claimed length);
        returns its request id. Receive the response with receive()."""
        if length is None:
            length = self._claim_length
        if not 0 <= length <= _UINT32_MAX:
            raise _error(self._lib, _native.NP_E_INVALID_ARGUMENT, f"commit length {length} is outside 0 .. {_UINT32_MAX}")
        scratch = _scratch
        status = self._np_commit(self._handle_arg, length, scratch.u64_ref)
        if status:
            raise error_for(self._lib, status)  # NP_E_INVALID_ARGUMENT leaves the claim open
        self._drop_claim()
        return scratch.u64.value

    def abort(self) -> None:
        """Gives up the open claim; nothing is sent."""
        status = self._lib.np_client_abort(self._handle_arg)
        if status:
            raise error_for(self._lib, status)
        self._drop_claim()

    def _drop_claim(self) -> None:
        view, self._claim = self._claim, None
        self._claim_length = 0
        _release(view)

    # ---------------------------------------------------------------- lifetime

    @property
    def handle(self) -> int:
        """The np_client handle (0 once closed)."""
        return self._handle

    @property
    def closed(self) -> bool:
        return self._handle == 0

    def close(self) -> None:
        """Closes the connection (the server sees the hang-up at once). A second close does nothing."""
        handle, self._handle = self._handle, 0
        if handle:
            self._drop_claim()
            self._handle_arg = _native.np_client(0)  # later calls get NP_E_INVALID_HANDLE
            _check(self._lib, self._lib.np_client_close(handle))

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self):
        # A dropped client hangs up, as a dropped socket does.
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"handle=0x{self._handle:x}"
        return f"Client(address={self.address!r}, max_message_size={self.max_message_size}, {state})"


__all__ = ["Server", "Client", "Request", "ServerStats", "RouteStats", "WAIT_FOREVER",
           "HANDLER_EXCEPTION_STATUS", "NativePoolsError"]
