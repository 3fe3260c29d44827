"""IPC across real processes: a Python-hosted server called by Python client processes
(multiprocessing) and the other way round, with checksummed mixed-size payloads; none lost, none
duplicated (the handlers' own record and the server's stats agree)."""
import queue
import threading
import unittest

from nativepools import Client, Server
from tests.support import Workers
from tests.test_ipc_support import (HANG_GUARD_SECONDS, EchoService, child_checksummed_client, child_server,
                                    run_checksummed_calls, settled_stats, size, spawn, unique_address)


def run_client_processes(address: str, processes: int, calls: int, largest: int, seed: int) -> int:
    """Starts processes client processes of calls each; fails with the first child's traceback.
    Returns the request bytes they sent."""
    results = spawn.Queue()
    children = [spawn.Process(target=child_checksummed_client, args=(address, worker, calls, seed, largest, results))
                for worker in range(processes)]
    for child in children:
        child.start()
    try:
        reports = []
        for _ in children:
            try:
                reports.append(results.get(timeout=HANG_GUARD_SECONDS))
            except queue.Empty:
                raise AssertionError(f"only {len(reports)} of {processes} client processes reported") from None
        for child in children:
            child.join(HANG_GUARD_SECONDS)
        failures = [r for r in reports if r[0] != "ok"]
        if failures:
            raise AssertionError(f"{len(failures)} client process(es) failed; first (worker {failures[0][1]}):\n{failures[0][2]}")
        if sorted(r[1] for r in reports) != list(range(processes)) or any(r[2] != calls for r in reports):
            raise AssertionError(f"unexpected reports {reports}")
        bad_exits = [(child.pid, child.exitcode) for child in children if child.exitcode != 0]
        if bad_exits:
            raise AssertionError(f"client processes exited badly: {bad_exits}")
        return sum(r[3] for r in reports)
    finally:
        for child in children:
            if child.is_alive():
                child.kill()


class PythonServerPythonClientProcesses(unittest.TestCase):

    def test_client_processes_call_python_handlers(self):
        # CI: 4 processes x 500 calls; NP_STRESS=full: 8 x 10,000.
        processes, calls = size(ci=4, full=8), size(ci=500, full=10_000)
        largest = size(ci=100_000, full=400_000)
        service = EchoService()
        with Server(unique_address("procs"), worker_threads=2) as server:
            service.install(server)
            server.start()
            sent = run_client_processes(server.address, processes, calls, largest, seed=21)
            total = processes * calls
            # The handlers saw every (process, sequence) pair exactly once, undamaged...
            self.assertEqual(service.damaged, [])
            self.assertEqual(service.duplicates, 0)
            self.assertEqual(service.seen, {(w, s) for w in range(processes) for s in range(calls)})
            # ... and the server's counters agree: nothing lost, duplicated or failed.
            stats = settled_stats(server, total)
            self.assertEqual((stats.requests, stats.responses), (total, total))
            self.assertEqual((stats.error_responses, stats.handler_errors, stats.protocol_errors, stats.unknown_routes),
                             (0, 0, 0, 0))
            self.assertEqual(stats.bytes_in, sent)
            self.assertEqual(stats.connections_total, processes)
            echo, checksum = server.route_stats("echo"), server.route_stats("checksum")
            self.assertEqual(echo.requests + checksum.requests, total)
            self.assertEqual(echo.bytes_out, echo.bytes_in)
            self.assertEqual(checksum.bytes_out, 8 * checksum.requests)
            self.assertEqual(server.handler_exceptions, 0)


class PythonServerProcess(unittest.TestCase):

    def test_threads_of_this_process_call_a_python_server_process(self):
        address = unique_address("serverproc")
        ready, held = spawn.Event(), spawn.Event()
        process = spawn.Process(target=child_server, args=(address, ready, held, 2))
        process.start()
        try:
            self.assertTrue(ready.wait(HANG_GUARD_SECONDS), "the server process did not start")
            threads, calls = 3, size(ci=200, full=5_000)

            def worker(index, workers):
                with Client.connect(address, timeout_ms=30_000) as client:
                    run_checksummed_calls(client, index, calls, seed=31, largest=200_000)

            Workers().run(threads, worker)
            # The server process also serves other processes at the same time as this one.
            results = []
            done = threading.Thread(target=lambda: results.append(
                run_client_processes(address, 2, size(ci=100, full=2_000), 50_000, seed=32)))
            done.start()
            with Client.connect(address, timeout_ms=30_000) as client:
                run_checksummed_calls(client, 7, calls, seed=33, largest=20_000)
            done.join(HANG_GUARD_SECONDS)
            self.assertEqual(len(results), 1)
        finally:
            process.kill()
            process.join(HANG_GUARD_SECONDS)


if __name__ == "__main__":
    unittest.main()
