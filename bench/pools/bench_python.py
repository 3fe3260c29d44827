"""Scenario 8: the cost of pool calls from Python (ctypes), standard library only.

One run per process; prints one JSON record like the C driver. Measures, per loop iteration:
  noop_pair    two pre-bound ctypes calls of np_version (the ctypes transition baseline)
  arg_pair     two ctypes calls of libc's labs with one uint64 argument: what ctypes charges to
               convert an argument, with no libnativepools code involved
  raw_pair     np_pool_alloc + np_pool_free through pre-bound ctypes functions, status checked
  binding_pair Pool.alloc() + Pool.free() of the nativepools binding (bindings/python)
  batch_block  Pool.alloc_batch(64) + Pool.free_batch(...), per block
  empty_loop   the bare loop, for reference (included in every figure above)
Each is the fastest of ROUNDS rounds, by wall time (perf_counter_ns) and by the thread's CPU
time (thread_time_ns) separately, as in the C driver, with one idle thread alive as there.

    python3 bench/pools/bench_python.py [--iterations N] [--rounds R]
"""
from __future__ import annotations

import argparse
import ctypes
import json
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bindings" / "python"))

import nativepools  # noqa: E402  (the path above must come first)

BATCH_BLOCKS = 64
BLOCK_SIZE = 264


def fastest(body, iterations: int, rounds: int) -> tuple[float, float]:
    """(wall ns, CPU ns) per iteration: the lowest of each over the rounds, after one warm-up."""
    body(iterations)
    best_wall = best_cpu = float("inf")
    for _ in range(rounds):
        wall0, cpu0 = time.perf_counter_ns(), time.thread_time_ns()
        body(iterations)
        cpu, wall = time.thread_time_ns() - cpu0, time.perf_counter_ns() - wall0
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return best_wall / iterations, best_cpu / iterations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    idle = threading.Event()
    threading.Thread(target=idle.wait, daemon=True).start()
    lib = nativepools.load_library()
    pool = nativepools.Pool.preset("small")
    handle = pool.handle

    def empty_loop(n):
        for _ in range(n):
            pass

    def noop_pairs(n):
        version = lib.np_version
        for _ in range(n):
            version()
            version()

    libc = ctypes.CDLL(None)
    labs = libc.labs
    labs.argtypes, labs.restype = [ctypes.c_uint64], ctypes.c_int64

    def arg_pairs(n):
        for _ in range(n):
            labs(handle)
            labs(handle)

    def raw_pairs(n):
        alloc, free = lib.np_pool_alloc, lib.np_pool_free
        block = ctypes.c_void_p()
        block_ref = ctypes.byref(block)
        for _ in range(n):
            if alloc(handle, block_ref) or free(handle, block.value):
                raise RuntimeError(nativepools.last_error_message(lib))

    def binding_pairs(n):
        alloc, free = pool.alloc, pool.free
        for _ in range(n):
            free(alloc())

    def batches(n):
        alloc_batch, free_batch = pool.alloc_batch, pool.free_batch
        for _ in range(n // BATCH_BLOCKS):
            free_batch(alloc_batch(BATCH_BLOCKS))

    n, rounds = args.iterations, args.rounds
    loop = fastest(empty_loop, n, rounds)
    noop = fastest(noop_pairs, n, rounds)
    arg = fastest(arg_pairs, n, rounds)
    raw = fastest(raw_pairs, n, rounds)
    binding = fastest(binding_pairs, n, rounds)
    batch = fastest(batches, n, rounds)  # per block: n blocks in n / 64 batches

    stats = pool.stats()
    report = pool.validate()
    pool.close()
    metrics = {
        "empty_loop_ns": loop[0],
        "noop_pair_ns": noop[0], "noop_pair_cpu_ns": noop[1],
        "arg_pair_ns": arg[0], "arg_pair_cpu_ns": arg[1],
        "raw_pair_ns": raw[0], "raw_pair_cpu_ns": raw[1],
        "binding_pair_ns": binding[0], "binding_pair_cpu_ns": binding[1],
        "batch_block_ns": batch[0], "batch_block_cpu_ns": batch[1],
        "raw_ratio_to_noop": raw[0] / noop[0], "raw_ratio_to_noop_cpu": raw[1] / noop[1],
        "binding_ratio_to_noop": binding[0] / noop[0], "binding_ratio_to_noop_cpu": binding[1] / noop[1],
        "raw_ratio_to_arg_pair_cpu": raw[1] / arg[1],
        "binding_pairs_per_s": 1e9 / binding[0], "raw_pairs_per_s": 1e9 / raw[0],
        "batch_blocks_per_s": 1e9 / batch[0],
        "end_in_use": stats.in_use, "validate_counts_checked": int(report.counts_checked),
        "iterations_per_round": n, "rounds": rounds,
    }
    record = {"scenario": "python", "allocator": "nativepools",
              "params": {"block_size": BLOCK_SIZE, "python": sys.version.split()[0]}, "metrics": metrics}
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
