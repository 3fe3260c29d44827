"""IPC binding in one process: Server and Client API, handlers, pull mode from several threads,
pipelining, zero copy, and bad input (each gets its own status, never a crash)."""
import ctypes
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import threading
import unittest
from pathlib import Path

import nativepools
from nativepools import Client, NativePoolsError, Request, RouteStats, Server, ServerStats, abi
from tests.support import Workers, resident_bytes
from tests.test_ipc_support import (EchoService, expect_status, run_checksummed_calls, settled_stats, size,
                                    unique_address, wait_until)

PACKAGE_ROOT = Path(__file__).absolute().parents[1]  # bindings/python


class IpcTestCase(unittest.TestCase):

    def server(self, tag: str, **options) -> Server:
        errors = []
        options.setdefault("on_handler_error", lambda route_id, error: errors.append((route_id, error)))
        server = Server(unique_address(tag), **options)
        server.handler_errors_seen = errors
        self.addCleanup(server.close)
        return server

    def client(self, server_or_address, **options) -> Client:
        address = server_or_address.address if isinstance(server_or_address, Server) else server_or_address
        client = Client.connect(address, **options)
        self.addCleanup(client.close)
        return client


class ServerAndClient(IpcTestCase):

    def test_echo_mixed_sizes_every_byte_and_stats(self):
        server = self.server("echo")
        service = EchoService()
        service.install(server)
        server.start()
        client = self.client(server)
        self.assertEqual(client.max_message_size, abi.NP_DEFAULT_MAX_MESSAGE_SIZE)
        calls = 200
        sent = run_checksummed_calls(client, worker=1, calls=calls, seed=11, largest=300_000)
        self.assertEqual(len(service.seen), calls)
        self.assertEqual(service.duplicates, 0)
        stats = settled_stats(server, calls)
        self.assertIsInstance(stats, ServerStats)
        self.assertEqual((stats.requests, stats.responses, stats.error_responses), (calls, calls, 0))
        self.assertEqual(stats.bytes_in, sent)
        self.assertEqual((stats.connections_now, stats.connections_total), (1, 1))
        # Each request is copied into a pooled buffer (plus the worker's response buffer): steady
        # state reuses them.
        taken = stats.buffers_created + stats.buffers_reused
        self.assertGreaterEqual(taken, calls)
        self.assertAlmostEqual(stats.reuse_rate, stats.buffers_reused / taken)
        self.assertGreater(stats.reuse_rate, 0.5)
        echo = server.route_stats("echo")
        self.assertIsInstance(echo, RouteStats)
        self.assertEqual((echo.route_id, echo.requests, echo.responses, echo.errors), (1, calls // 2, calls // 2, 0))
        self.assertEqual(echo.bytes_in, echo.bytes_out)
        checksum = server.route_stats(server.routes["checksum"])
        self.assertEqual(checksum.requests, calls // 2)
        self.assertEqual(checksum.bytes_out, 8 * (calls // 2))
        self.assertEqual(stats.bytes_in, echo.bytes_in + checksum.bytes_in)

    def test_payload_types_and_empty_messages(self):
        server = self.server("types")
        server.add_route("echo", lambda route_id, request: request)
        server.add_route("none", lambda route_id, request: None)
        server.add_route("array", lambda route_id, request: (ctypes.c_uint32 * 3)(1, 2, 3))
        server.add_route("strided", lambda route_id, request: memoryview(b"a-b-c-")[::2])
        server.add_route("bytearray", lambda route_id, request: bytearray(request) + b"!")
        server.start()
        client = self.client(server)
        self.assertEqual(client.call("echo"), b"")
        self.assertEqual(client.call("echo", None), b"")
        self.assertEqual(client.call("echo", bytearray(b"ba")), b"ba")
        self.assertEqual(client.call("echo", memoryview(b"read-only")), b"read-only")
        self.assertEqual(client.call("echo", memoryview(bytearray(b"writable"))[2:6]), b"itab")
        self.assertEqual(client.call("echo", memoryview(b"0123456789")[::3]), b"0369")
        ints = (ctypes.c_uint16 * 2)(0x4241, 0x4443)
        self.assertEqual(client.call("echo", ints), b"ABCD")
        self.assertEqual(client.call("none", b"ignored"), b"")
        self.assertEqual(client.call("array"), bytes((ctypes.c_uint32 * 3)(1, 2, 3)))
        self.assertEqual(client.call("strided"), b"abc")
        self.assertEqual(client.call("bytearray", b"x"), b"x!")
        with self.assertRaises(TypeError):
            client.call("echo", "a str is not bytes")
        self.assertEqual(server.handler_errors_seen, [])

    def test_zero_copy_handler_sees_a_read_only_view_valid_during_the_call(self):
        server = self.server("zerocopy")
        kept = []

        def handler(route_id, request):
            self.assertIsInstance(request, memoryview)
            self.assertTrue(request.readonly)
            kept.append(request)
            return request[::-1]

        server.add_route("reverse", handler, zero_copy=True)
        server.start()
        client = self.client(server)
        payload = bytes(range(256)) * 40
        self.assertEqual(client.call("reverse", payload), payload[::-1])
        # The view was released when the handler returned: using it later raises, it cannot read
        # memory the server reuses.
        with self.assertRaises(ValueError):
            bytes(kept[0])

    def test_route_ids_and_resolve(self):
        server = self.server("routes")
        ids = [server.add_route(name, lambda r, q: r.to_bytes(4, "little")) for name in ("a", "b", "c")]
        self.assertEqual(ids, [1, 2, 3])
        self.assertEqual(server.routes, {"a": 1, "b": 2, "c": 3})
        server.start()
        client = self.client(server)
        self.assertEqual([client.resolve(n) for n in "abc"], [1, 2, 3])
        for route_id in ids:
            # One handler serves several routes: it is told which one.
            self.assertEqual(client.call(route_id), route_id.to_bytes(4, "little"))
        expect_status(self, abi.NP_E_UNKNOWN_ROUTE, client.resolve, "missing")
        expect_status(self, abi.NP_E_UNKNOWN_ROUTE, client.resolve, "a\0b")  # not silently "a"
        expect_status(self, abi.NP_E_UNKNOWN_ROUTE, client.call, "b\0", b"")

    def test_large_responses_grow_the_buffer_and_max_response(self):
        server = self.server("large")
        server.add_route("sized", lambda r, q: bytes([7]) * int.from_bytes(q, "little"))
        server.start()
        client = self.client(server)
        for length in (0, 1, 65_535, 65_536, 65_537, 300_000, abi.NP_DEFAULT_MAX_MESSAGE_SIZE):
            self.assertEqual(client.call("sized", length.to_bytes(4, "little")), bytes([7]) * length)
        # Past max_response: NP_E_BUFFER_TOO_SMALL with the size; the response was drained, so the
        # client goes on working.
        error = expect_status(self, abi.NP_E_BUFFER_TOO_SMALL, client.call, "sized",
                              (5000).to_bytes(4, "little"), max_response=4096)
        self.assertEqual(error.needed, 5000)
        self.assertIn("max_response 4096", error.detail)
        self.assertEqual(client.call("sized", (4096).to_bytes(4, "little"), max_response=4096), bytes([7]) * 4096)
        self.assertEqual(client.call("sized", (3).to_bytes(4, "little"), max_response=0 + 3), b"\x07" * 3)
        self.assertEqual(server.stats().error_responses, 0)

    def test_pipelining_send_receive_in_order(self):
        server = self.server("pipeline")
        server.add_route("echo", lambda r, q: q)
        server.start()
        client = self.client(server)
        payloads = [os.urandom(n) for n in (0, 10, 70_000, 5, 200_000, 1)]
        ids = [client.send("echo", p) for p in payloads]
        self.assertEqual(len(set(ids)), len(ids))
        received = [client.receive(timeout_ms=10_000) for _ in payloads]
        self.assertEqual([r[0] for r in received], ids)
        self.assertEqual([r[1] for r in received], payloads)
        expect_status(self, abi.NP_E_INVALID_STATE, client.receive, 0)  # nothing outstanding

    def test_claim_commit_abort(self):
        server = self.server("claim")
        server.add_route("echo", lambda r, q: q)
        server.start()
        client = self.client(server)
        view = client.claim("echo", 1000)
        self.assertEqual(len(view), 1000)
        self.assertFalse(view.readonly)
        view[:11] = b"zero copy!!"
        request_id = client.commit(11)
        self.assertEqual(client.receive(10_000), (request_id, b"zero copy!!"))
        with self.assertRaises(ValueError):
            view[0] = 1  # released at commit: it no longer reaches into the ring
        full = client.claim("echo", 64)
        full[:] = bytes(range(64))
        request_id = client.commit()  # default: the claimed length
        self.assertEqual(client.receive(10_000), (request_id, bytes(range(64))))
        client.claim("echo", 10)
        client.abort()
        expect_status(self, abi.NP_E_INVALID_STATE, client.abort)
        expect_status(self, abi.NP_E_INVALID_STATE, client.commit, 0)
        client.claim("echo", 10)
        expect_status(self, abi.NP_E_INVALID_STATE, client.claim, "echo", 10)
        expect_status(self, abi.NP_E_INVALID_ARGUMENT, client.commit, 11)  # more than claimed
        expect_status(self, abi.NP_E_INVALID_STATE, client.send, "echo", b"x")  # a claim is open
        client.commit(0)
        self.assertEqual(client.receive(10_000)[1], b"")
        expect_status(self, abi.NP_E_MESSAGE_TOO_LARGE, client.claim, "echo", client.max_message_size + 1)
        self.assertEqual(client.call("echo", b"after"), b"after")
        self.assertEqual(server.stats().requests, 4)  # the aborted claim sent nothing

    def test_calls_release_the_gil(self):
        # A call blocked in the library (a pull route nobody answers yet) must not stop other
        # Python threads: this thread answers it, which needs the GIL.
        server = self.server("gil")
        server.add_route("pull")
        server.start()
        client = self.client(server)
        result = []
        caller = threading.Thread(target=lambda: result.append(client.call("pull", b"q")))
        caller.start()
        request = server.receive(timeout_ms=60_000)
        self.assertIsNotNone(request)
        server.reply(request, b"a")
        caller.join(60)
        self.assertEqual(result, [b"a"])

    def test_context_managers_and_repr(self):
        address = unique_address("ctx")
        with Server(address, name="ctx-server") as server:
            server.add_route("echo", lambda r, q: q)
            self.assertIs(server.start(), server)
            self.assertIn("ctx", repr(server))
            with Client(address) as client:
                self.assertEqual(client.call("echo", b"1"), b"1")
                self.assertIn(address, repr(client))
            self.assertTrue(client.closed)
            self.assertIn("closed", repr(client))
        self.assertTrue(server.closed)
        self.assertEqual(server.handle, 0)
        # The address is free again.
        with Server(address) as again:
            again.start()

    def test_dropping_a_running_server_closes_it(self):
        address = unique_address("drop")
        server = Server(address)
        server.add_route("echo", lambda r, q: q)
        server.start()
        client = self.client(address)
        self.assertEqual(client.call("echo", b"x"), b"x")
        del server  # __del__ destroys it before its callbacks are freed
        with self.assertRaises(NativePoolsError) as caught:
            client.call("echo", b"y", timeout_ms=60_000)
        self.assertIn(caught.exception.status, (abi.NP_E_SHUTDOWN, abi.NP_E_PEER_GONE))

    def test_server_collected_inside_its_own_handler(self):
        # A server in a reference cycle (route "cycle"'s handler holds it), collected by the garbage
        # collector on one of its own worker threads (inside route "collect"): np_server_destroy
        # refuses to run there, so the destroy moves to another thread, and the callbacks must
        # outlive the workers or the process crashes (hence a separate process). The server then
        # stops: calls end with NP_E_SHUTDOWN.
        code = textwrap.dedent("""
            import gc, os, time
            from nativepools import Client, NativePoolsError, Server
            gc.disable()
            address = "@np-py-gc-%d" % os.getpid()

            def make():
                server = Server(address)
                server.add_route("cycle", lambda route_id, request: server.address.encode())
                server.add_route("collect", lambda route_id, request: (gc.collect(), request)[1])
                return server.start()

            server = make()
            client = Client.connect(address)
            assert client.call("cycle") == address.encode()
            del server  # only the cycle holds it now
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    assert client.call("collect", b"x", timeout_ms=60000) == b"x"
                except NativePoolsError as error:
                    print("stopped with", error.name)
                    break
            """)
        result = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT)),
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertRegex(result.stdout, r"stopped with NP_E_(SHUTDOWN|PEER_GONE)")

    def test_many_server_lifecycles_stay_bounded(self):
        # Servers with Python handlers created, used and closed again and again: each serves, and
        # memory stays bounded (each worker thread keeps one small Python thread state; a leaked
        # buffer of a message or ring per server would show here).
        def lifecycle(index):
            with Server(unique_address(f"life{index}"), worker_threads=2, max_message_size=65536,
                        ring_size=1 << 17) as server:
                server.add_route("echo", lambda route_id, request: request)
                server.start()
                clients = [Client.connect(server.address) for _ in range(2)]
                for client in clients:
                    for length in (0, 100, 65536):
                        payload = os.urandom(length)
                        self.assertEqual(client.call("echo", payload), payload)
                    client.close()
                self.assertEqual(settled_stats(server, 6).error_responses, 0)

        for index in range(20):  # warm-up: runtime, pools and allocator reach their steady size
            lifecycle(index)
        before = resident_bytes()
        count = size(ci=60, full=600)
        for index in range(count):
            lifecycle(index)
        grown = resident_bytes() - before
        self.assertLess(grown, 16 * 1024 * 1024 * (count // 60), f"RSS grew {grown} bytes over {count} servers")


class Handlers(IpcTestCase):

    def test_handler_exception_gives_handler_failed_with_internal_status(self):
        server = self.server("raise")
        server.add_route("fail", lambda r, q: {}["missing"])
        server.add_route("echo", lambda r, q: q)
        server.start()
        client = self.client(server)
        error = expect_status(self, abi.NP_E_HANDLER_FAILED, client.call, "fail", b"x")
        self.assertIn(str(nativepools.ipc.HANDLER_EXCEPTION_STATUS), error.detail)
        self.assertEqual(nativepools.ipc.HANDLER_EXCEPTION_STATUS, abi.NP_E_INTERNAL)
        self.assertEqual(client.call("echo", b"still fine"), b"still fine")
        [(route_id, exception)] = server.handler_errors_seen
        self.assertEqual(route_id, 1)
        self.assertIsInstance(exception, KeyError)
        self.assertEqual(server.handler_exceptions, 1)
        self.assertIs(server.last_handler_exception, exception)
        stats = settled_stats(server, 2)
        self.assertEqual((stats.handler_errors, stats.error_responses, stats.responses), (1, 1, 2))
        self.assertEqual(server.route_stats("fail").errors, 1)

    def test_native_pools_error_status_is_passed_on(self):
        server = self.server("status")

        def refuse(route_id, request):
            raise NativePoolsError(abi.NP_E_PERMISSION_DENIED, "NP_E_PERMISSION_DENIED", "", "not you")

        server.add_route("refuse", refuse)
        server.start()
        error = expect_status(self, abi.NP_E_HANDLER_FAILED, self.client(server).call, "refuse")
        self.assertIn(str(abi.NP_E_PERMISSION_DENIED), error.detail)

    def test_result_larger_than_the_response_buffer(self):
        server = self.server("toolarge", max_message_size=4096, ring_size=65536)
        server.add_route("big", lambda r, q: b"z" * (4096 + int.from_bytes(q, "little")))
        server.add_route("big_view", lambda r, q: bytearray(5000))
        server.start()
        client = self.client(server)
        self.assertEqual(client.max_message_size, 4096)
        for route in ("big", "big_view"):
            error = expect_status(self, abi.NP_E_HANDLER_FAILED, client.call, route, (1).to_bytes(4, "little"))
            self.assertIn(str(abi.NP_E_BUFFER_TOO_SMALL), error.detail)
        self.assertEqual(client.call("big", (0).to_bytes(4, "little")), b"z" * 4096)  # exactly full fits
        self.assertEqual(len(server.handler_errors_seen), 2)
        self.assertIsInstance(server.handler_errors_seen[0][1], ValueError)
        self.assertIn("4097 bytes", str(server.handler_errors_seen[0][1]))

    def test_bad_handler_results(self):
        server = self.server("badresult")
        server.add_route("str", lambda r, q: "text")
        server.add_route("int", lambda r, q: 5)
        server.start()
        client = self.client(server)
        for route in ("str", "int"):
            expect_status(self, abi.NP_E_HANDLER_FAILED, client.call, route)
        self.assertEqual([type(e) for _, e in server.handler_errors_seen], [TypeError, TypeError])

    def test_default_error_hook_logs(self):
        server = Server(unique_address("log"))
        self.addCleanup(server.close)
        server.add_route("fail", lambda r, q: 1 // 0)
        server.start()
        with self.assertLogs("nativepools.ipc", level="ERROR") as logs:
            expect_status(self, abi.NP_E_HANDLER_FAILED, self.client(server).call, "fail")
        self.assertIn("ZeroDivisionError", "\n".join(logs.output))

    def test_several_worker_threads_and_client_threads(self):
        server = self.server("workers", worker_threads=2)
        service = EchoService()
        service.install(server)
        server.start()
        threads, calls = 4, size(ci=150, full=2_000)

        def worker(index, workers):
            with Client.connect(server.address) as client:
                run_checksummed_calls(client, index, calls, seed=5, largest=40_000)

        Workers().run(threads, worker)
        self.assertEqual((len(service.seen), service.duplicates, service.damaged), (threads * calls, 0, []))
        stats = settled_stats(server, threads * calls)
        self.assertEqual((stats.requests, stats.responses, stats.error_responses), (threads * calls,) * 2 + (0,))
        self.assertEqual(stats.connections_total, threads)
        wait_until(lambda: server.stats().connections_now == 0, "the closed clients to be dropped")


class PullMode(IpcTestCase):

    def test_pull_from_several_threads(self):
        server = self.server("pull", max_pending=64)
        upper = server.add_route("upper")
        reverse = server.add_route("reverse")
        server.add_route("echo", lambda r, q: q)  # a handler route beside the pull routes
        server.start()
        pullers, callers, calls = 3, 4, size(ci=200, full=3_000)
        tokens, served = set(), [0] * pullers
        lock = threading.Lock()
        stop = threading.Event()

        def pull(index):
            while not stop.is_set():
                request = server.receive(timeout_ms=50)
                if request is None:
                    continue
                self.assertIsInstance(request, Request)
                with lock:
                    self.assertNotIn(request.token, tokens)
                    tokens.add(request.token)
                self.assertEqual(bytes(request.view), request.data)
                if request.route_id == upper:
                    server.reply(request, request.data.upper())
                elif request.route_id == reverse:
                    request.view[:] = request.data[::-1]  # in place, then reply with the view itself
                    server.reply(request, request.view)
                else:
                    server.reply_error(request, abi.NP_E_INVALID_ARGUMENT)
                served[index] += 1

        def call(index, workers):
            rng = random.Random(index)
            with Client.connect(server.address) as client:
                for seq in range(calls):
                    text = f"caller {index} seq {seq} ".encode() + bytes(rng.randrange(97, 123) for _ in range(rng.randrange(0, 3000)))
                    route = (upper, reverse, "echo")[seq % 3]
                    expected = (text.upper(), text[::-1], text)[seq % 3]
                    self.assertEqual(client.call(route, text, timeout_ms=60_000), expected)

        puller_threads = [threading.Thread(target=pull, args=(i,), daemon=True) for i in range(pullers)]
        for thread in puller_threads:
            thread.start()
        try:
            Workers().run(callers, call)
        finally:
            stop.set()
            for thread in puller_threads:
                thread.join(60)
        pulled = callers * (calls - calls // 3)  # two of every three calls went to pull routes
        self.assertEqual(len(tokens), pulled)
        self.assertEqual(sum(served), pulled)
        stats = settled_stats(server, callers * calls)
        self.assertEqual((stats.requests, stats.responses, stats.error_responses, stats.pending_requests),
                         (callers * calls, callers * calls, 0, 0))

    def test_reply_error_reply_twice_and_request_view_lifetime(self):
        server = self.server("pullerrors")
        server.add_route("pull")
        server.start()
        client = self.client(server)
        request_id = client.send("pull", b"first")
        request = server.receive(timeout_ms=60_000)
        self.assertEqual((request.data, len(request)), (b"first", 5))
        self.assertEqual(server.stats().pending_requests, 1)
        server.reply_error(request, abi.NP_E_POOL_EXHAUSTED)
        with self.assertRaises(ValueError):
            request.view[0]  # released with the reply
        self.assertEqual(request.data, b"first")  # the copy stays
        error = expect_status(self, abi.NP_E_HANDLER_FAILED, client.receive, 60_000)
        self.assertEqual(error.request_id, request_id)
        self.assertIn(str(abi.NP_E_POOL_EXHAUSTED), error.detail)
        expect_status(self, abi.NP_E_INVALID_ARGUMENT, server.reply, request, b"again")
        expect_status(self, abi.NP_E_INVALID_ARGUMENT, server.reply, 0xDEAD_BEEF, b"never received")
        # reply_error's status must be negative (checked by the library)...
        client.send("pull", b"second")
        second = server.receive(timeout_ms=60_000)
        expect_status(self, abi.NP_E_INVALID_ARGUMENT, server.reply_error, second, 5)
        # ... and the refused reply did not spend the token or release the view.
        self.assertEqual(bytes(second.view), b"second")
        expect_status(self, abi.NP_E_MESSAGE_TOO_LARGE, server.reply, second, bytes(abi.NP_DEFAULT_MAX_MESSAGE_SIZE + 1))
        server.reply(second.token, b"by token")
        self.assertEqual(client.receive(60_000)[1], b"by token")
        # A reply with a status the transport uses itself is still the handler's failure: the
        # client does not mistake a healthy server for a stopped one.
        third_id = client.send("pull", b"third")
        server.reply_error(server.receive(timeout_ms=60_000), abi.NP_E_SHUTDOWN)
        error = expect_status(self, abi.NP_E_HANDLER_FAILED, client.receive, 60_000)
        self.assertEqual(error.request_id, third_id)
        self.assertIn("NP_E_SHUTDOWN", error.detail)
        self.assertIsNone(server.receive(timeout_ms=0))
        self.assertIsNone(server.receive(timeout_ms=20))
        stats = settled_stats(server, 3)
        self.assertEqual((stats.requests, stats.responses, stats.error_responses, stats.pending_requests), (3, 3, 2, 0))

    def test_receive_before_start_and_after_stop(self):
        server = self.server("pullstate")
        server.add_route("pull")
        expect_status(self, abi.NP_E_INVALID_STATE, server.receive, 0)
        server.start()
        client = self.client(server)
        client.send("pull", b"pending at stop")
        request = server.receive(timeout_ms=60_000)
        server.stop(drain_timeout_ms=0)
        expect_status(self, abi.NP_E_SHUTDOWN, client.receive, 60_000)  # the stop answered it
        expect_status(self, abi.NP_E_SHUTDOWN, server.reply, request, b"too late")
        expect_status(self, abi.NP_E_SHUTDOWN, server.receive, 0)
        expect_status(self, abi.NP_E_SHUTDOWN, server.receive, None)
        server.stop()  # twice is harmless


class BadInput(IpcTestCase):

    def test_closed_client(self):
        server = self.server("closed")
        server.add_route("echo", lambda r, q: q)
        server.start()
        client = self.client(server)
        route = client.resolve("echo")
        client.close()
        client.close()  # twice is a no-op
        self.assertTrue(client.closed)
        for function, args in ((client.call, (route, b"x")), (client.send, (route, b"x")), (client.receive, (0,)),
                               (client.claim, (route, 4)), (client.commit, (0,)), (client.abort, ()),
                               (client.resolve, ("other",))):
            expect_status(self, abi.NP_E_INVALID_HANDLE, function, *args)
        wait_until(lambda: server.stats().connections_now == 0, "the server to drop the closed client")

    def test_closed_server(self):
        server = Server(unique_address("closedserver"))
        server.add_route("pull")
        server.close()
        server.close()
        for function, args in ((server.start, ()), (server.stop, ()), (server.stats, ()), (server.route_stats, (1,)),
                               (server.receive, (0,)), (server.reply, (1, b"")), (server.reply_error, (1, -1)),
                               (server.add_route, ("late",))):
            expect_status(self, abi.NP_E_INVALID_HANDLE, function, *args)

    def test_unknown_routes(self):
        server = self.server("unknown")
        server.add_route("echo", lambda r, q: q)
        server.start()
        client = self.client(server)
        expect_status(self, abi.NP_E_UNKNOWN_ROUTE, client.call, "nope", b"x")
        for route_id in (0, 2, 999, 0xFFFF_FFFF, -1, 1 << 32):
            expect_status(self, abi.NP_E_UNKNOWN_ROUTE, client.call, route_id, b"x")
            expect_status(self, abi.NP_E_UNKNOWN_ROUTE, client.send, route_id, b"x")
        for route in (7, 0, -1, "nope"):
            expect_status(self, abi.NP_E_UNKNOWN_ROUTE, server.route_stats, route)
        self.assertEqual(client.call("echo", b"ok"), b"ok")
        self.assertEqual(server.stats().requests, 1)  # unknown ids were refused before sending

    def test_oversize_message_sends_nothing(self):
        server = self.server("oversize", max_message_size=8192, ring_size=65536)
        server.add_route("echo", lambda r, q: q)
        server.start()
        client = self.client(server)
        self.assertEqual(len(client.call("echo", bytes(8192))), 8192)
        expect_status(self, abi.NP_E_MESSAGE_TOO_LARGE, client.call, "echo", bytes(8193))
        expect_status(self, abi.NP_E_MESSAGE_TOO_LARGE, client.send, "echo", bytearray(8193))
        self.assertEqual(server.stats().requests, 1)
        self.assertEqual(client.call("echo", b"after"), b"after")

    def test_zero_and_bad_timeouts(self):
        server = self.server("timeouts")
        server.add_route("pull")
        server.add_route("echo", lambda r, q: q)
        server.start()
        client = self.client(server)
        # Nobody answers the pull route at once: a zero timeout gives NP_E_TIMEOUT, not a hang.
        expect_status(self, abi.NP_E_TIMEOUT, client.call, "pull", b"late", timeout_ms=0)
        expect_status(self, abi.NP_E_TIMEOUT, client.call, "pull", b"late too", timeout_ms=30)
        late = [server.receive(timeout_ms=60_000), server.receive(timeout_ms=60_000)]
        for request in late:
            server.reply(request, b"dropped by the client")
        # The late responses are dropped; the next call gets its own answer.
        self.assertEqual(client.call("echo", b"mine", timeout_ms=60_000), b"mine")
        client.send("echo", b"queued")
        wait_until(lambda: server.stats().responses >= 4, "the queued response")
        self.assertEqual(client.receive(timeout_ms=0)[1], b"queued")
        for bad in (-1, abi.NP_WAIT_FOREVER + 1):
            with self.assertRaises(ValueError):
                client.call("echo", b"x", timeout_ms=bad)
            with self.assertRaises(ValueError):
                server.receive(timeout_ms=bad)
        # A fractional wait rounds up, never down to 0 ("do not wait"); asserted on the rounding,
        # since how soon a Python handler answers is the scheduler's business, not the binding's.
        from nativepools.ipc import _timeout
        self.assertEqual(_timeout(0.5), 1)
        self.assertEqual(_timeout(2.0), 2)
        self.assertEqual(client.call("echo", b"fraction", timeout_ms=59_999.5), b"fraction")

    def test_call_while_pipelined_responses_are_outstanding(self):
        server = self.server("outstanding")
        server.add_route("echo", lambda r, q: q)
        server.start()
        client = self.client(server)
        client.send("echo", b"one")
        expect_status(self, abi.NP_E_INVALID_STATE, client.call, "echo", b"two")
        self.assertEqual(client.receive(60_000)[1], b"one")
        self.assertEqual(client.call("echo", b"two"), b"two")

    def test_connect_errors(self):
        expect_status(self, abi.NP_E_TIMEOUT, Client.connect, unique_address("nobody"), timeout_ms=0)
        expect_status(self, abi.NP_E_TIMEOUT, Client.connect, unique_address("nobody"), timeout_ms=50)
        for bad in ("", "@", "relative/" + "x" * 200, "/" + "p" * 200, "@cut\0short"):
            expect_status(self, abi.NP_E_INVALID_ARGUMENT, Client.connect, bad, timeout_ms=0)
        server = self.server("full", max_clients=1)
        server.add_route("echo", lambda r, q: q)
        server.start()
        first = self.client(server)
        expect_status(self, abi.NP_E_SERVER_FULL, Client.connect, server.address, timeout_ms=2000)
        self.assertEqual(first.call("echo", b"first"), b"first")
        self.assertEqual(server.stats().connections_rejected, 1)

    def test_server_setup_errors(self):
        expect_status(self, abi.NP_E_INVALID_ARGUMENT, Server, "")
        expect_status(self, abi.NP_E_INVALID_ARGUMENT, Server, unique_address("size"), max_message_size=abi.NP_MAX_MESSAGE_SIZE + 1)
        expect_status(self, abi.NP_E_INVALID_ARGUMENT, Server, unique_address("ring"), ring_size=5000)
        for field in ("ring_size", "max_clients", "worker_threads", "spin_us"):
            expect_status(self, abi.NP_E_INVALID_ARGUMENT, Server, unique_address("neg"), **{field: -1})
        expect_status(self, abi.NP_E_INVALID_ARGUMENT, Server, unique_address("huge"), max_pending=1 << 32)
        expect_status(self, abi.NP_E_INVALID_ARGUMENT, Server, unique_address("uid"), allowed_uids=[-5])
        server = self.server("setup")
        server.add_route("a")
        expect_status(self, abi.NP_E_INVALID_ARGUMENT, server.add_route, "a")
        expect_status(self, abi.NP_E_INVALID_ARGUMENT, server.add_route, "")
        expect_status(self, abi.NP_E_INVALID_ARGUMENT, server.add_route, "nul\0inside")
        expect_status(self, abi.NP_E_INVALID_ARGUMENT, Server, unique_address("nul") + "\0tail")
        expect_status(self, abi.NP_E_INVALID_ARGUMENT, server.add_route, "n" * (abi.NP_ROUTE_NAME_MAX + 1))
        server.add_route("n" * abi.NP_ROUTE_NAME_MAX)
        with self.assertRaises(TypeError):
            server.add_route("not callable", 42)
        server.start()
        expect_status(self, abi.NP_E_INVALID_STATE, server.start)
        expect_status(self, abi.NP_E_INVALID_STATE, server.add_route, "late", lambda r, q: q)
        other = Server(server.address)
        self.addCleanup(other.close)
        expect_status(self, abi.NP_E_ADDRESS_IN_USE, other.start)

    def test_path_addresses_and_directory_permissions(self):
        with tempfile.TemporaryDirectory() as root:
            os.chmod(root, 0o700)
            private = os.path.join(root, "private", "np.sock")  # directory created 0700
            with Server(private) as server:
                server.add_route("echo", lambda r, q: q)
                server.start()
                self.assertEqual(os.stat(os.path.dirname(private)).st_mode & 0o777, 0o700)
                with Client.connect(private) as client:
                    self.assertEqual(client.call("echo", b"path"), b"path")
            shared = os.path.join(root, "shared")
            os.mkdir(shared)
            os.chmod(shared, 0o755)
            server = Server(os.path.join(shared, "np.sock"))
            self.addCleanup(server.close)
            expect_status(self, abi.NP_E_PERMISSION_DENIED, server.start)

    def test_stop_with_calls_in_flight_answers_shutdown(self):
        server = self.server("stop")
        server.add_route("pull")
        server.start()
        clients = [self.client(server) for _ in range(3)]
        outcomes = []

        def call(client):
            try:
                client.call("pull", b"waiting")
                outcomes.append("answered")
            except NativePoolsError as error:
                outcomes.append(error.status)

        threads = [threading.Thread(target=call, args=(c,)) for c in clients]
        for thread in threads:
            thread.start()
        wait_until(lambda: server.stats().requests == 3, "three calls in flight")
        server.stop(drain_timeout_ms=0)
        for thread in threads:
            thread.join(60)
        self.assertEqual(outcomes, [abi.NP_E_SHUTDOWN] * 3)


if __name__ == "__main__":
    unittest.main()
