"""IPC faults with real processes: a client SIGKILLed mid-call (pull route and handler route)
leaves the server serving others; a server SIGKILLed mid-call ends the Python client's blocked
calls with NP_E_PEER_GONE."""
import os
import random
import signal
import threading
import unittest

from nativepools import Client, NativePoolsError, Server, abi
from tests.test_ipc_support import (HANG_GUARD_SECONDS, EchoService, child_blocked_caller, child_server, make_request,
                                    expect_status, run_checksummed_calls, spawn, unique_address, wait_until)


def kill9(process) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.join(HANG_GUARD_SECONDS)
    if process.exitcode != -signal.SIGKILL:
        raise AssertionError(f"process {process.pid} ended with {process.exitcode}, not SIGKILL")


class ClientKilled(unittest.TestCase):

    def setUp(self):
        self.server = Server(unique_address("killclient"), on_handler_error=lambda r, e: None)
        self.addCleanup(self.server.close)
        self.service = EchoService()
        self.service.install(self.server)

    def _start_blocked_caller(self, route: str):
        started = spawn.Event()
        process = spawn.Process(target=child_blocked_caller, args=(self.server.address, route, b"never answered", started))
        process.start()
        self.addCleanup(lambda: process.is_alive() and process.kill())
        if not started.wait(HANG_GUARD_SECONDS):
            raise AssertionError("the client process did not connect")
        return process

    def _assert_still_serving(self) -> None:
        wait_until(lambda: self.server.stats().peer_hangups >= 1, "the server to see the hang-up")
        wait_until(lambda: self.server.stats().connections_now == 0, "the dead connection to be dropped")
        self.assertEqual(self.server.stats().peer_hangups, 1)
        with Client.connect(self.server.address) as client:
            run_checksummed_calls(client, worker=9, calls=20, seed=3, largest=100_000)
        # An orderly close is a hang-up too.
        # (Counters are "recent values": peer_hangups may show before connections_now drops.)
        wait_until(lambda: self.server.stats().peer_hangups == 2 and self.server.stats().connections_now == 0,
                   "the server to see the close")
        stats = self.server.stats()
        self.assertEqual((stats.connections_total, stats.connections_now, stats.protocol_errors), (2, 0, 0))
        self.assertEqual((len(self.service.seen), self.service.duplicates), (20, 0))

    def test_kill_client_waiting_on_a_pull_route(self):
        self.server.add_route("hold")
        self.server.start()
        process = self._start_blocked_caller("hold")
        request = self.server.receive(timeout_ms=HANG_GUARD_SECONDS * 1000)
        self.assertEqual(request.data, b"never answered")  # the client is inside its call now
        kill9(process)
        self._assert_still_serving()
        # The dead client's token is spent: the reply says so instead of writing anywhere.
        expect_status(self, abi.NP_E_PEER_GONE, self.server.reply, request, b"too late")
        self.assertEqual(self.server.stats().pending_requests, 0)

    def test_kill_client_while_its_handler_runs(self):
        entered, release = threading.Event(), threading.Event()

        def slow(route_id, request):
            entered.set()
            release.wait(HANG_GUARD_SECONDS)
            return request

        self.server.add_route("slow", slow)
        self.server.start()
        process = self._start_blocked_caller("slow")
        self.assertTrue(entered.wait(HANG_GUARD_SECONDS))
        kill9(process)
        release.set()  # the handler's response goes to a dead client
        self._assert_still_serving()
        slow_stats = self.server.route_stats("slow")
        self.assertEqual((slow_stats.requests, slow_stats.errors), (1, 0))


class ServerKilled(unittest.TestCase):

    def test_kill_server_mid_call_gives_peer_gone(self):
        address = unique_address("killserver")
        ready, held = spawn.Event(), spawn.Event()
        process = spawn.Process(target=child_server, args=(address, ready, held))
        process.start()
        self.addCleanup(lambda: process.is_alive() and process.kill())
        self.assertTrue(ready.wait(HANG_GUARD_SECONDS), "the server process did not start")
        calling, piped = Client.connect(address, timeout_ms=30_000), Client.connect(address, timeout_ms=30_000)
        self.addCleanup(calling.close)
        self.addCleanup(piped.close)
        # The server in the other process works...
        run_checksummed_calls(calling, worker=1, calls=20, seed=8, largest=50_000)
        outcomes = {}
        first = make_request(2, 0, 32, random.Random(2))

        def blocked_call():
            try:
                calling.call("hold", b"in flight")  # no timeout: only the server's death ends it
                outcomes["call"] = "answered"
            except NativePoolsError as error:
                outcomes["call"] = error

        def blocked_receive():
            piped.send("echo", first)  # answered at once: the pipelined receive gets it
            outcomes["first"] = piped.receive(timeout_ms=HANG_GUARD_SECONDS * 1000)[1]
            piped.send("hold", b"never answered")
            try:
                piped.receive()
                outcomes["receive"] = "answered"
            except NativePoolsError as error:
                outcomes["receive"] = error

        threads = [threading.Thread(target=blocked_call), threading.Thread(target=blocked_receive)]
        threads[0].start()
        self.assertTrue(held.wait(HANG_GUARD_SECONDS), "the call did not reach the server")
        held.clear()
        threads[1].start()
        self.assertTrue(held.wait(HANG_GUARD_SECONDS), "the pipelined request did not reach the server")
        # ... until it dies with both clients blocked in it.
        kill9(process)
        for thread in threads:
            thread.join(HANG_GUARD_SECONDS)
            self.assertFalse(thread.is_alive(), "a blocked call did not end when the server died")
        self.assertEqual(outcomes["first"], first)
        for key in ("call", "receive"):
            self.assertIsInstance(outcomes[key], NativePoolsError, key)
            self.assertEqual(outcomes[key].status, abi.NP_E_PEER_GONE, f"{key}: {outcomes[key]}")
        # Later calls fail the same way at once, and nobody listens any more.
        expect_status(self, abi.NP_E_PEER_GONE, calling.call, "echo", b"after", timeout_ms=HANG_GUARD_SECONDS * 1000)
        with self.assertRaises(NativePoolsError) as caught:
            Client.connect(address, timeout_ms=0)
        self.assertIn(caught.exception.status, (abi.NP_E_TIMEOUT, abi.NP_E_IO))


if __name__ == "__main__":
    unittest.main()
