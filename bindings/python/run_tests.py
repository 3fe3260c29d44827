#!/usr/bin/env python3
"""Runs the Python binding's unittest suite and ends with one line: "N passed, N failed".

    python3 bindings/python/run_tests.py            # CI sizes
    NP_STRESS=full python3 bindings/python/run_tests.py
    python3 bindings/python/run_tests.py -k S16 -k binding

Exits non-zero when a test failed or when no test ran. NATIVEPOOLS_LIB overrides the library.
"""
import argparse
import os
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))

# An exception that ends a thread a test started fails that test: without this, a worker that
# dies of an unexpected error only prints a traceback and the test can still pass.
_thread_errors = []


def _record_thread_error(args):
    _thread_errors.append((args.exc_type, args.exc_value, args.exc_traceback))
    threading.__excepthook__(args)


threading.excepthook = _record_thread_error


class TimedResult(unittest.TextTestResult):
    """Records each test's wall time and which tests failed (a test fails once, however many errors)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.durations = []
        self.failed_ids = set()
        self._started = 0.0

    def startTest(self, test):
        self._started = time.perf_counter()
        super().startTest(test)

    def stopTest(self, test):
        self.durations.append((time.perf_counter() - self._started, test.id()))
        while _thread_errors:
            self.addError(test, _thread_errors.pop(0))
        super().stopTest(test)

    def addError(self, test, err):
        self.failed_ids.add(test.id())
        super().addError(test, err)

    def addFailure(self, test, err):
        self.failed_ids.add(test.id())
        super().addFailure(test, err)

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self.failed_ids.add(test.id())
        super().addSubTest(test, subtest, err)

    def addUnexpectedSuccess(self, test):
        self.failed_ids.add(test.id())
        super().addUnexpectedSuccess(test)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-k", action="append", default=[], metavar="PATTERN",
                        help="only tests whose name contains PATTERN (repeatable)")
    parser.add_argument("-q", action="store_true", help="one character per test instead of one line")
    args = parser.parse_args()

    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    if args.k:
        loader.testNamePatterns = [f"*{pattern}*" for pattern in args.k]
    suite = loader.discover(os.path.join(HERE, "tests"), pattern="test_*.py", top_level_dir=HERE)

    size = "full" if os.environ.get("NP_STRESS", "").lower() == "full" else "CI"
    print(f"nativepools Python tests ({size} size), python {sys.version.split()[0]}", flush=True)
    runner = unittest.TextTestRunner(verbosity=1 if args.q else 2, resultclass=TimedResult, stream=sys.stdout)
    started = time.perf_counter()
    result = runner.run(suite)
    elapsed = time.perf_counter() - started

    print("slowest tests:")
    for seconds, test_id in sorted(result.durations, reverse=True)[:8]:
        print(f"  {seconds:7.2f} s  {test_id}")
    print(f"wall time {elapsed:.1f} s")

    failed = len(result.failed_ids)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line, flush=True)
    return 1 if failed or result.testsRun == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
