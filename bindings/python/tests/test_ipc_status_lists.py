"""Every IPC export's documented return list (the @return of native-headers/nativepools.h) holds
every status the export really returns.

The test drives each np_server_* and np_client_* export into the statuses it can produce: bad
input, wrong states, timeouts, a real server (handler and pull routes, stop), and a fake server
written here in Python that speaks the handshake and the ring layout by hand, so it can send what
a real server never does (a bad magic, a welcome without descriptors, a refusal, a server error
for an unknown route, garbage in the response ring). Each status an export returns is recorded
and must appear in that export's documented list; the statuses the issue found missing
(NP_E_PROTOCOL from send, claim and receive; NP_E_UNKNOWN_ROUTE from receive) must have been seen,
so the check cannot silently stop driving them. Detail messages of the handshake failures are
checked too.
"""
from __future__ import annotations

import ctypes
import fcntl
import mmap
import os
import re
import socket
import struct
import tempfile
import threading
import unittest
from collections import defaultdict
from pathlib import Path

from nativepools import _native
from nativepools._loader import load_library
from nativepools.errors import last_error_message, text
from tests.test_ipc_support import unique_address

HEADER = Path(__file__).absolute().parents[3] / "native-headers" / "nativepools.h"
STATUS_NAMES = {value: name for name, value in vars(_native).items()
                if (name == "NP_OK" or name.startswith("NP_E_")) and isinstance(value, int)}


def documented_returns() -> dict[str, set[str]]:
    """Function name -> the status names its @return lists ("As np_x()" takes np_x's list too)."""
    source = HEADER.read_text()
    lists: dict[str, set[str]] = {}
    inherits: dict[str, list[str]] = {}
    for doc, name in re.findall(r"/\*\*((?:(?!\*/).)*?)\*/\s*np_status\s+(np_(?:server|client)_\w+)\(", source, re.S):
        returns = doc.split("@return", 1)[1] if "@return" in doc else ""
        lists[name] = set(re.findall(r"\bNP_(?:OK|E_[A-Z_]+)\b", returns))
        inherits[name] = re.findall(r"\bAs (np_\w+)\(\)", returns)
    for name, parents in inherits.items():
        for parent in parents:
            lists[name] |= lists.get(parent, set())
    return lists


# ------------------------------------------------------------------ the fake server
#
# The layout as src/NativePools/Ipc/IpcLayout.cs defines it.
MAGIC, VERSION, PAGE = 0x5049504E, 2, 4096
RING = 4096
MAX_MESSAGE = 1024
ROUTE_TABLE = PAGE
CONTROL = ROUTE_TABLE + PAGE            # one route: one page of route table
REQUEST_DATA = CONTROL + PAGE
RESPONSE_DATA = REQUEST_DATA + RING
TOTAL = RESPONSE_DATA + RING
RESPONSE_CONTROL = CONTROL + 512         # requests' control at +0, responses' at +512
RING_TAIL = 0
KIND_RESPONSE, KIND_ERROR, KIND_SERVER_ERROR = 2, 3, 5
WELCOME = struct.Struct("<IIiIIIQIIQQQ")  # magic, version, status, ring, max message, routes, id, spin, reserved...
F_ADD_SEALS, F_SEAL_SHRINK, F_SEAL_GROW = 1033, 2, 4


class FakeServer:
    """Accepts one client on a Python thread and answers its handshake as `variant` says:
    "ok" (a valid connection whose rings the test then writes by hand), "magic", "version",
    "nofds", "refuse:<status>", "hangup"."""

    def __init__(self, variant: str):
        self.address = unique_address("fake")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind("\0" + self.address[1:])
        self.listener.listen(4)
        self.variant = variant
        self.connection: socket.socket | None = None
        self.memory: mmap.mmap | None = None
        self.fds: list[int] = []
        self.response_tail = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        self.connection = connection
        variant = self.variant
        if variant == "hangup":
            connection.close()
            return
        if variant.startswith("refuse:"):
            connection.send(WELCOME.pack(MAGIC, VERSION, int(variant[7:]), 0, 0, 0, 0, 0, 0, 0, 0, 0))
            return
        magic = 0x12345678 if variant == "magic" else MAGIC
        version = 7 if variant == "version" else VERSION
        welcome = WELCOME.pack(magic, version, 0, RING, MAX_MESSAGE, 1, 99, 0, 0, 0, 0, 0)
        if variant != "ok":
            connection.send(welcome)
            return
        memfd = os.memfd_create("np-fake", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        os.ftruncate(memfd, TOTAL)
        fcntl.fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)
        memory = mmap.mmap(memfd, TOTAL)
        struct.pack_into("<IIIII", memory, 0, MAGIC, VERSION, RING, MAX_MESSAGE, 1)
        struct.pack_into("<II", memory, ROUTE_TABLE, 1, 1)
        memory[ROUTE_TABLE + 8:ROUTE_TABLE + 9] = b"r"
        # The client's doorbell: a pipe whose read end the welcome passes; the server writes the other.
        bell_read, bell_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self.fds = [memfd, bell_read, bell_write]
        self.memory = memory
        socket.send_fds(connection, [welcome], self.fds[:2])

    def respond(self, kind: int, request_id: int, payload: bytes) -> None:
        """Writes one record into the response ring and publishes it."""
        self.thread.join()
        size = (len(payload) + 16 + 15) & ~15
        at = RESPONSE_DATA + self.response_tail % RING
        struct.pack_into("<IHHQ", self.memory, at, len(payload), kind, 0, request_id)
        self.memory[at + 16:at + 16 + len(payload)] = payload
        self.response_tail += size
        struct.pack_into("<Q", self.memory, RESPONSE_CONTROL + RING_TAIL, self.response_tail)
        os.write(self.fds[2], b"\1")

    def close(self) -> None:
        if self.thread.is_alive() and self.connection is None:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes an accept() nobody connected to
        self.thread.join(60)
        if self.connection is not None:
            self.connection.close()
        self.listener.close()
        for fd in self.fds:
            os.close(fd)
        self.fds = []


# ------------------------------------------------------------------ the test

u32, u64 = ctypes.c_uint32, ctypes.c_uint64
GARBAGE = 0xDEADBEEFCAFEF00D


class IpcReturnListsAreComplete(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.lib = load_library()
        cls.documented = documented_returns()

    def setUp(self):
        self.seen: dict[str, set[str]] = defaultdict(set)
        self.cleanups_servers: list[int] = []

    def call(self, name: str, *args) -> int:
        """Calls an export and records the status it returned."""
        status = getattr(self.lib, name)(*args)
        self.seen[name].add(STATUS_NAMES.get(status, str(status)))
        return status

    def expect(self, expected: str, name: str, *args) -> str:
        status = self.call(name, *args)
        got = STATUS_NAMES.get(status, str(status))
        detail = last_error_message(self.lib) if status else ""
        self.assertEqual(got, expected, f"{name}: {detail}")
        return detail

    # ---------------------------------------------------------------- helpers

    def options(self, address: str | None, **fields) -> _native.np_server_options:
        o = _native.np_server_options()
        self.expect("NP_OK", "np_server_options_init", ctypes.byref(o))
        self._address = ctypes.create_string_buffer(address.encode()) if address else None
        o.address = ctypes.cast(self._address, ctypes.c_char_p) if address else None
        o.max_message_size = MAX_MESSAGE
        for field, value in fields.items():
            setattr(o, field, value)
        return o

    def server(self, **fields) -> tuple[int, str, int]:
        """A started real server with one pull route "pull"; returns (handle, address, route)."""
        address = unique_address("lists")
        o = self.options(address, **fields)
        handle, route = _native.np_server(), u32()
        self.expect("NP_OK", "np_server_create", ctypes.byref(o), ctypes.byref(handle))
        self.addCleanup(self.lib.np_server_destroy, handle.value)
        self.expect("NP_OK", "np_server_add_route", handle.value, b"pull", None, None, ctypes.byref(route))
        self.expect("NP_OK", "np_server_start", handle.value)
        return handle.value, address, route.value

    def connect(self, address: str, expected: str = "NP_OK", timeout_ms: int = 10_000) -> tuple[int, str]:
        handle = _native.np_client()
        detail = self.expect(expected, "np_client_connect", address.encode(), timeout_ms, ctypes.byref(handle))
        if handle.value:
            self.addCleanup(self.lib.np_client_close, handle.value)
        return handle.value, detail

    def request(self) -> _native.np_request:
        r = _native.np_request()
        r.struct_size = ctypes.sizeof(r)
        return r

    def send(self, client: int, route: int, payload: bytes = b"x", expected: str = "NP_OK", timeout_ms: int = 10_000) -> int:
        request_id = u64()
        self.expect(expected, "np_client_send", client, route, payload, len(payload), ctypes.byref(request_id), timeout_ms)
        return request_id.value

    def receive(self, client: int, expected: str, capacity: int = 64, timeout_ms: int = 10_000) -> int:
        request_id, length = u64(), u32()
        buffer = ctypes.create_string_buffer(max(capacity, 1))
        self.expect(expected, "np_client_receive", client, ctypes.byref(request_id), buffer if capacity else None,
                    capacity, ctypes.byref(length), timeout_ms)
        return request_id.value

    def claim(self, client: int, route: int, length: int, expected: str, timeout_ms: int = 10_000) -> None:
        buffer = ctypes.c_void_p()
        self.expect(expected, "np_client_claim", client, route, length, ctypes.byref(buffer), timeout_ms)

    def call_route(self, client: int, route: int, expected: str, payload: bytes = b"x", capacity: int = 64,
                   timeout_ms: int = 10_000) -> str:
        length = u32()
        buffer = ctypes.create_string_buffer(max(capacity, 1))
        return self.expect(expected, "np_client_call", client, route, payload, len(payload), buffer if capacity else None,
                           capacity, ctypes.byref(length), timeout_ms)

    # ---------------------------------------------------------------- the drive

    def drive_server_exports(self) -> None:
        null = None
        o = self.options(None)
        h = _native.np_server()
        self.expect("NP_E_NULL_POINTER", "np_server_options_init", null)
        self.expect("NP_E_NULL_POINTER", "np_server_create", null, ctypes.byref(h))
        self.expect("NP_E_NULL_POINTER", "np_server_create", ctypes.byref(o), null)
        self.expect("NP_E_INVALID_ARGUMENT", "np_server_create", ctypes.byref(o), ctypes.byref(h))  # no address
        o.struct_size = 3
        self.expect("NP_E_UNSUPPORTED_STRUCT_SIZE", "np_server_create", ctypes.byref(o), ctypes.byref(h))
        bad = self.options(unique_address("small"), max_message_size=3)
        detail = self.expect("NP_E_INVALID_ARGUMENT", "np_server_create", ctypes.byref(bad), ctypes.byref(h))
        self.assertIn("max_message_size", detail)
        route = u32()
        self.expect("NP_E_INVALID_HANDLE", "np_server_add_route", GARBAGE, b"r", null, null, ctypes.byref(route))
        self.expect("NP_E_NULL_POINTER", "np_server_add_route", GARBAGE, null, null, null, ctypes.byref(route))
        for name in ("np_server_start", "np_server_destroy"):
            self.expect("NP_E_INVALID_HANDLE", name, GARBAGE)
        self.expect("NP_E_INVALID_HANDLE", "np_server_stop", GARBAGE, 0)
        self.expect("NP_OK", "np_server_destroy", 0)

        # A created, unstarted server: receive is refused; a private-directory rule refuses start.
        address = unique_address("unstarted")
        o = self.options(address)
        self.expect("NP_OK", "np_server_create", ctypes.byref(o), ctypes.byref(h))
        unstarted = h.value
        self.addCleanup(self.lib.np_server_destroy, unstarted)
        self.expect("NP_E_INVALID_ARGUMENT", "np_server_add_route", unstarted, b"", null, null, ctypes.byref(route))
        self.expect("NP_E_INVALID_STATE", "np_server_receive", unstarted, 0, ctypes.byref(self.request()))
        with tempfile.TemporaryDirectory() as shared:
            os.chmod(shared, 0o777)
            o = self.options(os.path.join(shared, "np.sock"))
            self.expect("NP_OK", "np_server_create", ctypes.byref(o), ctypes.byref(h))
            self.addCleanup(self.lib.np_server_destroy, h.value)
            self.expect("NP_E_PERMISSION_DENIED", "np_server_start", h.value)

        server, address, pull = self.server()
        self.expect("NP_E_INVALID_STATE", "np_server_start", server)
        self.expect("NP_E_INVALID_STATE", "np_server_add_route", server, b"late", null, null, ctypes.byref(route))
        o = self.options(address)
        self.expect("NP_OK", "np_server_create", ctypes.byref(o), ctypes.byref(h))
        self.addCleanup(self.lib.np_server_destroy, h.value)
        self.expect("NP_E_ADDRESS_IN_USE", "np_server_start", h.value)

        stats, route_stats = _native.np_server_stats(), _native.np_route_stats()
        self.expect("NP_E_NULL_POINTER", "np_server_get_stats", server, null)
        self.expect("NP_E_UNSUPPORTED_STRUCT_SIZE", "np_server_get_stats", server, ctypes.byref(stats))
        stats.struct_size = ctypes.sizeof(stats)
        self.expect("NP_E_INVALID_HANDLE", "np_server_get_stats", GARBAGE, ctypes.byref(stats))
        self.expect("NP_OK", "np_server_get_stats", server, ctypes.byref(stats))
        self.expect("NP_E_NULL_POINTER", "np_server_get_route_stats", server, pull, null)
        self.expect("NP_E_UNSUPPORTED_STRUCT_SIZE", "np_server_get_route_stats", server, pull, ctypes.byref(route_stats))
        route_stats.struct_size = ctypes.sizeof(route_stats)
        self.expect("NP_E_INVALID_HANDLE", "np_server_get_route_stats", GARBAGE, pull, ctypes.byref(route_stats))
        self.expect("NP_E_UNKNOWN_ROUTE", "np_server_get_route_stats", server, 99, ctypes.byref(route_stats))
        self.expect("NP_OK", "np_server_get_route_stats", server, pull, ctypes.byref(route_stats))

        request = self.request()
        self.expect("NP_E_NULL_POINTER", "np_server_receive", server, 0, null)
        bad_request = _native.np_request()
        self.expect("NP_E_UNSUPPORTED_STRUCT_SIZE", "np_server_receive", server, 0, ctypes.byref(bad_request))
        self.expect("NP_E_INVALID_HANDLE", "np_server_receive", GARBAGE, 0, ctypes.byref(request))
        self.expect("NP_E_TIMEOUT", "np_server_receive", server, 0, ctypes.byref(request))

        client, _ = self.connect(address)
        self.send(client, pull, b"first")
        self.expect("NP_OK", "np_server_receive", server, 10_000, ctypes.byref(request))
        self.expect("NP_E_INVALID_HANDLE", "np_server_reply", GARBAGE, request.token, b"r", 1)
        self.expect("NP_E_NULL_POINTER", "np_server_reply", server, request.token, null, 1)
        big = bytes(MAX_MESSAGE + 1)
        self.expect("NP_E_MESSAGE_TOO_LARGE", "np_server_reply", server, request.token, big, len(big))
        self.expect("NP_E_INVALID_ARGUMENT", "np_server_reply", server, 12345, b"r", 1)
        self.expect("NP_E_INVALID_HANDLE", "np_server_reply_error", GARBAGE, request.token, -1)
        self.expect("NP_E_INVALID_ARGUMENT", "np_server_reply_error", server, request.token, 1)
        self.expect("NP_OK", "np_server_reply", server, request.token, b"r", 1)
        self.receive(client, "NP_OK")
        self.send(client, pull, b"second")
        self.expect("NP_OK", "np_server_receive", server, 10_000, ctypes.byref(request))
        self.expect("NP_OK", "np_server_reply_error", server, request.token, _native.NP_E_SHUTDOWN)
        self.receive(client, "NP_E_HANDLER_FAILED")
        # The client leaves before its answer.
        self.send(client, pull, b"third")
        self.expect("NP_OK", "np_server_receive", server, 10_000, ctypes.byref(request))
        self.expect("NP_OK", "np_client_close", client)
        stats.struct_size = ctypes.sizeof(stats)
        for _ in range(10_000):
            self.expect("NP_OK", "np_server_get_stats", server, ctypes.byref(stats))
            if stats.peer_hangups:
                break
            threading.Event().wait(0.001)
        self.expect("NP_E_PEER_GONE", "np_server_reply", server, request.token, b"r", 1)
        # The stop answers what is held: a late reply and a receive say so.
        client, _ = self.connect(address)
        self.send(client, pull, b"fourth")
        self.expect("NP_OK", "np_server_receive", server, 10_000, ctypes.byref(request))
        self.expect("NP_E_INVALID_HANDLE", "np_server_stop", GARBAGE, 0)
        self.expect("NP_OK", "np_server_stop", server, 0)
        self.expect("NP_OK", "np_server_stop", server, 0)
        self.expect("NP_E_SHUTDOWN", "np_server_reply", server, request.token, b"r", 1)
        self.expect("NP_E_SHUTDOWN", "np_server_reply_error", server, request.token, -1)
        self.expect("NP_E_SHUTDOWN", "np_server_receive", server, 0, ctypes.byref(request))
        self.receive(client, "NP_E_SHUTDOWN")

    def drive_client_exports(self) -> None:
        null = None
        h = _native.np_client()
        self.expect("NP_E_NULL_POINTER", "np_client_connect", b"@x", 0, null)
        self.expect("NP_E_NULL_POINTER", "np_client_connect", null, 0, ctypes.byref(h))
        self.expect("NP_E_INVALID_ARGUMENT", "np_client_connect", b"", 0, ctypes.byref(h))
        self.expect("NP_E_TIMEOUT", "np_client_connect", unique_address("nobody").encode(), 0, ctypes.byref(h))
        co = _native.np_client_options()
        self.expect("NP_E_NULL_POINTER", "np_client_options_init", null)
        self.expect("NP_E_NULL_POINTER", "np_client_connect_with", b"@x", 0, null, ctypes.byref(h))
        self.expect("NP_E_UNSUPPORTED_STRUCT_SIZE", "np_client_connect_with", b"@x", 0, ctypes.byref(co), ctypes.byref(h))
        self.expect("NP_OK", "np_client_options_init", ctypes.byref(co))
        co.allowed_server_uid_count = 5000
        self.expect("NP_E_INVALID_ARGUMENT", "np_client_connect_with", b"@x", 0, ctypes.byref(co), ctypes.byref(h))
        co.allowed_server_uid_count = 0

        server, address, pull = self.server(max_clients=1)
        self.expect("NP_OK", "np_client_connect_with", address.encode(), 10_000, ctypes.byref(co), ctypes.byref(h))
        client = h.value
        self.addCleanup(self.lib.np_client_close, client)
        self.connect(address, "NP_E_SERVER_FULL")
        route, size = u32(), u32()
        self.expect("NP_E_NULL_POINTER", "np_client_resolve", client, null, ctypes.byref(route))
        self.expect("NP_E_INVALID_HANDLE", "np_client_resolve", GARBAGE, b"pull", ctypes.byref(route))
        self.expect("NP_E_UNKNOWN_ROUTE", "np_client_resolve", client, b"none", ctypes.byref(route))
        self.expect("NP_OK", "np_client_resolve", client, b"pull", ctypes.byref(route))
        self.expect("NP_E_NULL_POINTER", "np_client_max_message_size", client, null)
        self.expect("NP_E_INVALID_HANDLE", "np_client_max_message_size", GARBAGE, ctypes.byref(size))
        self.expect("NP_OK", "np_client_max_message_size", client, ctypes.byref(size))
        self.expect("NP_E_INVALID_HANDLE", "np_client_close", GARBAGE)
        self.expect("NP_OK", "np_client_close", 0)

        length, request_id = u32(), u64()
        big = bytes(MAX_MESSAGE + 1)
        self.expect("NP_E_NULL_POINTER", "np_client_call", client, pull, b"x", 1, null, 0, null, 0)
        self.expect("NP_E_INVALID_HANDLE", "np_client_call", GARBAGE, pull, b"x", 1, null, 0, ctypes.byref(length), 0)
        self.call_route(client, 99, "NP_E_UNKNOWN_ROUTE")
        self.call_route(client, pull, "NP_E_MESSAGE_TOO_LARGE", big)
        detail = self.call_route(client, pull, "NP_E_TIMEOUT", timeout_ms=20)
        self.assertIn("no response in time", detail)
        late = self.request()
        self.expect("NP_OK", "np_server_receive", server, 10_000, ctypes.byref(late))
        self.expect("NP_OK", "np_server_reply", server, late.token, b"late", 4)  # the client drops it
        self.expect("NP_E_NULL_POINTER", "np_client_send", client, pull, b"x", 1, null, 0)
        self.expect("NP_E_INVALID_HANDLE", "np_client_send", GARBAGE, pull, b"x", 1, ctypes.byref(request_id), 0)
        self.send(client, 99, expected="NP_E_UNKNOWN_ROUTE")
        self.send(client, pull, big, expected="NP_E_MESSAGE_TOO_LARGE")
        self.expect("NP_E_NULL_POINTER", "np_client_receive", client, null, null, 0, ctypes.byref(length), 0)
        self.expect("NP_E_INVALID_HANDLE", "np_client_receive", GARBAGE, ctypes.byref(request_id), null, 0,
                    ctypes.byref(length), 0)
        self.receive(client, "NP_E_INVALID_STATE")
        buffer = ctypes.c_void_p()
        self.expect("NP_E_NULL_POINTER", "np_client_claim", client, pull, 1, null, 0)
        self.expect("NP_E_INVALID_HANDLE", "np_client_claim", GARBAGE, pull, 1, ctypes.byref(buffer), 0)
        self.claim(client, 99, 1, "NP_E_UNKNOWN_ROUTE")
        self.claim(client, pull, MAX_MESSAGE + 1, "NP_E_MESSAGE_TOO_LARGE")
        self.expect("NP_E_NULL_POINTER", "np_client_commit", client, 1, null)
        self.expect("NP_E_INVALID_HANDLE", "np_client_commit", GARBAGE, 1, ctypes.byref(request_id))
        self.expect("NP_E_INVALID_STATE", "np_client_commit", client, 1, ctypes.byref(request_id))
        self.expect("NP_E_INVALID_HANDLE", "np_client_abort", GARBAGE)
        self.expect("NP_E_INVALID_STATE", "np_client_abort", client)
        self.claim(client, pull, 8, "NP_OK")
        self.claim(client, pull, 8, "NP_E_INVALID_STATE")
        self.send(client, pull, expected="NP_E_INVALID_STATE")
        self.call_route(client, pull, "NP_E_INVALID_STATE")
        self.expect("NP_E_INVALID_ARGUMENT", "np_client_commit", client, 9, ctypes.byref(request_id))
        self.expect("NP_OK", "np_client_abort", client)
        self.claim(client, pull, 8, "NP_OK")
        self.expect("NP_OK", "np_client_commit", client, 2, ctypes.byref(request_id))
        # Answers: a payload too large for the buffer, an error reply, then the payload itself.
        request = self.request()
        self.expect("NP_OK", "np_server_receive", server, 10_000, ctypes.byref(request))
        self.expect("NP_OK", "np_server_reply", server, request.token, b"answer", 6)
        self.receive(client, "NP_E_BUFFER_TOO_SMALL", capacity=2)
        self.receive(client, "NP_OK")
        self.receive(client, "NP_E_INVALID_STATE")

        def answer_with_error():
            r = self.request()
            if self.lib.np_server_receive(server, 10_000, ctypes.byref(r)) == 0:
                self.lib.np_server_reply_error(server, r.token, _native.NP_E_UNKNOWN_ROUTE)
        replier = threading.Thread(target=answer_with_error)
        replier.start()
        self.call_route(client, pull, "NP_E_HANDLER_FAILED")
        replier.join()
        replier = threading.Thread(target=lambda: (self.lib.np_server_receive(server, 10_000, ctypes.byref(request)),
                                                   self.lib.np_server_reply(server, request.token, b"long answer", 11)))
        replier.start()
        self.call_route(client, pull, "NP_E_BUFFER_TOO_SMALL", capacity=2)
        replier.join()
        self.call_route(client, pull, "NP_E_INVALID_STATE")  # its response is still queued
        self.receive(client, "NP_OK")
        self.call_route(client, pull, "NP_E_TIMEOUT", timeout_ms=0)
        self.send(client, pull)
        self.receive(client, "NP_E_TIMEOUT", timeout_ms=0)
        # The stop: what is outstanding gets NP_E_SHUTDOWN, then every new request is refused.
        self.expect("NP_OK", "np_server_stop", server, 0)
        self.receive(client, "NP_E_SHUTDOWN")  # the send's (the timed-out call's answer is dropped)
        self.receive(client, "NP_E_INVALID_STATE")
        self.call_route(client, pull, "NP_E_SHUTDOWN")
        self.send(client, pull, expected="NP_E_SHUTDOWN")
        self.claim(client, pull, 1, "NP_E_SHUTDOWN")

    def fake(self, variant: str) -> FakeServer:
        fake = FakeServer(variant)
        self.addCleanup(fake.close)
        return fake

    def drive_fake_servers(self) -> None:
        _, detail = self.connect(self.fake("magic").address, "NP_E_PROTOCOL")
        self.assertIn("not a NativePools server", detail)
        self.assertNotIn("protocol 1, not 1", detail)
        _, detail = self.connect(self.fake("version").address, "NP_E_PROTOCOL")
        self.assertIn(f"speaks protocol 7, not {VERSION}", detail)
        _, detail = self.connect(self.fake("nofds").address, "NP_E_PROTOCOL")
        self.assertIn("descriptors", detail)
        self.assertNotIn("impossible sizes", detail)
        self.connect(self.fake("hangup").address, "NP_E_PEER_GONE")
        for status in ("NP_E_PERMISSION_DENIED", "NP_E_SERVER_FULL", "NP_E_SHUTDOWN", "NP_E_OUT_OF_MEMORY", "NP_E_IO"):
            self.connect(self.fake(f"refuse:{getattr(_native, status)}").address, status)
        self.connect(self.fake("refuse:-5").address, "NP_E_PROTOCOL")  # not a refusal a server sends

        # A server error for an unknown route reaches receive as NP_E_UNKNOWN_ROUTE; a handler's
        # error record as NP_E_HANDLER_FAILED; garbage in the ring breaks the connection.
        fake = self.fake("ok")
        client, _ = self.connect(fake.address)
        first, second, third = (self.send(client, 1) for _ in range(3))
        fake.respond(KIND_SERVER_ERROR, first, struct.pack("<i", _native.NP_E_UNKNOWN_ROUTE))
        self.assertEqual(self.receive(client, "NP_E_UNKNOWN_ROUTE"), first)
        fake.respond(KIND_ERROR, second, struct.pack("<i", _native.NP_E_UNKNOWN_ROUTE))
        self.assertEqual(self.receive(client, "NP_E_HANDLER_FAILED"), second)
        fake.respond(99, third, b"junk")
        self.receive(client, "NP_E_PROTOCOL")
        self.send(client, 1, expected="NP_E_PROTOCOL")
        self.claim(client, 1, 1, "NP_E_PROTOCOL")
        self.call_route(client, 1, "NP_E_PROTOCOL")
        self.receive(client, "NP_E_PROTOCOL")

        # The server's process goes away mid-call while it still says it serves.
        fake = self.fake("ok")
        client, _ = self.connect(fake.address)
        fake.thread.join()
        threading.Timer(0.05, fake.connection.shutdown, args=(socket.SHUT_RDWR,)).start()
        self.call_route(client, 1, "NP_E_PEER_GONE")
        self.send(client, 1)  # the ring takes it; nobody will answer
        self.receive(client, "NP_E_PEER_GONE")

        # A server that never reads: the ring fills and claim and send time out.
        fake = self.fake("ok")
        client, _ = self.connect(fake.address)
        while self.call("np_client_send", client, 1, bytes(MAX_MESSAGE), MAX_MESSAGE, ctypes.byref(u64()), 0) == 0:
            pass
        self.assertIn("NP_E_TIMEOUT", self.seen["np_client_send"])
        self.claim(client, 1, MAX_MESSAGE, "NP_E_TIMEOUT", timeout_ms=0)

    def test_every_status_an_ipc_export_returns_is_documented(self):
        self.drive_server_exports()
        self.drive_client_exports()
        self.drive_fake_servers()
        # The cases the issue found missing were really driven.
        for name, status in (("np_client_send", "NP_E_PROTOCOL"), ("np_client_claim", "NP_E_PROTOCOL"),
                             ("np_client_receive", "NP_E_PROTOCOL"), ("np_client_receive", "NP_E_UNKNOWN_ROUTE")):
            self.assertIn(status, self.seen[name], f"{name} was never driven into {status}")
        exports = {name for name in self.documented}
        self.assertGreaterEqual(len(exports), 20, "the header parser found too few IPC exports")
        self.assertEqual(exports - set(self.seen), set(), "IPC exports this test never called")
        missing = {name: sorted(seen - self.documented[name]) for name, seen in self.seen.items()
                   if seen - self.documented.get(name, set())}
        self.assertEqual(missing, {}, "statuses returned but missing from the header's @return lists")


if __name__ == "__main__":
    unittest.main()
