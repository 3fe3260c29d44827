"""Shared machinery of the IPC tests (this module holds no tests): unique addresses, checksummed
payloads, a counting echo service, the C example programs, and the entry points of the Python
processes the tests spawn (they must live in an importable module for multiprocessing "spawn").

Child processes are started with the "spawn" method: a forked child would inherit a copy of the
parent's .NET runtime without its threads.
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
import random
import shutil
import struct
import subprocess
import threading
import traceback
import zlib
from pathlib import Path

from nativepools import Client, NativePoolsError, Server, abi, load_library
from tests.support import wait_until  # noqa: F401 (the IPC tests take it from here)

FULL = os.environ.get("NP_STRESS", "").lower() == "full"
# Hang guard for waits on other processes, not a timing assertion.
HANG_GUARD_SECONDS = 600 if FULL else 120

REPO = Path(__file__).absolute().parents[3]
C_DIR = REPO / "bindings" / "c"
C_BUILD = C_DIR / "build"

spawn = multiprocessing.get_context("spawn")
_counter = itertools.count()


def size(ci: int, full: int) -> int:
    return full if FULL else ci


def unique_address(tag: str) -> str:
    """An abstract-namespace address no other test (or engineer's run) uses."""
    return f"@np-py-{tag}-{os.getpid()}-{next(_counter)}-{random.getrandbits(32):08x}"


# ------------------------------------------------------------------ checksummed payloads
#
# A request is a 16-byte header (magic, worker, sequence, crc32 of the body) and a body of random
# bytes. The receiver recomputes the crc: a torn, mixed or shifted payload does not pass.

MAGIC = 0x4E504950  # "NPIP"
HEADER = struct.Struct("<IIII")


def make_request(worker: int, seq: int, body_length: int, rng: random.Random) -> bytes:
    body = rng.randbytes(body_length)
    return HEADER.pack(MAGIC, worker, seq, zlib.crc32(body)) + body


def parse_request(data) -> tuple[int, int]:
    """(worker, seq) of a checksummed request; raises ValueError when it is damaged."""
    if len(data) < HEADER.size:
        raise ValueError(f"request of {len(data)} bytes is shorter than its header")
    magic, worker, seq, crc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ValueError(f"bad magic 0x{magic:08x}")
    actual = zlib.crc32(memoryview(data)[HEADER.size:])
    if actual != crc:
        raise ValueError(f"worker {worker} seq {seq}: body crc 0x{actual:08x} != 0x{crc:08x}")
    return worker, seq


_FNV_OFFSET, _FNV_PRIME, _MASK64 = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1
# "checksum" requests stay small: FNV-1a runs byte by byte in Python on both sides.
CHECKSUM_LARGEST = 4096


def fnv1a64(data) -> bytes:
    """The "checksum" route's answer, as bindings/c/examples/echo_server.c computes it: the 64-bit
    FNV-1a of the request, 8 bytes little-endian."""
    value = _FNV_OFFSET
    for byte in bytes(data):
        value = ((value ^ byte) * _FNV_PRIME) & _MASK64
    return value.to_bytes(8, "little")


def body_lengths(rng: random.Random, count: int, largest: int) -> list[int]:
    """Mixed sizes: mostly small, some medium, a few up to largest (never more)."""
    lengths = []
    for k in range(count):
        roll = rng.random()
        if roll < 0.6:
            n = rng.randrange(0, 512)
        elif roll < 0.9:
            n = rng.randrange(512, 16 * 1024)
        else:
            n = rng.randrange(16 * 1024, largest + 1)
        lengths.append(min(n, largest))
    if count:
        lengths[0] = 0  # an empty body (a 16-byte request) and the largest always occur
        lengths[-1] = largest
    return lengths


class EchoService:
    """Python handlers of the echo service of bindings/c/examples/echo_server.c: "echo" returns the
    request, "checksum" its FNV-1a (fnv1a64). Checksummed requests (make_request) are checked (a
    damaged one makes the handler raise) and their (worker, seq) pairs recorded: seen twice counts
    a duplicate. Other payloads (from the C echo_client) are counted in foreign."""

    def __init__(self):
        self.seen: set[tuple[int, int]] = set()
        self.duplicates = 0
        self.foreign = 0
        self.damaged: list[str] = []
        self._lock = threading.Lock()

    def _record(self, data) -> None:
        if len(data) < HEADER.size or HEADER.unpack_from(data)[0] != MAGIC:
            with self._lock:
                self.foreign += 1
            return
        try:
            key = parse_request(data)
        except ValueError as error:
            self.damaged.append(str(error))
            raise
        with self._lock:
            if key in self.seen:
                self.duplicates += 1
            self.seen.add(key)

    def echo(self, route_id: int, request) -> bytes:
        self._record(request)
        return request

    def checksum(self, route_id: int, request) -> bytes:
        self._record(request)
        return fnv1a64(request)

    def install(self, server: Server) -> None:
        server.add_route("echo", self.echo)
        server.add_route("checksum", self.checksum)


def run_checksummed_calls(client: Client, worker: int, calls: int, seed: int, largest: int) -> int:
    """calls alternating "echo" (mixed sizes up to largest) and "checksum" (up to CHECKSUM_LARGEST)
    calls with checksummed payloads; every response byte is verified. Works against EchoService
    and the C echo_server alike. Returns the request bytes sent."""
    rng = random.Random(seed * 7919 + worker)
    echo, checksum = client.resolve("echo"), client.resolve("checksum")
    sent = 0
    for seq, body_length in enumerate(body_lengths(rng, calls, largest)):
        if seq % 2:
            body_length = min(body_length, CHECKSUM_LARGEST)
        request = make_request(worker, seq, body_length, rng)
        sent += len(request)
        if seq % 2 == 0:
            response = client.call(echo, request)
            if response != request:
                at = next((i for i in range(min(len(response), len(request))) if response[i] != request[i]),
                          min(len(response), len(request)))
                raise AssertionError(f"worker {worker} seq {seq}: echo of {len(request)} bytes came back as "
                                     f"{len(response)} bytes, first difference at byte {at}")
        else:
            response = client.call(checksum, request)
            expected = fnv1a64(request)
            if response != expected:
                raise AssertionError(f"worker {worker} seq {seq}: checksum reply {response.hex()} != {expected.hex()}")
    return sent


# ------------------------------------------------------------------ C example programs


def c_example(name: str) -> Path | None:
    """bindings/c/build/<name> (bindings/c/examples/<name>.c), built with make when the source is
    newer or the program missing; None when there is no such example or it does not build."""
    program = C_BUILD / name
    source = C_DIR / "examples" / f"{name}.c"
    if not source.is_file():
        return program if program.is_file() else None
    if shutil.which("make") is not None:
        # Only this program's target: `make all` would also build the C test suite.
        subprocess.run(["make", "-s", "-C", str(C_DIR), f"build/{name}"], check=False, capture_output=True, timeout=300)
    return program if program.is_file() and os.access(program, os.X_OK) else None


# ------------------------------------------------------------------ child process entry points


def child_checksummed_client(address: str, worker: int, calls: int, seed: int, largest: int, results) -> None:
    """A client process: connects and runs run_checksummed_calls; reports ("ok", worker, calls,
    bytes) or ("error", worker, traceback)."""
    try:
        with Client.connect(address, timeout_ms=30_000) as client:
            sent = run_checksummed_calls(client, worker, calls, seed, largest)
        results.put(("ok", worker, calls, sent))
    except BaseException:
        results.put(("error", worker, traceback.format_exc()))


def child_blocked_caller(address: str, route: str, payload: bytes, started) -> None:
    """A client process that calls a route which never answers (until the test kills it)."""
    with Client.connect(address, timeout_ms=30_000) as client:
        route_id = client.resolve(route)
        started.set()
        client.call(route_id, payload)
    os._exit(3)  # an answer was not expected: the test kills this process mid-call


def child_server(address: str, ready, held, worker_threads: int = 1) -> None:
    """A server process: the checksummed echo service, plus a pull route "hold" whose requests are
    received (held.set() then) and never answered. Serves until killed."""
    service = EchoService()
    server = Server(address, worker_threads=worker_threads)
    service.install(server)
    server.add_route("hold")
    server.start()
    ready.set()
    kept = []
    while True:
        request = server.receive(1000)
        if request is not None:
            kept.append(request)  # never answered
            held.set()


def settled_stats(server: Server, responses: int):
    """server.stats() once the server has counted responses responses, in total and over its routes.

    A worker counts a response just after publishing it, so a client can hold its answer a moment
    before the counters show it ("recent values while it runs")."""
    def counted() -> bool:
        routes = sum(server.route_stats(route_id).responses for route_id in server.routes.values())
        return server.stats().responses >= responses and routes >= responses
    wait_until(counted, f"the server to count {responses} responses")
    return server.stats()


def expect_status(testcase, status: int, function, *args, **kwargs) -> NativePoolsError:
    """Runs function, which must raise NativePoolsError with status; returns the error."""
    with testcase.assertRaises(NativePoolsError) as caught:
        function(*args, **kwargs)
    error = caught.exception
    testcase.assertEqual(error.status, status, f"expected {abi_name(status)}, got {error.name}: {error.detail}")
    return error


def abi_name(status: int) -> str:
    return next((name for name, value in vars(abi).items() if name.startswith("NP_E_") and value == status), str(status))


def child_server_as_uid(address: str, uid: int, ready, done) -> None:
    """A server process that runs as another uid (it switches before the library starts), with an
    "echo" route, accepting clients of uid 0 too. Serves until done is set. The library is
    loaded (not started) first: the checkout may not be readable by that uid."""
    load_library()
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    server = Server(address, allowed_uids=[0])
    server.add_route("echo", lambda route_id, request: bytes(request))
    server.start()
    ready.set()
    done.wait(HANG_GUARD_SECONDS)
    server.stop(0)
