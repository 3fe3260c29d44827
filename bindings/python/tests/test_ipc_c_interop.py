"""IPC between Python and C processes, using the C examples bindings/c/examples/echo_server.c and
echo_client.c (built into bindings/c/build by make): Python clients call the C server, C clients
(and Python client processes at the same time) call a Python-hosted server, and a C client
SIGKILLed mid-run leaves the Python server serving. Skipped, and so reported, when the C examples
are missing or do not build."""
import os
import re
import signal
import subprocess
import threading
import unittest

from nativepools import Client, NativePoolsError, Server, abi
from tests.support import Workers
from tests.test_ipc_processes import run_client_processes
from tests.test_ipc_support import (HANG_GUARD_SECONDS, EchoService, c_example, expect_status, fnv1a64,
                                    run_checksummed_calls, settled_stats, size, unique_address, wait_until)

HEADER_SIZE = 16


class CEchoServer:
    """bindings/c/build/echo_server in a subprocess, at its own address."""

    def __init__(self, program, workers: int = 2):
        self.address = unique_address("cserver")
        self.process = subprocess.Popen([str(program), self.address, "--workers", str(workers)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self._read_line()
        if line.strip() != f"listening on {self.address}":
            self.process.kill()
            raise AssertionError(f"echo_server did not start: {line!r} {self.process.stderr.read()}")

    def _read_line(self) -> str:
        # readline with a hang guard: a thread does the blocking read.
        result = []
        reader = threading.Thread(target=lambda: result.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(HANG_GUARD_SECONDS)
        if not result:
            self.process.kill()
            raise AssertionError("echo_server printed nothing")
        return result[0]

    def stop(self) -> dict:
        """SIGTERM (a drained stop); returns the counters the server printed."""
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=HANG_GUARD_SECONDS)
        if self.process.returncode != 0:
            raise AssertionError(f"echo_server exited with {self.process.returncode}: {err}")
        match = re.search(r"connections (\d+) \(peak (\d+)\), requests (\d+), responses (\d+), errors (\d+) "
                          r"\(protocol (\d+), handler (\d+)\)", out)
        if match is None:
            raise AssertionError(f"echo_server printed no counters: {out!r}")
        names = ("connections", "peak", "requests", "responses", "errors", "protocol", "handler")
        return dict(zip(names, map(int, match.groups())))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=HANG_GUARD_SECONDS)


class PythonClientsCallCServer(unittest.TestCase):

    def setUp(self):
        program = c_example("echo_server")
        if program is None:
            self.skipTest("bindings/c/examples/echo_server.c is missing or does not build")
        self.server = CEchoServer(program)
        self.addCleanup(self.server.kill)

    def test_echo_and_checksum_mixed_sizes_from_threads_and_processes(self):
        address = self.server.address
        threads, calls = 2, size(ci=300, full=5_000)
        processes, process_calls = size(ci=2, full=4), size(ci=300, full=5_000)
        sent_by_threads = [0] * threads

        def worker(index, workers):
            with Client.connect(address, timeout_ms=30_000) as client:
                sent_by_threads[index] = run_checksummed_calls(client, 100 + index, calls, seed=41, largest=300_000)

        results = []
        others = threading.Thread(target=lambda: results.append(
            run_client_processes(address, processes, process_calls, 100_000, seed=42)))
        others.start()
        Workers().run(threads, worker)
        others.join(HANG_GUARD_SECONDS)
        self.assertEqual(len(results), 1, "the client processes did not finish")
        with Client.connect(address) as client:
            largest = client.max_message_size
            self.assertEqual(largest, abi.NP_DEFAULT_MAX_MESSAGE_SIZE)
            # Both boundaries, and vectors that pin the checksum to FNV-1a on both sides.
            for payload in (b"", os.urandom(largest), bytes(range(256)) * 3):
                self.assertEqual(client.call("echo", payload), payload)
            self.assertEqual(client.call("checksum", b"").hex(), "25232284e49cf2cb")
            self.assertEqual(client.call("checksum", b"a"), fnv1a64(b"a"))
            self.assertEqual(fnv1a64(b"a").hex(), "8cec01864cdc63af")
            expect_status(self, abi.NP_E_MESSAGE_TOO_LARGE, client.call, "echo", bytes(largest + 1))
            # Pipelined and zero-copy requests to the C handlers.
            payloads = [os.urandom(n) for n in range(0, 5000, 97)]
            ids = [client.send("echo", p) for p in payloads]
            self.assertEqual([client.receive(60_000) for _ in payloads], list(zip(ids, payloads)))
            view = client.claim("checksum", 1000)
            view[:] = b"z" * 1000
            request_id = client.commit(999)
            self.assertEqual(client.receive(60_000), (request_id, fnv1a64(b"z" * 999)))
        total = threads * calls + processes * process_calls + 5 + len(payloads) + 1
        counters = self.server.stop()
        self.assertEqual((counters["requests"], counters["responses"]), (total, total))
        self.assertEqual((counters["errors"], counters["protocol"], counters["handler"]), (0, 0, 0))
        self.assertEqual(counters["connections"], threads + processes + 1)

    def test_c_server_stopping_answers_shutdown_or_peer_gone(self):
        with Client.connect(self.server.address) as client:
            self.assertEqual(client.call("echo", b"before"), b"before")
            self.server.stop()
            with self.assertRaises(NativePoolsError) as caught:
                client.call("echo", b"after", timeout_ms=HANG_GUARD_SECONDS * 1000)
            self.assertIn(caught.exception.status, (abi.NP_E_SHUTDOWN, abi.NP_E_PEER_GONE))


class CClientsCallPythonServer(unittest.TestCase):

    def setUp(self):
        self.program = c_example("echo_client")
        if self.program is None:
            self.skipTest("bindings/c/examples/echo_client.c is missing or does not build")
        self.service = EchoService()
        self.server = Server(unique_address("pyserver"), worker_threads=2)
        self.addCleanup(self.server.close)
        self.service.install(self.server)
        self.server.start()

    def _c_client(self, count: int, length: int) -> subprocess.Popen:
        return subprocess.Popen([str(self.program), self.server.address, str(count), str(length)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def test_c_and_python_client_processes_at_once(self):
        runs = [(size(ci=300, full=10_000), 64), (size(ci=200, full=5_000), 4096),
                (size(ci=20, full=500), 300_000), (size(ci=100, full=2_000), 0)]
        c_clients = [self._c_client(count, length) for count, length in runs]
        processes, calls = size(ci=2, full=4), size(ci=300, full=5_000)
        sent = run_client_processes(self.server.address, processes, calls, 100_000, seed=51)
        for (count, length), process in zip(runs, c_clients):
            out, err = process.communicate(timeout=HANG_GUARD_SECONDS)
            self.assertEqual(process.returncode, 0, f"echo_client {count}x{length}: {err}")
            self.assertIn(f"{count} calls ok", out)
        c_calls = sum(count + 1 for count, _ in runs)  # each also calls "checksum" once
        python_calls = processes * calls
        self.assertEqual(self.service.foreign, c_calls)
        self.assertEqual((len(self.service.seen), self.service.duplicates, self.service.damaged), (python_calls, 0, []))
        stats = settled_stats(self.server, c_calls + python_calls)
        self.assertEqual((stats.requests, stats.responses), (c_calls + python_calls,) * 2)
        self.assertEqual((stats.error_responses, stats.handler_errors, stats.protocol_errors), (0, 0, 0))
        self.assertEqual(stats.connections_total, len(runs) + processes)
        self.assertEqual(self.server.route_stats("checksum").requests, len(runs) + python_calls // 2)
        self.assertGreaterEqual(stats.bytes_in, sent + sum(count * length for count, length in runs))

    def test_kill_c_client_mid_run(self):
        victim = self._c_client(10_000_000, 256)
        self.addCleanup(lambda: victim.poll() is None and victim.kill())
        wait_until(lambda: self.server.stats().requests >= 200, "the C client to be calling")
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=HANG_GUARD_SECONDS)
        self.assertEqual(victim.returncode, -signal.SIGKILL)
        wait_until(lambda: self.server.stats().peer_hangups == 1 and self.server.stats().connections_now == 0,
                   "the server to drop the killed client")
        requests = self.server.stats().requests
        # Everything it got was answered (or dropped with the connection), nothing is stuck, and
        # others are served.
        survivor = self._c_client(100, 1000)
        out, err = survivor.communicate(timeout=HANG_GUARD_SECONDS)
        self.assertEqual(survivor.returncode, 0, err)
        with Client.connect(self.server.address) as client:
            run_checksummed_calls(client, 1, 50, seed=52, largest=50_000)
        stats = self.server.stats()
        self.assertEqual(stats.requests, requests + 101 + 50)
        self.assertEqual((stats.error_responses, stats.protocol_errors, stats.pending_requests), (0, 0, 0))
        self.assertEqual(self.service.damaged, [])


if __name__ == "__main__":
    unittest.main()
