"""The IPC examples run as written: examples/echo_server.py serves examples/echo_client.py and the
C echo_client, examples/echo_client.py calls the C echo_server, and a signal stops the Python
server with a drain and its counters."""
import os
import select
import signal
import subprocess
import sys
import unittest
from pathlib import Path

from tests.test_ipc_c_interop import CEchoServer
from tests.test_ipc_support import HANG_GUARD_SECONDS, c_example, unique_address

EXAMPLES = Path(__file__).absolute().parents[1] / "examples"
ENVIRONMENT = dict(os.environ, PYTHONPATH=str(EXAMPLES.parent))


def start_python_server(address: str) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, str(EXAMPLES / "echo_server.py"), address], env=ENVIRONMENT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The server prints this line once it listens (or exits: EOF); select is the hang guard.
    ready, _, _ = select.select([server.stdout], [], [], HANG_GUARD_SECONDS)
    line = server.stdout.readline() if ready else ""
    if line.strip() != f"listening on {address}":
        server.kill()
        raise AssertionError(f"echo_server.py did not start: {line!r} {server.stderr.read()}")
    return server


def run_python_client(address: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLES / "echo_client.py"), address], env=ENVIRONMENT,
                          capture_output=True, text=True, timeout=HANG_GUARD_SECONDS)


class Examples(unittest.TestCase):

    def _stop(self, server: subprocess.Popen, how: int) -> str:
        server.send_signal(how)
        out, err = server.communicate(timeout=HANG_GUARD_SECONDS)
        self.assertEqual(server.returncode, 0, err)
        return out

    def test_python_server_serves_python_and_c_clients(self):
        address = unique_address("example")
        server = start_python_server(address)
        self.addCleanup(lambda: server.poll() is None and server.kill())
        result = run_python_client(address)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), f"{address} answered b'hello from Python' (messages up to 1048576 bytes)")
        calls = 0
        c_client = c_example("echo_client")
        if c_client is not None:  # the C client also checks the "checksum" route against its own FNV-1a
            calls = 200
            c_run = subprocess.run([str(c_client), address, str(calls), "3000"], capture_output=True, text=True,
                                   timeout=HANG_GUARD_SECONDS)
            self.assertEqual(c_run.returncode, 0, c_run.stderr)
            self.assertIn(f"{calls} calls ok", c_run.stdout)
            calls += 1
        out = self._stop(server, signal.SIGTERM)
        requests = 1 + calls
        self.assertRegex(out, rf"connections {1 + (calls > 0)}, requests {requests}, responses {requests}, errors 0, ")
        if c_client is None:
            self.skipTest("the Python client part passed; bindings/c echo_client is missing, so no C client ran")

    def test_sigint_stops_the_python_server(self):
        address = unique_address("example-int")
        server = start_python_server(address)
        self.addCleanup(lambda: server.poll() is None and server.kill())
        out = self._stop(server, signal.SIGINT)
        self.assertIn("connections 0, requests 0", out)

    def test_python_client_calls_c_server(self):
        program = c_example("echo_server")
        if program is None:
            self.skipTest("bindings/c/examples/echo_server.c is missing or does not build")
        server = CEchoServer(program)
        self.addCleanup(server.kill)
        result = run_python_client(server.address)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("answered b'hello from Python'", result.stdout)
        counters = server.stop()
        self.assertEqual((counters["requests"], counters["responses"], counters["errors"]), (1, 1, 0))


if __name__ == "__main__":
    unittest.main()
